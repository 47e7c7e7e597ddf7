"""Where a run's data comes from: a file (CSV or Parquet), standard input or a DataFrame, read by one reader; new
data read for a trained model with the model's own columns; forecasts named as the user's data was."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import IO, Any, TypeAlias

import pandas as pd

from lstmcast.checkpoint.format import Checkpoint
from lstmcast.config import DataConfig
from lstmcast.errors import DataError, MissingColumn
from lstmcast.io.data import Series
from lstmcast.io.panel import load_panel, panel_from_frame

Report = Callable[[str], None]
Source: TypeAlias = "str | Path | pd.DataFrame"  # a file (CSV or Parquet), "-" (standard input), or a DataFrame


def read_panel(
    source: Source, cfg: DataConfig, *, stdin: IO[bytes] | None = None, report: Report | None = None
) -> list[Series]:
    """The series in a file or a DataFrame (single series, long with cfg.id_col, or wide with several targets): the
    one reader behind every entry point, so a DataFrame is checked exactly as a CSV is."""
    if isinstance(source, pd.DataFrame):
        frame = source.reset_index() if not isinstance(source.index, pd.RangeIndex) else source.copy()
        frame.columns = pd.Index([str(c) for c in frame.columns])
        frame.attrs["source"] = "<DataFrame>"
        return panel_from_frame(frame, cfg, report=report)
    if not isinstance(source, (str, Path)):
        raise DataError(f"data must be a file path or a pandas DataFrame, not {type(source).__name__}")
    return load_panel(source, cfg, stdin=stdin, report=report)


def load_for_model(
    ckpt: Checkpoint, source: Source, target: str | None, time_col: str | None, fill: str,
    stdin: IO[bytes] | None, report: Report | None,
) -> list[Series]:  # fmt: skip
    """Read new data for a trained model, with the model's own columns (target, id, covariates) by default."""
    schema = ckpt.schema
    trained = ckpt.config.data
    dcfg = replace(
        trained,
        target=target or trained.target or schema.get("target"),
        time_col=time_col or schema.get("time_col"),
        fill=fill,
    )
    try:
        return read_panel(source, dcfg, stdin=stdin, report=report)
    except MissingColumn as exc:
        trained_on, model_time = schema.get("target"), schema.get("time_col")
        if target is None and trained_on and exc.column == trained_on:
            raise DataError(f"{exc}. The model was trained on {schema.get('target')!r}; pass --target") from None
        if time_col is None and model_time and exc.column == model_time:  # the model's column, not the user's flag
            raise DataError(
                f"{source}: no column {model_time!r}, the time column the model was trained with; name this data's "
                f"time column with --time-col (the columns are {', '.join(exc.columns)})"
            ) from None
        raise


def user_names(frame: pd.DataFrame, schema: dict[str, Any]) -> pd.DataFrame:
    """timestamp, forecast and id renamed to the training data's time, target and id columns (where it had them
    and a name would not clash with another column)."""
    wanted = {"timestamp": schema.get("time_col"), "forecast": schema.get("target"), "id": schema.get("id_col")}
    names = {k: str(v) for k, v in wanted.items() if k in frame.columns and v and "," not in str(v)}
    if len(set(names.values())) < len(names) or set(names.values()) & (set(frame.columns) - set(names)):
        return frame
    return frame.rename(columns=names)
