"""lstmcast.nn.model: shapes for every cell and size, and what the head sees with a bidirectional encoder."""

from __future__ import annotations

import pytest
import torch

from lstmcast.config import ModelConfig
from lstmcast.errors import ConfigError
from lstmcast.nn.model import LSTMRegressor

# torch warns (once per process) that its oneDNN kernels lack LSTM projections and it falls back to its own.
PROJ_WARNING = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN:UserWarning")


def head_input(model: LSTMRegressor, x: torch.Tensor) -> torch.Tensor:
    """The tensor the Linear head receives in a real forward pass."""
    seen: list[torch.Tensor] = []
    handle = model.head.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    try:
        model(x)
    finally:
        handle.remove()
    assert len(seen) == 1
    return seen[0]


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_output_shape(seed: int, cell: str, layers: int, bidirectional: bool) -> None:
    cfg = ModelConfig(cell=cell, hidden_size=8, num_layers=layers, bidirectional=bidirectional)
    model = LSTMRegressor(cfg, input_size=3, horizon=5).eval()
    assert isinstance(model.rnn, {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell])
    assert model.rnn.num_layers == layers and model.rnn.batch_first
    out = model(torch.randn(4, 11, 3))
    assert out.shape == (4, 5)
    assert torch.isfinite(out).all()
    assert model.head.in_features == (2 if bidirectional else 1) * 8


@PROJ_WARNING
@pytest.mark.parametrize("bidirectional", [False, True])
def test_proj_size_shapes(seed: int, bidirectional: bool) -> None:
    cfg = ModelConfig(cell="lstm", hidden_size=8, proj_size=3, num_layers=2, bidirectional=bidirectional)
    model = LSTMRegressor(cfg, input_size=1, horizon=7).eval()
    d = 2 if bidirectional else 1
    assert model.rnn.proj_size == 3
    assert model.head.in_features == d * 3
    x = torch.randn(2, 9, 1)
    assert model(x).shape == (2, 7)
    assert head_input(model, x).shape == (2, d * 3)


def test_dropout_only_between_layers() -> None:
    assert LSTMRegressor(ModelConfig(dropout=0.5, num_layers=1), 1, 2).rnn.dropout == 0.0
    assert LSTMRegressor(ModelConfig(dropout=0.5, num_layers=2), 1, 2).rnn.dropout == 0.5


def test_batch_of_one_and_long_window(seed: int) -> None:
    model = LSTMRegressor(ModelConfig(hidden_size=4), 1, 3).eval()
    assert model(torch.randn(1, 500, 1)).shape == (1, 3)


def test_unidirectional_head_sees_last_step(seed: int) -> None:
    model = LSTMRegressor(ModelConfig(hidden_size=6, num_layers=2), 1, 4).eval()
    x = torch.randn(3, 10, 1)
    out, (h_n, _) = model.rnn(x)
    seen = head_input(model, x)
    assert torch.equal(seen, out[:, -1, :])
    assert torch.allclose(seen, h_n[-1], atol=1e-6)


@PROJ_WARNING
@pytest.mark.parametrize(
    ("cell", "proj", "layers"), [("lstm", 0, 1), ("lstm", 0, 2), ("lstm", 3, 2), ("gru", 0, 2), ("rnn", 0, 1)]
)
def test_bidirectional_head_sees_both_directions_after_the_whole_window(
    seed: int, cell: str, proj: int, layers: int
) -> None:
    cfg = ModelConfig(cell=cell, hidden_size=6, proj_size=proj, num_layers=layers, bidirectional=True)
    model = LSTMRegressor(cfg, input_size=2, horizon=4).eval()
    p = proj or 6
    x = torch.randn(5, 9, 2)
    out, state = model.rnn(x)  # out: (B, L, 2P)
    h_n = state[0] if cell == "lstm" else state  # (layers * 2, B, P)
    seen = head_input(model, x)
    assert seen.shape == (5, 2 * p)
    forward_last, backward_first = out[:, -1, :p], out[:, 0, p:]
    assert torch.equal(seen, torch.cat([forward_last, backward_first], dim=1))
    # The final hidden states of the last layer: forward after the last step, backward after the first.
    assert torch.allclose(seen[:, :p], h_n[-2], atol=1e-6)
    assert torch.allclose(seen[:, p:], h_n[-1], atol=1e-6)
    # Not the backward direction's output at the last step, which has read a single time step only.
    assert not torch.allclose(seen[:, p:], out[:, -1, p:])


def test_bidirectional_backward_half_depends_on_the_start_of_the_window(seed: int) -> None:
    model = LSTMRegressor(ModelConfig(hidden_size=5, bidirectional=True), 1, 2).eval()
    x = torch.randn(1, 12, 1)
    y = x.clone()
    y[0, 0, 0] += 3.0  # change only the first step
    a, b = head_input(model, x), head_input(model, y)
    assert not torch.allclose(a[:, 5:], b[:, 5:])  # the backward half saw the first step
    assert not torch.allclose(a[:, :5], b[:, :5])  # so did the forward half, at the end


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cell": "gru", "proj_size": 2}, "--proj-size works with --cell lstm only"),
        ({"hidden_size": 4, "proj_size": 4}, "must be smaller than --hidden 4"),
        ({"dropout": 1.0}, "--dropout 1.0 is out of range"),
        ({"cell": "transformer"}, "--cell 'transformer' is not one of lstm, gru, rnn"),
        ({"num_layers": 0}, "--layers 0 is out of range"),
    ],
)
def test_invalid_model_config(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        ModelConfig(**kwargs)


def test_known_ahead_covariates_go_through_a_shared_per_step_network():
    # 2 known-ahead covariates + 2 calendar channels: the head reads only the calendar, flattened
    model = LSTMRegressor(ModelConfig(hidden_size=8), input_size=5, horizon=3, future_size=4, ahead=2).eval()
    assert model.head.in_features == 8 + 3 * 2
    assert model.ahead_net is not None and model.ahead_net[0].in_features == 4
    x, future = torch.randn(2, 6, 5), torch.randn(2, 3, 4)
    assert model(x, future).shape == (2, 3)
    # a covariate change at one step moves that step's forecast only through the shared network
    bumped = future.clone()
    bumped[:, 1, 0] += 1.0
    delta = model(x, bumped) - model(x, future)
    assert torch.allclose(delta[:, [0, 2]], torch.zeros(2, 2)) and (delta[:, 1].abs() > 0).all()
    # without known-ahead covariates the network is the plain one (no extra weights)
    assert LSTMRegressor(ModelConfig(hidden_size=8), 3, 3, future_size=2).ahead_net is None
