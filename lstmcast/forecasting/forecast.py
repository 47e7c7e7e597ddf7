"""Forecasts in original units from a trained model: after the end of each series, or over windows."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from lstmcast import defaults
from lstmcast.checkpoint.format import Checkpoint
from lstmcast.choices import MAX_FORECAST_STEPS
from lstmcast.config import ResolvedWindow
from lstmcast.errors import ConfigError, DataError
from lstmcast.forecasting.intervals import clip_at_zero, half_width, never_negative
from lstmcast.io.data import Series, check_future, future_index
from lstmcast.nn.model import LSTMRegressor
from lstmcast.nn.theta import Theta, blend_bands
from lstmcast.prep.features import Layout, channels, known_future
from lstmcast.prep.scaling import PanelScaling
from lstmcast.prep.windows import Windows, batches, normalise, pad_rows

Report = Callable[[str], None]


@torch.inference_mode()
def predict_scaled(model: LSTMRegressor, x: torch.Tensor, future: torch.Tensor | None, norm: str) -> torch.Tensor:
    """Shapes: x (B, L, C) scaled inputs, future (B, H, K) or None -> (B, H) forecasts in scaled units."""
    return _predict(model, x, future, norm)[0]


@torch.inference_mode()
def _predict(
    model: LSTMRegressor, x: torch.Tensor, future: torch.Tensor | None, norm: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forecasts in scaled units and each window's spread. Shapes: -> (B, H), (B, 1)."""
    model.eval()
    xn, level, spread = normalise(x, norm)  # (B, L, C), (B, 1), (B, 1)
    return model(xn, future) * spread + level, spread  # window normalisation undone


Bands = dict[float, tuple[np.ndarray, np.ndarray]]


def forecast_with_bands(
    model: LSTMRegressor,
    scaling: PanelScaling,
    layout: Layout,
    window: ResolvedWindow,
    panel: Sequence[Series],
    rows: Sequence[int],
    steps: int,
    table: np.ndarray | None = None,
    levels: Sequence[float] = (),
) -> tuple[np.ndarray, Bands]:
    """Forecast `steps` values after the end of each series (original units), with conformal intervals
    {level: (lo, hi)} from a calibration table. Shapes: S series -> (S, steps), each bound (S, steps).

    `rows[k]` is the index of series k in `scaling`. Beyond the trained horizon the model rolls forward, feeding
    its own forecasts back; that needs every input channel in the future, so not with observed covariates.
    """
    lookback, horizon = window.lookback, window.horizon
    chunks = -(-steps // horizon)
    if chunks > 1 and layout.observed:
        raise DataError(
            f"a forecast of {steps} steps is beyond the trained horizon {horizon}; with observed covariates "
            f"({', '.join(layout.observed)}) the model can forecast at most {horizon} steps"
        )
    xs, futures = [], []
    for s, i in zip(panel, rows):
        if len(s) < (1 if window.pad else lookback):
            name = f"series {s.id!r} " if s.id is not None else ""
            raise DataError(f"{s.source}: {name}needs the last {lookback} observations; it has {len(s)}")
        tail = channels(s.tail(lookback), scaling, i, layout)  # (<= L, C)
        xs.append(pad_rows(tail, lookback - len(tail)))  # (L, C): a short series padded as in training
        futures.append(known_future(s, scaling, i, layout, chunks * horizon))  # (P, K) or None
    x = torch.from_numpy(np.stack(xs))  # (S, L, C)
    known = [f for f in futures if f is not None]
    fut = torch.from_numpy(np.stack(known)) if len(known) == len(futures) else None  # (S, P, K)
    out, spreads, size = [], [], defaults.INFERENCE_BATCH
    for j in range(chunks):
        fj = None if fut is None else fut[:, j * horizon : (j + 1) * horizon]  # (S, H, K)
        parts = [
            _predict(model, x[k : k + size], None if fj is None else fj[k : k + size], window.norm)
            for k in range(0, len(x), size)
        ]
        pred = torch.cat([p[0] for p in parts])  # (S, H)
        out.append(pred)
        spreads.append(torch.cat([p[1] for p in parts]).expand(-1, horizon))  # (S, H)
        if j + 1 < chunks:  # roll forward: the forecast becomes input, with the known channels of those steps
            new = pred.unsqueeze(-1) if fj is None else torch.cat([pred.unsqueeze(-1), fj], dim=2)  # (S, H, C)
            x = torch.cat([x, new.to(x.dtype)], dim=1)[:, -lookback:]
    z = torch.cat(out, dim=1)[:, :steps].double().numpy()
    spread = torch.cat(spreads, dim=1)[:, :steps].double().numpy()
    return _to_original(scaling, np.asarray(rows), z, spread, table, levels)


def _to_original(
    scaling: PanelScaling, rows: np.ndarray, z: np.ndarray, spread: np.ndarray, table: np.ndarray | None,
    levels: Sequence[float],
) -> tuple[np.ndarray, Bands]:  # fmt: skip
    """Forecasts and their conformal bands in original units. Shapes: rows (S,), z (S, P) scaled forecasts,
    spread (S, P) or (S, 1) each window's spread -> (S, P), {level: ((S, P), (S, P))}."""
    if levels and table is None:
        raise DataError("this model has no interval calibration; retrain it with this version of lstmcast")
    bands: Bands = {}
    for level in levels:
        width = half_width(np.asarray(table), level, z.shape[1])[None, :] * spread  # (S, P), scaled units
        bands[level] = (scaling.inverse_rows(rows, z - width), scaling.inverse_rows(rows, z + width))
    return scaling.inverse_rows(rows, z), bands


def forecast_windows(
    model: LSTMRegressor,
    scaling: PanelScaling,
    windows: Windows,
    starts: torch.Tensor,
    norm: str,
    table: np.ndarray | None = None,
    levels: Sequence[float] = (),
) -> tuple[np.ndarray, Bands]:
    """Forecasts (original units) for the windows starting at `starts`, and their conformal bands at `levels`
    from a calibration table. Shapes: -> (len(starts), H), {level: (lo, hi)} of the same shape."""
    if len(starts) == 0:
        empty = np.empty((0, windows.horizon))
        return empty, {level: (empty, empty) for level in levels}
    z, spread = [], []
    model.eval()
    with torch.inference_mode():
        for b in batches(windows, starts, norm):
            pred = model(b.x, b.future) * b.spread + b.level  # (B, H) scaled units, window normalisation undone
            z.append(pred.double().numpy())
            spread.append(b.spread.double().numpy())
    rows = windows.series_of(starts).numpy()
    return _to_original(scaling, rows, np.concatenate(z), np.concatenate(spread), table, levels)


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


def forecast_series(
    ckpt: Checkpoint, panel: Sequence[Series], steps: int, levels: Sequence[float] = (), stored: bool = False
) -> tuple[np.ndarray, Bands]:
    """A checkpoint's forecast of `steps` values after the end of each series: (S, steps), and its intervals.

    A model combined with Theta (ckpt.combination) blends in Theta's forecasts: the stored series' fitted Theta
    when `stored` (the panel is the checkpoint's own tails), else Theta fitted on each given series."""
    rows = check_compatible(ckpt, panel)
    window = ckpt.config.window
    values, bands = forecast_with_bands(
        ckpt.model, ckpt.scaling, ckpt.layout, window, panel, rows, steps, ckpt.calibration, levels
    )
    if ckpt.combination is None or ckpt.combination.weight >= 1.0:
        return values, bands
    if stored:
        thetas = [ckpt.combination.thetas[r] for r in rows]
    else:
        thetas = [Theta.fit(s.values, window.season) for s in panel]
    partner = np.stack([t.forecast(steps) for t in thetas])  # (S, steps)
    return blend_bands(ckpt.combination.weight, values, bands, partner)


def trained_nonnegative(ckpt: Checkpoint, sid: str | None) -> bool:
    """Whether series `sid` was never negative in the model's training data (checkpoints from before this was
    recorded: yes, and the history forecast from decides)."""
    flags = ckpt.schema.get("nonnegative")
    if not isinstance(flags, list) or len(flags) != len(ckpt.ids) or sid not in ckpt.ids:
        return True
    return bool(flags[ckpt.ids.index(sid)])


def forecast(
    ckpt: Checkpoint,
    panel: Sequence[Series] | None = None,
    horizon: int | None = None,
    report: Report | None = None,
    ids: Sequence[str] | None = None,
    levels: Sequence[float] = (),
    clip: bool = True,
) -> pd.DataFrame:
    """Forecast the steps after the stored history of each series, or after the series given.

    With `clip`, the intervals of a series never negative (in the training data, schema "nonnegative", and in the
    history forecast from) are clipped at zero.

    Returns a long DataFrame: `id` (panels only), `timestamp` (ISO strings, or integer positions without a time
    column), `forecast` (original units) and `lo_P`, `hi_P` for each interval level P.
    """
    trained_h = ckpt.config.window.horizon
    steps = horizon or trained_h
    if steps > MAX_FORECAST_STEPS:
        raise ConfigError(f"--horizon {steps} is out of range: it must be in [1, {MAX_FORECAST_STEPS}]")
    if steps > trained_h and report is not None:
        report(f"note: --horizon {steps} is beyond the trained horizon {trained_h}; rolling forward recursively")
    chosen = list(ckpt.stored) if panel is None else list(panel)
    if ids:
        missing = [i for i in ids if i not in {s.id for s in chosen}]
        if missing:
            known = [str(s.id) for s in chosen]
            close = difflib.get_close_matches(str(missing[0]), known, n=1, cutoff=0.6)
            hint = f" (did you mean --id {close[0]}?)" if close else ""
            listed = ", ".join(known[:20]) + (f" and {len(known) - 20} more" if len(known) > 20 else "")
            raise DataError(
                f"--id: no series {', '.join(map(repr, missing))}{hint}; the {len(known)} known: {listed}"
            )
        chosen = [s for s in chosen if s.id in set(ids)]
    for s in chosen:  # before the work: the dates of the forecast must exist
        check_future(s.last_time, s.freq, steps)
    values, bands = forecast_series(ckpt, chosen, steps, levels, stored=panel is None)
    if clip and bands:
        nonnegative = np.array([trained_nonnegative(ckpt, s.id) and never_negative(s.values) for s in chosen])
        bands = {lv: clip_at_zero(lo, hi, nonnegative) for lv, (lo, hi) in bands.items()}
    if not np.isfinite(values).all() or not all(np.isfinite(b).all() for pair in bands.values() for b in pair):
        raise DataError("the forecast is not finite: the input is far outside what the model was trained on")
    frames = []
    for k, (s, v) in enumerate(zip(chosen, values)):
        n = len(s) if panel is not None else ckpt.n_rows_of(s.id)
        frame = pd.DataFrame({"timestamp": future_index(s.last_time, s.freq, n, steps), "forecast": v})
        for level, (lo, hi) in bands.items():
            tag = f"{level:g}"
            frame[f"lo_{tag}"], frame[f"hi_{tag}"] = lo[k], hi[k]
        if s.id is not None:
            frame.insert(0, "id", s.id)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
