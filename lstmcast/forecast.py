"""Forecasts in original units from a trained model: after the end of each series, or over windows."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from lstmcast.checkpoint import Checkpoint
from lstmcast.config import WindowConfig
from lstmcast.data import Series, future_index
from lstmcast.errors import DataError
from lstmcast.features import Layout, channels, known_future
from lstmcast.model import LSTMRegressor
from lstmcast.scaling import PanelScaling
from lstmcast.windows import Windows, normalise

Report = Callable[[str], None]
BATCH = 4096


@torch.inference_mode()
def predict_scaled(model: LSTMRegressor, x: torch.Tensor, future: torch.Tensor | None, norm: str) -> torch.Tensor:
    """Shapes: x (B, L, C) scaled inputs, future (B, H, K) or None -> (B, H) forecasts in scaled units."""
    model.eval()
    xn, level, spread = normalise(x, norm)  # (B, L, C), (B, 1), (B, 1)
    return model(xn, future) * spread + level  # (B, H): window normalisation undone


def forecast_panel(
    model: LSTMRegressor,
    scaling: PanelScaling,
    layout: Layout,
    window: WindowConfig,
    panel: Sequence[Series],
    rows: Sequence[int],
    steps: int,
) -> np.ndarray:
    """Forecast `steps` values after the end of each series (original units). Shapes: S series -> (S, steps).

    `rows[k]` is the index of series k in `scaling`. Beyond the trained horizon the model rolls forward, feeding
    its own forecasts back; that needs every input channel in the future, so not with observed covariates.
    """
    lookback, horizon = int(window.lookback or 0), int(window.horizon or 1)
    chunks = -(-steps // horizon)
    if chunks > 1 and layout.observed:
        raise DataError(
            f"a forecast of {steps} steps is beyond the trained horizon {horizon}; with observed covariates "
            f"({', '.join(layout.observed)}) the model can forecast at most {horizon} steps"
        )
    xs, futures = [], []
    for s, i in zip(panel, rows):
        if len(s) < lookback:
            name = f"series {s.id!r} " if s.id is not None else ""
            raise DataError(f"{s.source}: {name}needs the last {lookback} observations; it has {len(s)}")
        xs.append(channels(s.tail(lookback), scaling, i, layout))  # (L, C)
        futures.append(known_future(s, scaling, i, layout, chunks * horizon))  # (P, K) or None
    x = torch.from_numpy(np.stack(xs))  # (S, L, C)
    fut = None if futures[0] is None else torch.from_numpy(np.stack(futures))  # (S, P, K)
    out = []
    for j in range(chunks):
        fj = None if fut is None else fut[:, j * horizon : (j + 1) * horizon]  # (S, H, K)
        pred = torch.cat(
            [predict_scaled(model, xb, None if fj is None else fj[k : k + BATCH], window.norm)
             for k, xb in zip(range(0, len(x), BATCH), torch.split(x, BATCH))]
        )  # (S, H)  # fmt: skip
        out.append(pred)
        if j + 1 < chunks:  # roll forward: the forecast becomes input, with the known channels of those steps
            new = pred.unsqueeze(-1) if fj is None else torch.cat([pred.unsqueeze(-1), fj], dim=2)  # (S, H, C)
            x = torch.cat([x, new.to(x.dtype)], dim=1)[:, -lookback:]
    z = torch.cat(out, dim=1)[:, :steps].double().numpy()
    return scaling.inverse_rows(np.asarray(rows), z)


def forecast_windows(
    model: LSTMRegressor, scaling: PanelScaling, windows: Windows, starts: torch.Tensor, norm: str
) -> np.ndarray:
    """Forecasts (original units) for the windows starting at `starts`: (len(starts), H)."""
    if len(starts) == 0:
        return np.empty((0, windows.horizon))
    chunks = []
    for chunk in torch.split(starts, BATCH):
        x, future, _ = windows.gather(chunk)  # (B, L, C), (B, H, K)
        chunks.append(predict_scaled(model, x, future, norm).double().numpy())
    return scaling.inverse_rows(windows.series_of(starts).numpy(), np.concatenate(chunks))


def check_compatible(ckpt: Checkpoint, panel: Sequence[Series], report: Report | None = None) -> list[int]:
    """New data must be the same kind of series as the training data; returns each series' row in the model."""
    schema = ckpt.schema
    rows = []
    for s in panel:
        if schema.get("freq") != s.freq:
            raise DataError(
                f"{s.source}: frequency {s.freq or 'none'} does not match the model's "
                f"({schema.get('freq') or 'none'}); give data at the frequency the model was trained on"
            )
        if s.id not in ckpt.ids:
            known = ", ".join(map(str, ckpt.ids[:5])) + (" ..." if len(ckpt.ids) > 5 else "")
            raise DataError(f"{s.source}: series {s.id!r} was not in the model's training data ({known})")
        rows.append(ckpt.ids.index(s.id))
    if report is not None and panel and panel[0].target != schema.get("target") and len(ckpt.ids) == 1:
        report(f"note: forecasting column {panel[0].target!r}; the model was trained on {schema.get('target')!r}")
    return rows


def forecast_series(ckpt: Checkpoint, panel: Sequence[Series], steps: int) -> np.ndarray:
    """A checkpoint's forecast of `steps` values after the end of each series: (S, steps)."""
    rows = check_compatible(ckpt, panel)
    return forecast_panel(ckpt.model, ckpt.scaling, ckpt.layout, ckpt.config.window, panel, rows, steps)


def forecast(
    ckpt: Checkpoint,
    panel: Sequence[Series] | None = None,
    horizon: int | None = None,
    report: Report | None = None,
    ids: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Forecast the steps after the stored history of each series, or after the series given.

    Returns a long DataFrame: `id` (panels only), `timestamp` (ISO strings, or integer positions without a time
    column) and `forecast` (original units).
    """
    trained_h = int(ckpt.config.window.horizon or 0)
    steps = horizon or trained_h
    if steps > trained_h and report is not None:
        report(f"note: --horizon {steps} is beyond the trained horizon {trained_h}; rolling forward recursively")
    chosen = list(ckpt.stored) if panel is None else list(panel)
    if ids:
        missing = [i for i in ids if i not in {s.id for s in chosen}]
        if missing:
            raise DataError(f"no series {', '.join(map(repr, missing))}; the model knows {len(ckpt.ids)} series")
        chosen = [s for s in chosen if s.id in set(ids)]
    values = forecast_series(ckpt, chosen, steps)
    if not np.isfinite(values).all():
        raise DataError("the forecast is not finite: the input is far outside what the model was trained on")
    frames = []
    for s, v in zip(chosen, values):
        n = len(s) if panel is not None else ckpt.n_rows_of(s.id)
        frame = pd.DataFrame({"timestamp": future_index(s.last_time, s.freq, n, steps), "forecast": v})
        if s.id is not None:
            frame.insert(0, "id", s.id)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
