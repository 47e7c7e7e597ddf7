"""torch's Adam without its first-use import of torch._dynamo.

torch.optim wraps Optimizer.step, zero_grad, add_param_group, state_dict and load_state_dict in decorators that
import torch._dynamo on their first call (to break or disable torch.compile graphs). lstmcast never compiles, and
that import costs about 1.1 s of every training process (measured: a default airpassengers run spends more time
importing it than training). `Adam` here is torch.optim.Adam with those methods unwrapped to torch's own function
bodies: the same arithmetic, the same state_dict format (last.pt files resume either way), no import. When torch
is already compiling in this process (torch._dynamo imported by somebody else), the wrapped methods are kept.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

import torch

__all__ = ["Adam", "adam"]


def _unwrapped(name: str) -> Any:
    return inspect.unwrap(getattr(torch.optim.Adam, name))


class Adam(torch.optim.Adam):
    """torch.optim.Adam whose step runs under no_grad (what its decorator does) without importing torch._dynamo."""

    def step(self, closure: Any = None) -> Any:
        with torch.no_grad():
            return _STEP(self, closure)

    def zero_grad(self, set_to_none: bool = True) -> None:
        _ZERO_GRAD(self, set_to_none)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        _ADD_PARAM_GROUP(self, param_group)

    def state_dict(self) -> dict[str, Any]:
        return _STATE_DICT(self)  # type: ignore[no-any-return]

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        _LOAD_STATE_DICT(self, state_dict)


_STEP = _unwrapped("step")
_ZERO_GRAD = _unwrapped("zero_grad")
_ADD_PARAM_GROUP = _unwrapped("add_param_group")
_STATE_DICT = _unwrapped("state_dict")
_LOAD_STATE_DICT = _unwrapped("load_state_dict")


def adam(params: Any, lr: float, fused: bool = False) -> torch.optim.Adam:
    """Adam for `params`: torch's own class when torch._dynamo is loaded already (someone compiles), else `Adam`.

    fused: torch's fused kernel (one call updates every parameter) instead of a loop of small operations per
    parameter: 0.49 -> 0.27 ms of a 2.2 ms airpassengers step on one CPU thread, and with less time under
    Python's lock, two trainings in two threads (training.alongside) slow each other less (1.39x -> 1.25x). The
    same update rule; its float rounding differs from the loop's.
    """
    if "torch._dynamo" in sys.modules:
        return torch.optim.Adam(params, lr=lr, fused=fused or None)
    return Adam(params, lr=lr, fused=fused or None)
