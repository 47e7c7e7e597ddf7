"""Point-forecast metrics, the baselines every result is compared with, and the scores that check prediction
intervals (coverage, MSIS, seasonal-naive bands). NumPy only."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np


def mae(actual: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(actual) - np.asarray(pred))))


def rmse(actual: np.ndarray, pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(actual) - np.asarray(pred)) ** 2)))


def mape(actual: np.ndarray, pred: np.ndarray) -> tuple[float, int]:
    """Mean absolute percentage error in %, skipping points where the actual is zero.

    Returns (MAPE, number of skipped points); NaN when every actual is zero.
    """
    a, p = np.asarray(actual, dtype="float64"), np.asarray(pred, dtype="float64")
    keep = a != 0
    skipped = int((~keep).sum())
    if not keep.any():
        return float("nan"), skipped
    return float(np.mean(np.abs((a[keep] - p[keep]) / a[keep])) * 100), skipped


def smape(actual: np.ndarray, pred: np.ndarray) -> float:
    """Symmetric MAPE in % (0..200); points where both are zero count as zero error."""
    a, p = np.asarray(actual, dtype="float64"), np.asarray(pred, dtype="float64")
    denom = np.abs(a) + np.abs(p)
    ratio = np.divide(2 * np.abs(a - p), denom, out=np.zeros_like(denom), where=denom != 0)
    return float(np.mean(ratio) * 100)


def seasonal_naive_scale(insample: np.ndarray, season: int) -> float:
    """Mean absolute error of the in-sample seasonal-naive forecast (the MASE denominator).

    Falls back to lag 1 when the sample is shorter than one season plus one point.
    """
    x = np.asarray(insample, dtype="float64")
    m = season if len(x) > season else 1
    if len(x) <= m:
        return float("nan")
    return float(np.mean(np.abs(x[m:] - x[:-m])))


def mase(actual: np.ndarray, pred: np.ndarray, insample: np.ndarray, season: int) -> float:
    scale = seasonal_naive_scale(insample, season)
    if not np.isfinite(scale) or scale == 0:
        return float("nan")
    return mae(actual, pred) / scale


def beats(mase_model: float, mase_baseline: float) -> bool | None:
    """What "beats the baseline" means here: a lower MASE. None when either score is not a number."""
    if math.isnan(mase_model) or math.isnan(mase_baseline):
        return None
    return mase_model < mase_baseline


def naive(history: np.ndarray, horizon: int) -> np.ndarray:
    return np.repeat(np.asarray(history, dtype="float64")[-1], horizon)


def seasonal_naive(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Repeat the last observed season; naive when the history is shorter than a season."""
    h = np.asarray(history, dtype="float64")
    if season <= 1 or len(h) < season:
        return naive(h, horizon)
    last = h[-season:]
    return np.resize(last, horizon)


def drift(history: np.ndarray, horizon: int) -> np.ndarray:
    h = np.asarray(history, dtype="float64")
    slope = (h[-1] - h[0]) / (len(h) - 1) if len(h) > 1 else 0.0
    return h[-1] + slope * np.arange(1, horizon + 1)


def mean_scores(rows: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Each score's mean over rows (e.g. folds or series), ignoring NaN; NaN where no row has a value."""
    out = {}
    for key in rows[0]:
        vals = np.array([r[key] for r in rows], dtype="float64")
        vals = vals[np.isfinite(vals)]
        out[key] = float(vals.mean()) if len(vals) else float("nan")
    return out


def point_metrics(actual: np.ndarray, pred: np.ndarray, insample: np.ndarray, season: int) -> dict[str, float]:
    """MAE, RMSE, MAPE (zeros skipped), sMAPE and MASE of one forecast (arrays of any matching shape)."""
    a, p = np.ravel(actual), np.ravel(pred)
    mape_value, skipped = mape(a, p)
    return {
        "mae": mae(a, p),
        "rmse": rmse(a, p),
        "mape": mape_value,
        "mape_skipped": float(skipped),
        "smape": smape(a, p),
        "mase": mase(a, p, insample, season),
    }


# Prediction intervals: the scores that check them and the seasonal-naive baseline's own bands.


def coverage(actual: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    a = np.asarray(actual)
    return float(np.mean((a >= lo) & (a <= hi)))


def msis(actual: np.ndarray, lo: np.ndarray, hi: np.ndarray, level: float, insample: np.ndarray, season: int) -> float:
    """Mean scaled interval score (M4): width plus 2/alpha times the misses, over the seasonal-naive MAE."""
    a = np.asarray(actual, dtype="float64")
    alpha = 1 - level / 100
    score = (hi - lo) + (2 / alpha) * (lo - a) * (a < lo) + (2 / alpha) * (a - hi) * (a > hi)
    scale = seasonal_naive_scale(insample, season)
    return float(np.mean(score) / scale) if scale and np.isfinite(scale) else math.nan


def seasonal_naive_bands(history: np.ndarray, horizon: int, season: int, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Seasonal-naive intervals from its own in-sample errors: the empirical |error| quantile, widened by
    sqrt(k) for the k-th season ahead. Shapes: -> lo (H,), hi (H,)."""
    x = np.asarray(history, dtype="float64")
    m = season if len(x) > season else 1
    err = np.abs(x[m:] - x[:-m])
    q = float(np.quantile(err, min(1.0, level / 100))) if len(err) else 0.0
    k = np.arange(horizon) // m + 1
    point = seasonal_naive(x, horizon, season)
    return point - q * np.sqrt(k), point + q * np.sqrt(k)
