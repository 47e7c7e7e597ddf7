"""Trainings side by side in one process, one thread per core: the refit alongside its first fit, ensemble members.

The refit. A refit (loop.refit) trains a fresh network, with the same seed, on every window for the epochs that the
first fit found best. Its epoch t does not depend on how many epochs it will run (a constant or plateau schedule),
so it can start with the first fit and follow it: it may run epoch t as soon as the first fit has found a best epoch
of at least t, and it never runs an epoch the first fit did not validate as best. When the first fit stops, the
refit is at most a few epochs short of the final best epoch, and the two have run at the same time: on a quiet
two-core machine the refit costs about what the first fit's patience already spends. It computes what the refit
after the first fit computes: the same weights on a CPU (tests/test_alongside.py), never an epoch more.

Ensemble members (run.train_members) are independent trainings with seeds seed, seed + 1, ...: as many at once as
there are cores.

Threads, not processes: the trainings share the window tensors, and a fork of a process that holds torch's thread
pools is not safe everywhere. Python's lock costs small networks something (two airpassengers trainings in two
threads: each 1.25x slower than alone with the fused Adam; batches of 128 and more: 1.0x), far less than waiting.
Each training draws its initial weights under loop.SEEDING, so the order in which they start changes nothing.

Only where it cannot change a result (`side_by_side`, `applies`): a CPU with a second core for this process, one
torch thread per training (defaults.train_threads), one process (no DDP), no dropout (it draws from torch's global
generator all along); for the refit also a schedule that ignores the epoch count (constant, plateau) and no --amp.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, replace
from typing import Any

from lstmcast.config import ResolvedConfig
from lstmcast.prep.windows import Windows
from lstmcast.training import distributed
from lstmcast.training.loop import EpochCallback, StopReason, TrainResult, fit, resolve_device, training_threads

# Schedules whose rate at epoch t does not depend on the planned number of epochs (cosine anneals to the end).
EPOCH_FREE_SCHEDULES = ("constant", "plateau")


def cores() -> int:
    """The CPU cores this process may run on (its affinity mask, where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def side_by_side(cfg: ResolvedConfig) -> int:
    """How many trainings with `cfg` may run at once in this process, each in its own thread (1: one at a time):
    the cores, on a CPU with one torch thread per training (defaults.train_threads), in one process (no DDP), and
    without dropout (each training draws its weights under loop.SEEDING, but dropout draws from torch's global
    generator all along)."""
    group = distributed.current()
    device = distributed.train_device(resolve_device(cfg.train.device), group)
    if device.type != "cpu" or group.active or training_threads(cfg, device) != 1 or cfg.model.dropout != 0:
        return 1
    return cores()


def applies(cfg: ResolvedConfig) -> bool:
    """Whether the refit of a training with `cfg` runs alongside its first fit (see the module's text)."""
    return side_by_side(cfg) >= 2 and cfg.train.schedule in EPOCH_FREE_SCHEDULES and not cfg.train.amp


class _Pace:
    """How far the refit may go: up to the first fit's best epoch so far; once the first fit has ended, up to its
    final best epoch; nowhere once called off (then the refit also stops within its epoch: loop.Pace)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._allowed = 0
        self._final = False
        self._off = False
        self.reached = 0  # the refit's completed epochs (as far as it told)

    def allow(self, epoch: int) -> None:
        with self._cond:
            if not self._final and epoch > self._allowed:
                self._allowed = epoch
                self._cond.notify_all()

    def end(self, epochs: int) -> None:
        with self._cond:
            self._allowed, self._final = epochs, True
            self._cond.notify_all()

    def call_off(self) -> None:
        with self._cond:
            self._allowed, self._final, self._off = 0, True, True
            self._cond.notify_all()

    def wait(self, epoch: int) -> bool:
        """Called by the refit before each epoch: blocks until it may run `epoch` (True) or never will (False)."""
        self.reached = epoch - 1
        with self._cond:
            self._cond.wait_for(lambda: self._allowed >= epoch or self._final)
            return epoch <= self._allowed

    def called_off(self) -> bool:
        return self._off


class Stop:
    """The pace of trainings that run side by side without waiting for each other (run.train_members): never held
    back, stopped within their epoch (as Ctrl-C would) once called off."""

    def __init__(self) -> None:
        self._off = threading.Event()

    def wait(self, epoch: int) -> bool:
        return True

    def called_off(self) -> bool:
        return self._off.is_set()

    def call_off(self) -> None:
        self._off.set()


@dataclass
class Alongside:
    """A refit running in its own thread (`start`). The first fit's callback goes through `follow`; afterwards
    either `finish` (the refit is wanted) or `cancel` (it is not, or something failed): always `cancel` at the end,
    which does nothing more after `finish`."""

    pace: _Pace
    thread: threading.Thread
    outcome: dict[str, Any]

    def follow(self, on_epoch_end: EpochCallback | None) -> EpochCallback:
        """The first fit's epoch callback: lets the refit go on to each new best epoch, then calls `on_epoch_end`."""

        def follow(log: Any, model: Any, improved: bool) -> None:
            if improved:
                self.pace.allow(log.epoch)
            if on_epoch_end is not None:
                on_epoch_end(log, model, improved)

        return follow

    def allow(self, epoch: int) -> None:
        """A best epoch the first fit found before it started here (a resumed fit)."""
        self.pace.allow(epoch)

    def finish(self, epochs: int, on_epoch_end: EpochCallback | None = None) -> TrainResult:
        """The refit for `epochs` epochs (the first fit's best): waits for the thread, then hands each epoch's log
        to `on_epoch_end`, as the refit after the first fit would have. Ctrl-C while waiting stops the refit within
        its epoch, as Ctrl-C in that refit would (stop reason "interrupted")."""
        self.pace.end(epochs)
        try:
            self.thread.join()
        except KeyboardInterrupt:
            self.cancel()
        if "error" in self.outcome:
            raise self.outcome["error"]
        result: TrainResult = self.outcome["result"]
        result.history = [replace(h, epochs=epochs) for h in result.history]
        if result.epochs_run < epochs:  # called off between two epochs: cut short all the same
            result.stop_reason = StopReason.interrupted
        if on_epoch_end is not None:
            for log in result.history:
                on_epoch_end(log, result.model, True)
        return result

    def cancel(self) -> None:
        """Stop the refit (within its epoch) and wait for the thread."""
        self.pace.call_off()
        self.thread.join()


def start(every: Windows, cfg: ResolvedConfig) -> Alongside:
    """Start the refit on `every` (Windows.every) in a thread. It draws the initial weights of the seed, as the
    first fit does, under loop.SEEDING."""
    pace, outcome = _Pace(), dict[str, Any]()

    def run() -> None:
        try:
            outcome["result"] = fit(every, cfg, phase="refit", pace=pace)
        except BaseException as exc:  # noqa: BLE001 - handed to the thread that waits for the refit
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="lstmcast-refit", daemon=True)
    thread.start()
    return Alongside(pace, thread, outcome)
