"""The explicit gate recomputation reproduces torch's own LSTM and GRU, and the gates figure renders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest
import torch
from torch import nn

from lstmcast.config import ModelConfig
from lstmcast.errors import ConfigError
from lstmcast.nn.gates import (
    GRU_GATES,
    LSTM_GATES,
    forget_summary,
    gate_panels,
    retention_summary,
    trace,
    trace_gru,
    trace_lstm,
)
from lstmcast.nn.model import LSTMRegressor
from lstmcast.ui.gateplot import gates_figure

REPO = Path(__file__).resolve().parents[1]
ATOL = 1e-5
# torch's own notice, once per process, when float32 proj_size falls back from oneDNN; the numbers are unaffected.
ONEDNN_PROJ = "ignore:LSTM with projections is not supported with oneDNN:UserWarning"
DTYPES = [pytest.param(torch.float32, id="f32"), pytest.param(torch.float64, id="f64")]

LSTM_CASES = {
    "1 layer": {"num_layers": 1},
    "3 layers": {"num_layers": 3},
    "bidirectional 2 layers": {"num_layers": 2, "bidirectional": True},
    "proj_size 2 layers bidirectional": {"num_layers": 2, "bidirectional": True, "proj_size": 3},
    "proj_size 1 layer": {"num_layers": 1, "proj_size": 2},
    "no bias": {"num_layers": 2, "bias": False},
}


M = TypeVar("M", bound=nn.Module)


def _randomise(rnn: M) -> M:
    """Weights wider than torch's default init, so the gates reach well into their ranges."""
    for p in rnn.parameters():
        nn.init.uniform_(p, -0.8, 0.8)
    return rnn.eval()


def _lstm(dtype: torch.dtype, **kw: object) -> nn.LSTM:
    rnn = nn.LSTM(input_size=4, hidden_size=6, batch_first=True, **kw)
    return _randomise(rnn).to(dtype)


def _gru(dtype: torch.dtype, **kw: object) -> nn.GRU:
    rnn = nn.GRU(input_size=4, hidden_size=6, batch_first=True, **kw)
    return _randomise(rnn).to(dtype)


def _x(dtype: torch.dtype, batch: int = 3, steps: int = 11) -> torch.Tensor:
    return torch.randn(batch, steps, 4, dtype=dtype)  # (B, L, F)


@pytest.mark.filterwarnings(ONEDNN_PROJ)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", list(LSTM_CASES.values()), ids=list(LSTM_CASES))
def test_lstm_trace_matches_nn_lstm(seed: int, dtype: torch.dtype, kw: dict) -> None:
    rnn = _lstm(dtype, **kw)
    x = _x(dtype)
    with torch.no_grad():
        out, (h_n, c_n) = rnn(x)
    got = trace_lstm(rnn, x)
    torch.testing.assert_close(got.output, out, atol=ATOL, rtol=0)
    torch.testing.assert_close(got.h_n, h_n, atol=ATOL, rtol=0)
    assert got.c_n is not None
    torch.testing.assert_close(got.c_n, c_n, atol=ATOL, rtol=0)
    directions = 2 if kw.get("bidirectional") else 1
    assert len(got.gates) == kw["num_layers"] * directions * len(LSTM_GATES)
    assert got.gates["layer0.forward.forget"].shape == (3, 11, 6)
    assert len(got.cell_state) == kw["num_layers"] * directions


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", [{"num_layers": 1}, {"num_layers": 2, "bidirectional": True}], ids=["1 layer", "bi 2"])
def test_gru_trace_matches_nn_gru(seed: int, dtype: torch.dtype, kw: dict) -> None:
    rnn = _gru(dtype, **kw)
    x = _x(dtype)
    with torch.no_grad():
        out, h_n = rnn(x)
    got = trace_gru(rnn, x)
    torch.testing.assert_close(got.output, out, atol=ATOL, rtol=0)
    torch.testing.assert_close(got.h_n, h_n, atol=ATOL, rtol=0)
    assert got.c_n is None
    assert {k.rsplit(".", 1)[1] for k in got.gates} == set(GRU_GATES)


def test_time_major_layout_matches(seed: int) -> None:
    rnn = _randomise(nn.LSTM(4, 5, num_layers=2, bidirectional=True))  # batch_first=False
    x = torch.randn(9, 2, 4)  # (L, B, F)
    with torch.no_grad():
        out, _ = rnn(x)
    torch.testing.assert_close(trace(rnn, x).output, out, atol=ATOL, rtol=0)


def test_sigmoid_gates_in_unit_interval_and_candidates_in_tanh_range(seed: int) -> None:
    for got in (trace(_lstm(torch.float64, num_layers=2, bidirectional=True), _x(torch.float64)),
                trace(_gru(torch.float64, num_layers=2), _x(torch.float64))):  # fmt: skip
        for name, v in got.gates.items():
            lo = -1.0 if name.endswith((".cell", ".new")) else 0.0
            assert lo <= float(v.min()) and float(v.max()) <= 1.0, name


def test_backward_gates_are_indexed_by_input_step(seed: int) -> None:
    """The backward direction reads x[:, L-1] first, from a zero state: its gates there are sigmoid(W x + b)."""
    rnn = _lstm(torch.float64, bidirectional=True)
    x = _x(torch.float64)
    got = trace(rnn, x)
    with torch.no_grad():
        w, b_ih, b_hh = (rnn.get_parameter(n + "_l0_reverse") for n in ("weight_ih", "bias_ih", "bias_hh"))
        pre = x[:, -1] @ w.T + b_ih + b_hh
    forget = pre.chunk(4, dim=1)[1].sigmoid()
    torch.testing.assert_close(got.gates["layer0.backward.forget"][:, -1], forget)


def test_regressor_rnn_traces_and_plain_rnn_has_no_gates(seed: int) -> None:
    x = torch.randn(2, 12, 1)
    for cell in ("lstm", "gru"):
        model = _randomise(LSTMRegressor(ModelConfig(cell=cell, hidden_size=8, num_layers=2), 1, 3))
        with torch.no_grad():
            out, _ = model.rnn(x)
        torch.testing.assert_close(trace(model.rnn, x).output, out, atol=ATOL, rtol=0)
    plain = LSTMRegressor(ModelConfig(cell="rnn", hidden_size=8), 1, 3)
    with pytest.raises(ConfigError, match="plain RNN has no gates"):
        trace(plain.rnn, x)


def test_summaries(seed: int) -> None:
    got = trace(_lstm(torch.float64, num_layers=2, bidirectional=True), _x(torch.float64, steps=10))
    forget = forget_summary(got)
    assert len(forget) == 10 and all(0.0 <= v <= 1.0 for v in forget)
    expected = got.gates["layer1.forward.forget"][0].mean(dim=1).tolist()
    assert forget == pytest.approx(expected)
    kept = retention_summary(got)
    assert kept[-1] == pytest.approx(1.0)
    assert all(a <= b + 1e-12 for a, b in zip(kept, kept[1:], strict=False))  # older writes fade more
    back = retention_summary(got, direction="backward")
    assert back[0] == pytest.approx(1.0)
    gru = trace(_gru(torch.float64), _x(torch.float64, steps=10))
    assert forget_summary(gru) == pytest.approx(gru.gates["layer0.forward.update"][0].mean(dim=1).tolist())


def test_retention_is_exact_for_lstm_cell_state(seed: int) -> None:
    """c_L = sum_t (prod_{s>t} f_s) i_t g_t: rebuilding c_L from the retention weights per unit checks them."""
    got = trace(_lstm(torch.float64), _x(torch.float64, batch=1, steps=8))
    f, i, g = (got.gates[f"layer0.forward.{n}"][0] for n in ("forget", "input", "cell"))
    after = torch.stack([f[t + 1 :].prod(dim=0) for t in range(8)])  # (L, H)
    torch.testing.assert_close((after * i * g).sum(dim=0), got.cell_state["layer0.forward"][0, -1])
    assert retention_summary(got) == pytest.approx(after.mean(dim=1).tolist())


def test_gates_figure_writes_png(seed: int, tmp_path: Path) -> None:
    got = trace(_lstm(torch.float64, num_layers=2, bidirectional=True), _x(torch.float64, batch=1, steps=24))
    panels = gate_panels(got)
    assert len(panels) == 8 and all(v.shape == (24, 6) for v in panels.values())
    path = gates_figure(tmp_path / "gates.png", np.sin(np.arange(24) / 3.0), panels, "gates of the last window")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000


def test_gates_figure_rejects_mismatched_steps(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="shape"):
        gates_figure(tmp_path / "g.png", np.zeros(10), {"layer0.forward.forget": np.zeros((9, 4))}, "t")


@pytest.mark.slow
def test_gateplot_does_not_import_torch() -> None:
    code = "import lstmcast.ui.gateplot, sys; assert 'torch' not in sys.modules, 'gateplot pulled in torch'"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
