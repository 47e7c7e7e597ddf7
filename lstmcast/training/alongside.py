"""Trainings side by side, one per core: the refit alongside its first fit, ensemble members.

The refit. A refit (loop.refit) trains a fresh network, with the same seed, on every window for the epochs that the
first fit found best. Its epoch t does not depend on how many epochs it will run (a constant or plateau schedule),
so it can start with the first fit and follow it: it may run epoch t as soon as the first fit has found a best epoch
of at least t, and it never runs an epoch the first fit did not validate as best. When the first fit stops, the
refit is at most a few epochs short of the final best epoch, and the two have run at the same time: on a quiet
two-core machine the refit costs about what the first fit's patience already spends. It computes what the refit
after the first fit computes: the same weights on a CPU (tests/test_alongside.py), never an epoch more.

Ensemble members (run.train_members) are independent trainings with seeds seed, seed + 1, ...: as many at once as
there are cores.

Where: the refit in a child process forked from this one on Linux (as torch's DataLoader workers are): it shares
the windows copy-on-write and not Python's lock, so the first fit runs at full speed beside it (two airpassengers
trainings in two threads: each 1.25-1.5x slower than alone; in two processes: 1.0x). Elsewhere (macOS, Windows,
where a fork of a process holding torch's thread pools is not safe) a thread. Ensemble members share one process,
in threads (their results are whole models, and large batches do not feel the lock). Each training draws its
initial weights under loop.SEEDING, so the order in which they start changes nothing.

Only where it cannot change a result (`side_by_side`, `applies`): a CPU with a second core for this process, one
torch thread per training (defaults.train_threads), one process (no DDP), no dropout (it draws from torch's global
generator all along); for the refit also a schedule that ignores the epoch count (constant, plateau) and no --amp.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing as mp
import os
import pickle
import signal
import sys
import threading
import time
from dataclasses import replace
from typing import Any

import torch

from lstmcast.config import ResolvedConfig
from lstmcast.prep.windows import Windows
from lstmcast.training import distributed
from lstmcast.training.loop import (
    SEEDING,
    EpochCallback,
    StopReason,
    TrainResult,
    build_model,
    fit,
    resolve_device,
    training_threads,
)

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


class _Plan:
    """The refit's epoch budget, under the same rules on both sides of its pace (_Pace for a thread, _PipePace in a
    child process): `allow` raises it while the first fit runs, `end` fixes it once the first fit has ended, and
    `call_off` cuts it to nothing for good."""

    def __init__(self) -> None:
        self.allowed, self.final, self.off = 0, False, False

    def allow(self, epoch: int) -> None:
        if not self.final:
            self.allowed = max(self.allowed, epoch)

    def end(self, epochs: int) -> None:
        if not self.off:  # called off stays off
            self.allowed, self.final = epochs, True

    def call_off(self) -> None:
        self.allowed, self.final, self.off = 0, True, True

    def take(self, kind: str, n: int) -> None:
        """A message of _Process: ("allow", epoch), ("end", epochs) or ("off", 0)."""
        if kind == "allow":
            self.allow(n)
        elif kind == "end":
            self.end(n)
        else:
            self.call_off()

    def settled(self, epoch: int) -> bool:
        """Whether the refit need not wait any longer to know if it may run `epoch` (it may if epoch <= allowed)."""
        return self.allowed >= epoch or self.final


class _Pace:
    """loop.Pace for a refit in a thread: the plan under a condition variable."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.plan = _Plan()
        self.reached = 0  # the refit's completed epochs (as far as it told)

    def allow(self, epoch: int) -> None:
        with self._cond:
            self.plan.allow(epoch)
            self._cond.notify_all()

    def end(self, epochs: int) -> None:
        with self._cond:
            self.plan.end(epochs)
            self._cond.notify_all()

    def call_off(self) -> None:
        with self._cond:
            self.plan.call_off()
            self._cond.notify_all()

    def wait(self, epoch: int) -> bool:
        """Called by the refit before each epoch: blocks until it may run `epoch` (True) or never will (False)."""
        self.reached = epoch - 1
        with self._cond:
            self._cond.wait_for(lambda: self.plan.settled(epoch))
            return epoch <= self.plan.allowed

    def called_off(self) -> bool:
        return self.plan.off


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


class Alongside:
    """A refit running beside the first fit (`start`): in a forked process on Linux (no lock shared with the
    first fit), in a thread elsewhere. The first fit's callback goes through `follow`; afterwards either `finish`
    (the refit is wanted) or `cancel` (it is not, or something failed): always `cancel` at the end, which does
    nothing more after `finish`."""

    def __init__(self, channel: _Thread | _Process) -> None:
        self.channel = channel

    def follow(self, on_epoch_end: EpochCallback | None) -> EpochCallback:
        """The first fit's epoch callback: lets the refit go on to each new best epoch, then calls `on_epoch_end`."""

        def follow(log: Any, model: Any, improved: bool) -> None:
            if improved:
                self.channel.allow(log.epoch)
            if on_epoch_end is not None:
                on_epoch_end(log, model, improved)

        return follow

    def allow(self, epoch: int) -> None:
        """A best epoch the first fit found before it started here (a resumed fit)."""
        self.channel.allow(epoch)

    def reached(self) -> int:
        """The epochs the refit has completed, as far as it has told."""
        return self.channel.reached()

    def finish(self, epochs: int, on_epoch_end: EpochCallback | None = None) -> TrainResult:
        """The refit for `epochs` epochs (the first fit's best): waits for it, then hands each epoch's log to
        `on_epoch_end`, as the refit after the first fit would have, with 0 seconds (its time was spent beside the
        first fit; the result's history keeps the real ones). Ctrl-C while waiting stops the refit within its
        epoch, as Ctrl-C in that refit would (stop reason "interrupted")."""
        self.channel.end(epochs)
        try:
            result = self.channel.join()
        except KeyboardInterrupt:
            self.channel.call_off()
            result = self.channel.join()
        result.history = [replace(h, epochs=epochs) for h in result.history]
        if result.epochs_run < epochs:  # called off between two epochs: cut short all the same
            result.stop_reason = StopReason.interrupted
        if on_epoch_end is not None:  # epochs that ran beside the first fit: none of them is still to wait for
            for log in result.history:
                on_epoch_end(replace(log, seconds=0.0), result.model, True)
        return result

    def cancel(self) -> None:
        """Stop the refit (within its epoch) and wait until it has gone."""
        self.channel.close()


class _Thread:
    """The refit in a thread of this process (where a fork is not safe: macOS, Windows)."""

    def __init__(self, every: Windows, cfg: ResolvedConfig) -> None:
        self.pace, self.outcome = _Pace(), dict[str, Any]()

        def run() -> None:
            try:
                self.outcome["result"] = fit(every, cfg, phase="refit", pace=self.pace)
            except BaseException as exc:  # noqa: BLE001 - handed to the thread that waits for the refit
                self.outcome["error"] = exc

        self.thread = threading.Thread(target=run, name="lstmcast-refit", daemon=True)
        self.thread.start()

    def allow(self, epoch: int) -> None:
        self.pace.allow(epoch)

    def end(self, epochs: int) -> None:
        self.pace.end(epochs)

    def call_off(self) -> None:
        self.pace.call_off()

    def reached(self) -> int:
        return self.pace.reached

    def join(self) -> TrainResult:
        self.thread.join()
        if "error" in self.outcome:
            raise self.outcome["error"]
        result: TrainResult = self.outcome["result"]
        return result

    def close(self) -> None:
        self.pace.call_off()
        self.thread.join()


class _Process:
    """The refit in a child process forked from this one: it shares the windows (copy on write) and nothing else,
    so the first fit does not wait for Python's lock while the refit runs (two airpassengers trainings in two
    threads: each 1.25-1.5x slower than alone; in two processes: 1.0x). Messages: ("allow", epoch), ("end",
    epochs), ("off", 0) to the child; ("result", ...) or ("error", exception) back, the weights as torch.save bytes
    (read back with weights_only=True)."""

    def __init__(self, every: Windows, cfg: ResolvedConfig) -> None:
        ctx = mp.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.done = ctx.Value("i", 0)
        self.template = (every, cfg)
        self.process = ctx.Process(
            target=_child, args=(child, self.conn, self.done, every, cfg), name="lstmcast-refit", daemon=True
        )
        # Ctrl-C and SIGTERM wait until the child has set its own handlers (else one could land in between), and
        # the fork happens while this thread holds SEEDING: never while another thread does, which would leave the
        # child a lock that nobody releases (the child releases its copy first thing)
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        try:
            with SEEDING:
                self.process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        child.close()
        self.answer: tuple[str, Any] | None = None

    def _send(self, kind: str, n: int) -> None:
        with contextlib.suppress(OSError):  # the child is gone: join says why
            self.conn.send((kind, n))

    def allow(self, epoch: int) -> None:
        self._send("allow", epoch)

    def end(self, epochs: int) -> None:
        self._send("end", epochs)

    def call_off(self) -> None:
        self._send("off", 0)

    def reached(self) -> int:
        return int(self.done.value)

    def join(self) -> TrainResult:
        if self.answer is None:
            try:
                self.answer = self.conn.recv()
            except (EOFError, OSError):
                self.process.join()
                raise RuntimeError(
                    f"the refit's process ended without an answer (exit status {self.process.exitcode})"
                ) from None
            self.process.join()
        kind, payload = self.answer
        if kind == "error":
            raise payload
        every, cfg = self.template
        with torch.random.fork_rng(devices=[]):  # the weights come from the child: leave this process' generator
            model = build_model(cfg, every.series.shape[1], every.known, every.ahead, torch.device("cpu"))
        model.load_state_dict(_unpack(payload["model"]))
        model.eval()
        return TrainResult(
            model, payload["history"], payload["best_epoch"], payload["best_val"], StopReason(payload["stop_reason"]),
            _unpack(payload["last_state"]),
        )  # fmt: skip

    def close(self) -> None:
        """Call the child off and read (and drop) whatever it still sends until it has ended: a reply larger than
        the pipe's buffer would otherwise keep it waiting in its send."""
        if self.process.is_alive():
            self.call_off()
            deadline = time.monotonic() + CLOSE_SECONDS
            while self.process.is_alive() and time.monotonic() < deadline:
                try:
                    if self.conn.poll(0.05):
                        self.conn.recv()
                except (EOFError, OSError):
                    break
                except Exception:  # noqa: BLE001 - an answer that does not load is dropped all the same
                    continue
            self.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if self.process.is_alive():
                self.process.kill()
                self.process.join()
        self.conn.close()


class _PipePace:
    """loop.Pace in the child of _Process: the plan, from the messages on the pipe from the parent."""

    def __init__(self, conn: Any, done: Any) -> None:
        self.conn, self.done = conn, done
        self.plan = _Plan()

    def _take(self) -> None:
        try:
            kind, n = self.conn.recv()
        except (EOFError, OSError):  # the parent is gone
            kind, n = "off", 0
        self.plan.take(kind, n)

    def _take_waiting(self) -> None:
        while not self.plan.off and self.conn.poll():  # at EOF poll stays true: the first read calls it off
            self._take()

    def wait(self, epoch: int) -> bool:
        self.done.value = epoch - 1
        self._take_waiting()
        while not self.plan.settled(epoch):
            self._take()
        return epoch <= self.plan.allowed

    def called_off(self) -> bool:
        self._take_waiting()
        return self.plan.off


def _child(conn: Any, parent_end: Any, done: Any, every: Windows, cfg: ResolvedConfig) -> None:
    """The forked refit: trains, then sends its result or its error. Ctrl-C is the parent's to handle; SIGTERM
    (a process group stopped as a whole) calls the refit off as the parent would; a parent that has gone (its end of
    the pipe closed, here too) calls it off at the next step."""
    SEEDING.release()  # held by the parent's thread across the fork (see _Process)
    parent_end.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
    answer: tuple[str, Any]
    try:
        result = fit(every, cfg, phase="refit", pace=_PipePace(conn, done))
        answer = ("result", {
            "model": _pack(result.model.state_dict()), "last_state": _pack(result.last_state),
            "history": result.history, "best_epoch": result.best_epoch, "best_val": result.best_val,
            "stop_reason": result.stop_reason.value,
        })  # fmt: skip
    except BaseException as exc:  # noqa: BLE001 - handed to the parent, which raises it
        answer = ("error", _loadable(exc))
    with contextlib.suppress(BaseException):  # the parent has gone, or stopped listening: nothing to tell
        conn.send(answer)
        conn.close()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _loadable(exc: BaseException) -> BaseException:
    """`exc`, or the nearest class above it that can be pickled and loaded again with its message (an exception
    whose own __init__ takes other arguments would fail to load in the parent and hide what happened)."""
    for cls in type(exc).__mro__:
        try:
            candidate = exc if cls is type(exc) else cls(str(exc))
            pickle.loads(pickle.dumps(candidate))
        except Exception:  # noqa: BLE001 - try the next class up
            continue
        return candidate  # type: ignore[no-any-return]
    return RuntimeError(f"the refit failed: {exc!r}")


_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _pack(state: dict[str, torch.Tensor]) -> bytes:
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in state.items()}, buffer)
    return buffer.getvalue()


def _unpack(data: bytes) -> dict[str, torch.Tensor]:
    loaded: dict[str, torch.Tensor] = torch.load(io.BytesIO(data), weights_only=True)
    return loaded


CLOSE_SECONDS = 30.0  # how long a called-off refit process may take to end before it is killed

# Fork where it is safe (Linux: what torch's own DataLoader workers do); a thread elsewhere.
FORK = sys.platform.startswith("linux") and "fork" in mp.get_all_start_methods()


def start(every: Windows, cfg: ResolvedConfig) -> Alongside:
    """Start the refit on `every` (Windows.every): in a forked process where FORK (as torch's DataLoader forks its
    workers on Linux, from whatever process runs it), else, or when no process can be started, in a thread (which
    draws the initial weights of the seed under loop.SEEDING, as the first fit does)."""
    if FORK and not mp.current_process().daemon:  # a daemonic process (a Pool's worker) may not have children
        try:
            return Alongside(_Process(every, cfg))
        except OSError:  # no process to be had (limits, no shared memory): a thread does the same work
            pass
    return Alongside(_Thread(every, cfg))
