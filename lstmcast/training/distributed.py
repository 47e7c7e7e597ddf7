"""Data-parallel training on torch.distributed: join the process group torchrun describes, reduce and broadcast
the few numbers training shares, and start the workers for `--nproc` through torch's own elastic launcher.

A run is distributed when the environment says so (WORLD_SIZE > 1, set by torchrun or `lstmcast train --nproc`):
gloo on CPU, NCCL on CUDA. Every collective runs under a timeout, and a failed one (a rank that died, a lost
connection) becomes one DistributedError, so a job never hangs on a dead peer.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from lstmcast import errors
from lstmcast.errors import ConfigError, DistributedError, LstmcastError, MainRankFailed

TIMEOUT_ENV = "LSTMCAST_DIST_TIMEOUT"  # seconds a collective may wait for the other ranks (default 300)
DEFAULT_TIMEOUT = 300.0
MAX_TIMEOUT = 1e6  # about 11.6 days; far larger values overflow timedelta and the collectives' own clocks
TERMINATED = 143  # a worker's exit status after SIGTERM (how the launcher stops the others when one fails)

T = TypeVar("T")


@dataclass(frozen=True)
class Group:
    """This process's place in the job: rank 0 of 1 when not distributed."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_group() -> Group:
    """What the launcher put in the environment (RANK, WORLD_SIZE, LOCAL_RANK), before any process group exists."""
    try:
        return Group(
            int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))
        )
    except ValueError:
        raise ConfigError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (they are set by torchrun)") from None


def current() -> Group:
    """The process group this process has joined (setup), or a single-process group."""
    if not (dist.is_available() and dist.is_initialized()):
        return Group()
    return Group(dist.get_rank(), dist.get_world_size(), env_group().local_rank)


def timeout() -> timedelta:
    raw = os.environ.get(TIMEOUT_ENV, "")
    try:
        seconds = float(raw) if raw else DEFAULT_TIMEOUT
    except ValueError:
        raise ConfigError(f"{TIMEOUT_ENV}={raw!r}: give the timeout in seconds, e.g. 300") from None
    if not 0 < seconds <= MAX_TIMEOUT:  # also NaN and inf (timedelta raised ValueError or OverflowError on them)
        raise ConfigError(
            f"{TIMEOUT_ENV}={raw!r}: give the timeout in seconds, more than 0 and at most {MAX_TIMEOUT:g}"
        )
    return timedelta(seconds=seconds)


def setup(device: torch.device) -> Group:
    """Join the job's process group when the environment describes one (WORLD_SIZE > 1): NCCL when training on
    CUDA (one GPU per local rank), gloo otherwise. A single process gets Group() and nothing is started."""
    env = env_group()
    if not env.active:
        return Group()
    if dist.is_initialized():
        return current()
    if not dist.is_available():
        raise ConfigError("this torch build has no torch.distributed; train in one process")
    backend = "gloo"
    if device.type == "cuda":
        backend = "nccl"
        torch.cuda.set_device(env.local_rank)
    with collective("joining the process group"):
        dist.init_process_group(backend, timeout=timeout())
    return current()


def finished() -> None:
    """Every rank has passed its last collective: a rank that tears the group down while a peer's gloo threads still
    finish the last exchange can die in C++ ("terminate called without an active exception", SIGABRT; seen once on
    rank 1 of `train --nproc 2`). Call on the way out of a job that succeeded, before teardown."""
    if current().active:
        with collective("waiting for the other processes to finish"):
            dist.barrier()


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def train_device(device: torch.device, group: Group) -> torch.device:
    """Each rank of a CUDA job trains on the GPU of its local rank."""
    if group.active and device.type == "cuda":
        return torch.device("cuda", group.local_rank)
    return device


@contextlib.contextmanager
def collective(what: str) -> Iterator[None]:
    """Around a collective call: a failure (a peer gone, a timeout) becomes one DistributedError naming this rank."""
    try:
        yield
    except torch.OutOfMemoryError:
        raise
    except RuntimeError as exc:  # gloo and NCCL errors (DistBackendError is one), also raised through autograd
        if not current().active:
            raise
        rank = env_group().rank
        detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise DistributedError(
            f"rank {rank}: {what} failed: another process of the job stopped or cannot be reached ({detail}); "
            "the job stops. Rank 0's last.pt holds the last completed epoch"
        ) from None


def all_sum(values: Sequence[float], device: torch.device) -> list[float]:
    """Sum numbers over the ranks (float64, so counts stay exact)."""
    return _exchange(values, device, "summing losses over the ranks", lambda t: dist.all_reduce(t, dist.ReduceOp.SUM))


def from_main(values: Sequence[float], device: torch.device) -> list[float]:
    """Rank 0's numbers on every rank: a decision taken once (e.g. stop early) that all ranks follow."""
    return _exchange(values, device, "receiving rank 0's decision", lambda t: dist.broadcast(t, src=0))


def _exchange(
    values: Sequence[float], device: torch.device, what: str, op: Callable[[torch.Tensor], object]
) -> list[float]:
    """Run the collective `op` in place on the numbers as one float64 tensor (nothing outside a job)."""
    if not current().active:
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    with collective(what):
        op(t)
    return [float(v) for v in t.cpu()]


def share(make: Callable[[], T]) -> T:
    """Rank 0 computes a value (e.g. the run directory it created); every rank gets it. When `make` fails on rank
    0, it raises there and the other ranks raise MainRankFailed (rank 0's error line speaks for the job)."""
    group = current()
    if not group.active:
        return make()
    box: list[Any] = [None]
    failure: BaseException | None = None
    if group.is_main:
        try:
            box = [("ok", make())]
        except BaseException as exc:  # noqa: BLE001 - re-raised below, after the other ranks know
            failure, box = exc, [("failed", type(exc).__name__, str(exc))]
    with collective("receiving rank 0's run directory"):
        dist.broadcast_object_list(box, src=0)
    if failure is not None:
        raise failure
    if box[0][0] == "failed":
        _, name, message = box[0]
        found = getattr(errors, name, None)
        kind = found if isinstance(found, type) and issubclass(found, LstmcastError) else LstmcastError
        raise MainRankFailed(f"rank 0 failed: {message}", kind)
    return box[0][1]


def shard(indices: torch.Tensor, group: Group) -> torch.Tensor:
    """This rank's contiguous part of `indices`: parts are disjoint, cover them all and differ in size by at
    most one."""
    if not group.active:
        return indices
    return indices.tensor_split(group.world)[group.rank]


def launch(nproc: int, args: Sequence[str]) -> int:
    """Run `lstmcast ARGS` as `nproc` local worker processes through torch's elastic launcher (what
    `torchrun --standalone --nproc-per-node N` does). Returns the exit status: 0, or the failed workers' (rank
    0's when it failed, else the first); a worker that died from a signal gets one line on stderr here."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    for name in list(logging.Logger.manager.loggerDict):  # each elastic module set its own level: quiet them all
        if name.startswith("torch.distributed.elastic"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    if "OMP_NUM_THREADS" not in os.environ:  # torchrun's own default: the workers share the cores
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // nproc))
    config = LaunchConfig(
        min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id="lstmcast", rdzv_backend="c10d",
        rdzv_endpoint="localhost:0", max_restarts=0, monitor_interval=0.5, start_method="spawn",
    )  # fmt: skip
    try:
        elastic_launch(config, entrypoint=sys.executable)("-m", "lstmcast", *args)
    except SignalException as exc:  # Ctrl-C or SIGTERM: the launcher stopped the workers, which said so
        return 128 + int(exc.sigval)
    except ChildFailedError as exc:
        failures = sorted(exc.failures.items())  # [(global rank, ProcessFailure)]
        # the root cause: a worker killed by a signal, else one that failed by itself (not stopped by the launcher
        # with SIGTERM after another failed), rank 0 first, else the first
        stopped = (TERMINATED, -signal.SIGTERM, 0)
        killed = [(r, f) for r, f in failures if f.exitcode < 0 and f.exitcode not in stopped]
        own = sorted(((r, f) for r, f in failures if f.exitcode not in stopped), key=lambda rf: rf[0] != 0)
        rank, first = (killed or own or failures)[0]
        if first.exitcode < 0:
            try:
                name = signal.Signals(-first.exitcode).name
            except ValueError:
                name = f"signal {-first.exitcode}"
            sys.stderr.write(
                f"lstmcast: error: rank {rank} (pid {first.pid}) was killed by {name}; "
                "the job stopped. Rank 0's last.pt holds the last completed epoch\n"
            )
            return 1
        return int(first.exitcode) or 1
    return 0
