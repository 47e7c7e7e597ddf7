"""Speed and memory benchmark (issue 6). Prints one table per target; never a timed test.

    python bench/speed.py                 # everything: 5-10 minutes on 2 shared cores (--budget trims the ideas)
    python bench/speed.py --quick         # smoke mode (small sizes, one rep or two): about a minute
    python bench/speed.py --only throughput,ideas --threads 2 --compile-rnn

Targets
  1 throughput  the bare loop (one float32 tensor, unfold views, random index batches, nn.LSTM -> last step ->
                Linear, MSE, Adam, subnormals flushed as lstmcast does, nothing else) against lstmcast's `fit` and the `lstmcast train` CLI (windows/s
                from metrics.csv, validation included) on the same data and config; target >= 0.95 x bare.
  2 memory      `lstmcast train` on a generated 5,000,000-point one-minute series, lookback 168, horizon 24,
                --steps-per-epoch 5: peak RSS of the child (wait4 through a small launcher) <= 1.5 GB; plus the
                CSV read alone, and a panel of 10,000 series x 500 points when the CLI has --id-col.
  3 cli         `--help` without torch, pandas or scikit-learn, <= 0.5 s; `predict` <= 1.25 x `import torch, pandas`.
  4 inference   validation and prediction run without graphs (inference_mode) in large batches.
  panel         fit() on 10,000 series x 500 points against one series of the same length.
  distributed   `train --nproc 1` vs `--nproc 2` (DistributedDataParallel over gloo) on that panel.
  short         time to a default forecast on a short series: `lstmcast train` + `predict` on airpassengers, this
                checkout against commit 956039f (when the speed issue was filed); target <= 0.5 x.
  ideas         variants of the bare loop (threads, OpenMP wait policy, batch size, oneDNN, torch.compile, bf16
                autocast, fused Adam, lstmcast's own extras) as ratios against the bare loop.

The machine is assumed shared and noisy: every comparison interleaves repetitions of the two sides (alternating
which goes first) and reports the median of per-pair ratios with their range, plus the same ratio by process CPU
time where one thread makes that meaningful. All side-by-side runs use the same torch thread count (--threads,
default 1; the ideas table shows what more threads do here). Later sections cut repetitions once --budget
seconds have gone, so the whole run stays under ten minutes even when the machine is busy.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from lstmcast.config import ModelConfig, ResolvedConfig, ResolvedTrain, ResolvedWindow  # noqa: E402
from lstmcast.prep.windows import Windows, make_windows  # noqa: E402
from lstmcast.training.loop import fit  # noqa: E402

HORIZON = 24
TORCH_DEFAULT_THREADS = torch.get_num_threads()  # before anything here changes it


@dataclass(frozen=True)
class Shape:
    name: str
    lookback: int
    hidden: int
    layers: int
    batch: int
    horizon: int = HORIZON


CONFIGS = [
    Shape("small", 24, 32, 1, 64),
    Shape("medium", 48, 64, 2, 256),
    Shape("long", 168, 64, 2, 256),
]


@dataclass
class Settings:
    quick: bool
    threads: int
    reps: int
    idea_reps: int
    rep_seconds: float
    points: int  # length of the throughput series
    big_rows: int  # target 2 series length
    panel: tuple[int, int]  # series x points
    cli_reps: int
    help_reps: int
    predict_reps: int
    compile_rnn: bool
    budget: float  # seconds the whole run aims at; later sections cut repetitions when it runs late
    t_start: float = field(default_factory=time.perf_counter)
    keep: dict[str, Any] = field(default_factory=dict)  # results shared between sections (a trained run dir)


# --------------------------------------------------------------------------------------------------- helpers


def log(msg: str) -> None:
    print(f"[speed] {msg}", file=sys.stderr, flush=True)


def median(xs: Sequence[float]) -> float:
    good = [x for x in xs if x == x]
    return statistics.median(good) if good else float("nan")


def spread(xs: Sequence[float]) -> str:
    """median (min-max) of ratios."""
    good = [x for x in xs if x == x]
    if not good:
        return "n/a"
    if len(good) == 1:
        return f"{good[0]:.2f}"
    return f"{median(good):.2f} ({min(good):.2f}-{max(good):.2f})"


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]], notes: Sequence[str] = ()) -> None:
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    print(f"\n## {title}")
    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for r in cells[1:]:
        print(line(r))
    for n in notes:
        print(f"   {n}")
    sys.stdout.flush()


def yes(ok: bool | None) -> str:
    return "n/a" if ok is None else ("yes" if ok else "NO")


def cpu_flags() -> set[str]:
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("flags"):
                return set(ln.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_model() -> str:
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                return ln.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def synthetic(n: int, seed: int = 0, period: int = 24) -> np.ndarray:
    """Sine (daily and weekly cycles) plus a slow drift and noise, rounded as a CSV would hold it. (N,) float64."""
    rng = np.random.default_rng(seed)
    k = np.arange(n)
    v = 10 + 3 * np.sin(2 * np.pi * k / period) + np.sin(2 * np.pi * k / (7 * period))
    v += 0.5 * np.sin(2 * np.pi * k / max(n, 1)) + 0.3 * rng.standard_normal(n)
    return np.round(v, 3)


def write_csv(path: Path, values: np.ndarray, step_minutes: int, ids: np.ndarray | None = None) -> None:
    """timestamp,value (or series,timestamp,value), in chunks so that writing never holds the whole text."""
    n = len(values)
    base = np.datetime64("2015-01-01T00:00", "m")
    with path.open("w") as fh:
        fh.write("series,timestamp,value\n" if ids is not None else "timestamp,value\n")
        for a in range(0, n, 250_000):
            b = min(n, a + 250_000)
            if ids is None:
                offs = np.arange(a, b)
            else:
                offs = np.arange(a, b) - np.searchsorted(ids, ids[a:b], side="left")  # position within its series
            stamps = np.datetime_as_string(base + (offs * step_minutes).astype("timedelta64[m]"), unit="s").tolist()
            vals = values[a:b].tolist()
            if ids is None:
                fh.write("".join(f"{t},{v:.3f}\n" for t, v in zip(stamps, vals)))
            else:
                sid = ids[a:b].tolist()
                fh.write("".join(f"s{i},{t},{v:.3f}\n" for i, t, v in zip(sid, stamps, vals)))


# Runs the command as its grandchild and writes [exit code, ru_maxrss KiB, wall s, CPU s] to argv[1]. A direct
# child's ru_maxrss starts at its parent's peak (Linux keeps the high-water mark of the image that exec replaces,
# and subprocess uses vfork), so measured from this large process it would read at least this process's own peak;
# the launcher's is ~10 MB. Wall and CPU time are the command's own, without the launcher's start-up.
LAUNCH = """
import json, os, sys, time
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - t0
with open(sys.argv[1], "w") as fh:
    json.dump([os.waitstatus_to_exitcode(status), usage.ru_maxrss, wall, usage.ru_utime + usage.ru_stime], fh)
"""


def run_child(
    cmd: list[str], *, timeout: float, rss: bool = False, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> dict[str, Any]:
    """Run a command; through LAUNCH when `rss`, for its own peak RSS (maxrss_mb), wall and CPU seconds."""
    with tempfile.TemporaryDirectory() as d:
        report = Path(d) / "rusage.json"
        full = [sys.executable, "-S", "-c", LAUNCH, str(report), *cmd] if rss else cmd
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env, start_new_session=True
        )
        try:
            out, err = proc.communicate(timeout=timeout)
            rc, maxrss, cpu = proc.returncode, float("nan"), float("nan")
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the launcher and the command it started
            out, err = proc.communicate()
            rc, maxrss, cpu = -9, float("nan"), float("nan")
        wall = time.perf_counter() - t0
        if rss and rc != -9 and report.is_file():
            rc, maxrss, wall, cpu = json.loads(report.read_text())
    return {
        "rc": rc,
        "wall": wall,
        "cpu": cpu,
        "maxrss_mb": maxrss / 1024,
        "stdout": out.decode(errors="replace"),
        "stderr": err.decode(errors="replace"),
    }


def lstmcast_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "lstmcast", *args]


def fail_note(res: dict[str, Any]) -> str:
    if res["rc"] == -9:
        return f"timed out after {res['wall']:.0f} s"
    tail = res["stderr"].strip().splitlines()
    return f"exit {res['rc']}: {tail[-1] if tail else ''}"[:160]


# ------------------------------------------------------------------------------------------ timing pairs


@dataclass
class Timing:
    wall: float
    cpu: float  # process CPU time: with one thread, the work itself, whatever else the machine is doing


def timed(fn: Callable[[], Any]) -> Timing:
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return Timing(time.perf_counter() - w0, time.process_time() - c0)


Side = Callable[[], tuple[int, Timing]]  # one repetition: (windows processed, timing)


@dataclass
class Pairs:
    """Interleaved repetitions of a baseline and a variant (alternating which goes first)."""

    base_wps: list[float] = field(default_factory=list)
    var_wps: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)  # per-pair ratios variant / baseline, windows/s by wall time
    cpu: list[float] = field(default_factory=list)  # the same by CPU time

    def add(self, base: tuple[int, Timing], var: tuple[int, Timing]) -> None:
        (nb, tb), (nv, tv) = base, var
        self.base_wps.append(nb / tb.wall)
        self.var_wps.append(nv / tv.wall)
        self.wall.append((nv / tv.wall) / (nb / tb.wall))
        self.cpu.append((nv / max(tv.cpu, 1e-9)) / (nb / max(tb.cpu, 1e-9)))


def interleave(base: Side, var: Side, reps: int, cap_s: float = math.inf) -> Pairs:
    """`reps` pairs, or fewer (at least one) once `cap_s` seconds have gone (a pathologically slow variant)."""
    pairs, t0 = Pairs(), time.perf_counter()
    for r in range(reps):
        if r % 2 == 0:
            b = base()
            v = var()
        else:
            v = var()
            b = base()
        pairs.add(b, v)
        if time.perf_counter() - t0 > cap_s:
            break
    return pairs


# ------------------------------------------------------------------------------------------------ bare loop


class BareLoop:
    """The limit: series in one float32 tensor, windows as `unfold` views, random batches gathered by index,
    nn.LSTM -> last step -> Linear, MSE, Adam, nothing else; subnormal floats flushed to zero while it runs, as
    lstmcast's fit does (on x86 each operation on one takes a slow path). Options change one thing each (for the
    ideas table)."""

    def __init__(
        self,
        series: torch.Tensor,
        n_starts: int,
        shape: Shape,
        *,
        batch: int | None = None,
        norm: bool = False,
        clip: float = 0.0,
        clip_impl: str = "torch",
        adam: dict[str, Any] | None = None,
        autocast: torch.dtype | None = None,
        compiled: bool = False,
        flush: bool = True,
        seed: int = 0,
    ) -> None:
        torch.manual_seed(seed)
        self.shape, self.batch = shape, batch or shape.batch
        self.view = series.unfold(0, shape.lookback + shape.horizon, 1)  # (W, C, L+H), no copy
        self.n = n_starts
        self.rnn = nn.LSTM(series.shape[1], shape.hidden, shape.layers, batch_first=True)
        self.head = nn.Linear(shape.hidden, shape.horizon)
        params = [*self.rnn.parameters(), *self.head.parameters()]
        self.params = params
        self.opt = torch.optim.Adam(params, lr=3e-3, **(adam or {}))
        self.loss_fn = nn.MSELoss()
        self.norm, self.clip, self.autocast = norm, clip, autocast
        self.clip_impl = clip_impl
        self.flush = flush
        self.flat: torch.Tensor | None = None
        if clip_impl == "flat":  # every .grad a view of one buffer: zeroing and clipping are one op each
            self.flat = torch.zeros(sum(p.numel() for p in params))
            offset = 0
            for p in params:
                p.grad = self.flat[offset : offset + p.numel()].view_as(p)
                offset += p.numel()
        self.forward: Callable[[torch.Tensor], torch.Tensor] = self._forward
        if compiled:
            self.forward = torch.compile(self._forward)  # type: ignore[assignment]
        self.gen = torch.Generator().manual_seed(seed)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)  # (B, L, C) -> (B, L, P)
        return self.head(out[:, -1])  # (B, P) -> (B, H)

    def step(self) -> None:
        L = self.shape.lookback
        idx = torch.randint(0, self.n, (self.batch,), generator=self.gen)
        w = self.view[idx]  # (B, C, L+H): the only copy
        x, y = w[:, :, :L].transpose(1, 2), w[:, 0, L:]  # (B, L, C), (B, H)
        if self.norm:  # what lstmcast adds: per-window level and spread (windows.normalise)
            level = x[:, :, 0].mean(1, keepdim=True)
            sd = x[:, :, 0].std(1, keepdim=True, unbiased=False).clamp_min(1e-2)
            x, y = ((x[:, :, 0] - level) / sd).unsqueeze(-1), (y - level) / sd
        if self.autocast is not None:
            with torch.autocast("cpu", dtype=self.autocast):
                pred = self.forward(x)
            loss = self.loss_fn(pred.float(), y)
        else:
            loss = self.loss_fn(self.forward(x), y)
        if self.flat is not None:
            self.flat.zero_()  # backward accumulates into the views in place
        else:
            self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip > 0:
            self.clip_grads()
        self.opt.step()

    def clip_grads(self) -> None:
        """torch: nn.utils.clip_grad_norm_; foreach: the same arithmetic without its grouping; flat: on one buffer."""
        if self.clip_impl == "torch":
            nn.utils.clip_grad_norm_(self.params, self.clip)
            return
        if self.flat is not None:
            total = torch.linalg.vector_norm(self.flat)
            self.flat.mul_((self.clip / (total + 1e-6)).clamp_(max=1.0))
            return
        grads = [p.grad for p in self.params if p.grad is not None]
        total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
        torch._foreach_mul_(grads, (self.clip / (total + 1e-6)).clamp_(max=1.0))

    def run(self, steps: int) -> Timing:
        """Wall and CPU time of `steps` steps."""

        def go() -> None:
            for _ in range(steps):
                self.step()

        with self.arithmetic():
            return timed(go)

    def run_for(self, budget: float, min_steps: int = 1) -> tuple[int, Timing]:
        """Steps for about `budget` seconds (at least `min_steps`): (windows, timing)."""
        with self.arithmetic():
            w0, c0, steps = time.perf_counter(), time.process_time(), 0
            while steps < min_steps or time.perf_counter() - w0 < budget:
                self.step()
                steps += 1
            return steps * self.batch, Timing(time.perf_counter() - w0, time.process_time() - c0)

    def arithmetic(self) -> contextlib.AbstractContextManager[Any]:
        return flush_denormal() if self.flush else contextlib.nullcontext()


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


# ---------------------------------------------------------------------------------------------- data set-up


@dataclass
class Data:
    values: np.ndarray  # (N,) float64 original units (as the CSV holds them)
    val_size: int
    csv: Path | None = None

    def windows(self, shape: Shape) -> Windows:
        n_train = len(self.values) - self.val_size
        train = self.values[:n_train]
        scaled = (self.values - train.mean()) / (train.std() or 1.0)
        cfg = ResolvedWindow(lookback=shape.lookback, horizon=shape.horizon, val_size=self.val_size, calendar="off")
        return make_windows(scaled, cfg, n_train)


def run_config(shape: Shape, val_size: int, steps: int, thread_count: int, seed: int = 0) -> ResolvedConfig:
    return ResolvedConfig(
        window=ResolvedWindow(lookback=shape.lookback, horizon=shape.horizon, val_size=val_size, calendar="off"),
        model=ModelConfig(hidden_size=shape.hidden, num_layers=shape.layers),
        train=ResolvedTrain(
            patience=1,  # one epoch: early stopping never acts
            epochs=1,
            batch_size=shape.batch,
            steps_per_epoch=steps,
            threads=thread_count,
            device="cpu",
            seed=seed,
            loss="mse",  # the bare loop's loss (lstmcast's default may differ; the cost is the same)
        ),
    )


def calibrate(loop: BareLoop, s: Settings) -> int:
    """Steps for one repetition of about `rep_seconds`."""
    loop.run(2)  # warm-up: oneDNN primitives, allocator
    n, tm = loop.run_for(min(0.5, s.rep_seconds), min_steps=2)
    return int(min(2000, max(2, round(s.rep_seconds * n / tm.wall / loop.batch))))


# ------------------------------------------------------------------------------------ target 1: throughput


def cli_train(data: Data, shape: Shape, steps: int, s: Settings, out: Path) -> dict[str, Any]:
    assert data.csv is not None
    cmd = lstmcast_cmd(
        "train", str(data.csv), "--lookback", str(shape.lookback), "--horizon", str(shape.horizon),
        "--hidden", str(shape.hidden), "--layers", str(shape.layers), "--batch-size", str(shape.batch),
        "--steps-per-epoch", str(steps), "--epochs", "2", "--val-size", str(data.val_size), "--calendar", "off", "--loss", "mse",
        "--threads", str(s.threads), "--quiet", "--out", str(out),
    )  # fmt: skip
    res = run_child(cmd, timeout=300)
    res["seconds"] = float("nan")
    metrics = out / "metrics.csv"
    if res["rc"] == 0 and metrics.is_file():
        rows = fit_rows(metrics)
        res["seconds"] = float(rows[-1][4])  # the last (warm) epoch: training plus validation
    return res


def section_throughput(s: Settings, tmp: Path) -> None:
    log("target 1: training throughput, bare loop vs lstmcast")
    data = Data(synthetic(s.points), val_size=64, csv=tmp / "hourly.csv")
    write_csv(tmp / "hourly.csv", data.values, 60)
    configs = CONFIGS[:1] if s.quick else CONFIGS
    rows, notes = [], []
    t_section = time.perf_counter()
    for shape in configs:
        w = data.windows(shape)
        bare = BareLoop(w.series.clone(), len(w.train_starts), shape)
        steps = calibrate(bare, s)
        fit(w, run_config(shape, data.val_size, 2, s.threads))  # warm-up
        epochs: list[float] = []

        def fit_side(cfg: ResolvedConfig, w: Windows = w, steps: int = steps, epochs: list[float] = epochs) -> Side:
            def go() -> tuple[int, Timing]:
                holder = []
                tm = timed(lambda: holder.append(fit(w, cfg)))
                epochs.append(holder[0].history[0].seconds)
                return steps * cfg.train.batch_size, tm  # type: ignore[operator]

            return go

        def bare_side(bare: BareLoop = bare, steps: int = steps) -> tuple[int, Timing]:
            return steps * bare.batch, bare.run(steps)

        cfg = run_config(shape, data.val_size, steps, s.threads)
        cap = s.budget * 0.04
        pairs = interleave(bare_side, fit_side(cfg), s.reps, cap)
        epoch_wps = [steps * shape.batch / e for e in epochs]
        # The CLI as a user runs it; each run is paired with a bare repetition just before it.
        cli, cli_fail = Pairs(), ""
        for r in range(s.cli_reps if shape.name == "small" else 1):
            if r and time.perf_counter() - t_section > s.budget * 0.15:
                break  # running late: one CLI run per config
            b = bare_side()
            out = tmp / f"run-{shape.name}-{r}"
            res = cli_train(data, shape, steps, s, out)
            if res["rc"] != 0 or res["seconds"] != res["seconds"]:
                cli_fail = fail_note(res)
                break
            cli.add(b, (steps * shape.batch, Timing(res["seconds"], res["seconds"])))
            if shape.name == "small" and "model_dir" not in s.keep:
                s.keep["model_dir"] = out
        ok = min(median(pairs.wall), median(cli.wall) if cli.wall else 1.0) >= 0.95
        rows.append([
            shape.name, f"{shape.lookback}/{shape.hidden}/{shape.layers}/{shape.batch}", f"{steps} x {shape.batch}",
            f"{median(pairs.base_wps):,.0f}", f"{median(pairs.var_wps):,.0f}", spread(pairs.wall),
            f"{median(pairs.cpu):.2f}", f"{median(epoch_wps) / median(pairs.base_wps):.2f}",
            f"{median(cli.var_wps):,.0f}" if cli.wall else "failed", spread(cli.wall) if cli.wall else "n/a", yes(ok),
        ])  # fmt: skip
        if cli_fail:
            notes.append(f"{shape.name}: CLI run failed: {cli_fail}")
        log(
            f"  {shape.name}: fit/bare {median(pairs.wall):.2f} (cpu {median(pairs.cpu):.2f}), cli/bare {median(cli.wall):.2f}"
        )
        if shape.name != "small" or s.quick:
            continue
        # Where lstmcast's extras per step show (small model, short steps): each one turned off in turn.
        variants = {
            "fit(), clip 0": replace(cfg, train=replace(cfg.train, clip=0.0)),
            "fit(), norm none": replace(cfg, window=replace(cfg.window, norm="none")),
        }
        for label, vcfg in variants.items():
            p = interleave(bare_side, fit_side(vcfg), s.reps, cap)
            rows.append([
                f"  {label}", "", "", f"{median(p.base_wps):,.0f}", f"{median(p.var_wps):,.0f}", spread(p.wall),
                f"{median(p.cpu):.2f}", "", "", "", "",
            ])  # fmt: skip
    table(
        f"Target 1: training throughput, windows/s (threads {s.threads}; up to {s.reps} interleaved pairs; "
        "ratios: median (min-max) of per-pair ratios)",
        [
            "config",
            "L/hidden/layers/B",
            "steps",
            "bare",
            "fit()",
            "fit/bare",
            "cpu",
            "epoch/bare",
            "CLI",
            "CLI/bare",
            ">=0.95",
        ],
        rows,
        [
            f"data: synthetic hourly sine + noise, {s.points:,} points, horizon {HORIZON}, validation {data.val_size} "
            "points; lstmcast runs with its defaults (window normalisation, clip 1.0) plus --calendar off --loss mse",
            "fit(): wall of lstmcast.training.loop.fit (model build, one epoch of N steps, validation, state copies); cpu: the "
            "same ratio by process CPU time (robust to other load with one thread);",
            "epoch/bare: fit's own epoch seconds (training + validation) against the bare median; CLI: metrics.csv "
            "seconds of epoch 2 of `lstmcast train --steps-per-epoch N --epochs 2`, paired with a bare rep before it",
            *notes,
        ],
    )


def section_panel(s: Settings, tmp: Path) -> None:
    """fit() on a panel of many short series against one series of the same total length (same steps)."""
    try:
        from lstmcast.prep.windows import make_panel_windows
    except ImportError:
        log("panel: lstmcast.prep.windows has no make_panel_windows; skipped")
        return
    log("panel: fit() on many short series vs one long one")
    n_series, points = s.panel
    shape = CONFIGS[1]
    val = shape.horizon
    parts = [synthetic(points, seed=i) for i in range(n_series)]
    cfg_w = ResolvedWindow(lookback=shape.lookback, horizon=shape.horizon, val_size=val, calendar="off")
    t0 = time.perf_counter()
    scaled = [((p - p[:-val].mean()) / p[:-val].std()).astype("float32").reshape(-1, 1) for p in parts]
    wp = make_panel_windows(scaled, cfg_w, [points - val] * n_series)
    t_panel = time.perf_counter() - t0
    one = np.concatenate(parts)
    val_one = len(wp.val_starts) + shape.horizon - 1  # as many validation windows as the panel has
    t0 = time.perf_counter()
    ws = Data(one, val_one).windows(shape)
    t_single = time.perf_counter() - t0
    bare = BareLoop(ws.series, len(ws.train_starts), shape)
    steps = calibrate(bare, s)
    fit(wp, run_config(shape, val, 2, s.threads))

    def side(w: Windows, v: int) -> Side:
        return lambda: (steps * shape.batch, timed(lambda: fit(w, run_config(shape, v, steps, s.threads))))

    pairs = interleave(side(ws, val_one), side(wp, val), max(1, s.reps // 2))
    rows = [
        [f"panel {n_series:,} x {points}", f"{t_panel:.2f}", f"{len(wp.train_starts):,}", f"{len(wp.val_starts):,}",
         f"{median(pairs.var_wps):,.0f}", spread(pairs.wall)],
        [f"one series x {n_series * points:,}", f"{t_single:.2f}", f"{len(ws.train_starts):,}",
         f"{len(ws.val_starts):,}", f"{median(pairs.base_wps):,.0f}", "1.00"],
    ]  # fmt: skip
    table(
        f"Panel vs one series of the same length: fit() windows/s ({shape.name} config, {steps} steps of "
        f"{shape.batch}, threads {s.threads}, validation included)",
        ["data", "windows s", "train windows", "val windows", "fit() win/s", "ratio"],
        rows,
    )


# ----------------------------------------------------------------------------------------- target 2: memory


LOAD_ONLY = """
import json, sys, time
from lstmcast.io.data import load_series
def status(key):  # VmRSS: now; VmHWM: this process's peak
    return [int(ln.split()[1]) for ln in open("/proc/self/status") if ln.startswith(key)][0] / 1024
base = status("VmRSS")
t0 = time.perf_counter()
s = load_series(sys.argv[1])
print(json.dumps({"base_mb": base, "peak_mb": status("VmHWM"), "seconds": time.perf_counter() - t0, "rows": len(s)}))
"""


def section_memory(s: Settings, tmp: Path) -> None:
    log(f"target 2: memory on a {s.big_rows:,}-point one-minute series")
    rows, notes = [], []
    path = tmp / "big.csv"
    t0 = time.perf_counter()
    write_csv(path, synthetic(s.big_rows, period=1440), 1)
    gen = time.perf_counter() - t0
    size_mb = path.stat().st_size / 2**20
    lookback = 168
    windows_gb = (s.big_rows - lookback - HORIZON + 1) * lookback * 4 / 1e9
    out = tmp / "run-big"
    cmd = lstmcast_cmd(
        "train", str(path), "--lookback", str(lookback), "--horizon", str(HORIZON), "--steps-per-epoch", "5",
        "--epochs", "1", "--val-size", "1000", "--hidden", "32", "--threads", str(s.threads), "--quiet", "--out", str(out),
    )  # fmt: skip
    res = run_child(cmd, timeout=420, rss=True)
    epoch = _epoch_seconds(out)
    ok = res["rc"] == 0 and res["maxrss_mb"] <= 1536
    rows.append([
        f"train, 1 series x {s.big_rows:,}", f"{size_mb:,.0f}", f"{res['maxrss_mb']:,.0f}", f"{res['wall']:.1f}",
        f"{epoch:.1f}" if epoch == epoch else "-", yes(ok) if res["rc"] == 0 else fail_note(res),
    ])  # fmt: skip
    load = run_child([sys.executable, "-c", LOAD_ONLY, str(path)], timeout=300, rss=True)
    if load["rc"] == 0:
        info = json.loads(load["stdout"].strip().splitlines()[-1])
        copies = (info["peak_mb"] - info["base_mb"]) / size_mb
        rows.append([
            "load_series only (read the CSV)", f"{size_mb:,.0f}", f"{info['peak_mb']:,.0f}", f"{load['wall']:.1f}",
            "-", f"{copies:.1f} x CSV above import ({info['base_mb']:.0f} MB)",
        ])  # fmt: skip
    else:
        notes.append(f"load_series only failed: {fail_note(load)}")
    path.unlink()
    panel_rows, panel_notes = panel_memory(s, tmp)
    rows += panel_rows
    notes += panel_notes
    table(
        "Target 2: bounded memory (peak RSS of the whole child process, ru_maxrss from wait4; target <= 1,536 MB)",
        ["run", "CSV MB", "peak RSS MB", "wall s", "epoch s", "met"],
        rows,
        [
            f"`lstmcast train FILE --lookback {lookback} --horizon {HORIZON} --steps-per-epoch 5 --epochs 1 "
            f"--val-size 1000 --hidden 32 --threads {s.threads} --quiet` (calendar auto); CSV written in {gen:.0f} s",
            f"materialised input windows would take {windows_gb:.2f} GB (windows x lookback x 4 bytes, one channel)",
            *notes,
        ],
    )


def _epoch_seconds(run_dir: Path) -> float:
    metrics = run_dir / "metrics.csv"
    if not metrics.is_file():
        return float("nan")
    rows = fit_rows(metrics)
    return float(rows[-1][4]) if rows else float("nan")


def fit_rows(metrics: Path) -> list[list[str]]:
    """metrics.csv's rows of the first fit (phase fit; files before the phase column: every row), split."""
    rows = [ln.split(",") for ln in metrics.read_text().splitlines()[1:] if ln.strip()]
    return [r for r in rows if len(r) < 6 or r[5] == "fit"]


def write_panel(s: Settings, tmp: Path) -> Path:
    """The long panel CSV (series, time, value) of s.panel series x points, one-minute steps."""
    n_series, points = s.panel
    path = tmp / "panel.csv"
    ids = np.repeat(np.arange(n_series), points)
    values = np.concatenate([synthetic(points, seed=i, period=1440) for i in range(n_series)])
    write_csv(path, values, 1, ids=ids)
    return path


def panel_memory(s: Settings, tmp: Path) -> tuple[list[list[str]], list[str]]:
    """`lstmcast train --id-col` on a long panel of the same total length, when the CLI has --id-col."""
    if s.quick:
        return [], ["panel: skipped in --quick (see the panel section for fit() on a panel)"]
    helptext = run_child(lstmcast_cmd("train", "--help"), timeout=60)
    if "--id-col" not in helptext["stdout"]:
        return [], ["panel: not measured (`lstmcast train` has no --id-col)"]
    n_series, points = s.panel
    path = write_panel(s, tmp)
    size_mb = path.stat().st_size / 2**20
    out = tmp / "run-panel"
    cmd = lstmcast_cmd(
        "train", str(path), "--id-col", "series", "--lookback", "168", "--horizon", str(HORIZON),
        "--steps-per-epoch", "5", "--epochs", "1", "--val-size", str(HORIZON), "--hidden", "32",
        "--threads", str(s.threads), "--quiet", "--out", str(out),
    )  # fmt: skip
    res = run_child(cmd, timeout=300, rss=True)
    path.unlink()
    epoch = _epoch_seconds(out)
    status = yes(res["maxrss_mb"] <= 1536) if res["rc"] == 0 else fail_note(res)
    row = [
        f"train --id-col, {n_series:,} x {points}", f"{size_mb:,.0f}", f"{res['maxrss_mb']:,.0f}",
        f"{res['wall']:.1f}", f"{epoch:.1f}" if epoch == epoch else "-", status,
    ]  # fmt: skip
    return [row], [f"panel: --val-size {HORIZON} per series ({n_series:,} validation windows per epoch)"]


# ------------------------------------------------------------------------------------------- distributed


def section_distributed(s: Settings, tmp: Path) -> None:
    """`lstmcast train --nproc 1` against `--nproc 2` (DDP, gloo) on the panel: the same global batches."""
    import torch.distributed as dist

    if not dist.is_available():
        log("distributed: this torch has no torch.distributed; skipped")
        return
    log(f"distributed: train --nproc 1 vs 2 on {s.panel[0]:,} x {s.panel[1]}")
    path = write_panel(s, tmp)
    steps, batch, epochs = (10, 64, 2) if s.quick else (40, 256, 3)
    env = {**os.environ, "OMP_NUM_THREADS": str(s.threads)}

    def train(nproc: int, rep: int) -> dict[str, Any]:
        out = tmp / f"run-ddp{nproc}-{rep}"
        cmd = lstmcast_cmd(
            "train", str(path), "--id-col", "series", "--lookback", "48", "--horizon", str(HORIZON), "--val-size",
            str(HORIZON), "--hidden", "32", "--batch-size", str(batch), "--steps-per-epoch", str(steps), "--epochs",
            str(epochs), "--patience", str(epochs), "--threads", str(s.threads), "--device", "cpu", "--quiet",
            "--nproc", str(nproc), "--out", str(out),
        )  # fmt: skip
        res = run_child(cmd, timeout=600, env=env)
        rows = fit_rows(out / "metrics.csv") if res["rc"] == 0 else []
        res["epoch_s"] = median([float(r[4]) for r in rows[1:]] or [float("nan")])  # epochs after the first
        res["loss"] = float(rows[-1][1]) if rows else float("nan")
        return res

    reps = 1 if s.quick else 2
    runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    for r in range(reps):  # alternate which goes first
        for n in (1, 2) if r % 2 == 0 else (2, 1):
            runs[n].append(train(n, r))
    path.unlink()
    rows, ratios = [], []
    for n, results in runs.items():
        good = [x for x in results if x["rc"] == 0]
        if not good:
            rows.append([f"--nproc {n}", "-", "-", "-", "-", fail_note(results[0])])
            continue
        epoch = median([x["epoch_s"] for x in good])
        rows.append([
            f"--nproc {n}", f"{epoch:.2f}", f"{steps * batch / epoch:,.0f}", f"{median([x['wall'] for x in good]):.1f}",
            f"{good[-1]['loss']:.5f}", "",
        ])  # fmt: skip
    for one, two in zip(runs[1], runs[2]):
        if one["rc"] == 0 and two["rc"] == 0:
            ratios.append(one["epoch_s"] / two["epoch_s"])
    if ratios:
        rows[-1][-1] = f"2 vs 1: {median(ratios):.2f} x windows/s {spread(ratios)}"
    table(
        "Distributed: the same training in 1 and 2 processes (DistributedDataParallel, gloo, one thread each)",
        ["run", "epoch s", "train windows/s", "wall s", "last train loss", "ratio"],
        rows,
        [
            f"`lstmcast train panel.csv --id-col series --lookback 48 --horizon {HORIZON} --batch-size {batch} "
            f"--steps-per-epoch {steps} --epochs {epochs} --threads {s.threads} --nproc N`; epoch s: median of the "
            "epochs after the first (validation of every series included, sharded over the ranks)",
            f"this machine has {os.cpu_count()} cores: two processes share them with the launcher and pay for the "
            "gradient all-reduce every step, so the ratio shows the overhead, not a speed-up; more cores or "
            "machines are where --nproc / torchrun gain",
        ],
    )


# -------------------------------------------------------------------------------------------- target 3: CLI


IMPORT_CHECK = """
import contextlib, io, json, sys
from lstmcast.cli import main
found = {}
for argv in (["--help"], ["train", "--help"]):
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            main(argv)
        except SystemExit:
            pass
    found[" ".join(argv)] = [m for m in ("torch", "pandas", "sklearn", "matplotlib", "numpy") if m in sys.modules]
print(json.dumps(found))
"""


def section_cli(s: Settings, tmp: Path) -> None:
    log("target 3: CLI start-up")
    rows = []
    entry = Path(sys.executable).parent / "lstmcast"
    plain = {**os.environ, "TYPER_USE_RICH": "0"}
    cmds: dict[str, tuple[list[str], dict[str, str] | None]] = {
        "python -m lstmcast --help": (lstmcast_cmd("--help"), None),
        "python -m lstmcast train --help": (lstmcast_cmd("train", "--help"), None),
    }
    if not s.quick:
        if entry.is_file():
            cmds["lstmcast --help (entry point)"] = ([str(entry), "--help"], None)
        cmds["idea: TYPER_USE_RICH=0 ... train --help"] = (lstmcast_cmd("train", "--help"), plain)
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in cmds}
    for _ in range(s.help_reps):  # round robin, so drift in load hits every command alike
        for k, (c, env) in cmds.items():
            runs[k].append(run_child(c, timeout=60, rss=True, env=env))
    imports = run_child([sys.executable, "-c", IMPORT_CHECK], timeout=60)
    heavy: dict[str, list[str]] = json.loads(imports["stdout"]) if imports["rc"] == 0 else {}
    for k in cmds:
        key = "train --help" if "train" in k else "--help"
        mods = heavy.get(key) if not k.startswith("idea") else None
        loaded = [m for m in (mods or []) if m in ("torch", "pandas", "sklearn")]
        wall = median([r["wall"] for r in runs[k]])
        ok = wall <= 0.5 and mods is not None and not loaded
        rows.append([
            k, f"{wall:.3f}", f"{min(r['wall'] for r in runs[k]):.3f}", f"{median([r['cpu'] for r in runs[k]]):.3f}",
            ",".join(mods or []) or ("none" if mods is not None else "-"), yes(ok) if mods is not None else "-",
        ])  # fmt: skip
    model_dir = s.keep.get("model_dir")
    if model_dir is None:
        model_dir = tmp / "run-predict"
        res = run_child(
            lstmcast_cmd("train", str(ROOT / "sample_data" / "airpassengers.csv"), "--epochs", "2", "--threads",
                         str(s.threads), "--quiet", "--out", str(model_dir)), timeout=300)  # fmt: skip
        if res["rc"] != 0:
            rows.append(["lstmcast predict", "-", "-", "-", "-", f"training the model failed: {fail_note(res)}"])
            model_dir = None
    if model_dir is not None:
        base_cmd = [sys.executable, "-c", "import torch, pandas"]
        pred_cmd = lstmcast_cmd("predict", "--model", str(model_dir))
        fail = ""

        def child(cmd: list[str]) -> Side:
            def go() -> tuple[int, Timing]:
                nonlocal fail
                res = run_child(cmd, timeout=120, rss=True)
                if res["rc"] != 0:
                    fail = fail_note(res)
                return 1, Timing(res["wall"], res["cpu"])

            return go

        p = interleave(child(pred_cmd), child(base_cmd), s.predict_reps, s.budget * 0.08)  # variant: the import
        base_w, pred_w = [1 / x for x in p.var_wps], [1 / x for x in p.base_wps]
        ratio_wall, ratio_cpu = p.wall, p.cpu  # predict / import
        ok = not fail and median(ratio_wall) <= 1.25
        rows.append(['python -c "import torch, pandas"', f"{median(base_w):.3f}", f"{min(base_w):.3f}", "-", "-", "-"])
        rows.append([
            f"lstmcast predict (hidden {CONFIGS[0].hidden})", f"{median(pred_w):.3f}", f"{min(pred_w):.3f}",
            f"cpu ratio {median(ratio_cpu):.2f}", f"wall ratio {spread(ratio_wall)}", fail or yes(ok),
        ])  # fmt: skip
    table(
        f"Target 3: an instant CLI (wall seconds, median of {s.help_reps} for --help, {s.predict_reps} interleaved "
        "pairs for predict)",
        ["command", "median s", "min s", "cpu s", "heavy modules loaded / ratio", "met"],
        rows,
        [
            "targets: --help <= 0.5 s with no torch/pandas/sklearn imported; predict <= 1.25 x `import torch, pandas`",
            "cpu s: user + system seconds of the child (less sensitive to other load than wall)",
        ],
    )


# --------------------------------------------------------------------------------------- target 4: inference


def section_inference(s: Settings, tmp: Path) -> None:
    log("target 4: validation and prediction without graphs")
    shape = CONFIGS[0]
    n_val = 1_000 if s.quick else 8_192
    data = Data(synthetic(max(s.points, n_val * 3)), val_size=n_val + shape.horizon - 1)
    w = data.windows(shape)
    calls: list[tuple[str, bool, bool, int]] = []
    phase = ["train"]

    def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        if type(module).__name__ == "LSTMRegressor" and args and isinstance(args[0], torch.Tensor):
            calls.append((phase[0], torch.is_grad_enabled(), torch.is_inference_mode_enabled(), args[0].shape[0]))

    rows = []
    handle = nn.modules.module.register_module_forward_hook(hook)
    try:
        fit(w, run_config(shape, data.val_size, 3, s.threads))
        model_dir = s.keep.get("model_dir")
        if model_dir is not None:
            from lstmcast.pipeline.runs import predict_run

            phase[0] = "predict"
            predict_run(model_dir)
    finally:
        handle.remove()
    for name, want_grad in (("train", True), ("val", False), ("predict", False)):
        if name == "train":
            mine = [c for c in calls if c[0] == "train" and c[1]]
        elif name == "val":
            mine = [c for c in calls if c[0] == "train" and not c[1]]
        else:
            mine = [c for c in calls if c[0] == "predict"]
        if not mine:
            rows.append([name, 0, "-", "-", "-", "n/a"])
            continue
        graphless = all(c[2] for c in mine)
        sizes = sorted({c[3] for c in mine}, reverse=True)
        ok = graphless if not want_grad else None
        rows.append([
            name, len(mine), yes(all(c[1] for c in mine)), yes(graphless),
            ",".join(map(str, sizes[:4])) + (" ..." if len(sizes) > 4 else ""), yes(ok),
        ])  # fmt: skip
    table(
        f"Target 4: forward calls of LSTMRegressor (fit with {len(w.val_starts):,} validation windows; "
        "predict_run on the small run)",
        ["phase", "calls", "grad on", "inference_mode", "batch sizes", "graph-free"],
        rows,
    )
    # Speed of a validation pass over the same windows, as different modes and batch sizes would run it.
    from lstmcast.nn.model import LSTMRegressor

    torch.manual_seed(0)
    model = LSTMRegressor(ModelConfig(hidden_size=shape.hidden, num_layers=shape.layers), 1, shape.horizon).eval()
    starts = w.val_starts
    total = len(starts)

    def val_pass(mode: str, batch: int) -> Side:
        ctx = {"grad": contextlib.nullcontext, "no_grad": torch.no_grad, "inference": torch.inference_mode}[mode]

        def go() -> None:
            with ctx():
                for chunk in torch.split(starts, batch):
                    x, y = w.batch(chunk)
                    float(nn.functional.mse_loss(model(x), y).detach())

        return lambda: (total, timed(go))

    variants = [("grad", 4096), ("no_grad", 4096), ("inference", 256), ("inference", 1024), ("inference", total)]
    base = val_pass("inference", 4096)
    base()
    rows = []
    for v in variants:
        p = interleave(base, val_pass(*v), max(1, s.reps // 2))
        if not rows:
            rows.append(["inference_mode, batch 4096 (lstmcast EVAL_BATCH)", f"{median(p.base_wps):,.0f}", "1.00"])
        label = f"{v[0]}, batch {v[1]}" + (" (one batch)" if v[1] == total else "")
        rows.append([label, f"{median(p.var_wps):,.0f}", spread(p.wall)])
    table(
        f"Target 4: a validation pass over {total:,} windows ({shape.name} model, threads {s.threads}), windows/s",
        ["mode", "windows/s", "ratio vs batch 4096"],
        rows,
    )


# ------------------------------------------------------------------------------------ ideas past the bare loop


@dataclass
class Idea:
    name: str
    loop: dict[str, Any] = field(default_factory=dict)  # BareLoop options
    around: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext
    configs: tuple[str, ...] = ("medium",)
    note: str = ""


def bf16_supported() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def mkldnn_off() -> contextlib.AbstractContextManager[Any]:
    return torch.backends.mkldnn.flags(enabled=False)


@contextlib.contextmanager
def flush_denormal() -> Iterator[None]:
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def idea_pairs(
    shape: Shape, s: Settings, loop: dict[str, Any], around: Callable[[], contextlib.AbstractContextManager[Any]]
) -> Pairs:
    """The bare loop against a variant of it on the same data: N fixed steps against about the same wall time."""
    key = f"bare-{shape.name}"
    if key not in s.keep:  # one baseline per config, shared by every idea
        w = Data(synthetic(s.points), val_size=64).windows(shape)
        series, n = w.series.clone(), len(w.train_starts)
        base = BareLoop(series, n, shape)
        s.keep[key] = (series, n, base, calibrate(base, s))
    series, n, base, steps = s.keep[key]
    loop = dict(loop)
    if loop.pop("half", False):
        loop["batch"] = shape.batch // 2
    if loop.pop("double", False):
        loop["batch"] = shape.batch * 2
    with around():
        variant = BareLoop(series, n, shape, **loop)
        variant.run(2)  # warm-up (and compilation)

    def var_side() -> tuple[int, Timing]:
        with around():
            return variant.run_for(s.rep_seconds, min_steps=1)

    def base_side() -> tuple[int, Timing]:
        return steps * base.batch, base.run(steps)

    return interleave(base_side, var_side, s.idea_reps, 3 * s.rep_seconds * s.idea_reps)


def section_ideas(s: Settings, tmp: Path) -> None:
    log("ideas: variants of the bare loop")
    small, pair, every = ("small",), ("small", "medium"), ("small", "medium", "long")
    ideas = [  # most telling first: the rest is cut when the run goes past --budget
        Idea("+ window normalisation and clip 1.0 = lstmcast's step", {"norm": True, "clip": 1.0}, configs=pair),
        Idea(
            "+ both, clip by torch._foreach_norm directly",
            {"norm": True, "clip": 1.0, "clip_impl": "foreach"},
            configs=pair,
        ),
        Idea(
            "+ both, grads as views of one flat buffer",
            {"norm": True, "clip": 1.0, "clip_impl": "flat"},
            configs=pair,
            note="zero_grad = flat.zero_(); clip = one norm, one mul",
        ),
        Idea("+ window normalisation (lstmcast)", {"norm": True}, configs=small),
        Idea("+ clip_grad_norm_ 1.0 (lstmcast)", {"clip": 1.0}, configs=small),
        Idea("oneDNN (mkldnn) off: native LSTM kernels", around=mkldnn_off, configs=every),
        Idea(
            "subnormals kept (torch's default)",
            {"flush": False},
            configs=every,
            note="lstmcast and the bare loop flush them; the bare loop is warm, a fresh network pays more",
        ),
        Idea("batch x 0.5", {"half": True}, configs=pair, note="windows/s only: more updates per window"),
        Idea("batch x 2", {"double": True}, configs=pair, note="windows/s only: fewer updates per window"),
        Idea("torch.compile (dynamo runs nn.LSTM eagerly)", {"compiled": True}),
        Idea("Adam(fused=True)", {"adam": {"fused": True}}),
        Idea(
            "bf16 autocast",
            {"autocast": torch.bfloat16},
            note="native bf16" if bf16_supported() else "no native bf16 here",
        ),
        Idea("bf16 autocast, oneDNN off", {"autocast": torch.bfloat16}, mkldnn_off),
    ]
    if s.quick:
        ideas = [ideas[0], ideas[2]]
        for i in ideas:
            i.configs = ("small",)
    names = [c.name for c in CONFIGS]
    rows: list[list[str]] = []
    for k, idea in enumerate(ideas):
        if k == 6:  # threads, in fresh processes, after the step variants and oneDNN
            rows += worker_rows(s)
        cells = {}
        for shape in CONFIGS:
            if shape.name not in idea.configs:
                continue
            if time.perf_counter() - s.t_start > s.budget and not s.quick:
                cells[shape.name] = "skipped"
                idea.note = "over the time budget (--budget)"
                continue
            try:
                p = idea_pairs(shape, s, idea.loop, idea.around)
                cells[shape.name] = f"{median(p.wall):.2f} ({median(p.cpu):.2f})"
            except Exception as exc:  # noqa: BLE001 - an idea that does not run here is a result, not a failure
                cells[shape.name] = "error"
                idea.note = f"{type(exc).__name__}: {str(exc).splitlines()[0][:70]}"
        rows.append([idea.name, *(cells.get(n, "-") for n in names), idea.note])
        log(f"  {idea.name}: {cells}")
    if len(ideas) <= 6:
        rows += worker_rows(s)
    table(
        f"Ideas past the bare loop: variant / bare windows/s by wall (by CPU time), median of {s.idea_reps} "
        f"interleaved pairs; threads {s.threads} unless named",
        ["variant", *names, "note"],
        rows,
        [
            "a CPU ratio is meaningless when threads change (spinning threads burn CPU); read the wall ratio there",
            f"torch's default thread count here is {TORCH_DEFAULT_THREADS}; OMP_WAIT_POLICY must be set before torch "
            "loads, so those rows run in fresh processes",
        ],
    )


def worker_rows(s: Settings) -> list[list[str]]:
    """Ideas that need a fresh process: OpenMP reads its wait policy at start-up; a compile that may hang."""
    cores = os.cpu_count() or 1
    jobs: list[tuple[str, list[str], dict[str, str], float, list[str]]] = []
    left = s.budget - (time.perf_counter() - s.t_start)
    configs = [c.name for c in CONFIGS] if left > 240 else ["small", "medium"] if left > 60 else []
    if cores >= 2 and not s.quick and configs:  # fresh processes cost seconds each
        for policy in ("ACTIVE", "PASSIVE"):
            name = f"threads 2 instead of 1, OMP_WAIT_POLICY={policy}"
            jobs.append((name, ["--worker", "threads"], {"OMP_WAIT_POLICY": policy}, 240, configs))
    if s.compile_rnn and not s.quick:
        jobs.append(("torch.compile, dynamo allow_rnn=True", ["--worker", "compile-rnn"], {}, 240, ["medium"]))
    rows = []
    if not configs and not s.quick:
        rows.append(["threads 2 instead of 1", *(["skipped"] * len(CONFIGS)), "over the time budget (--budget)"])
    for name, args, env, timeout, cfgs in jobs:
        cmd = [sys.executable, str(Path(__file__).resolve()), *args, "--config", ",".join(cfgs)]
        cmd += ["--rep-seconds", str(s.rep_seconds), "--points", str(s.points), "--reps", str(s.idea_reps)]
        res = run_child(cmd, timeout=timeout, env={**os.environ, **env})
        if res["rc"] == 0:
            out = json.loads(res["stdout"].strip().splitlines()[-1])
            cells = [out.get(c, "-") for c in (c.name for c in CONFIGS)]
            rows.append([name, *cells, out.get("note", "")])
        else:
            rows.append([name, *(["error"] * len(CONFIGS)), fail_note(res)])
        log(f"  {name}: {rows[-1][1:4]}")
    if not s.compile_rnn and not s.quick:
        rows.append(["torch.compile, dynamo allow_rnn=True", *(["-"] * len(CONFIGS)), "not run; pass --compile-rnn"])
    return rows


def worker(args: argparse.Namespace) -> None:
    """Child process for `worker_rows`: prints one JSON line, a cell per config."""
    s = settings(args)
    torch.set_num_threads(1)
    out: dict[str, str] = {}
    around: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext
    loop: dict[str, Any] = {}
    if args.worker == "threads":
        around = lambda: threads(2)  # noqa: E731
        out["note"] = "wall ratio only"
    else:
        importlib.import_module("torch._dynamo").config.allow_rnn = True
        loop = {"compiled": True}
    for name in args.config.split(","):
        shape = next(c for c in CONFIGS if c.name == name)
        try:
            p = idea_pairs(shape, s, loop, around)
            out[name] = spread(p.wall) if args.worker == "threads" else f"{median(p.wall):.2f} ({median(p.cpu):.2f})"
        except Exception as exc:  # noqa: BLE001
            out[name] = "error"
            out["note"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:70]}"
    print(json.dumps(out))


# ---------------------------------------------------------------------------------------------------- main


# ------------------------------------------------------------------------------- short series (issue 17 item 3)

# The commit the speed issue was filed against ("today's 9.9 s"): its airpassengers default run is the baseline.
SHORT_REF = "956039f"


def _short_side(cwd: Path, data: Path, out: Path, seed: int) -> dict[str, Any]:
    """`lstmcast train DATA --seed SEED` with every other default, then `lstmcast predict`, from the package in
    `cwd`: wall seconds of each."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "lstmcast"]
    train = run_child([*cmd, "train", str(data), "--out", str(out), "--seed", str(seed), "--quiet"], timeout=600,
                      rss=True, cwd=cwd)  # fmt: skip
    predict = run_child([*cmd, "predict", "--model", str(out)], timeout=300, rss=True, cwd=cwd)
    return {"train": train, "predict": predict}


def section_short(s: Settings, tmp: Path) -> None:
    """Time to a default forecast on a short series: this checkout against SHORT_REF, one interleaved pair per seed
    (0, 1, 2; the seed moves the early-stopping epoch and with it the time, so one seed could be a lucky one)."""
    log(f"short series: default train + predict on airpassengers, this checkout vs {SHORT_REF}")
    data = ROOT / "sample_data" / "airpassengers.csv"
    ref = tmp / "ref"
    ref.mkdir(exist_ok=True)
    got = subprocess.run(f"git -C {ROOT} archive {SHORT_REF} lstmcast | tar -x -C {ref}", shell=True,
                         capture_output=True, text=True)  # fmt: skip
    if got.returncode != 0:
        log(f"short: no {SHORT_REF} in this checkout ({got.stderr.strip()[:120]}); skipped")
        return
    sides = {"now": ROOT, SHORT_REF: ref}
    times: dict[str, list[dict[str, float]]] = {k: [] for k in sides}
    ratios: list[float] = []
    seeds = [0] if s.quick else [0, 1, 2]
    for rep, seed in enumerate(seeds):
        order = list(sides) if rep % 2 == 0 else list(sides)[::-1]
        for name in order:
            res = _short_side(sides[name], data, tmp / f"short-{name}", seed)
            if res["train"]["rc"] != 0 or res["predict"]["rc"] != 0:
                log(f"short: {name} failed: {fail_note(res['train'])} / {fail_note(res['predict'])}")
                return
            times[name].append({k: res[k]["wall"] for k in ("train", "predict")})
        now, old = times["now"][-1], times[SHORT_REF][-1]
        ratios.append((now["train"] + now["predict"]) / (old["train"] + old["predict"]))
    rows = []
    for name in sides:
        t = times[name]
        per_seed = " / ".join(f"{x['train'] + x['predict']:.2f}" for x in t)
        rows.append([
            name, f"{median([x['train'] for x in t]):.2f}", f"{median([x['predict'] for x in t]):.2f}",
            f"{median([x['train'] + x['predict'] for x in t]):.2f}", per_seed,
            spread(ratios) if name == "now" else "1.00", yes(median(ratios) <= 0.5) if name == "now" else "",
        ])  # fmt: skip
    table(
        "Short series: `lstmcast train sample_data/airpassengers.csv --seed S` (every other default) then `lstmcast "
        f"predict`, wall seconds (medians over seeds {', '.join(map(str, seeds))}, one interleaved pair each)",
        ["code", "train s", "predict s", "train + predict s", "per seed", "ratio to ref", "<= 0.5"],
        rows,
        [f"ref: commit {SHORT_REF} (when the speed issue was filed), its package run from a `git archive` copy in "
         "the same venv; each side a fresh process as a user runs it (imports included)"],
    )  # fmt: skip


# ------------------------------------------------------------------------------------ ensembles (issue 17 item 4)


def section_ensemble(s: Settings, tmp: Path) -> None:
    """fit_series with 5 members against 1 on airpassengers, fixed epochs (no early stopping, no refit), pairs."""
    from lstmcast.config import RunConfig, TrainConfig
    from lstmcast.io.data import load_series
    from lstmcast.training.fitting import fit_series

    log("ensemble: 5 members against one, airpassengers, fixed epochs")
    air = load_series(ROOT / "sample_data" / "airpassengers.csv")
    epochs = 5 if s.quick else 30
    cfg = RunConfig(train=TrainConfig(epochs=epochs, patience=epochs, refit="off", combine="off", threads=s.threads))
    k = 5

    def side(members: int) -> Side:
        return lambda: (members, timed(lambda: fit_series(air, cfg, ensemble=members)))

    pairs = interleave(side(1), side(k), 1 if s.quick else 3)
    # Pairs holds ratios of members per second (k members / their time against 1 / its time): time ratio = k / it
    times, cpu = [k / r for r in pairs.wall], [k / r for r in pairs.cpu]
    table(
        f"Ensembles: `fit_series(ensemble={k})` against one member, airpassengers, {epochs} epochs (no early "
        "stopping, no refit, no Theta), interleaved pairs",
        ["members", "time / one member (wall)", "(cpu)", "<= 2.0"],
        [[str(k), spread(times), f"{median(cpu):.2f}", yes(median(times) <= 2.0)]],
        ["members (seeds seed .. seed+4, each an LSTM + last step + Linear) train side by side, one thread per core "
         "(run.train_members), where one member trains on one thread; stacked prototypes measured on a 2-core CPU "
         "(README, Performance) reached 3.3x at best"],
    )  # fmt: skip


SECTIONS: dict[str, Callable[[Settings, Path], None]] = {
    "throughput": section_throughput,
    "panel": section_panel,
    "memory": section_memory,
    "distributed": section_distributed,
    "cli": section_cli,
    "inference": section_inference,
    "ideas": section_ideas,
    "short": section_short,
    "ensemble": section_ensemble,
}


def settings(args: argparse.Namespace) -> Settings:
    q = args.quick
    return Settings(
        quick=q,
        threads=args.threads,
        reps=args.reps or (2 if q else 4),
        idea_reps=args.reps or (1 if q else 2),
        rep_seconds=args.rep_seconds or (0.25 if q else 0.6),
        points=args.points or (8_000 if q else 50_000),
        big_rows=args.rows or (100_000 if q else 5_000_000),
        panel=(100, 500) if q else (10_000, 500),
        cli_reps=1 if q else 2,
        help_reps=2 if q else 5,
        predict_reps=1 if q else 3,
        compile_rnn=getattr(args, "compile_rnn", False),
        budget=getattr(args, "budget", 0) or (50 if q else 540),
    )


def machine_table(s: Settings) -> None:
    flags = cpu_flags()
    avx = "avx512" if any(f.startswith("avx512") for f in flags) else "avx2" if "avx2" in flags else "-"
    bf16 = [f for f in ("avx512_bf16", "amx_bf16") if f in flags]
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count() or 1
    rows = [
        ["CPU", cpu_model()],
        ["cores (os.cpu_count / affinity)", f"{os.cpu_count()} / {affinity}"],
        ["vector ISA, bf16", f"{avx}, {','.join(bf16) or 'no native bf16'}"],
        ["python, torch", f"{platform.python_version()}, {torch.__version__}"],
        ["torch threads: default, bench", f"{TORCH_DEFAULT_THREADS}, {s.threads}"],
        ["oneDNN available", str(torch.backends.mkldnn.is_available())],
        ["OMP_WAIT_POLICY", os.environ.get("OMP_WAIT_POLICY", "(unset)")],
        ["load average at start", loadavg()],
        ["mode", "quick" if s.quick else "full"],
    ]
    table("Machine", ["item", "value"], rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke mode: small sizes, few reps (under a minute)")
    ap.add_argument("--only", default="", help=f"comma-separated sections: {','.join(SECTIONS)}")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for every side-by-side run (default 1)")
    ap.add_argument("--reps", type=int, default=0, help="interleaved pairs per comparison (default 4, ideas 3)")
    ap.add_argument("--rep-seconds", type=float, default=0.0, help="seconds per repetition (default 0.6; quick 0.25)")
    ap.add_argument("--points", type=int, default=0, help="length of the throughput series (default 50,000)")
    ap.add_argument("--rows", type=int, default=0, help="length of the target-2 series (default 5,000,000)")
    ap.add_argument("--budget", type=float, default=0, help="seconds to aim at (default 540; quick 50)")
    ap.add_argument("--compile-rnn", action="store_true", help="also try torch.compile with dynamo's allow_rnn")
    ap.add_argument("--worker", choices=["threads", "compile-rnn"], help=argparse.SUPPRESS)
    ap.add_argument("--config", default="medium", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    s = settings(args)
    only = [x.strip() for x in args.only.split(",") if x.strip()] or list(SECTIONS)
    unknown = [x for x in only if x not in SECTIONS]
    if unknown:
        ap.error(f"--only {','.join(unknown)}: choose from {','.join(SECTIONS)}")
    warnings.filterwarnings("ignore", message="TF32 acceleration")  # oneDNN flag noise on CPU-only builds
    t0 = time.perf_counter()
    torch.set_num_threads(s.threads)
    machine_table(s)
    took = []
    with tempfile.TemporaryDirectory(prefix="lstmcast-bench-") as d:
        for name in SECTIONS:  # fixed order: throughput trains the small run that cli and inference reuse
            if name in only:
                t1 = time.perf_counter()
                torch.set_num_threads(s.threads)
                SECTIONS[name](s, Path(d))
                took.append(f"{name} {time.perf_counter() - t1:.0f} s")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s ({', '.join(took)}); load average at end {loadavg()}")


if __name__ == "__main__":
    main()
