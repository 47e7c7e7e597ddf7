"""Scores of a trained model on its validation windows, next to seasonal naive on the same windows."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from lstmcast.evaluation.metrics import mean_scores, point_metrics
from lstmcast.forecasting.baselines import seasonal_naive_at
from lstmcast.forecasting.combine import theta_at
from lstmcast.forecasting.forecast import Bands, forecast_windows
from lstmcast.io.data import Series
from lstmcast.nn.model import LSTMRegressor
from lstmcast.nn.theta import blend_bands
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
    rows, all_origins = windows.origins(starts)
    horizon = windows.horizon
    per_series: list[SeriesValidation] = []
    pooled: dict[str, list[dict[str, float]]] = {"lstmcast": [], "seasonal naive": []}
    for k, (s, n_train) in enumerate(zip(panel, n_trains)):
        sel = rows == k
        origins = all_origins[sel]
        actual = s.values[origins[:, None] + np.arange(horizon)[None, :]]
        snaive = seasonal_naive_at(s.values, origins, horizon, season)
        own = {lv: (lo[sel], hi[sel]) for lv, (lo, hi) in bands.items()}
        per_series.append(SeriesValidation(s, n_train, origins, preds[sel], actual, snaive, own))
        insample = s.values[:n_train]
        if not len(origins):  # a short series that trained on every row: nothing of it to score
            continue
        pooled["lstmcast"].append(point_metrics(actual, preds[sel], insample, season))
        pooled["seasonal naive"].append(point_metrics(actual, snaive, insample, season))
    scores = {name: mean_scores(rows_) for name, rows_ in pooled.items()}
    return scores, per_series


def combined_validation(
    scores: dict[str, dict[str, float]], per_series: list[SeriesValidation], weight: float, season: int
) -> tuple[dict[str, dict[str, float]], list[SeriesValidation]]:
    """The validation of a model combined with Theta (weight: the LSTM's share): its forecasts blended with Theta
    fitted before each origin, scored as "lstmcast"; the LSTM's own scores stay beside them as "LSTM alone".
    The weight was chosen on these same windows, so the combined scores are optimistic."""
    rows, blended = [], []
    for v in per_series:
        partner = theta_at(v.series.values, v.origins, v.forecasts.shape[1], season)  # (W, H)
        forecasts, bands = blend_bands(weight, v.forecasts, v.bands, partner)
        blended.append(replace(v, forecasts=forecasts, bands=bands))
        if len(v.origins):
            rows.append(point_metrics(v.actual, forecasts, v.series.values[: v.n_train], season))
    out = {"lstmcast": mean_scores(rows), "LSTM alone": scores["lstmcast"]}
    return out | {k: s for k, s in scores.items() if k != "lstmcast"}, blended


def series_scores(per_series: list[SeriesValidation], season: int) -> list[dict[str, float | str | None]]:
    """Each series' validation scores, so that series of different scales are compared by scale-free numbers:
    MAE, RMSE, MAPE and MASE of lstmcast, seasonal naive's MASE and their ratio (rel_mase < 1: lstmcast is better)."""
    rows: list[dict[str, float | str | None]] = []
    for v in per_series:
        sid = v.series.id if v.series.id is not None else v.series.target
        if not len(v.origins):  # too short to hold out a validation part: trained on every row, not scored
            rows.append({"id": sid} | dict.fromkeys(("mae", "rmse", "mape", "mase", "snaive_mase", "rel_mase")) | {
                "windows": 0.0})  # fmt: skip
            continue
        insample = v.series.values[: v.n_train]
        ours = point_metrics(v.actual, v.forecasts, insample, season)
        base = point_metrics(v.actual, v.snaive, insample, season)["mase"]
        rel = ours["mase"] / base if np.isfinite(base) and base > 0 else float("nan")
        row: dict[str, float | str | None] = {"id": sid}
        row |= {k: ours[k] for k in ("mae", "rmse", "mape", "mase")}
        row |= {"snaive_mase": base, "rel_mase": rel, "windows": float(len(v.origins))}
        rows.append(row)
    return rows
