"""Prediction intervals by split-conformal calibration, and the scores that check them (coverage, MSIS).

At train time the model forecasts calibration windows it was not fitted on (the validation windows, topped up
with the most recent training windows when there are few). The absolute errors, divided by each window's own
spread (the window normalisation), give per horizon step an error distribution; its quantiles are stored. A
forecast's interval at level p is forecast +- q_p(step) x spread, so intervals scale with the series' level.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from lstmcast.model import LSTMRegressor
from lstmcast.windows import Windows, normalise

GRID = np.arange(1, 100, dtype="float64")  # stored levels, in %
MIN_WINDOWS = 30  # calibration windows wanted; fewer validation windows are topped up from training ones


def calibration_starts(windows: Windows) -> torch.Tensor:
    """Validation windows, plus each series' latest training windows when there are fewer than MIN_WINDOWS
    (spread evenly over the series of a panel, not all taken from the last one)."""
    val, train = windows.val_starts, windows.train_starts
    if len(val) >= MIN_WINDOWS or len(train) == 0:
        return val
    series = windows.series_of(train)  # (W,) sorted, since starts ascend within and across series
    count = int(series.max()) + 1
    per = -(-(MIN_WINDOWS - len(val)) // count)
    ends = torch.searchsorted(series, torch.arange(count), right=True)  # one past each series' last window
    picks = [
        train[max(int(lo), int(end) - per) : int(end)]
        for lo, end in zip(torch.cat([torch.zeros(1, dtype=ends.dtype), ends[:-1]]), ends)
    ]
    return torch.cat([*picks, val])


@torch.inference_mode()
def calibrate(model: LSTMRegressor, windows: Windows, norm: str) -> np.ndarray:
    """Conformal quantiles of the scaled absolute error per horizon step. Shapes: -> (len(GRID), H)."""
    starts = calibration_starts(windows)
    model.eval()
    errors = []
    for chunk in torch.split(starts, 4096):
        x, future, y = windows.gather(chunk)
        xn, level, spread = normalise(x, norm)
        pred = model(xn, future)  # (B, H) in normalised units
        errors.append(((y - level) / spread - pred).abs().double().numpy())
    err = np.concatenate(errors)  # (W, H)
    n = len(err)
    # Finite-sample correction: the ceil((n + 1) p) / n empirical quantile (capped at the largest error).
    probs = np.minimum(np.ceil((n + 1) * GRID / 100) / n, 1.0)
    return np.quantile(err, probs, axis=0, method="higher")


def half_width(table: np.ndarray, level: float, steps: int) -> np.ndarray:
    """Interval half-widths in normalised units for `steps` steps at `level` % (interpolated on the grid; steps
    beyond the calibrated horizon reuse the last step's width grown by sqrt of the number of horizons).
    Shapes: table (99, H) -> (steps,)."""
    per_step = np.array([np.interp(level, GRID, table[:, h]) for h in range(table.shape[1])])
    horizon = len(per_step)
    idx = np.arange(steps)
    grow = np.sqrt(idx // horizon + 1)
    return np.where(idx < horizon, per_step[np.minimum(idx, horizon - 1)], per_step[-1] * grow)


def coverage(actual: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    a = np.asarray(actual)
    return float(np.mean((a >= lo) & (a <= hi)))


def msis(actual: np.ndarray, lo: np.ndarray, hi: np.ndarray, level: float, insample: np.ndarray, season: int) -> float:
    """Mean scaled interval score (M4): width plus 2/alpha times the misses, over the seasonal-naive MAE."""
    a = np.asarray(actual, dtype="float64")
    alpha = 1 - level / 100
    score = (hi - lo) + (2 / alpha) * (lo - a) * (a < lo) + (2 / alpha) * (a - hi) * (a > hi)
    x = np.asarray(insample, dtype="float64")
    m = season if len(x) > season else 1
    scale = np.mean(np.abs(x[m:] - x[:-m])) if len(x) > m else math.nan
    return float(np.mean(score) / scale) if scale and np.isfinite(scale) else math.nan


def seasonal_naive_bands(history: np.ndarray, horizon: int, season: int, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Seasonal-naive intervals from its own in-sample errors: the empirical |error| quantile, widened by
    sqrt(k) for the k-th season ahead. Shapes: -> lo (H,), hi (H,)."""
    from lstmcast.metrics import seasonal_naive

    x = np.asarray(history, dtype="float64")
    m = season if len(x) > season else 1
    err = np.abs(x[m:] - x[:-m])
    q = float(np.quantile(err, min(1.0, level / 100))) if len(err) else 0.0
    k = np.arange(horizon) // m + 1
    point = seasonal_naive(x, horizon, season)
    return point - q * np.sqrt(k), point + q * np.sqrt(k)
