"""The files a run writes besides its checkpoints: the data schema, metrics.csv, summary.json's plain values,
backtest.csv and the figures' data (drawn by ui)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lstmcast.errors import ConfigError
from lstmcast.evaluation.backtest import BacktestResult
from lstmcast.evaluation.validation import SeriesValidation
from lstmcast.files import output_target
from lstmcast.io.data import Series
from lstmcast.training.fitting import Prepared
from lstmcast.training.loop import EpochLog
from lstmcast.ui import render

FIGURE_LEVELS = (80.0, 95.0)  # the interval bands forecast.png draws


def schema(prep: Prepared) -> dict[str, Any]:
    """What the data looked like: columns, frequency and the training span (of the first series for panels)."""
    first = prep.panel[0]
    iso = (lambda i: None) if first.index is None else (lambda i: first.index[i].isoformat())  # type: ignore[index]
    return {
        "target": prep.config.data.target or first.target,
        "time_col": first.time_col,
        "id_col": prep.config.data.id_col if hasattr(prep.config.data, "id_col") else None,
        "freq": first.freq,
        "first_time": iso(0),
        "split_time": iso(prep.n_trains[0]),
        "last_time": first.last_time,
        "n_rows": len(first),
        "train_rows": prep.n_trains[0],
        "series": len(prep.panel),
        "source": first.source,
        # per series: never negative in the training part (then predict clips its intervals at zero)
        "nonnegative": [bool(np.nanmin(s.values[:n]) >= 0) for s, n in zip(prep.panel, prep.n_trains)],
    }


def forecast_figure(path: Path, per_series: list[SeriesValidation], horizon: int) -> None:
    """Validation forecasts from origins one horizon apart, over the recent actuals; a grid for panels."""
    panels = []
    for v in per_series[:4]:
        s, n_train = v.series, v.n_train
        shown = min(n_train, max(3 * (len(s) - n_train), 50))
        lo = n_train - shown
        times: Any = np.arange(lo, len(s)) if s.index is None else s.index[lo:]
        pick = [i for i, o in enumerate(v.origins) if (o - n_train) % horizon == 0]
        segs = []
        for i in pick:
            t = np.arange(v.origins[i], v.origins[i] + horizon)
            bands = {lv: (lo[i], hi[i]) for lv, (lo, hi) in v.bands.items()}
            segs.append((t if s.index is None else s.index[t], v.forecasts[i], bands))
        title = s.target if s.id is None else f"{s.id}"
        panels.append((title, times, s.values[lo:], segs))
    first = per_series[0].series
    what = first.target if len(per_series) == 1 else f"{len(panels)} of {len(per_series)} series of {first.source}"
    render.forecast_grid(path, panels, f"Validation forecasts: {what}")


PLOT_SERIES = 12  # predict --plot draws at most this many series (pick others with --id)


def prediction_figure(
    path: Path, frame: pd.DataFrame, chosen: list[Series], n_rows: list[int], levels: list[float], report: Any = None
) -> Path:
    """predict --plot: each series' recent history (three forecast lengths, at least 24 steps, of what is known),
    then its forecast and interval bands; one plot per series (the first PLOT_SERIES)."""
    if len(chosen) > PLOT_SERIES and report is not None:
        report(f"note: --plot draws the first {PLOT_SERIES} of {len(chosen)} series; pick others with --id")
    panels = []
    for s, rows in list(zip(chosen, n_rows))[:PLOT_SERIES]:
        part = frame if s.id is None or "id" not in frame else frame[frame["id"] == s.id]
        steps = len(part)
        shown = min(len(s), max(3 * steps, 24))
        start = rows - shown  # the position of the first shown step in the whole series
        times: Any = np.arange(start, rows) if s.index is None else s.index[-shown:]
        ftimes: Any = part["timestamp"].to_numpy()
        if s.index is not None:
            ftimes = pd.to_datetime(part["timestamp"], format="ISO8601")
        bands = {lv: (part[f"lo_{lv:g}"].to_numpy(), part[f"hi_{lv:g}"].to_numpy()) for lv in levels}
        name = s.target if s.id is None else str(s.id)
        panels.append((name, times, s.values[-shown:], ftimes, part["forecast"].to_numpy(), bands))
    first = chosen[0]
    what = first.target if len(panels) == 1 else f"{len(panels)} series of {first.source}"
    steps = len(panels[0][3])
    after = f" after {first.last_time[:10]}" if first.last_time else ""
    return render.future_figure(path, panels, f"Forecast of {what}: {steps} step{'s' if steps != 1 else ''}{after}")


def plain(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null, NumPy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def write_metrics_csv(path: Path, history: list[EpochLog], refit: list[EpochLog] | None = None) -> None:
    """One row per epoch: the first fit's (phase fit), then the final refit's on every window (phase refit, no
    validation loss: its val_loss is empty)."""
    with output_target(path, "").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["epoch", "train_loss", "val_loss", "lr", "seconds", "phase"])
        for phase, logs in (("fit", history), ("refit", refit or [])):
            for h in logs:
                val = "" if phase == "refit" else f"{h.val_loss:.6g}"
                w.writerow([h.epoch, f"{h.train_loss:.6g}", val, f"{h.lr:.6g}", f"{h.seconds:.4f}", phase])


def backtest_figure(path: Path, result: BacktestResult) -> None:
    """Each fold's forecasts over the actuals, for up to four series."""
    panels = []
    for s in result.panel[:4]:
        folds = [f for f in result.folds if f.series == s.id]
        if not folds:
            continue
        first = folds[0].origin
        lo = max(0, first - 3 * (len(s) - first))
        times: Any = np.arange(lo, len(s)) if s.index is None else s.index[lo:]
        lines = []
        for f in folds:
            ft: Any = np.arange(f.origin, f.origin + len(f.actual))
            lines.append((ft if s.index is None else s.index[ft], f.forecasts))
        panels.append((s.id or s.target, times, s.values[lo:], lines))
    render.backtest_figure(
        path, panels, f"Backtest: {result.series.target if len(result.panel) == 1 else f'{len(panels)} of {len(result.panel)} series'}, "
        f"{len({f.fold for f in result.folds})} origins"
    )


def write_records(path: Path, records: list[dict[str, Any]]) -> None:
    pd.DataFrame.from_records(records).to_csv(output_target(path, ""), index=False, float_format="%.6g")


def run_files(run_dir: Path) -> list[str]:
    """The files a run directory really holds (what messages may say was saved)."""
    return sorted(p.name for p in run_dir.iterdir() if not p.name.startswith(".") and p.is_file())


def write_summary(run_dir: Path, summary: dict[str, Any]) -> None:
    """summary.json, with `files`: what the directory holds, itself included."""
    path = output_target(run_dir / "summary.json", "")
    files = sorted({*run_files(run_dir), "summary.json"})
    path.write_text(json.dumps(plain(summary | {"files": files}), indent=2, allow_nan=False) + "\n")


FORECAST_SUFFIXES = (".csv", ".parquet", ".json")


def write_forecast(frame: pd.DataFrame, path: Path) -> Path:
    """`predict -o FILE`: the forecast as CSV, Parquet (timestamps as datetimes) or JSON lines, by the suffix;
    written to a temporary file beside it and renamed, so a reader never sees half a file."""
    suffix = path.suffix.lower()
    if suffix not in FORECAST_SUFFIXES:
        raise ConfigError(f"-o {path}: {suffix or 'no suffix'} is not one of {', '.join(FORECAST_SUFFIXES)}")
    if path.is_dir():
        raise ConfigError(f"-o {path}: is a directory; give a file name ending in {', '.join(FORECAST_SUFFIXES)}")
    if not path.parent.is_dir():
        raise ConfigError(f"-o {path}: the directory {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if suffix == ".parquet":
            out = frame.copy()
            if "timestamp" in out and not pd.api.types.is_numeric_dtype(out["timestamp"]):  # ISO strings
                out["timestamp"] = pd.to_datetime(out["timestamp"], utc=False, format="ISO8601")
            out.to_parquet(tmp, index=False)
        elif suffix == ".json":
            tmp.write_text(frame.to_json(orient="records", lines=True, double_precision=10).rstrip("\n") + "\n")
        else:
            frame.to_csv(tmp, index=False, float_format="%.10g", lineterminator="\n")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"-o {path}: cannot write it ({exc.strerror or exc})") from None
    return path
