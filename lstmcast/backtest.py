"""Rolling-origin evaluation against the naive, seasonal-naive and drift baselines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from lstmcast.checkpoint import Checkpoint
from lstmcast.config import RunConfig
from lstmcast.data import Series, season_length
from lstmcast.errors import ConfigError, DataError
from lstmcast.fitting import fit_series
from lstmcast.forecast import check_compatible, forecast_series
from lstmcast.metrics import drift, naive, point_metrics, seasonal_naive

BASELINES: dict[str, Callable[[np.ndarray, int, int], np.ndarray]] = {
    "naive": lambda h, n, m: naive(h, n),
    "seasonal naive": seasonal_naive,
    "drift": lambda h, n, m: drift(h, n),
}
METRICS = ("mae", "rmse", "mape", "smape", "mase")


@dataclass
class Fold:
    """One origin: the forecasts of every model over the `horizon` points after it (original units)."""

    fold: int
    origin: int  # position of the first forecast point
    times: list  # timestamps (or positions) of the forecast points
    actual: np.ndarray
    forecasts: dict[str, np.ndarray]
    scores: dict[str, dict[str, float]]


@dataclass
class BacktestResult:
    series: Series
    config: RunConfig
    season: int
    folds: list[Fold]

    @property
    def models(self) -> list[str]:
        return list(self.folds[0].scores) if self.folds else []

    def overall(self) -> dict[str, dict[str, float]]:
        """Per model, the mean of each metric over folds, and the skill against seasonal naive."""
        out: dict[str, dict[str, float]] = {}
        for model in self.models:
            row = {}
            for metric in (*METRICS, "mape_skipped"):
                vals = np.array([f.scores[model][metric] for f in self.folds], dtype="float64")
                vals = vals[np.isfinite(vals)]
                row[metric] = float(vals.mean()) if len(vals) else float("nan")
            row["mape_skipped"] = float(sum(f.scores[model]["mape_skipped"] for f in self.folds))
            out[model] = row
        ref = out.get("seasonal naive", {}).get("mase", float("nan"))
        for row in out.values():
            row["skill"] = 1 - row["mase"] / ref if ref and np.isfinite(ref) else float("nan")
        return out

    def records(self) -> list[dict]:
        """Long table: one record per fold and model (plus the overall rows with fold 'all')."""
        rows = []
        for f in self.folds:
            for model, s in f.scores.items():
                rows.append({"fold": f.fold, "origin": _time(self.series, f.origin), "model": model, **s})
        for model, s in self.overall().items():
            rows.append({"fold": "all", "origin": "", "model": model, **s})
        return rows


def _time(series: Series, pos: int) -> str | int:
    return pos if series.index is None else str(series.index[pos].isoformat())


def origins(n_rows: int, folds: int, step: int, horizon: int) -> list[int]:
    """The K origins: the last K x step points, stepping by `step`, each followed by a full horizon."""
    last = n_rows - horizon
    return [last - step * (folds - 1 - k) for k in range(folds)]


Forecaster = Callable[[Series, int], np.ndarray]


def score_origins(
    series: Series,
    starts: list[int],
    horizon: int,
    season: int,
    forecaster: Forecaster,
    on_fold: Callable[[int, int], None] | None = None,
) -> list[Fold]:
    """At each origin, forecast `horizon` points from the data before it; score the model and the baselines."""
    results = []
    for k, origin in enumerate(starts, start=1):
        if on_fold is not None:
            on_fold(k, len(starts))
        past = series.head(origin)
        actual = series.values[origin : origin + horizon]
        preds = {"lstmcast": forecaster(past, horizon)}
        for name, fn in BASELINES.items():
            preds[name] = fn(past.values, horizon, season)
        scores = {name: point_metrics(actual, p, past.values, season) for name, p in preds.items()}
        times = [_time(series, i) for i in range(origin, origin + horizon)]
        results.append(Fold(k, origin, times, actual, preds, scores))
    return results


def backtest(
    series: Series,
    cfg: RunConfig,
    *,
    folds: int = 3,
    step: int | None = None,
    season: int | None = None,
    ensemble: int | None = None,
    on_fold: Callable[[int, int], None] | None = None,
) -> BacktestResult:
    """Train on everything before each origin (scaler fitted there only) and forecast the next horizon."""
    if folds < 1:
        raise ConfigError(f"--folds {folds} is out of range: it must be >= 1")
    m = season or season_length(series.freq)
    horizon = cfg.window.horizon or max(1, m)
    step = step or horizon
    cfg = replace(cfg, window=replace(cfg.window, horizon=horizon))
    starts = origins(len(series), folds, step, horizon)
    if starts[0] <= 0:
        raise ConfigError(
            f"--folds {folds} x --step {step} + horizon {horizon} is longer than the series ({len(series)} rows)"
        )

    def train_and_forecast(past: Series, steps: int) -> np.ndarray:
        return fit_series(past, cfg, ensemble=ensemble).forecast(past, steps)

    return BacktestResult(series, cfg, m, score_origins(series, starts, horizon, m, train_and_forecast, on_fold))


def evaluate(
    series: Series,
    ckpt: Checkpoint,
    *,
    horizon: int | None = None,
    step: int | None = None,
    season: int | None = None,
) -> BacktestResult:
    """Score a trained model on the part of `series` after its training data, rolling the origin forward.

    The model is not retrained: each origin forecasts from the data before it.
    """
    check_compatible(ckpt, series)
    m = season or season_length(series.freq)
    horizon = horizon or int(ckpt.config.window.horizon or 1)
    step = step or horizon
    last = ckpt.schema.get("last_time")
    if last is not None and series.index is not None:
        first = int(series.index.searchsorted(pd.Timestamp(last), side="right"))
        where = f"after {last}"
    else:
        first = int(ckpt.schema.get("n_rows", 0))
        where = f"after row {first}"
    if len(series) - first < horizon:
        raise DataError(
            f"{series.source}: to evaluate, the data needs at least {horizon} rows {where} (the end of the model's "
            f"training data); it has {max(0, len(series) - first)}"
        )
    if first < int(ckpt.config.window.lookback or 0):
        raise DataError(
            f"{series.source}: the data must also hold the {ckpt.config.window.lookback} rows before {where}"
        )
    starts = list(range(first, len(series) - horizon + 1, step))

    def from_checkpoint(past: Series, steps: int) -> np.ndarray:
        return forecast_series(ckpt, past, steps)

    return BacktestResult(series, ckpt.config, m, score_origins(series, starts, horizon, m, from_checkpoint))
