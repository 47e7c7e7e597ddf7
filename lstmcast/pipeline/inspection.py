"""What a trained model is and what it does: a model card, and its gates over the last window."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lstmcast.checkpoint.format import Checkpoint
from lstmcast.forecasting.forecast import check_compatible
from lstmcast.io.data import Series
from lstmcast.nn.gates import forget_summary, gate_panels, keep_gate, retention_summary, trace
from lstmcast.prep.features import channels
from lstmcast.prep.windows import normalise


def model_card(ckpt: Checkpoint) -> dict[str, Any]:
    """Plain data about a checkpoint: configuration, size, data schema and span, validation scores, versions."""
    params = sum(p.numel() for p in ckpt.model.parameters())
    metrics = ckpt.metrics
    validation = {
        "lstmcast": {k[4:]: v for k, v in metrics.items() if k.startswith("val_") and not k.startswith("val_snaive_")},
        "seasonal naive": {k[11:]: v for k, v in metrics.items() if k.startswith("val_snaive_")},
    }
    return {
        "format_version": ckpt.info.get("format_version"),
        "lstmcast_version": ckpt.info.get("lstmcast_version"),
        "torch_version": ckpt.info.get("torch_version"),
        "created": ckpt.info.get("created"),
        "parameters": int(params),
        "config": ckpt.config.to_dict(),
        "layout": ckpt.layout.to_dict(),
        "schema": dict(ckpt.schema),
        "series": len(ckpt.stored),
        "ids": [s.id for s in ckpt.stored[:10]],
        "validation": validation,
        "intervals": ckpt.calibration is not None,
        "training": {k: ckpt.info.get(k) for k in ("stop_reason", "best_epoch", "epochs_run", "refit_epochs")},
    }


@dataclass
class GateReport:
    """Gates of the last layer over one window (first series, or the given one)."""

    kind: str  # lstm or gru
    keep: str  # the gate that carries the state forward: forget (LSTM) or update (GRU)
    inputs: np.ndarray  # (L,) the normalised target the model read
    panels: dict[str, np.ndarray]  # gate name -> (L, hidden)
    keep_mean: list[float]  # mean keep gate per time step
    retention: list[float]  # share of step t's writing still in the final state
    series: str | None


def gate_report(ckpt: Checkpoint, series: Series | None = None) -> GateReport:
    """Recompute the model's recurrent layers over the last window with the explicit cell equations."""
    s = series if series is not None else ckpt.stored[0]
    row = check_compatible(ckpt, [s])[0] if series is not None else 0
    lookback = ckpt.config.window.lookback
    x = torch.from_numpy(channels(s.tail(lookback), ckpt.scaling, row, ckpt.layout)).unsqueeze(0)  # (1, L, C)
    xn, _, _ = normalise(x, ckpt.config.window.norm)
    t = trace(ckpt.model.rnn, xn)  # raises ConfigError for a plain RNN
    return GateReport(
        kind=ckpt.config.model.cell,
        keep=keep_gate(t),
        inputs=xn[0, :, 0].numpy(),
        panels=gate_panels(t),
        keep_mean=forget_summary(t),
        retention=retention_summary(t),
        series=s.id,
    )
