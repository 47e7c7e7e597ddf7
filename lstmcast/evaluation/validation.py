"""Scores of a trained model on its validation windows, next to seasonal naive on the same windows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lstmcast.evaluation.metrics import mean_scores, point_metrics
from lstmcast.forecasting.forecast import Bands, forecast_windows
from lstmcast.io.data import Series
from lstmcast.nn.model import LSTMRegressor
from lstmcast.prep.scaling import PanelScaling
from lstmcast.prep.windows import Windows


@dataclass
class SeriesValidation:
    """One series' validation: origins (positions of the first forecast point), forecasts and actuals (W, H),
    and the forecasts' conformal bands {level: (lo, hi)} when asked for."""

    series: Series
    n_train: int
    origins: np.ndarray
    forecasts: np.ndarray
    actual: np.ndarray
    snaive: np.ndarray
    bands: Bands


def seasonal_naive_at(values: np.ndarray, origins: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Seasonal-naive forecasts from many origins at once (naive where fewer than `season` points precede).

    Shapes: values (N,), origins (W,) -> (W, H).
    """
    steps = np.arange(horizon)
    m = max(1, season)
    idx = origins[:, None] - m + (steps % m)[None, :]  # repeat the last observed season
    naive_idx = np.broadcast_to(origins[:, None] - 1, idx.shape)
    return values[np.where(origins[:, None] >= m, idx, naive_idx)]


def validate(
    model: LSTMRegressor,
    scaling: PanelScaling,
    windows: Windows,
    panel: list[Series],
    n_trains: list[int],
    norm: str,
    season: int,
    table: np.ndarray | None = None,
    levels: tuple[float, ...] = (),
) -> tuple[dict[str, dict[str, float]], list[SeriesValidation]]:
    """Forecast every validation window (original units) and score it against seasonal naive.

    Returns pooled scores per model (MASE: mean over series of each series' MASE, scaled by its training part)
    and each series' forecasts (with bands at `levels` from the calibration `table`) for figures.
    """
    starts = windows.val_starts
    preds, bands = forecast_windows(model, scaling, windows, starts, norm, table, levels)  # (W, H)
    rows = windows.series_of(starts).numpy()
    lookback, horizon = windows.lookback, windows.horizon
    offsets = windows.offsets.numpy()
    per_series: list[SeriesValidation] = []
    pooled: dict[str, list[dict[str, float]]] = {"lstmcast": [], "seasonal naive": []}
    for k, (s, n_train) in enumerate(zip(panel, n_trains)):
        sel = rows == k
        origins = starts.numpy()[sel] - offsets[k] + lookback
        actual = s.values[origins[:, None] + np.arange(horizon)[None, :]]
        snaive = seasonal_naive_at(s.values, origins, horizon, season)
        own = {lv: (lo[sel], hi[sel]) for lv, (lo, hi) in bands.items()}
        per_series.append(SeriesValidation(s, n_train, origins, preds[sel], actual, snaive, own))
        insample = s.values[:n_train]
        pooled["lstmcast"].append(point_metrics(actual, preds[sel], insample, season))
        pooled["seasonal naive"].append(point_metrics(actual, snaive, insample, season))
    scores = {name: mean_scores(rows_) for name, rows_ in pooled.items()}
    return scores, per_series
