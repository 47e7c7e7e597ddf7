"""The resolved set-up of a training run in one line for humans: what the data-sized defaults chose."""

from __future__ import annotations

from lstmcast.config import ResolvedConfig


def describe_setup(
    cfg: ResolvedConfig, *, series: int, windows: int, device: str, threads: int, freq: str | None = None
) -> str:
    """E.g. `set-up: frequency MS, season 12, lookback 24, horizon 12, validation 12 points per series, padding
    off, norm window, scaler standard; 1 series, 97 training windows; epochs <= 200 (patience 20), batch 32, refit
    auto; device cpu, 2 threads`."""
    w, t = cfg.window, cfg.train
    what = f"frequency {freq}, season {w.season}" if freq else f"season {w.season}"
    return (
        f"set-up: {what}, lookback {w.lookback}, horizon {w.horizon}, validation {w.val_size} points per series, "
        f"padding {w.padding}, norm {w.norm}, scaler {w.scaler}; {series} series, {windows} training windows; "
        f"epochs <= {t.epochs} (patience {t.patience}), batch {t.batch_size}, refit {t.refit}, combine {t.combine}; "
        f"device {device}, {threads} thread{'s' if threads != 1 else ''}"
    )
