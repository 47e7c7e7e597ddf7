"""The one place that chains the stages: a training run and a prediction run."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import torch

from lstmcast import checkpoint as ckpt_io
from lstmcast import render
from lstmcast.backtest import BacktestResult, backtest, evaluate
from lstmcast.checkpoint import Checkpoint
from lstmcast.config import DataConfig, RunConfig
from lstmcast.data import Series, load_series, season_length
from lstmcast.errors import ConfigError, DataError
from lstmcast.fitting import prepare
from lstmcast.forecast import forecast, forecast_windows
from lstmcast.metrics import point_metrics, seasonal_naive
from lstmcast.model import LSTMRegressor
from lstmcast.train import EpochCallback, EpochLog, TrainResult, fit
from lstmcast.windows import Scaler

Report = Callable[[str], None]


@dataclass
class TrainRun:
    run_dir: Path
    checkpoint: Checkpoint
    result: TrainResult
    val_metrics: dict[str, dict[str, float]]


def make_run_dir(out: Path | None, project: Path = Path("runs"), name: str = "train") -> Path:
    """Create a new, empty run directory. Never reuses one: concurrent runs get distinct directories."""
    if out is not None:
        out = Path(out)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--out {out}: cannot create the directory ({exc.strerror})") from None
        if any(out.iterdir()):
            raise ConfigError(f"--out {out}: the directory is not empty; choose a new one so no run is overwritten")
        _check_writable(out)
        return out
    try:
        project.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {project}/ ({exc.strerror}); use --out DIR") from None
    for i in range(1, 100000):
        candidate = project / (name if i == 1 else f"{name}{i}")
        try:
            candidate.mkdir()  # atomic: exactly one process wins each name
        except FileExistsError:
            continue
        except OSError as exc:
            raise ConfigError(f"cannot create {candidate} ({exc.strerror}); use --out DIR") from None
        _check_writable(candidate)
        return candidate
    raise ConfigError(f"{project}/ holds too many runs named {name}; choose --name or --out")


def _check_writable(path: Path) -> None:
    probe = path / ".write-test"
    try:
        with probe.open("wb") as fh:
            fh.write(b"\0" * 4096)
            fh.flush()
            os.fsync(fh.fileno())
        probe.unlink()
    except OSError as exc:
        probe.unlink(missing_ok=True)
        raise ConfigError(f"{path}: cannot write there ({exc.strerror})") from None


def train_run(
    source: str | Path,
    cfg: RunConfig,
    *,
    out: Path | None = None,
    project: Path = Path("runs"),
    name: str = "train",
    stdin: IO[bytes] | None = None,
    report: Report | None = None,
    on_epoch_end: EpochCallback | None = None,
) -> TrainRun:
    """Load, window, train and write a run directory (model.pt, last.pt, metrics.csv, figures, summary.json)."""
    series = load_series(source, cfg.data, stdin=stdin, report=report)
    prep = prepare(series, cfg)
    cfg, scaler, windows, n_train = prep.config, prep.scaler, prep.windows, prep.n_train
    lookback, horizon = int(cfg.window.lookback or 0), int(cfg.window.horizon or 0)
    run_dir = make_run_dir(out, project, name)

    schema = _schema(series, n_train) | {"input_size": prep.input_size, "calendar": prep.cycles}
    base = Checkpoint(
        cfg, scaler, schema, series.values[-lookback:], LSTMRegressor(cfg.model, prep.input_size, horizon)
    )

    def save_each_epoch(log: EpochLog, model: LSTMRegressor, improved: bool) -> None:
        base.model = model
        if improved:
            ckpt_io.save(base, run_dir / "model.pt")
        ckpt_io.save(base, run_dir / "last.pt")
        if on_epoch_end is not None:
            on_epoch_end(log, model, improved)

    result = fit(windows, cfg, on_epoch_end=save_each_epoch, input_size=prep.input_size)
    season = season_length(series.freq)
    val_metrics, segments = _validation(result.model, scaler, windows, series, n_train, cfg, season)
    history = result.history
    losses = {
        "epoch": [float(h.epoch) for h in history],
        "train_loss": [h.train_loss for h in history],
        "val_loss": [h.val_loss for h in history],
    }
    info = {"stop_reason": result.stop_reason, "best_epoch": result.best_epoch, "epochs_run": result.epochs_run}
    final = Checkpoint(
        cfg, scaler, schema, series.values[-lookback:], result.model,
        {f"val_{k}": v for k, v in val_metrics["lstmcast"].items()}
        | {f"val_snaive_{k}": v for k, v in val_metrics["seasonal naive"].items()},
        losses, info,
    )  # fmt: skip
    if result.best_epoch > 0:
        ckpt_io.save(final, run_dir / "model.pt")
    ckpt_io.save(final, run_dir / "last.pt", state=result.last_state)
    _write_metrics_csv(run_dir / "metrics.csv", history)
    if history:
        render.loss_figure(
            run_dir / "loss.png", [h.epoch for h in history], [h.train_loss for h in history],
            [h.val_loss for h in history], result.best_epoch,
        )  # fmt: skip
    _forecast_figure(run_dir / "forecast.png", series, n_train, segments)
    summary = {
        "run_dir": str(run_dir),
        "source": series.source,
        "rows": len(series),
        "train_rows": n_train,
        "season": season,
        "config": cfg.to_dict(),
        "validation": val_metrics,
        **info,
        "files": sorted(p.name for p in run_dir.iterdir() if not p.name.startswith(".")),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default) + "\n")
    return TrainRun(run_dir, final, result, val_metrics)


def _schema(series: Series, n_train: int) -> dict[str, Any]:
    first = None if series.index is None else series.index[0].isoformat()
    split = None if series.index is None else series.index[n_train].isoformat()
    return {
        "target": series.target,
        "time_col": series.time_col,
        "freq": series.freq,
        "first_time": first,
        "split_time": split,
        "last_time": series.last_time,
        "n_rows": len(series),
        "train_rows": n_train,
        "source": series.source,
        "input_size": 1,
    }


def _validation(
    model: LSTMRegressor, scaler: Scaler, windows: Any, series: Series, n_train: int, cfg: RunConfig, season: int
) -> tuple[dict[str, dict[str, float]], list[tuple[np.ndarray, np.ndarray]]]:
    """Score every validation window in original units, against seasonal naive on the same windows."""
    lookback, horizon = int(cfg.window.lookback or 0), int(cfg.window.horizon or 0)
    starts = windows.val_starts
    preds = forecast_windows(model, scaler, windows, starts, cfg.window.norm)  # (W, H)
    origins = starts.numpy() + lookback
    actual = np.stack([series.values[o : o + horizon] for o in origins])
    snaive = np.stack([seasonal_naive(series.values[:o], horizon, season) for o in origins])
    insample = series.values[:n_train]
    scores = {
        "lstmcast": point_metrics(actual, preds, insample, season),
        "seasonal naive": point_metrics(actual, snaive, insample, season),
    }
    # The figure: forecasts from origins one horizon apart, starting at the split.
    pick = [i for i, o in enumerate(origins) if (o - n_train) % horizon == 0]
    segments = [(np.arange(origins[i], origins[i] + horizon), preds[i]) for i in pick]
    return scores, segments


def _forecast_figure(path: Path, series: Series, n_train: int, segments: list[tuple[np.ndarray, np.ndarray]]) -> None:
    lookback_show = min(n_train, max(3 * (len(series) - n_train), 50))
    lo = n_train - lookback_show
    idx = series.index
    times: Any = np.arange(lo, len(series)) if idx is None else idx[lo:]
    segs = [(seg_t if idx is None else idx[seg_t], seg_v) for seg_t, seg_v in segments]
    render.forecast_figure(
        path, times, series.values[lo:], segs,
        title=f"Validation forecasts: {series.target}", ylabel=series.target,
    )  # fmt: skip


def _write_metrics_csv(path: Path, history: list[EpochLog]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["epoch", "train_loss", "val_loss", "lr", "seconds"])
        for h in history:
            w.writerow([h.epoch, f"{h.train_loss:.6g}", f"{h.val_loss:.6g}", f"{h.lr:.6g}", f"{h.seconds:.4f}"])


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and value != value:
        return None
    return str(value)


def _load_for_model(
    ckpt: Checkpoint, source: str | Path, target: str | None, time_col: str | None, fill: str,
    stdin: IO[bytes] | None, report: Report | None,
) -> Series:  # fmt: skip
    """Read new data for a trained model, with the model's own column names unless told otherwise."""
    schema = ckpt.schema
    dcfg = DataConfig(target=target or schema.get("target"), time_col=time_col or schema.get("time_col"), fill=fill)
    try:
        return load_series(source, dcfg, stdin=stdin, report=report)
    except DataError as exc:
        if target is None and schema.get("target") and f"no column {schema.get('target')!r}" in str(exc):
            raise DataError(f"{exc}. The model was trained on {schema.get('target')!r}; pass --target") from None
        raise


def evaluate_run(
    model: str | Path,
    source: str | Path,
    *,
    horizon: int | None = None,
    step: int | None = None,
    season: int | None = None,
    target: str | None = None,
    time_col: str | None = None,
    fill: str = "interpolate",
    stdin: IO[bytes] | None = None,
    report: Report | None = None,
) -> BacktestResult:
    """Score a checkpoint on the data after its training data (no retraining)."""
    ckpt = ckpt_io.load(model)
    series = _load_for_model(ckpt, source, target, time_col, fill, stdin, report)
    return evaluate(series, ckpt, horizon=horizon, step=step, season=season)


def predict_run(
    model: str | Path,
    source: str | Path | None = None,
    *,
    horizon: int | None = None,
    target: str | None = None,
    time_col: str | None = None,
    fill: str = "interpolate",
    stdin: IO[bytes] | None = None,
    report: Report | None = None,
) -> pd.DataFrame:
    """Forecast from a checkpoint: after its stored history, or after the data in `source`."""
    ckpt = ckpt_io.load(model)
    series = None
    if source is not None:
        series = _load_for_model(ckpt, source, target, time_col, fill, stdin, report)
    torch.set_num_threads(max(1, min(torch.get_num_threads(), 4)))
    return forecast(ckpt, series, horizon, report)


def backtest_run(
    source: str | Path,
    cfg: RunConfig,
    *,
    folds: int = 3,
    step: int | None = None,
    season: int | None = None,
    ensemble: int | None = None,
    out: Path | None = None,
    stdin: IO[bytes] | None = None,
    report: Report | None = None,
) -> BacktestResult:
    """Rolling-origin backtest of `cfg` on the data; with `out`, writes backtest.csv and backtest.png there."""
    series = load_series(source, cfg.data, stdin=stdin, report=report)
    if out is not None:
        try:
            Path(out).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--out {out}: cannot create the directory ({exc.strerror})") from None
        _check_writable(Path(out))

    def progress(k: int, n: int) -> None:
        if report is not None:
            report(f"fold {k}/{n}: training")

    result = backtest(series, cfg, folds=folds, step=step, season=season, ensemble=ensemble, on_fold=progress)
    if out is not None:
        write_records(Path(out) / "backtest.csv", result.records())
        first = result.folds[0].origin
        lo = max(0, first - 3 * (len(series) - first))
        times: Any = np.arange(lo, len(series)) if series.index is None else series.index[lo:]
        fold_lines = []
        for f in result.folds:
            ft: Any = np.arange(f.origin, f.origin + len(f.actual))
            fold_lines.append((ft if series.index is None else series.index[ft], f.forecasts))
        render.backtest_figure(
            Path(out) / "backtest.png", times, series.values[lo:], fold_lines,
            f"Backtest: {series.target}, {len(result.folds)} origins",
        )  # fmt: skip
    return result


def write_records(path: Path, records: list[dict[str, Any]]) -> None:
    pd.DataFrame.from_records(records).to_csv(path, index=False, float_format="%.6g")
