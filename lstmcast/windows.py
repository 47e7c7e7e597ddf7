"""Chronological split, a scaler fitted on the training part only, and windows as views over one tensor."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch

from lstmcast.config import WindowConfig
from lstmcast.errors import ConfigError, DataError

# Window normalisation divides by the window's standard deviation; this floor (in scaled units, where the
# training part has unit spread) keeps flat windows from blowing up.
NORM_EPS = 1e-2


CYCLES = {"day": 86400.0, "week": 7 * 86400.0, "year": 365.2425 * 86400.0}


def step_seconds(freq: str | None) -> float | None:
    """The (average) length of one step of a pandas frequency, in seconds."""
    if freq is None:
        return None
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
        start = pd.Timestamp("2001-01-01")
        return float(((start + 12 * offset) - start).total_seconds()) / 12
    except (ValueError, TypeError):
        return None


def calendar_cycles(freq: str | None) -> list[str]:
    """Calendar cycles worth encoding for this frequency: each cycle at least twice as long as a step."""
    step = step_seconds(freq)
    if not step:
        return []
    return [name for name, length in CYCLES.items() if length >= 2 * step]


def calendar_features(index: pd.DatetimeIndex, cycles: list[str]) -> np.ndarray:
    """Position within each cycle as sin and cos. Shapes: (N,) timestamps -> (N, 2 * len(cycles)) float32."""
    if not cycles:
        return np.empty((len(index), 0), dtype="float32")
    if index.tz is not None:
        index = index.tz_localize(None)
    seconds = index.asi8 / 1e9  # since the epoch (a Thursday)
    cols = []
    for name in cycles:
        if name == "year":
            phase = (index.dayofyear.to_numpy() - 1 + index.hour.to_numpy() / 24) / 365.2425
        else:
            phase = np.mod(seconds, CYCLES[name]) / CYCLES[name]
        cols += [np.sin(2 * np.pi * phase), np.cos(2 * np.pi * phase)]
    return np.stack(cols, axis=1).astype("float32")


def feature_rows(
    last_time: str | None, freq: str | None, cycles: list[str], lookback: int, steps: int
) -> np.ndarray | None:
    """Calendar features of the `lookback` points ending at `last_time` and the `steps` points after it.

    Shapes: -> (lookback + steps, 2 * len(cycles)), or None when there are no cycles.
    """
    if not cycles or last_time is None or freq is None:
        return None
    end = pd.Timestamp(last_time)
    past = pd.date_range(end=end, periods=lookback, freq=freq)
    future = pd.date_range(start=end, periods=steps + 1, freq=freq)[1:]
    return calendar_features(past.append(future), cycles)


@dataclass(frozen=True)
class Scaler:
    """Fitted affine scaling z = (x - offset) / scale. Plain floats so a checkpoint can store it."""

    kind: str
    offset: float
    scale: float

    @classmethod
    def fit(cls, kind: str, train_values: np.ndarray) -> Scaler:
        """Fit on the training part only (scikit-learn does the fitting)."""
        x = np.asarray(train_values, dtype="float64").reshape(-1, 1)
        if kind == "none":
            return cls("none", 0.0, 1.0)
        if kind == "minmax":
            from sklearn.preprocessing import MinMaxScaler

            mm = MinMaxScaler().fit(x)
            return cls("minmax", float(mm.data_min_[0]), float(mm.data_range_[0]) or 1.0)
        if kind == "standard":
            from sklearn.preprocessing import StandardScaler

            ss = StandardScaler().fit(x)
            return cls("standard", float(ss.mean_[0]), float(ss.scale_[0]) or 1.0)  # type: ignore[index]
        raise ConfigError(f"--scaler {kind!r} is not one of standard, minmax, none")

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype="float64") - self.offset) / self.scale

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return np.asarray(z, dtype="float64") * self.scale + self.offset

    def to_dict(self) -> dict[str, float | str]:
        return {"kind": self.kind, "offset": self.offset, "scale": self.scale}

    @classmethod
    def from_dict(cls, raw: dict) -> Scaler:
        return cls(str(raw["kind"]), float(raw["offset"]), float(raw["scale"]))


def default_sizes(n_rows: int, season: int, cfg: WindowConfig) -> WindowConfig:
    """Resolve lookback, horizon and validation size from the season and length when not given.

    horizon: one season (at least 1). lookback: 3 seasons for short seasons (<= 12), 2 for longer ones, at least
    16 points, at most 336 and at most a third of the series. val_size: up to 4 horizons, at most a tenth of the
    series, at least one horizon.
    """
    horizon = cfg.horizon if cfg.horizon is not None else max(1, season)
    val_size = cfg.val_size
    if val_size is None:
        val_size = horizon * max(1, min(4, (n_rows // 10) // horizon))
    lookback = cfg.lookback
    if lookback is None:
        seasons = 3 if season <= 12 else 2
        lookback = max(16, seasons * season)
        lookback = min(lookback, 336, max(horizon, (n_rows - val_size) // 3))
        lookback = max(1, lookback)
    return replace(cfg, lookback=lookback, horizon=horizon, val_size=val_size)


def check_length(n_rows: int, cfg: WindowConfig, source: str) -> int:
    """Rows needed for one training window plus the validation part; raises DataError when short."""
    assert cfg.resolved
    lookback, horizon, val = int(cfg.lookback or 0), int(cfg.horizon or 0), int(cfg.val_size or 0)
    if val < horizon:
        raise ConfigError(f"--val-size {val} must be at least the horizon ({horizon})")
    need = lookback + horizon + val
    if n_rows < need:
        raise DataError(
            f"{source}: too little data: lookback {lookback} + horizon {horizon} + validation {val} needs at least "
            f"{need} rows; the series has {n_rows}. Use a smaller --lookback, --horizon or --val-size"
        )
    return need


@dataclass
class Windows:
    """Windows of `lookback + horizon` steps over one tensor, without copying them.

    series: (N, C) float32, channel 0 is the scaled target.
    view:   (N - L - H + 1, C, L + H) an `unfold` view of `series` (shares its storage).
    train_starts / val_starts: int64 start positions of the windows of each part.
    """

    series: torch.Tensor
    lookback: int
    horizon: int
    train_starts: torch.Tensor
    val_starts: torch.Tensor

    @property
    def view(self) -> torch.Tensor:
        return self.series.unfold(0, self.lookback + self.horizon, 1)

    def batch(self, starts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gather a batch. Shapes: starts (B,) -> inputs (B, L, C), targets (B, H) (target channel)."""
        w = self.view[starts]  # (B, C, L+H): the only copy, one batch at a time
        x = w[:, :, : self.lookback].transpose(1, 2)  # (B, C, L) -> (B, L, C)
        y = w[:, 0, self.lookback :]  # (B, H)
        return x, y


def make_windows(scaled: np.ndarray, cfg: WindowConfig, n_train: int, features: np.ndarray | None = None) -> Windows:
    """Windows over a scaled series whose first `n_train` points are the training part.

    Training windows lie wholly in the training part; validation windows have their targets in the rest (their
    inputs may reach back into the training part, as a forecast from the split point would).
    """
    lookback, horizon = int(cfg.lookback or 0), int(cfg.horizon or 0)
    target = np.asarray(scaled, dtype="float32").reshape(len(scaled), 1)
    if features is not None and features.shape[1]:
        target = np.concatenate([target, features.astype("float32")], axis=1)  # (N, 1 + K)
    series = torch.from_numpy(np.ascontiguousarray(target))
    n = series.shape[0]
    if n_train - lookback - horizon + 1 <= 0:
        raise DataError(f"no training window: the training part has {n_train} rows, fewer than lookback + horizon")
    train_starts = torch.arange(0, n_train - lookback - horizon + 1, dtype=torch.int64)
    val_starts = torch.arange(max(0, n_train - lookback), max(0, n - lookback - horizon + 1), dtype=torch.int64)
    return Windows(series, lookback, horizon, train_starts, val_starts)


def normalise(x: torch.Tensor, mode: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-window normalisation of the target channel by the window's own level and spread.

    Shapes: x (B, L, C) -> x_norm (B, L, C), level (B, 1), spread (B, 1). Mode 'none' gives level 0, spread 1.
    Only channel 0 (the target) is normalised; other channels are already on a fixed scale.
    """
    if mode == "none":
        ones = torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device)
        return x, torch.zeros_like(ones), ones
    target = x[:, :, 0]  # (B, L)
    level = target.mean(dim=1, keepdim=True)  # (B, 1)
    spread = target.std(dim=1, keepdim=True, unbiased=False).clamp_min(NORM_EPS)  # (B, 1)
    normed = (target - level) / spread  # (B, L)
    if x.shape[2] == 1:
        return normed.unsqueeze(-1), level, spread
    return torch.cat([normed.unsqueeze(-1), x[:, :, 1:]], dim=2), level, spread
