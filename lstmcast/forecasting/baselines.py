"""Seasonal naive: the baseline every score is relative to, and one of the forecasts a combination weighs."""

from __future__ import annotations

import numpy as np


def seasonal_naive_at(values: np.ndarray, origins: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Seasonal-naive forecasts from many origins at once (naive where fewer than `season` points precede).

    Shapes: values (N,), origins (W,) -> (W, H).
    """
    steps = np.arange(horizon)
    m = max(1, season)
    idx = origins[:, None] - m + (steps % m)[None, :]  # repeat the last observed season
    naive_idx = np.broadcast_to(origins[:, None] - 1, idx.shape)
    return values[np.where(origins[:, None] >= m, idx, naive_idx)]
