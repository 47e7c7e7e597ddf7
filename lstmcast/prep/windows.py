"""Window sizes, the chronological split, and windows as views over one tensor holding every series."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch

from lstmcast import defaults
from lstmcast.config import ResolvedWindow
from lstmcast.errors import ConfigError, DataError
from lstmcast.prep.scaling import Scaler

__all__ = [
    "NORM_EPS",
    "Batch",
    "Scaler",
    "Windows",
    "batch",
    "batches",
    "check_length",
    "make_panel_windows",
    "make_windows",
    "normalise",
    "rows_needed",
]

# Window normalisation divides by the window's standard deviation; this floor (in scaled units, where the
# training part has unit spread) keeps flat windows from blowing up.
NORM_EPS = 1e-2


def rows_needed(cfg: ResolvedWindow) -> int:
    """Rows a series needs: one training window plus the validation part (a padded window holds as few as
    defaults.MIN_HISTORY real steps)."""
    return (defaults.MIN_HISTORY if cfg.pad else cfg.lookback) + cfg.horizon + cfg.val_size


def check_length(n_rows: int, cfg: ResolvedWindow, source: str) -> int:
    """Rows needed for one training window plus the validation part; raises DataError when short."""
    horizon, val = cfg.horizon, cfg.val_size
    if val < horizon:
        raise ConfigError(f"--val-size {val} must be at least the horizon ({horizon})")
    need = rows_needed(cfg)
    if n_rows < need:
        history = f"{defaults.MIN_HISTORY} steps of history" if cfg.pad else f"lookback {cfg.lookback}"
        raise DataError(
            f"{source}: too little data: {history} + horizon {horizon} + validation {val} needs at least "
            f"{need} rows; the series has {n_rows}. Use a smaller --lookback, --horizon or --val-size"
        )
    return need


@dataclass
class Windows:
    """Windows of `lookback + horizon` steps over one tensor holding one or more series, without copying them.

    series:  (N, C) float32, all series one after another; channel 0 is the scaled target, the last `known`
             channels are known in advance (future covariates, calendar features).
    offsets: (S + 1,) int64 where each series starts (and the total length at the end).
    view:    (N - L - H + 1, C, L + H) an `unfold` view of `series` (shares its storage).
    train_starts / val_starts: int64 start positions of the windows of each part; a window never straddles two
             series because only starts inside one series are listed.
    """

    series: torch.Tensor
    lookback: int
    horizon: int
    train_starts: torch.Tensor
    val_starts: torch.Tensor
    offsets: torch.Tensor
    known: int = 0
    ahead: int = 0  # of the `known` channels, the first `ahead` are known-ahead covariates (the rest calendar)
    pad: int = 0  # rows of padding before each series (its first row repeated): positions in `series` are shifted

    @property
    def view(self) -> torch.Tensor:
        return self.series.unfold(0, self.lookback + self.horizon, 1)

    def gather(self, starts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Gather a batch. Shapes: starts (B,) -> inputs (B, L, C), known future (B, H, K) or None, targets (B, H)."""
        w = self.view[starts]  # (B, C, L+H): the only copy, one batch at a time
        x = w[:, :, : self.lookback].transpose(1, 2)  # (B, C, L) -> (B, L, C)
        y = w[:, 0, self.lookback :]  # (B, H)
        if not self.known:
            return x, None, y
        future = w[:, -self.known :, self.lookback :].transpose(1, 2)  # (B, K, H) -> (B, H, K)
        return x, future, y

    def batch(self, starts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs (B, L, C) and targets (B, H) of the windows at `starts`."""
        x, _, y = self.gather(starts)
        return x, y

    def every(self) -> Windows:
        """The same data with every window of every series for training (the validation part included) and none
        for validation: what a final refit trains on."""
        width = self.lookback + self.horizon
        bounds = self.offsets.tolist()
        starts = [torch.arange(a, max(a, b - width + 1), dtype=torch.int64) for a, b in zip(bounds[:-1], bounds[1:])]
        return replace(self, train_starts=torch.cat(starts), val_starts=self.val_starts[:0])

    def origins(self, starts: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Each window's series and its origin: the position, in that series' own rows, of its first forecast
        step. Shapes: (B,) -> (B,), (B,)."""
        rows = self.series_of(starts).numpy()
        return rows, starts.numpy() - self.offsets.numpy()[rows] + self.lookback - self.pad

    def series_of(self, starts: torch.Tensor) -> torch.Tensor:
        """Index of the series each window start belongs to. Shapes: (B,) -> (B,)."""
        return torch.searchsorted(self.offsets, starts, right=True) - 1


def make_windows(scaled: np.ndarray, cfg: ResolvedWindow, n_train: int, features: np.ndarray | None = None) -> Windows:
    """Windows over one scaled series whose first `n_train` points are the training part (see make_panel_windows)."""
    target = np.asarray(scaled, dtype="float32").reshape(len(scaled), 1)
    if features is not None and features.shape[1]:
        target = np.concatenate([target, features.astype("float32")], axis=1)  # (N, 1 + K)
    known = features.shape[1] if features is not None else 0
    return make_panel_windows([target], cfg, [n_train], known=known)


def make_panel_windows(
    parts: list[np.ndarray], cfg: ResolvedWindow, n_trains: list[int], known: int = 0, ahead: int = 0
) -> Windows:
    """Windows over several series, each (N_i, C) with its first `n_trains[i]` points for training.

    Training windows lie wholly in a series' training part; validation windows have their targets in the rest
    (their inputs may reach back into the training part, as a forecast from the split point would). With padding
    (cfg.pad rows), each series is preceded by copies of its first row, so that windows may start before it does
    (with at least defaults.MIN_HISTORY real steps) and a series too short for one unpadded window still trains;
    one with no training window at all still gets its validation windows.
    """
    lookback, horizon, pad = cfg.lookback, cfg.horizon, cfg.pad
    width = lookback + horizon
    if pad:
        parts = [pad_rows(p, pad) for p in parts]
    lengths = [len(p) for p in parts]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype("int64")
    train, val = [], []
    for off, n, n_train in zip(offsets[:-1], lengths, n_trains):
        n_train += pad
        if n_train - width + 1 <= 0 and not pad:
            raise DataError(f"no training window: the training part has {n_train} rows, fewer than lookback + horizon")
        train.append(torch.arange(off, off + max(0, n_train - width + 1), dtype=torch.int64))
        first_val = off + max(0, n_train - lookback)  # none when the whole series trains (n_train == n)
        val.append(torch.arange(first_val, max(first_val, off + n - width + 1), dtype=torch.int64))
    if not sum(len(t) for t in train):
        raise DataError(f"no training window: every series is shorter than {defaults.MIN_HISTORY} + horizon {horizon} rows before its validation part")
    data = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
    series = torch.from_numpy(np.ascontiguousarray(data, dtype="float32"))
    return Windows(
        series, lookback, horizon, torch.cat(train), torch.cat(val), torch.from_numpy(offsets), known, ahead, pad
    )


def pad_rows(part: np.ndarray, rows: int) -> np.ndarray:
    """`rows` copies of a series' first row before it (edge padding). Shapes: (N, C) -> (rows + N, C)."""
    return np.concatenate([np.repeat(part[:1], rows, axis=0), part], axis=0) if rows > 0 and len(part) else part


@dataclass
class Batch:
    """Windows as the model reads them: inputs normalised per window, targets on the same scale."""

    x: torch.Tensor  # (B, L, C) normalised inputs
    future: torch.Tensor | None  # (B, H, K) known future channels, or None
    target: torch.Tensor  # (B, H) targets, normalised like their window
    level: torch.Tensor  # (B, 1) each window's level: forecast = model output * spread + level
    spread: torch.Tensor  # (B, 1)


def batch(windows: Windows, starts: torch.Tensor, norm: str, device: torch.device | None = None) -> Batch:
    """The windows at `starts` as one batch on `device`. Shapes: starts (B,) -> Batch of B windows."""
    x, future, y = windows.gather(starts)
    if device is not None:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if future is not None:
            future = future.to(device, non_blocking=True)
    xn, level, spread = normalise(x, norm)  # (B, L, C), (B, 1), (B, 1)
    return Batch(xn, future, (y - level) / spread, level, spread)


def batches(
    windows: Windows, starts: torch.Tensor, norm: str, device: torch.device | None = None
) -> Iterator[Batch]:
    """The one way to run a model over many windows (validation loss, calibration, forecasts): batches of
    defaults.INFERENCE_BATCH windows, in the order of `starts`."""
    for chunk in torch.split(starts, defaults.INFERENCE_BATCH):
        yield batch(windows, chunk, norm, device)


def normalise(x: torch.Tensor, mode: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-window normalisation of the target channel by the window's own level and spread.

    Shapes: x (B, L, C) -> x_norm (B, L, C), level (B, 1), spread (B, 1). Mode 'none' gives level 0, spread 1;
    'last' the last step's value as the level and spread 1 (with the mase scaler: changes in units of the series'
    typical change, the forecast relative to the last value, as naive and Theta forecast).
    Only channel 0 (the target) is normalised; other channels are already on a fixed scale.
    """
    if mode in ("none", "last"):
        ones = torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device)
        if mode == "none":
            return x, torch.zeros_like(ones), ones
        level = x[:, -1:, 0]  # (B, 1)
        shifted = (x[:, :, 0] - level).unsqueeze(-1)  # (B, L, 1)
        return (shifted if x.shape[2] == 1 else torch.cat([shifted, x[:, :, 1:]], dim=2)), level, ones
    target = x[:, :, 0]  # (B, L)
    level = target.mean(dim=1, keepdim=True)  # (B, 1)
    spread = target.std(dim=1, keepdim=True, unbiased=False).clamp_min(NORM_EPS)  # (B, 1)
    normed = (target - level) / spread  # (B, L)
    if x.shape[2] == 1:
        return normed.unsqueeze(-1), level, spread
    return torch.cat([normed.unsqueeze(-1), x[:, :, 1:]], dim=2), level, spread
