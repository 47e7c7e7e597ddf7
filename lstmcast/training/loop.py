"""The training loop: seeding, batches by index over window views, early stopping, clipping, callbacks."""

from __future__ import annotations

import contextlib
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from lstmcast import defaults
from lstmcast.config import ResolvedConfig, TrainConfig
from lstmcast.errors import ConfigError
from lstmcast.nn.model import LSTMRegressor
from lstmcast.prep.windows import Windows, batch, batches
from lstmcast.training import distributed
from lstmcast.training.optim import adam
from lstmcast.training.step import make_step, subnormals_flushed
from lstmcast.training.trainstate import rng_state, set_rng_state, to_cpu


class StopReason(str, Enum):
    """Why training ended. Stored in checkpoints and summary.json as its plain value."""

    completed = "completed"  # every planned epoch ran
    early_stop = "early_stop"  # no validation gain for `patience` epochs
    non_finite = "non_finite"  # the loss became NaN or infinite
    interrupted = "interrupted"  # Ctrl-C or SIGTERM


@dataclass(frozen=True)
class EpochLog:
    epoch: int
    train_loss: float
    val_loss: float
    lr: float
    seconds: float
    epochs: int = 0  # the planned number of epochs
    patience: int = 0  # the early-stopping patience (epochs without validation gain)
    phase: str = "fit"  # fit: early stopping on the validation windows; refit: every window (see refit)


@dataclass
class TrainResult:
    """The model holds the best weights (lowest validation loss); `last_state` the final epoch's."""

    model: LSTMRegressor
    history: list[EpochLog]
    best_epoch: int
    best_val: float
    stop_reason: StopReason
    last_state: dict[str, torch.Tensor] = field(default_factory=dict)
    train_state: dict[str, Any] | None = None  # what `fit(resume=...)` needs to go on (when asked for, see fit)

    @property
    def epochs_run(self) -> int:
        return len(self.history)


EpochCallback = Callable[[EpochLog, LSTMRegressor, bool], None]
StateCallback = Callable[[dict[str, Any]], None]


class Pace(Protocol):
    """What paces a training that follows another (training.alongside): `wait(epoch)` before each epoch blocks
    until that epoch may run (True) or never will (False: training ends there, "completed"); `called_off()`,
    checked before each step, ends training within its epoch as Ctrl-C would ("interrupted")."""

    def wait(self, epoch: int) -> bool: ...

    def called_off(self) -> bool: ...


def mixed_precision(enabled: bool, device: torch.device) -> tuple[Callable[[], Any], Any]:
    """The autocast context and gradient scaler for --amp: float16 with loss scaling on CUDA, bfloat16 on CPU
    (no scaling needed). Disabled: a no-op context and a pass-through scaler."""
    if not enabled:
        return contextlib.nullcontext, torch.amp.GradScaler("cpu", enabled=False)
    if device.type == "cuda":
        return (lambda: torch.autocast("cuda", dtype=torch.float16)), torch.amp.GradScaler("cuda")
    try:  # oneDNN has bfloat16 LSTM kernels only on CPUs with the matching instructions
        with torch.autocast(device.type, dtype=torch.bfloat16):
            nn.LSTM(2, 2, batch_first=True).to(device)(torch.zeros(1, 2, 2, device=device))
    except RuntimeError:
        raise ConfigError(
            f"--amp: this {device.type.upper()} cannot run the LSTM in bfloat16; train without --amp"
        ) from None
    return (lambda: torch.autocast(device.type, dtype=torch.bfloat16)), torch.amp.GradScaler(device.type, enabled=False)


def check_training(tc: TrainConfig) -> torch.device:
    """Fail early (before a run directory exists) on a device or --amp this machine cannot provide."""
    device = resolve_device(tc.device)
    mixed_precision(tc.amp, device)
    return device


# The most weights a network may have: 800 MB in float32, about four times that while training with Adam (weights,
# gradients, two moments). --hidden 100000 asked for 40 billion, which no allocator grants; say so before trying.
MAX_PARAMETERS = 200_000_000


def check_model_size(cfg: ResolvedConfig, input_size: int, future_size: int = 0, ahead: int = 0) -> int:
    """The network's weight count, counted on the meta device (nothing allocated); a usage error above
    MAX_PARAMETERS, naming the options that set it."""
    with torch.device("meta"):
        probe = LSTMRegressor(cfg.model, input_size, cfg.window.horizon, future_size, ahead)
    count = sum(p.numel() for p in probe.parameters())
    if count > MAX_PARAMETERS:
        m = cfg.model
        raise ConfigError(
            f"--hidden {m.hidden_size} --layers {m.num_layers}: the network would have {count:,} weights "
            f"({count * 4 / 1e9:.1f} GB, about four times that to train); at most {MAX_PARAMETERS:,}: use a smaller "
            "--hidden or --layers"
        )
    return count


def build_model(cfg: ResolvedConfig, input_size: int, future_size: int, ahead: int, device: torch.device) -> LSTMRegressor:
    """A fresh network on `device`; a size over the bound, or memory the machine will not grant, is a usage error."""
    count = check_model_size(cfg, input_size, future_size, ahead)
    try:
        return LSTMRegressor(cfg.model, input_size, cfg.window.horizon, future_size, ahead).to(device)
    except (MemoryError, RuntimeError) as exc:
        if not out_of_memory(exc):
            raise
        m = cfg.model
        raise ConfigError(
            f"--hidden {m.hidden_size} --layers {m.num_layers}: cannot allocate the network's {count:,} weights "
            f"({count * 4 / 1e9:.2f} GB) on {device.type}; use a smaller --hidden or --layers"
        ) from None


def out_of_memory(exc: BaseException) -> bool:
    """Whether an exception is an allocator's refusal: MemoryError, torch's CUDA OutOfMemoryError, or the
    RuntimeError of torch's CPU allocator (it has no type of its own; its text is the only sign)."""
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    return isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)


@contextlib.contextmanager
def _memory_bound(cfg: ResolvedConfig, batch_size: int | None) -> Iterator[None]:
    """Memory the machine will not grant inside becomes the one-line usage error of _out_of_memory."""
    try:
        yield
    except (MemoryError, RuntimeError) as exc:
        if not out_of_memory(exc):
            raise
        raise _out_of_memory(cfg, batch_size) from None


def _out_of_memory(cfg: ResolvedConfig, batch_size: int | None) -> ConfigError:
    m = cfg.model
    return ConfigError(
        f"cannot allocate the memory to train (--hidden {m.hidden_size} --layers {m.num_layers} --batch-size "
        f"{batch_size}); use a smaller --batch-size, --hidden or --layers"
    )


# Held while a training seeds torch's global generator and draws its initial weights from it: trainings in several
# threads (training.alongside) each get the weights of their seed. Nothing else in training draws from the global
# generator but dropout, and trainings with dropout never share the process (alongside.side_by_side).
SEEDING = threading.Lock()

# Devices where training uses torch's fused Adam (optim.adam); --amp keeps the loop (its gradient scaler).
FUSED_ADAM_DEVICES = ("cpu", "cuda")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return the generator that draws batches."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """auto picks cuda, then mps, then cpu; an explicit choice that is not available is an error."""
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps is not None and mps.is_available())
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if has_mps else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available here; use --device cpu or auto")
    if name == "mps" and not has_mps:
        raise ConfigError("--device mps: no Apple MPS device is available here; use --device cpu or auto")
    return torch.device(name)


def loss_function(name: str) -> nn.Module:
    return {"huber": nn.HuberLoss(delta=1.0), "mae": nn.L1Loss()}.get(name, nn.MSELoss())


def make_scheduler(name: str, opt: torch.optim.Optimizer, epochs: int, patience: int) -> Any:
    """constant: none; plateau: halve the rate after patience/2 epochs without gain; cosine: anneal to 1/20."""
    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=max(1, patience // 2))
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=opt.param_groups[0]["lr"] / 20)
    return None


def step_inputs(
    windows: Windows, starts: torch.Tensor, norm: str, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """A batch as the model sees it. Shapes: inputs (B, L, C), known future (B, H, K) or None, targets (B, H)."""
    b = batch(windows, starts, norm, device)
    return b.x, b.future, b.target


def evaluate_loss(
    model: nn.Module, windows: Windows, starts: torch.Tensor, norm: str, loss_fn: nn.Module, device: torch.device
) -> float:
    """Mean loss over windows, in large batches without building a graph."""
    total, count = loss_sum(model, windows, starts, norm, loss_fn, device)
    return total / count if count else float("nan")


@torch.inference_mode()
def loss_sum(
    model: nn.Module, windows: Windows, starts: torch.Tensor, norm: str, loss_fn: nn.Module, device: torch.device
) -> tuple[float, int]:
    """Summed loss over windows and their count (what ranks add up before dividing)."""
    if len(starts) == 0:  # e.g. a rank whose share of few validation windows is empty
        return 0.0, 0
    was_training = model.training
    model.eval()
    total = 0.0
    for b in batches(windows, starts.to(device), norm, device):
        total += float(loss_fn(model(b.x, b.future), b.target)) * len(b.x)
    model.train(was_training)
    return total, len(starts)


def fit(
    windows: Windows,
    cfg: ResolvedConfig,
    *,
    on_epoch_end: EpochCallback | None = None,
    on_state: StateCallback | None = None,
    resume: dict[str, Any] | None = None,
    phase: str = "fit",
    pace: Pace | None = None,
) -> TrainResult:
    """Train a fresh model on `windows` as `cfg` says. Ctrl-C ends training early with the best weights kept.

    on_state: called after each completed epoch, before on_epoch_end, with the resume state (`train_state`:
    optimiser, scheduler, epoch, early-stopping state, best weights, RNG states and history; tensors and
    primitives only). Then an interrupted run's `last_state` is the last completed epoch's weights, so that it
    matches `train_state`. resume: such a state plus the model's weights under "weights": training goes on from
    the epoch after it, to `cfg.train.epochs`, exactly as an uninterrupted run would (on CPU).

    Distributed (in a process group, see distributed.setup): DistributedDataParallel; every epoch each rank
    takes its own contiguous part of every global batch (the batch size is the global one), with the loss
    weighted so a step equals the single-process step on the whole batch; losses are summed over the ranks and
    rank 0's early-stopping decision is broadcast, so all ranks stop together. Give the callbacks on rank 0 only.

    pace: how far training may go (a refit alongside the first fit, see Pace and training.alongside).
    """
    group = distributed.current()
    device = distributed.train_device(resolve_device(cfg.train.device), group)
    with thread_policy(cfg, device), subnormals_flushed(device):
        return _fit(windows, cfg, device, group, on_epoch_end, on_state, resume, phase, pace)


@contextlib.contextmanager
def thread_policy(cfg: ResolvedConfig, device: torch.device | None = None) -> Iterator[None]:
    """Torch's thread count for training and what goes with it (calibration, validation, the Theta weight):
    training_threads while inside, the caller's count again afterwards (what training sets is training's alone).
    device: where training runs (resolved from cfg when not given)."""
    if device is None:
        device = distributed.train_device(resolve_device(cfg.train.device), distributed.current())
    threads = training_threads(cfg, device)
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def training_threads(cfg: ResolvedConfig, device: torch.device) -> int | None:
    """The torch threads fit sets (defaults.train_threads; None: torch's default is left)."""
    return defaults.train_threads(cfg.train.threads, cfg.model.units, device.type)


def _fit(
    windows: Windows, cfg: ResolvedConfig, device: torch.device, group: distributed.Group,
    on_epoch_end: EpochCallback | None, on_state: StateCallback | None, resume: dict[str, Any] | None,
    phase: str = "fit", pace: Pace | None = None,
) -> TrainResult:  # fmt: skip
    """fit's body, with the device and the torch threads set."""
    tc = cfg.train
    with SEEDING:  # trainings in other threads (training.alongside) seed and draw their weights before or after
        gen = seed_everything(tc.seed)
        model = build_model(cfg, windows.series.shape[1], windows.known, windows.ahead, device)
    with _memory_bound(cfg, tc.batch_size):  # Adam's state and the best weights' copy: as large as the network
        opt = adam(model.parameters(), lr=tc.lr, fused=device.type in FUSED_ADAM_DEVICES and not tc.amp)
        best_state = _copy_state(model)
    loss_fn = loss_function(tc.loss)
    norm = cfg.window.norm
    windows.series = windows.series.to(device)

    history: list[EpochLog] = []
    best_val, best_epoch, bad_epochs = math.inf, 0, 0
    stop = StopReason.completed
    track = on_state is not None
    snapshot: dict[str, Any] | None = None
    last_weights: dict[str, torch.Tensor] | None = None
    n_train = len(windows.train_starts)
    batch_size, epochs, patience = tc.batch_size, tc.epochs, tc.patience
    batches = math.ceil(n_train / batch_size)
    if tc.steps_per_epoch is not None:
        batches = min(batches, tc.steps_per_epoch)
    scheduler = make_scheduler(tc.schedule, opt, epochs, patience)
    autocast, scaler = mixed_precision(tc.amp, device)
    start = 1
    if resume is not None:
        model.load_state_dict(resume["weights"])
        opt.load_state_dict(resume["optimizer"])
        for param_group in opt.param_groups:  # a last.pt from before the fused Adam says fused: None: train fused
            param_group["fused"] = opt.defaults["fused"]
        if scheduler is not None and resume.get("scheduler"):
            scheduler.load_state_dict(resume["scheduler"])
            if isinstance(scheduler, torch.optim.lr_scheduler.CosineAnnealingLR):
                scheduler.T_max = epochs  # an extended run anneals to its new end
            elif isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.patience = max(1, patience // 2)
        if resume.get("scaler"):
            scaler.load_state_dict(resume["scaler"])
        best_val, best_epoch = float(resume["best_val"]), int(resume["best_epoch"])
        bad_epochs = int(resume["bad_epochs"])
        best_state = {k: v.clone() for k, v in resume["best_state"].items()}
        history = [
            EpochLog(int(h[0]), float(h[1]), float(h[2]), float(h[3]), float(h[4]), epochs) for h in resume["history"]
        ]
        set_rng_state(resume["rng"], gen, device)
        start = int(resume["epoch"]) + 1
        snapshot, last_weights = {k: v for k, v in resume.items() if k != "weights"}, _copy_state(model)
    net: nn.Module = model
    if group.active:
        with distributed.collective("starting data-parallel training"):
            net = nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None
            )
    with _memory_bound(cfg, tc.batch_size):  # the plain step's gradient buffer
        step = make_step(net, model, opt, loss_fn, tc, autocast, scaler, group)
    validating = len(windows.val_starts) > 0  # none in a refit: then every epoch counts as the best so far
    val_starts = distributed.shard(windows.val_starts, group)
    try:
        for epoch in range(start, epochs + 1):
            if pace is not None and not pace.wait(epoch):
                break
            t0 = time.perf_counter()
            model.train()
            order = windows.train_starts[torch.randperm(n_train, generator=gen)].to(
                device
            )  # indices live with the data
            running, seen = torch.zeros((), device=device), 0
            for b in range(batches):
                if pace is not None and pace.called_off():
                    raise KeyboardInterrupt
                idx = order[b * batch_size : (b + 1) * batch_size]
                if len(idx) < group.world:
                    break  # a last batch too small to give every rank a window (the same on all ranks)
                mine = distributed.shard(idx, group)
                xn, future, yn = step_inputs(windows, mine, norm, device)
                loss = step(xn, future, yn, len(mine) * group.world / len(idx))
                running += loss.detach() * len(mine)  # no .item(): no device sync per step
                seen += len(mine)
            val_total, val_count = loss_sum(model, windows, val_starts, norm, loss_fn, device)
            train_total, n_seen, val_total, n_val = distributed.all_sum(
                [float(running), seen, val_total, val_count], device
            )
            train_loss = train_total / max(n_seen, 1)
            val_loss = val_total / n_val if n_val else float("nan")
            log = EpochLog(
                epoch, train_loss, val_loss, opt.param_groups[0]["lr"], time.perf_counter() - t0, epochs, patience, phase
            )
            history.append(log)
            if not (math.isfinite(train_loss) and (math.isfinite(val_loss) or not validating)):
                stop = StopReason.non_finite
                if on_epoch_end is not None:
                    on_epoch_end(log, model, False)
                break
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(val_loss if validating else train_loss)
            elif scheduler is not None:
                scheduler.step()
            improved = val_loss < best_val or not validating
            stop_now = not improved and bad_epochs + 1 >= patience
            if group.active:  # decided once, on rank 0, so that all ranks stop together
                improved, stop_now = (bool(v) for v in distributed.from_main([improved, stop_now], device))
            if improved:
                best_val, best_epoch, bad_epochs = val_loss, epoch, 0
                best_state = _copy_state(model)
            else:
                bad_epochs += 1
            if on_state is not None:
                last_weights = _copy_state(model)
                snapshot = {
                    "epoch": epoch, "epochs": epochs, "best_val": best_val, "best_epoch": best_epoch,
                    "bad_epochs": bad_epochs, "optimizer": to_cpu(opt.state_dict()),
                    "scheduler": None if scheduler is None else to_cpu(scheduler.state_dict()),
                    "scaler": scaler.state_dict(), "best_state": dict(best_state), "rng": rng_state(gen, device),
                    "history": [[h.epoch, h.train_loss, h.val_loss, h.lr, h.seconds] for h in history],
                }  # fmt: skip
                on_state(snapshot)
            if on_epoch_end is not None:
                on_epoch_end(log, model, improved)
            if stop_now:
                stop = StopReason.early_stop
                break
    except KeyboardInterrupt:
        stop = StopReason.interrupted
    except (MemoryError, RuntimeError) as exc:
        if not out_of_memory(exc):
            raise
        raise _out_of_memory(cfg, batch_size) from None
    last_state = _copy_state(model)
    if track and stop is StopReason.interrupted and last_weights is not None:
        last_state = last_weights  # the last completed epoch: what `snapshot` describes
        history = history[: int(snapshot["epoch"]) if snapshot else len(history)]
    model.load_state_dict(best_state)
    model.eval()
    windows.series = windows.series.cpu()
    state = None if stop is StopReason.non_finite or not track else snapshot
    return TrainResult(model.cpu(), history, best_epoch, best_val, stop, last_state, state)


def refit_windows(windows: Windows, cfg: ResolvedConfig) -> Windows | None:
    """What a refit would train on (Windows.every), or None when this data gets no refit whatever the first fit
    does: --refit off, --refit auto on long data (defaults.refits), no validation windows."""
    mode, n_train = cfg.train.refit, len(windows.train_starts)
    rows = int(windows.offsets[-1]) - windows.pad * (len(windows.offsets) - 1)
    val_rows = cfg.window.val_size * (len(windows.offsets) - 1)
    short = defaults.refits(n_train, val_rows, rows)
    if mode == "off" or (mode == "auto" and not short) or len(windows.val_starts) == 0:
        return None
    return windows.every()


# (epochs, on_epoch_end) -> the refit for that many epochs: a refit that was trained alongside (training.alongside)
Refitted = Callable[[int, "EpochCallback | None"], TrainResult]


def refit(
    windows: Windows, cfg: ResolvedConfig, first: TrainResult, report: Callable[[str], None] | None = None,
    on_epoch_end: EpochCallback | None = None, trained: Refitted | None = None, pace: Pace | None = None,
) -> TrainResult | None:  # fmt: skip
    """The final model: a fresh one (same seed) trained on every window, the validation part included, for the
    epochs that `first` (trained with early stopping on that validation part) found best.

    None when there is nothing to refit: no refit for this data (refit_windows), or a first fit that was
    interrupted, diverged or never improved. The refit's `stop_reason` is "interrupted" when Ctrl-C cut it short.
    trained: where the refit comes from when it ran alongside the first fit (else it is trained here, with `pace`,
    see fit).
    """
    every = refit_windows(windows, cfg)
    if every is None:
        return None
    if first.stop_reason in (StopReason.interrupted, StopReason.non_finite) or first.best_epoch < 1:
        return None
    if report is not None:
        report(
            f"refitting on all {len(every.train_starts)} windows (the validation part too) for {first.best_epoch} epochs"
            + (" (alongside the first fit, on a second core)" if trained is not None else "")
        )
    if trained is not None:
        return trained(first.best_epoch, on_epoch_end)
    refit_cfg = replace(cfg, train=replace(cfg.train, epochs=first.best_epoch))
    return fit(every, refit_cfg, on_epoch_end=on_epoch_end, phase="refit", pace=pace)


def kept_result(first: TrainResult, again: TrainResult | None) -> TrainResult:
    """The model to keep: the refit when it ran to its end, else the first fit (no refit, or one cut short by
    Ctrl-C or a non-finite loss)."""
    return again if again is not None and again.stop_reason == StopReason.completed else first


def _copy_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
