"""Interruptions and faults: signals during training, SIGKILL during checkpoint writes, concurrent runs, unwritable
or full output directories, a reader that leaves a pipe early. FAULT_CASES counts them for the README.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from clitools import run_main

from lstmcast import cli
from lstmcast.checkpoint import format as ckpt_io
from lstmcast.cli import exits
from lstmcast.errors import CheckpointError, ConfigError
from lstmcast.pipeline import rundir
from lstmcast.pipeline import runs as pipeline
from lstmcast.training import run as training_run

REPO = Path(__file__).resolve().parents[1]
# Explicit, tiny sizes; --epochs/--patience large so a run is still training when the signal comes.
LONG_RUN = ["--lookback", "24", "--horizon", "12", "--val-size", "12", "--hidden", "8", "--batch-size", "16",
            "--epochs", "100000", "--patience", "100000", "--device", "cpu", "--quiet"]  # fmt: skip
TINY = ["--lookback", "24", "--horizon", "12", "--val-size", "12", "--hidden", "8", "--batch-size", "16",
        "--epochs", "2", "--device", "cpu", "--quiet"]  # fmt: skip

FAULT_CASES = [
    "SIGINT during training",
    "SIGTERM during training",
    "SIGKILL during checkpoint writes (loop)",
    "Ctrl-C or SIGTERM outside training",
    "runs started together with one --name",
    "runs started together with one --out",
    "--out below a file",
    "--out in a read-only directory (not as root)",
    "a read-only file system",
    "a full device before training",
    "a full device during training",
    "reader leaves early (| head -1)",
    "reader gone before the first write (| true)",
]


def test_fault_count_for_the_readme() -> None:
    assert len(FAULT_CASES) == 13


def env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def error_line(err: str) -> str:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("lstmcast: error: ")]
    assert len(lines) == 1, err
    return lines[0]


def wait_for(path: Path, procs: dict[str, subprocess.Popen], timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        ended = [k for k, p in procs.items() if p.poll() is not None]
        if ended or time.monotonic() > end:
            for p in procs.values():
                p.kill()
            detail = {k: procs[k].communicate()[1][-2000:] for k in ended}
            raise AssertionError(f"{path} never appeared; ended early: {detail}")
        time.sleep(0.05)


def start_training(data: Path, args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lstmcast", "train", str(data), *args],
        cwd=REPO, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def assert_predicts(capsys: pytest.CaptureFixture[str], model: Path) -> None:
    code, out, err = run_main(capsys, "predict", "--model", model)
    assert code == 0, err
    rows = out.splitlines()
    assert rows[0] == "timestamp,forecast" and len(rows) == 13
    assert all(np.isfinite(float(r.split(",")[1])) for r in rows[1:])


# --- signals during training --------------------------------------------------------------------------------------


def check_interrupted_run(capsys: pytest.CaptureFixture[str], run: Path) -> None:
    """The files a run interrupted mid-training leaves: complete checkpoints that predict works from."""
    assert not list(run.glob(".*.tmp")), "a temporary checkpoint was left behind"
    for name in ("model.pt", "last.pt"):
        ckpt_io.load(run / name)
    assert ckpt_io.load(run / "last.pt").info.get("stop_reason") == "interrupted"
    assert_predicts(capsys, run)
    assert_predicts(capsys, run / "last.pt")


@pytest.mark.slow
def test_sigterm_during_training(capsys: pytest.CaptureFixture[str], air_csv: Path, tmp_path: Path) -> None:
    """`kill` (as cron or a supervisor sends it) to `python -m lstmcast train` mid-training: exit 143, one error
    line, and a run directory predict works from."""
    run = tmp_path / "run"
    proc = start_training(air_csv, ["--out", str(run), *LONG_RUN])
    wait_for(run / "last.pt", {"term": proc})
    time.sleep(random.Random(143).uniform(0.0, 0.3))  # seeded: a failure reruns with the same delay
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert error_line(err) == "lstmcast: error: terminated"
    assert f"interrupted: saved {run}/last.pt" in err
    check_interrupted_run(capsys, run)


@pytest.mark.slow
def test_sigint_during_training(capsys: pytest.CaptureFixture[str], air_csv: Path, tmp_path: Path, tiny_run) -> None:
    """Ctrl-C mid-training: exit 130. The training process is a fork of this one running the same entry point as
    `python -m lstmcast`; `tiny_run` has loaded every library training needs, so the fork trains at once."""
    run, errfile = tmp_path / "run", tmp_path / "stderr.txt"
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            sys.stderr = open(errfile, "w")  # noqa: SIM115 - the child exits without cleanup
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
            signal.signal(signal.SIGINT, signal.default_int_handler)
            cli.main(["train", str(air_csv), "--out", str(run), *LONG_RUN])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            sys.stderr.flush()
            os._exit(code)
    deadline = time.monotonic() + 120
    while not (run / "last.pt").exists():
        assert os.waitpid(pid, os.WNOHANG) == (0, 0), errfile.read_text()
        assert time.monotonic() < deadline, "training never saved last.pt"
        time.sleep(0.05)
    time.sleep(random.Random(130).uniform(0.0, 0.3))  # seeded: a failure reruns with the same delay
    os.kill(pid, signal.SIGINT)
    _, status = os.waitpid(pid, 0)
    err = errfile.read_text()
    assert os.waitstatus_to_exitcode(status) == 130, err
    assert error_line(err) == "lstmcast: error: interrupted"
    check_interrupted_run(capsys, run)


def _flip(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: -v for k, v in state.items()}


@pytest.mark.slow
def test_sigkill_during_checkpoint_writes_never_leaves_a_broken_model(tiny_run, tmp_path: Path) -> None:
    """Kill a process that rewrites model.pt in a loop, at random moments: model.pt always loads and holds one
    complete version; half-written temporary files are never taken for a model."""
    ckpt = tiny_run.checkpoint
    states = [ckpt.model.state_dict(), _flip(ckpt.model.state_dict())]
    target = tmp_path / "model.pt"
    ckpt_io.save(ckpt, target, state=states[0])
    rng = random.Random(0)
    kills, deadline = 0, time.monotonic() + 4.0
    while kills < 40 and time.monotonic() < deadline:
        pid = os.fork()
        if pid == 0:  # the child: save the two versions by turns until killed
            try:
                i = 0
                while True:
                    ckpt_io.save(ckpt, target, state=states[i % 2])
                    i += 1
            finally:
                os._exit(0)
        time.sleep(rng.uniform(0.0, 0.03))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        kills += 1
        loaded = ckpt_io.load(tmp_path)  # the run directory resolves to model.pt, never to a temporary file
        weights = loaded.model.state_dict()
        assert any(all(torch.equal(weights[k], s[k]) for k in s) for s in states)
    assert kills >= 10
    leftovers = sorted(tmp_path.glob(".model.pt.*.tmp"))
    for tmp in leftovers:  # complete (killed between fsync and rename) or refused with one line
        try:
            ckpt_io.load(tmp)
        except CheckpointError as exc:
            assert "\n" not in str(exc)
    assert ckpt_io.resolve_path(tmp_path) == target


@pytest.mark.slow
def test_interrupt_outside_training_exits_130_or_143(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tiny_run_dir: Path
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "predict_run", interrupted)
    code, out, err = run_main(capsys, "predict", "--model", tiny_run_dir)
    assert (code, out) == (130, "")
    assert error_line(err) == "lstmcast: error: interrupted"

    def terminated(*args: object, **kwargs: object) -> None:
        exits._on_sigterm(signal.SIGTERM, None)

    monkeypatch.setattr(pipeline, "predict_run", terminated)
    code, out, err = run_main(capsys, "predict", "--model", tiny_run_dir)
    assert (code, out) == (143, "")
    assert error_line(err) == "lstmcast: error: terminated"


# --- concurrent runs ----------------------------------------------------------------------------------------------


def _race(n: int, make: object) -> tuple[list[Path], list[Exception]]:
    barrier = threading.Barrier(n)
    made: list[Path] = []
    failed: list[Exception] = []
    lock = threading.Lock()

    def one() -> None:
        barrier.wait()
        try:
            path = make()  # type: ignore[operator]
            with lock:
                made.append(path)
        except ConfigError as exc:
            with lock:
                failed.append(exc)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return made, failed


def test_many_runs_with_one_name_never_share_a_directory(tmp_path: Path) -> None:
    """Eight runs reach make_run_dir at once (mkdir is atomic across processes as across threads)."""
    made, failed = _race(8, lambda: rundir.make_run_dir(None, tmp_path / "runs", "exp"))
    assert not failed and len(made) == 8 and len(set(made)) == 8


def test_many_runs_with_one_out_directory_let_exactly_one_in(tmp_path: Path) -> None:
    out = tmp_path / "common"
    made, failed = _race(8, lambda: rundir.make_run_dir(out))
    assert made == [out]
    assert len(failed) == 7 and all("another lstmcast run" in str(e) or "not empty" in str(e) for e in failed)
    with pytest.raises(ConfigError, match="another lstmcast run"):  # and later runs stay out too
        rundir.make_run_dir(out)


# --- unwritable and full output directories ------------------------------------------------------------------------


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """These errors must come before training starts."""

    def must_not_train(*args: object, **kwargs: object) -> None:
        raise AssertionError("training started")

    monkeypatch.setattr(training_run, "fit", must_not_train)  # every training goes through run.train_model


def test_out_below_a_file_fails_before_training(
    capsys: pytest.CaptureFixture[str], air_csv: Path, tmp_path: Path, no_training: None
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code, out, err = run_main(capsys, "train", air_csv, "--out", blocker / "run", *TINY)
    assert (code, out) == (2, "")
    assert "cannot create the directory" in error_line(err)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes through permissions")
def test_read_only_directory_fails_before_training(
    capsys: pytest.CaptureFixture[str], air_csv: Path, tmp_path: Path, no_training: None
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, out, err = run_main(capsys, "train", air_csv, "--out", locked / "run", *TINY)
        code2, _, err2 = run_main(capsys, "train", air_csv, "--project", locked, *TINY)
    finally:
        locked.chmod(0o700)
    assert (code, out, code2) == (2, "", 2)
    assert "cannot create" in error_line(err) and "cannot create" in error_line(err2)


def test_read_only_file_system_fails_before_training(
    capsys: pytest.CaptureFixture[str], air_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    no_training: None,
) -> None:  # fmt: skip
    """The probe write fails (read-only mount, quota, permissions even for root): a clear error, no run dir."""
    real_open = Path.open

    def read_only(self: Path, mode: str = "r", *args: object, **kwargs: object):
        if self.name.startswith(".write-test") and "w" in mode:
            raise OSError(errno.EROFS, "Read-only file system")
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", read_only)
    code, out, err = run_main(capsys, "train", air_csv, "--out", tmp_path / "run", *TINY)
    assert (code, out) == (2, "")
    assert "cannot write there (Read-only file system)" in error_line(err)
    assert not (tmp_path / "run").exists()


def test_full_device_is_reported_before_training(
    capsys: pytest.CaptureFixture[str], air_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    no_training: None,
) -> None:  # fmt: skip
    real = os.statvfs

    class Full:
        def __init__(self, path: object) -> None:
            stats = real(path)  # type: ignore[arg-type]
            self.f_frsize, self.f_bavail = stats.f_frsize, 3

    monkeypatch.setattr(rundir.os, "statvfs", Full)
    code, out, err = run_main(capsys, "train", air_csv, "--project", tmp_path / "runs", *TINY)
    assert (code, out) == (2, "")
    assert "KiB free" in error_line(err)
    assert list((tmp_path / "runs").iterdir()) == []


def test_device_filling_up_during_training_keeps_the_last_complete_model(
    capsys: pytest.CaptureFixture[str], air_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_save = torch.save
    calls = {"n": 0}

    def fills_up(obj: object, fh: object, *args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] > 3:  # epoch 1 wrote model.pt and last.pt; the disk fills in epoch 2
            fh.write(b"PK\x03\x04 partial")  # type: ignore[attr-defined]
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(obj, fh, *args, **kwargs)

    monkeypatch.setattr(ckpt_io.torch, "save", fills_up)
    run = tmp_path / "run"
    code, out, err = run_main(capsys, "train", air_csv, "--out", run, *TINY, "--epochs", "4")
    monkeypatch.undo()
    assert (code, out) == (1, "")
    assert "no space left" in error_line(err)
    assert not list(run.glob(".*.tmp"))
    assert ckpt_io.load(run / "model.pt").info is not None
    assert ckpt_io.load(run / "last.pt") is not None


# --- a reader that leaves early ------------------------------------------------------------------------------------


@pytest.mark.parametrize("reader", ["head -1", "true"])
def test_reader_leaving_early_is_quiet(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tiny_run_dir: Path, reader: str
) -> None:
    """`predict | head -1` (the reader leaves after one line) and `predict | true` (gone before the first write):
    writes fail with EPIPE (click alone would exit 1); lstmcast exits 0 and writes nothing but notes.

    stdout is a real pipe here; test_cli runs `cat | lstmcast predict - | head -3` as real processes."""
    read_end, write_end = os.pipe()
    shown: list[bytes] = []

    def head() -> None:
        with os.fdopen(read_end, "rb") as fh:
            shown.append(fh.readline())

    if reader == "true":
        os.close(read_end)
    else:
        threading.Thread(target=head, daemon=True).start()
    stdout = os.fdopen(write_end, "w")
    monkeypatch.setattr(sys, "stdout", stdout)
    try:  # 3000 JSON lines (~150 KB) cannot fit in the pipe: the writer must meet the closed end
        code, _, err = run_main(capsys, "predict", "--model", tiny_run_dir, "--horizon", "3000", "-f", "json")
    finally:
        monkeypatch.undo()
        with contextlib.suppress(OSError):
            stdout.close()
    assert code == 0, err
    assert "Traceback" not in err and "error" not in err.lower()
    assert all(line.startswith("note: ") for line in err.splitlines()), err
    if reader == "head -1":
        assert shown and shown[0].startswith(b'{"timestamp":')
