"""Prediction intervals by conformal calibration (their scores, coverage and MSIS, are in evaluation.metrics).

Errors are absolute forecast errors divided by each window's own spread (the window normalisation). Per horizon step,
the finite-sample conformal quantiles of the training windows' errors give the shape of the error distribution from
many windows; but the model was fitted on those windows, so the errors are too small. Each step's quantiles are
widened by the generalisation gap: how much larger the validation windows' errors (not fitted on) are than the
training windows', at least 1. A forecast's interval at level p is forecast +- q_p(step) x gap(step) x spread, so
intervals scale with the series' level.
"""

from __future__ import annotations

import numpy as np
import torch

from lstmcast import defaults
from lstmcast.nn.model import LSTMRegressor
from lstmcast.prep.windows import Windows, batches

GRID = np.arange(1, 100, dtype="float64")  # stored levels, in %


@torch.inference_mode()
def scaled_errors(model: LSTMRegressor, windows: Windows, starts: torch.Tensor, norm: str) -> np.ndarray:
    """Absolute errors of the windows at `starts`, divided by each window's spread. Shapes: -> (len(starts), H)."""
    model.eval()
    errors = []
    for b in batches(windows, starts, norm):
        pred = model(b.x, b.future)  # (B, H) in normalised units
        errors.append((b.target - pred).abs().double().numpy())
    return np.concatenate(errors) if errors else np.empty((0, windows.horizon))


def generalisation_gap(train: np.ndarray, val: np.ndarray) -> np.ndarray:
    """How much larger errors are out of sample, per horizon step: the mean validation error over the mean training
    error, each first made non-decreasing in the step (its running maximum, so that a step with few or lucky
    validation errors borrows from the steps before it); at least 1, held-out errors never narrow the intervals.
    Shapes: train (W, H), val (V, H) -> (H,)."""
    if not len(train) or not len(val):
        return np.ones(train.shape[1])
    fitted = np.maximum.accumulate(train.mean(axis=0))
    held_out = np.maximum.accumulate(val.mean(axis=0))
    ratio = np.divide(held_out, fitted, out=np.ones_like(fitted), where=fitted > 0)
    return np.maximum(1.0, ratio)


def calibrate(model: LSTMRegressor, windows: Windows, norm: str) -> np.ndarray:
    """Conformal quantiles of the training windows' scaled absolute errors per horizon step, times that step's
    generalisation gap. Shapes: -> (len(GRID), H)."""
    train = scaled_errors(model, windows, _spaced(windows.train_starts), norm)  # (W, H)
    val = scaled_errors(model, windows, _spaced(windows.val_starts), norm)  # (V, H)
    n = len(train)
    # Finite-sample correction: the ceil((n + 1) p) / n empirical quantile (capped at the largest error).
    probs = np.minimum(np.ceil((n + 1) * GRID / 100) / n, 1.0)
    return np.quantile(train, probs, axis=0, method="higher") * generalisation_gap(train, val)[None, :]


def _spaced(starts: torch.Tensor, most: int = defaults.CALIBRATION_WINDOWS) -> torch.Tensor:
    """At most `most` of the window starts, evenly spaced over them (all of them when there are fewer)."""
    if len(starts) <= most:
        return starts
    return starts[torch.linspace(0, len(starts) - 1, most).round().long()]


def half_width(table: np.ndarray, level: float, steps: int) -> np.ndarray:
    """Interval half-widths in normalised units for `steps` steps at `level` % (interpolated on the grid; steps
    beyond the calibrated horizon reuse the last step's width grown by sqrt of the number of horizons).
    Shapes: table (99, H) -> (steps,)."""
    per_step = np.array([np.interp(level, GRID, table[:, h]) for h in range(table.shape[1])])
    horizon = len(per_step)
    idx = np.arange(steps)
    grow = np.sqrt(idx // horizon + 1)
    return np.where(idx < horizon, per_step[np.minimum(idx, horizon - 1)], per_step[-1] * grow)


def clip_at_zero(lo: np.ndarray, hi: np.ndarray, nonnegative: bool | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Interval bounds of series that were never negative clipped at zero (a count, a price, sunspots cannot go
    below it). `nonnegative`: one flag, or one per series (row) of (S, P) bounds. Shapes: -> lo, hi as given."""
    mask = np.asarray(nonnegative, dtype=bool)
    if mask.ndim:
        mask = mask[:, None]
    return np.where(mask, np.maximum(lo, 0.0), lo), np.where(mask, np.maximum(hi, 0.0), hi)


def never_negative(values: np.ndarray) -> bool:
    """Whether a series' (training) values are all >= 0 (an empty or all-NaN series: no)."""
    finite = values[np.isfinite(values)]
    return bool(len(finite)) and bool(finite.min() >= 0)
