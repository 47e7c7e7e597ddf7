"""Recompute a trained recurrent layer step by step, keeping every gate: what the LSTM (or GRU) did over a window.

The equations are those of the torch.nn.LSTM and torch.nn.GRU docs, applied to the module's own weights, so the
recomputed output equals the module's output (tests check 1e-5). Dropout between layers is not applied: the
trace is of the model in eval mode, which is how it forecasts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from lstmcast.errors import ConfigError

LSTM_GATES = ("input", "forget", "cell", "output")  # chunk order of weight_ih_l{k}: i, f, g, o
GRU_GATES = ("reset", "update", "new")  # chunk order of weight_ih_l{k}: r, z, n
TANH_GATES = ("cell", "new")  # candidates in [-1, 1]; every other gate is a sigmoid in [0, 1]
_KEEP_GATE = {"lstm": "forget", "gru": "update"}  # the gate that carries the old state forward
DIRECTIONS = ("forward", "backward")


@dataclass(frozen=True)
class GateTrace:
    """Everything one pass computed. Gate keys read "layer{k}.{forward|backward}.{gate}".

    Shapes: output (B, L, D * P); h_n (num_layers * D, B, P); c_n (num_layers * D, B, H) for LSTM, else None;
    each gate and each cell_state (B, L, H), indexed by the input's time step in both directions (the backward
    direction's step t is the one that read x[:, t]). P = proj_size or hidden_size, D = 1 or 2 directions.
    """

    cell: str  # "lstm" or "gru"
    num_layers: int
    bidirectional: bool
    output: Tensor
    h_n: Tensor
    c_n: Tensor | None
    gates: dict[str, Tensor] = field(default_factory=dict)
    cell_state: dict[str, Tensor] = field(default_factory=dict)  # LSTM only, keyed "layer{k}.{direction}"

    @property
    def directions(self) -> tuple[str, ...]:
        return DIRECTIONS if self.bidirectional else DIRECTIONS[:1]


def trace(rnn: nn.Module, x: Tensor) -> GateTrace:
    """Trace an nn.LSTM or nn.GRU; a plain nn.RNN has no gates and raises ConfigError.

    Shapes: x (B, L, F) when rnn.batch_first, else (L, B, F); see GateTrace for the result.
    """
    if isinstance(rnn, nn.LSTM):
        return trace_lstm(rnn, x)
    if isinstance(rnn, nn.GRU):
        return trace_gru(rnn, x)
    if isinstance(rnn, nn.RNN):
        raise ConfigError(
            "--gates needs a model trained with --cell lstm or --cell gru: a plain RNN has no gates "
            "(its state is tanh(W x + U h + b) at every step, nothing to show)"
        )
    raise ConfigError(f"--gates works with LSTM and GRU layers, not {type(rnn).__name__}")


@torch.no_grad()
def trace_lstm(rnn: nn.LSTM, x: Tensor) -> GateTrace:
    """Recompute nn.LSTM from zero initial states: i, f, o = sigmoid, g = tanh, c = f*c + i*g, h = o*tanh(c).

    With proj_size, h = W_hr (o * tanh(c)). Shapes: x (B, L, F) (batch_first) -> GateTrace.
    """
    return _run(rnn, x)


@torch.no_grad()
def trace_gru(rnn: nn.GRU, x: Tensor) -> GateTrace:
    """Recompute nn.GRU from a zero initial state: r, z = sigmoid, n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),
    h = (1 - z) * n + z * h.

    Shapes: x (B, L, F) (batch_first) -> GateTrace.
    """
    return _run(rnn, x)


def _run(rnn: nn.LSTM | nn.GRU, x: Tensor) -> GateTrace:
    cell = "lstm" if isinstance(rnn, nn.LSTM) else "gru"
    if x.dim() != 3:
        raise ValueError(f"expected a batched (B, L, F) input, got shape {tuple(x.shape)}")
    w = rnn.get_parameter("weight_ih_l0")
    x = x.to(dtype=w.dtype, device=w.device)
    if not rnn.batch_first:
        x = x.transpose(0, 1)  # (L, B, F) -> (B, L, F)
    directions = DIRECTIONS[: 2 if rnn.bidirectional else 1]
    gates: dict[str, Tensor] = {}
    cell_state: dict[str, Tensor] = {}
    h_last: list[Tensor] = []
    c_last: list[Tensor] = []
    layer_in = x  # (B, L, F), then (B, L, D * P) for layers above the first
    for k in range(rnn.num_layers):
        outs = []
        for d, name in enumerate(directions):
            sfx = f"_l{k}" + ("_reverse" if d else "")
            # The backward direction is the same recurrence run over the flipped window; flipping its results
            # back makes step t of every trace the one that read x[:, t].
            seq = layer_in.flip(1) if d else layer_in
            if isinstance(rnn, nn.LSTM):
                out, h_n, c_n, step_gates, cs = _lstm_direction(rnn, seq, sfx)
                c_last.append(c_n)
                cell_state[f"layer{k}.{name}"] = cs.flip(1) if d else cs
            else:
                out, h_n, step_gates = _gru_direction(rnn, seq, sfx)
            for g, v in step_gates.items():
                gates[f"layer{k}.{name}.{g}"] = v.flip(1) if d else v
            outs.append(out.flip(1) if d else out)
            h_last.append(h_n)
        layer_in = torch.cat(outs, dim=2)  # (B, L, D * P): the next layer reads both directions
    output = layer_in if rnn.batch_first else layer_in.transpose(0, 1)
    return GateTrace(
        cell=cell,
        num_layers=rnn.num_layers,
        bidirectional=rnn.bidirectional,
        output=output,
        h_n=torch.stack(h_last),  # (num_layers * D, B, P), torch's order: layer-major, then direction
        c_n=torch.stack(c_last) if cell == "lstm" else None,
        gates=gates,
        cell_state=cell_state,
    )


def _input_part(rnn: nn.Module, seq: Tensor, sfx: str) -> Tensor:
    """The input projection of all steps at once, since it does not depend on the state. (B, L, F) -> (B, L, nH)."""
    xw = seq @ getattr(rnn, "weight_ih" + sfx).T
    return xw + getattr(rnn, "bias_ih" + sfx) if rnn.bias else xw


def _hidden_part(rnn: nn.Module, h: Tensor, sfx: str) -> Tensor:
    hw = h @ getattr(rnn, "weight_hh" + sfx).T  # (B, P) -> (B, nH)
    return hw + getattr(rnn, "bias_hh" + sfx) if rnn.bias else hw


def _lstm_direction(rnn: nn.LSTM, seq: Tensor, sfx: str) -> tuple[Tensor, Tensor, Tensor, dict[str, Tensor], Tensor]:
    """One layer, one direction, in reading order. Shapes: seq (B, L, F) -> out (B, L, P), h_n (B, P),
    c_n (B, H), gates {name: (B, L, H)}, cell states (B, L, H)."""
    batch, steps, _ = seq.shape
    hidden = rnn.hidden_size
    w_hr = getattr(rnn, "weight_hr" + sfx) if rnn.proj_size > 0 else None
    h = seq.new_zeros(batch, rnn.proj_size or hidden)
    c = seq.new_zeros(batch, hidden)
    xw = _input_part(rnn, seq, sfx)  # (B, L, 4H)
    outs, cs = [], []
    per_gate: list[list[Tensor]] = [[] for _ in LSTM_GATES]
    for t in range(steps):
        i, f, g, o = (xw[:, t] + _hidden_part(rnn, h, sfx)).chunk(4, dim=1)  # 4 x (B, H)
        i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
        c = f * c + i * g
        h = o * c.tanh()
        if w_hr is not None:
            h = h @ w_hr.T  # (B, H) -> (B, P)
        for store, v in zip(per_gate, (i, f, g, o), strict=True):
            store.append(v)
        outs.append(h)
        cs.append(c)
    gates = {name: torch.stack(v, dim=1) for name, v in zip(LSTM_GATES, per_gate, strict=True)}
    return torch.stack(outs, dim=1), h, c, gates, torch.stack(cs, dim=1)


def _gru_direction(rnn: nn.GRU, seq: Tensor, sfx: str) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
    """One layer, one direction, in reading order. Shapes: seq (B, L, F) -> out (B, L, H), h_n (B, H),
    gates {name: (B, L, H)}."""
    batch, steps, _ = seq.shape
    h = seq.new_zeros(batch, rnn.hidden_size)
    xw = _input_part(rnn, seq, sfx)  # (B, L, 3H)
    outs = []
    per_gate: list[list[Tensor]] = [[] for _ in GRU_GATES]
    for t in range(steps):
        x_r, x_z, x_n = xw[:, t].chunk(3, dim=1)
        h_r, h_z, h_n = _hidden_part(rnn, h, sfx).chunk(3, dim=1)
        r = (x_r + h_r).sigmoid()
        z = (x_z + h_z).sigmoid()
        n = (x_n + r * h_n).tanh()  # r gates the hidden term including its bias, as torch does
        h = (1 - z) * n + z * h
        for store, v in zip(per_gate, (r, z, n), strict=True):
            store.append(v)
        outs.append(h)
    gates = {name: torch.stack(v, dim=1) for name, v in zip(GRU_GATES, per_gate, strict=True)}
    return torch.stack(outs, dim=1), h, gates


def keep_gate(trace: GateTrace) -> str:
    """The gate whose value is the share of the old state kept: LSTM forget, GRU update (z)."""
    return _KEEP_GATE[trace.cell]


def _keep(trace: GateTrace, layer: int, direction: str, batch: int) -> Tensor:
    k = layer % trace.num_layers
    return trace.gates[f"layer{k}.{direction}.{keep_gate(trace)}"][batch]  # (L, H)


def forget_summary(trace: GateTrace, *, layer: int = -1, direction: str = "forward", batch: int = 0) -> list[float]:
    """Mean keep gate (LSTM forget, GRU update) over hidden units at each time step, length L.

    Near 1: the state is carried on; near 0: it is overwritten by the current step.
    """
    return [float(v) for v in _keep(trace, layer, direction, batch).mean(dim=1)]


def retention_summary(trace: GateTrace, *, layer: int = -1, direction: str = "forward", batch: int = 0) -> list[float]:
    """How much of what step t wrote survives to the end of the pass: mean over units of the product of the keep
    gates after t, length L (the last step's is 1).

    For the LSTM this is exact: c_L = sum_t (prod_{s>t} f_s) * i_t * g_t. For the GRU the same product weighs
    (1 - z_t) * n_t in h_L. For the backward direction the pass ends at step 0, so products run over s < t.
    """
    keep = _keep(trace, layer, direction, batch).double()  # (L, H); float64 as long products underflow
    if direction == "backward":
        keep = keep.flip(0)
    # exclusive reverse cumulative product: after[t] = prod_{s > t} keep[s]
    after = torch.cat([keep[1:].flip(0).cumprod(0).flip(0), keep.new_ones(1, keep.shape[1])])
    if direction == "backward":
        after = after.flip(0)
    return [float(v) for v in after.mean(dim=1)]


def gate_panels(
    trace: GateTrace, *, layer: int = -1, directions: tuple[str, ...] | None = None, batch: int = 0
) -> dict[str, np.ndarray]:
    """The gates of one layer (default the last, both directions) as plain arrays for gateplot.gates_figure.

    At most 8 panels (LSTM: 4 gates x 2 directions). Shapes: each value (L, H).
    """
    k = layer % trace.num_layers
    names = LSTM_GATES if trace.cell == "lstm" else GRU_GATES
    return {
        f"layer{k}.{d}.{g}": trace.gates[f"layer{k}.{d}.{g}"][batch].detach().cpu().double().numpy()
        for d in (directions or trace.directions)
        for g in names
    }
