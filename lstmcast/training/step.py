"""One training step (forward, backward, gradient clipping, the optimiser's step), chosen once per fit.

The plain step (one process, no --amp) is the common one and the one whose cost shows on small networks: every
gradient is a view of one flat buffer, so zeroing is one fill and clipping one multiply, with no wrapper that would
do nothing. The general step (data-parallel, or --amp with its gradient scaler) goes through torch's wrappers.
Both give the same numbers up to float rounding in the clipping: see FlatGrads.

On a CPU, training flushes subnormal floats to zero (subnormals_flushed).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from lstmcast.config import TrainConfig
from lstmcast.training import distributed

# (inputs (B, L, C), known future (B, H, K) or None, targets (B, H), weight) -> the batch's mean loss; weight is
# this rank's share of the global batch times the world size (1 in one process)
Step = Callable[[torch.Tensor, torch.Tensor | None, torch.Tensor, float], torch.Tensor]


class FlatGrads:
    """Every parameter's `.grad` as a view of one buffer: zeroing is one fill, clipping one norm and one multiply.

    Backward adds into an existing `.grad` in place and 0 + g is g exactly, so the gradients are those that
    `zero_grad(set_to_none=True)` would leave. `clip_` is `nn.utils.clip_grad_norm_`'s rule (each gradient times
    min(1, max_norm / (total + 1e-6)), total the 2-norm of all of them) with the total summed over the buffer at
    once instead of through per-tensor norms: the same up to float rounding (tests/test_step.py), in a third of
    the operations, which on a small network is 2 % of the step.
    """

    def __init__(self, params: Sequence[nn.Parameter]) -> None:
        first = params[0]
        self.params = list(params)
        self.flat = torch.zeros(sum(p.numel() for p in params), dtype=first.dtype, device=first.device)
        self.views: list[torch.Tensor] = []
        offset = 0
        for p in params:
            self.views.append(self.flat[offset : offset + p.numel()].view_as(p))
            offset += p.numel()
        self._attach()

    @staticmethod
    def fits(params: Sequence[nn.Parameter]) -> bool:
        """One buffer needs one dtype and one device, and dense parameters."""
        return bool(params) and all(
            p.dtype == params[0].dtype and p.device == params[0].device and p.layout == torch.strided for p in params
        )

    def _attach(self) -> None:
        for p, view in zip(self.params, self.views):
            p.grad = view

    def zero_(self) -> None:
        # Whoever set a .grad (a callback's model.zero_grad() sets them to None) would unhook that parameter from
        # the buffer, and from the clipping: hook it back first.
        if any(p.grad is not view for p, view in zip(self.params, self.views)):
            self._attach()
        self.flat.zero_()

    def clip_(self, max_norm: float) -> None:
        total = torch.linalg.vector_norm(self.flat)
        self.flat.mul_(torch.clamp(max_norm / (total + 1e-6), max=1.0))


def make_step(
    net: nn.Module, model: nn.Module, opt: torch.optim.Optimizer, loss_fn: nn.Module, tc: TrainConfig,
    autocast: Callable[[], Any], scaler: torch.amp.GradScaler, group: distributed.Group,
) -> Step:  # fmt: skip
    """The step for this fit: plain in one process without --amp, else general (autocast, the gradient scaler,
    DistributedDataParallel's gradient exchange). `net` is `model`, or its DistributedDataParallel wrapper."""
    params = list(model.parameters())
    if group.active or tc.amp or not FlatGrads.fits(params):
        return _general_step(net, model, opt, loss_fn, tc.clip, autocast, scaler, group)
    grads, clip = FlatGrads(params), tc.clip

    def plain(x: torch.Tensor, future: torch.Tensor | None, y: torch.Tensor, weight: float) -> torch.Tensor:
        loss = loss_fn(model(x, future).float(), y)
        grads.zero_()
        loss.backward()
        if clip > 0:
            grads.clip_(clip)
        opt.step()
        return loss

    return plain


def _general_step(
    net: nn.Module, model: nn.Module, opt: torch.optim.Optimizer, loss_fn: nn.Module, clip: float,
    autocast: Callable[[], Any], scaler: torch.amp.GradScaler, group: distributed.Group,
) -> Step:  # fmt: skip
    def general(x: torch.Tensor, future: torch.Tensor | None, y: torch.Tensor, weight: float) -> torch.Tensor:
        with distributed.collective("exchanging gradients"):
            with autocast():
                loss = loss_fn(net(x, future).float(), y)
            opt.zero_grad(set_to_none=True)
            # DDP averages the ranks' gradients: weight each by its share of the batch -> the batch mean
            scaler.scale(loss * weight if group.active else loss).backward()
        if clip > 0:
            scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        scaler.step(opt)
        scaler.update()
        return loss

    return general


@contextlib.contextmanager
def subnormals_flushed(device: torch.device) -> Iterator[None]:
    """On a CPU, subnormal floats (below 1.2e-38) flushed to zero in this thread for the duration, as before after.

    Backpropagation through a long window shrinks the gradient of the early steps geometrically (an untrained
    forget gate halves it each step) until it is subnormal, and x86 CPUs take a slow path for every operation on
    a subnormal: a fresh lookback-168 network's first steps ran 2.5x slower, later ones 1.2x. Values that small
    cannot change a float32 weight, so the weights come out the same (tests/test_step.py). Threads that torch's
    pool started before keep their own setting; training uses one thread for networks of its size
    (defaults.train_threads).
    """
    if device.type != "cpu" or _flushing():
        yield
        return
    if not torch.set_flush_denormal(True):  # a CPU without the control (not x86 with SSE3)
        yield
        return
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def _flushing() -> bool:
    """Whether this thread already flushes subnormals: the smallest one (bits 0x00000001) times 1 reads as 0."""
    tiny = torch.ones(1, dtype=torch.int32).view(torch.float32)  # 1.4e-45, made without arithmetic
    return bool((tiny * 1.0).item() == 0.0)
