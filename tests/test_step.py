"""lstmcast.training.step: the plain step's flat gradient buffer trains the same model as clip_grad_norm_, and clips."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import torch
from torch import nn

import lstmcast.training.step as step_mod
from lstmcast.config import ModelConfig, ResolvedConfig, ResolvedTrain, ResolvedWindow
from lstmcast.io.data import load_series
from lstmcast.prep.windows import Scaler, Windows, make_windows
from lstmcast.training import distributed
from lstmcast.training.loop import EpochLog, TrainResult, fit
from lstmcast.training.step import FlatGrads, make_step

WINDOW = ResolvedWindow(lookback=24, horizon=12, val_size=24)


@pytest.fixture
def windows(air_csv: Path) -> Windows:
    values = load_series(air_csv).values
    n_train = len(values) - WINDOW.val_size
    return make_windows(Scaler.fit("standard", values[:n_train]).transform(values), WINDOW, n_train)


def config(**train: object) -> ResolvedConfig:
    values = {"epochs": 3, "batch_size": 16, "patience": 50, "lr": 1e-2, "seed": 0, "device": "cpu", **train}
    model = ModelConfig(hidden_size=8, num_layers=2)  # several gradient tensors of several shapes
    return ResolvedConfig(window=WINDOW, model=model, train=ResolvedTrain(**values))  # type: ignore[arg-type]


def reference_fit(windows: Windows, cfg: ResolvedConfig, monkeypatch: pytest.MonkeyPatch, **kw: object) -> TrainResult:
    """fit through the general step: zero_grad(set_to_none=True) and nn.utils.clip_grad_norm_, as before."""
    with monkeypatch.context() as m:
        m.setattr(FlatGrads, "fits", staticmethod(lambda params: False))
        return fit(windows, cfg, **kw)  # type: ignore[arg-type]


def assert_same_training(a: TrainResult, b: TrainResult, rtol: float = 0.0) -> None:
    """The same weights and losses; with `rtol`, up to that much of each tensor's largest magnitude."""
    assert a.last_state.keys() == b.last_state.keys()
    for k in a.last_state:
        scale = a.last_state[k].abs().max()
        assert (a.last_state[k] - b.last_state[k]).abs().max() <= rtol * scale, k
    for x, y in zip(a.history, b.history):
        assert x.train_loss == pytest.approx(y.train_loss, rel=rtol, abs=0)
        assert x.val_loss == pytest.approx(y.val_loss, rel=rtol, abs=0)


# The flat clipping sums the squares over one buffer rather than through per-tensor norms: the clipping factor
# differs in its last bits. Measured on airpassengers, 24 steps all clipped (--clip 0.05): 2.3e-7 of the largest
# weight; the bound leaves room for other CPUs' reduction orders.
CLIPPED_RTOL = 1e-5


@pytest.mark.parametrize("clip", [0.05, 1.0])  # clipping every step, now and then
def test_the_flat_buffer_trains_the_weights_of_clip_grad_norm_up_to_rounding(
    windows: Windows, monkeypatch: pytest.MonkeyPatch, clip: float
) -> None:
    cfg = config(clip=clip)
    assert_same_training(fit(windows, cfg), reference_fit(windows, cfg, monkeypatch), CLIPPED_RTOL)


def test_without_clipping_the_flat_buffer_trains_the_same_bits(windows: Windows, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config(clip=0.0)
    assert_same_training(fit(windows, cfg), reference_fit(windows, cfg, monkeypatch))


def test_clipping_changes_the_training(windows: Windows) -> None:
    """The comparison above means something: at 0.05 the clip acts."""
    a, b = fit(windows, config(clip=0.05)), fit(windows, config(clip=0.0))
    assert not all(torch.equal(a.last_state[k], b.last_state[k]) for k in a.last_state)


def test_a_callback_that_drops_the_gradients_does_not_unhook_the_clipping(
    windows: Windows, monkeypatch: pytest.MonkeyPatch
) -> None:
    def drop(log: EpochLog, model: nn.Module, improved: bool) -> None:
        model.zero_grad(set_to_none=True)  # every .grad None: the next backward would allocate new ones

    cfg = config(clip=0.05)
    assert_same_training(fit(windows, cfg, on_epoch_end=drop), reference_fit(windows, cfg, monkeypatch), CLIPPED_RTOL)


def plain_step(model: nn.Module, opt: torch.optim.Optimizer, clip: float) -> step_mod.Step:
    tc = ResolvedTrain(epochs=1, batch_size=8, patience=1, clip=clip)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    step = make_step(model, model, opt, nn.MSELoss(), tc, contextlib.nullcontext, scaler, distributed.Group())
    assert step.__name__ == "plain"
    return step


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(1, 6, 2, batch_first=True)
        self.head = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1])  # (B, L, 1) -> (B, 3)


def test_a_huge_gradient_moves_the_weights_by_at_most_lr_times_the_clip() -> None:
    torch.manual_seed(0)
    model, lr, clip = Net(), 0.1, 1.0
    step = plain_step(model, torch.optim.SGD(model.parameters(), lr=lr), clip)
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    x, y = torch.randn(8, 5, 1), torch.full((8, 3), 1e8)  # a loss of about 1e16
    step(x, None, y, 1.0)
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    moved = torch.linalg.vector_norm(after - before).item()
    assert 0.99 * lr * clip < moved <= lr * clip * (1 + 1e-5)
    assert torch.isfinite(after).all()


def test_clipping_rescales_only_gradients_over_the_bound_and_keeps_their_direction() -> None:
    torch.manual_seed(0)
    model = Net()
    params = list(model.parameters())
    grads = FlatGrads(params)
    for scale, clipped in ((1e-4, False), (1e4, True)):
        grads.zero_()
        (model(torch.randn(8, 5, 1)).sum() * scale).backward()
        assert all(p.grad is not None and p.grad.data_ptr() == v.data_ptr() for p, v in zip(params, grads.views))
        before = grads.flat.clone()
        copies = [p.grad.clone() for p in params if p.grad is not None]
        grads.clip_(1.0)
        norm = torch.linalg.vector_norm(grads.flat).item()
        if clipped:
            assert norm == pytest.approx(1.0, rel=1e-5)
            assert torch.allclose(grads.flat / norm, before / torch.linalg.vector_norm(before), rtol=1e-5, atol=0)
        else:
            assert torch.equal(grads.flat, before)
        # clip_grad_norm_ on copies of the same gradients: the same up to the rounding of the factor
        ref = [nn.Parameter(p.detach().clone()) for p in params]
        for r, c in zip(ref, copies):
            r.grad = c
        nn.utils.clip_grad_norm_(ref, 1.0)
        assert all(torch.allclose(r.grad, v, rtol=1e-6, atol=0) for r, v in zip(ref, grads.views))


def test_data_parallel_and_mixed_precision_keep_the_general_step() -> None:
    model = Net()
    opt = torch.optim.Adam(model.parameters())
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    args = (model, model, opt, nn.MSELoss())
    amp = ResolvedTrain(epochs=1, batch_size=8, patience=1, amp=True)
    assert make_step(*args, amp, contextlib.nullcontext, scaler, distributed.Group()).__name__ == "general"
    plain = ResolvedTrain(epochs=1, batch_size=8, patience=1)
    two = distributed.Group(rank=0, world=2)
    assert make_step(*args, plain, contextlib.nullcontext, scaler, two).__name__ == "general"
    assert all(p.grad is None for p in model.parameters())  # no buffer was hooked in


# --- subnormals flushed while training on a CPU -------------------------------------------------------------------

needs_flush_control = pytest.mark.skipif(
    not torch.set_flush_denormal(False), reason="this CPU cannot flush subnormals (torch.set_flush_denormal)"
)


def long_windows() -> tuple[Windows, ResolvedConfig]:
    """Windows of 160 steps, where the gradient of the early steps of a fresh network is subnormal."""
    t = torch.arange(700, dtype=torch.float64)
    values = (torch.sin(2 * torch.pi * t / 24) + 0.01 * t).numpy()
    window = ResolvedWindow(lookback=160, horizon=4, val_size=8)
    n_train = len(values) - window.val_size
    w = make_windows(Scaler.fit("standard", values[:n_train]).transform(values), window, n_train)
    train = ResolvedTrain(epochs=2, batch_size=16, patience=5, steps_per_epoch=4, device="cpu", loss="mse")
    return w, ResolvedConfig(window=window, model=ModelConfig(hidden_size=8, num_layers=2), train=train)


@needs_flush_control
def test_a_long_window_gives_subnormal_gradients_that_flushing_zeroes() -> None:
    w, _ = long_windows()
    torch.manual_seed(0)
    net = Net()
    x = w.batch(w.train_starts[:16])[0].clone().requires_grad_(True)  # (16, 160, 1)
    smallest_normal = torch.finfo(torch.float32).tiny

    def first_step_grad() -> torch.Tensor:
        x.grad = None
        net(x).sum().backward()
        assert x.grad is not None
        return x.grad[:, 0].abs()

    g = first_step_grad()
    assert ((g > 0) & (g < smallest_normal)).any()
    with step_mod.subnormals_flushed(torch.device("cpu")):
        g = first_step_grad()
    assert not ((g > 0) & (g < smallest_normal)).any()
    assert not step_mod._flushing()  # as before


@needs_flush_control
def test_training_flushes_subnormals_and_gives_the_same_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    w, cfg = long_windows()
    seen: list[bool] = []
    flushed = fit(w, cfg, on_epoch_end=lambda log, model, improved: seen.append(step_mod._flushing()))
    assert seen == [True, True] and not step_mod._flushing()
    monkeypatch.setattr("lstmcast.training.loop.subnormals_flushed", lambda device: contextlib.nullcontext())
    kept = fit(w, cfg)
    assert_same_training(flushed, kept)


@needs_flush_control
def test_a_caller_that_flushes_keeps_flushing() -> None:
    w, cfg = long_windows()
    torch.set_flush_denormal(True)
    try:
        fit(w, cfg)
        assert step_mod._flushing()
    finally:
        torch.set_flush_denormal(False)
