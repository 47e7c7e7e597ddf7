"""Many series from one CSV: long format (an id column) or wide format (several target columns)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import IO

import pandas as pd

from lstmcast.config import DataConfig
from lstmcast.errors import ConfigError, DataError, MissingColumn
from lstmcast.io.data import Series, choose_columns, read_frame, series_from_frame
from lstmcast.io.header import did_you_mean

Report = Callable[[str], None]


def load_panel(
    source: str | Path, cfg: DataConfig | None = None, *, stdin: IO[bytes] | None = None, report: Report | None = None
) -> list[Series]:
    """Read one series, or a panel: `cfg.id_col` (long) or several comma-separated targets (wide)."""
    cfg = cfg or DataConfig()
    frame = read_frame(source, stdin)
    return panel_from_frame(frame, cfg, report=report)


def panel_from_frame(frame: pd.DataFrame, cfg: DataConfig, *, report: Report | None = None) -> list[Series]:
    name = frame.attrs.get("source", "input")
    targets = cfg.targets
    if cfg.id_col is not None:
        return _long(frame, cfg, name, report)
    if len(targets) > 1:
        missing = [t for t in targets if t not in frame.columns]
        if missing:
            columns = [str(c) for c in frame.columns]
            hint = did_you_mean(missing[0], columns, "--target")
            raise MissingColumn(
                f"{name}: no column {missing[0]!r} for --target{hint}; the columns are {', '.join(columns)}",
                missing[0],
            )
        return [replace(series_from_frame(frame, replace(cfg, target=t), report=report), id=t) for t in targets]
    return [series_from_frame(frame, cfg, report=report)]


def _long(frame: pd.DataFrame, cfg: DataConfig, name: str, report: Report | None) -> list[Series]:
    id_col = str(cfg.id_col)
    if id_col not in frame.columns:
        columns = [str(c) for c in frame.columns]
        raise MissingColumn(
            f"{name}: no column {id_col!r} for --id-col{did_you_mean(id_col, columns, '--id-col')}; the columns are "
            f"{', '.join(columns)}",
            id_col,
        )
    ids = frame[id_col]
    if ids.isna().any():
        row = int(ids.isna().to_numpy().nonzero()[0][0])
        raise DataError(f"{name}: line {row + 2}, column {id_col!r}: the series id is empty")
    if len(cfg.targets) > 1:
        raise ConfigError("--target takes one column with --id-col (a long panel)")
    others = [c for c in frame.columns if c not in (id_col, *cfg.covariates, *cfg.future_covariates)]
    time_col, times, target = choose_columns(frame[others].copy(), replace(cfg, target=cfg.target))
    work = frame.copy()
    if times is not None and time_col is not None:
        work[time_col] = times  # parse the timestamps once, not once per series
    cfg = replace(cfg, target=target, time_col=time_col)
    panel = []
    for sid, group in work.groupby(id_col, sort=False):
        part = group.drop(columns=[id_col]).reset_index(drop=True)
        part.attrs["source"] = f"{name} [{id_col}={sid}]"
        series = series_from_frame(part, cfg, report=report)
        panel.append(replace(series, id=str(sid), source=name))
    if report is not None:
        report(f"{name}: {len(panel)} series in column {id_col!r}")
    return panel
