"""Forecasts in original units from a trained model: after a history, or over windows of a series."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from lstmcast.checkpoint import Checkpoint
from lstmcast.config import WindowConfig
from lstmcast.data import Series, future_index
from lstmcast.errors import DataError
from lstmcast.model import LSTMRegressor
from lstmcast.windows import Scaler, Windows, feature_rows, normalise

Report = Callable[[str], None]


@torch.inference_mode()
def predict_scaled(model: LSTMRegressor, x: torch.Tensor, norm: str) -> torch.Tensor:
    """Shapes: x (B, L, C) scaled inputs -> (B, H) forecasts in scaled units (window normalisation undone)."""
    model.eval()
    xn, level, spread = normalise(x, norm)  # (B, L, C), (B, 1), (B, 1)
    return model(xn) * spread + level  # (B, H)


def forecast_values(
    model: LSTMRegressor,
    scaler: Scaler,
    history: np.ndarray,
    lookback: int,
    steps: int,
    norm: str,
    features: np.ndarray | None = None,
) -> np.ndarray:
    """Forecast `steps` values after `history` (original units). Beyond the model's horizon it rolls forward,
    feeding its own forecasts back as inputs.

    features: (lookback + steps', K) calendar features of the last `lookback` history points and of at least
    the next `steps` points rounded up to whole horizons (see windows.feature_rows), or None.
    """
    z = list(scaler.transform(np.asarray(history, dtype="float64")[-lookback:]))
    out: list[float] = []
    while len(out) < steps:
        x = torch.tensor(z[-lookback:], dtype=torch.float32).reshape(1, lookback, 1)
        if features is not None:
            f = torch.as_tensor(features[len(out) : len(out) + lookback], dtype=torch.float32).unsqueeze(0)
            x = torch.cat([x, f], dim=2)  # (1, L, 1 + K)
        pred = predict_scaled(model, x, norm)[0].double().numpy()
        z.extend(pred.tolist())
        out.extend(pred.tolist())
    return scaler.inverse(np.asarray(out[:steps]))


def forecast_windows(
    model: LSTMRegressor, scaler: Scaler, windows: Windows, starts: torch.Tensor, norm: str
) -> np.ndarray:
    """Forecasts (original units) for windows starting at `starts`: (len(starts), H)."""
    chunks = []
    for chunk in torch.split(starts, 4096):
        x, _ = windows.batch(chunk)  # (B, L, C)
        chunks.append(predict_scaled(model, x, norm).double().numpy())
    if not chunks:
        return np.empty((0, windows.horizon))
    return scaler.inverse(np.concatenate(chunks))


def check_compatible(ckpt: Checkpoint, series: Series, report: Report | None = None) -> None:
    """New data must be the same kind of series as the training data."""
    schema = ckpt.schema
    if schema.get("freq") != series.freq:
        raise DataError(
            f"{series.source}: frequency {series.freq or 'none'} does not match the model's "
            f"({schema.get('freq') or 'none'}); give data at the frequency the model was trained on"
        )
    lookback = int(ckpt.config.window.lookback or 0)
    if len(series) < lookback:
        raise DataError(
            f"{series.source}: the model needs the last {lookback} observations; the data has {len(series)} rows"
        )
    if report is not None and series.target != schema.get("target"):
        report(f"note: forecasting column {series.target!r}; the model was trained on {schema.get('target')!r}")


def forecast_after(
    model: LSTMRegressor,
    scaler: Scaler,
    window: WindowConfig,
    cycles: list[str],
    history: np.ndarray,
    last_time: str | None,
    freq: str | None,
    steps: int,
) -> np.ndarray:
    """Forecast `steps` values after a history that ends at `last_time`, with the calendar features it needs."""
    lookback, horizon = int(window.lookback or 0), int(window.horizon or 1)
    padded = -(-steps // horizon) * horizon
    feats = feature_rows(last_time, freq, cycles, lookback, padded)
    return forecast_values(model, scaler, history, lookback, steps, window.norm, feats)


def forecast_series(ckpt: Checkpoint, series: Series, steps: int) -> np.ndarray:
    """A checkpoint's forecast of `steps` values after the end of `series` (original units)."""
    return forecast_after(
        ckpt.model, ckpt.scaler, ckpt.config.window, list(ckpt.schema.get("calendar", [])),
        series.values, series.last_time, series.freq, steps,
    )  # fmt: skip


def forecast(
    ckpt: Checkpoint, series: Series | None = None, horizon: int | None = None, report: Report | None = None
) -> pd.DataFrame:
    """Forecast the steps after the stored history, or after `series` when given.

    Returns a DataFrame with columns `timestamp` (ISO strings, or integer positions without a time column) and
    `forecast` (original units).
    """
    cfg = ckpt.config.window
    lookback, trained_h = int(cfg.lookback or 0), int(cfg.horizon or 0)
    steps = horizon or trained_h
    if steps > trained_h and report is not None:
        report(f"note: --horizon {steps} is beyond the trained horizon {trained_h}; rolling forward recursively")
    if series is None:
        history, last, n = ckpt.history, ckpt.schema.get("last_time"), int(ckpt.schema.get("n_rows", len(ckpt.history)))
    else:
        check_compatible(ckpt, series, report)
        history, last, n = series.values[-lookback:], series.last_time, len(series)
    cycles = list(ckpt.schema.get("calendar", []))
    values = forecast_after(ckpt.model, ckpt.scaler, cfg, cycles, history, last, ckpt.schema.get("freq"), steps)
    if not np.isfinite(values).all():
        raise DataError("the forecast is not finite: the input is far outside what the model was trained on")
    stamps = future_index(last, ckpt.schema.get("freq"), n, steps)
    return pd.DataFrame({"timestamp": stamps, "forecast": values})
