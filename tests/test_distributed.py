"""Distributed data-parallel training: two CPU processes with gloo, through `train --nproc` and torchrun."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from clitools import process_env, run_main

from lstmcast.checkpoint import format as ckpt_io
from lstmcast.training import distributed

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch without torch.distributed")

# A real panel (8 series), a small network, sizes explicit; patience 2 so early stopping may act on both sides.
PANEL = ["--id-col", "state", "--target", "takings", "--lookback", "8", "--horizon", "4", "--val-size", "8"]
SMALL = ["--hidden", "8", "--batch-size", "32", "--epochs", "6", "--patience", "2", "--device", "cpu", "--seed", "3"]


def lstmcast(*args: object, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lstmcast", *map(str, args)], capture_output=True, text=True, env=process_env(),
        timeout=timeout,
    )  # fmt: skip


def losses(run_dir: Path) -> list[tuple[float, float]]:
    with (run_dir / "metrics.csv").open() as fh:
        rows = csv.DictReader(fh)  # the first fit's epochs (the refit's, phase refit, have no validation loss)
        return [(float(r["train_loss"]), float(r["val_loss"])) for r in rows if r["phase"] == "fit"]


@pytest.fixture(scope="module")
def aus_csv(datasets: Path) -> Path:
    return datasets / "aus_accommodation.csv"


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory: pytest.TempPathFactory, aus_csv: Path) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """Two processes through `train --nproc 2`, under --project with a default name (rank 0 picks it)."""
    project = tmp_path_factory.mktemp("ddp")
    proc = lstmcast("train", aus_csv, *PANEL, *SMALL, "--nproc", "2", "--project", project, "--name", "p")
    assert proc.returncode == 0, proc.stderr
    return project, proc


def test_two_processes_write_one_run_that_predict_loads(ddp_run, capsys) -> None:
    project, proc = ddp_run
    assert [p.name for p in project.iterdir()] == ["p"]  # rank 0 alone created (and named) the run directory
    run = project / "p"
    for name in ("model.pt", "last.pt", "metrics.csv", "config.toml", "summary.json", "forecast.png"):
        assert (run / name).is_file(), name
    assert "saved run to" in proc.stderr and "rank 1" not in proc.stderr  # rank 1 trains silently
    ckpt = ckpt_io.load(run)  # the single-process format, loaded with weights_only
    assert len(ckpt.stored) == 8
    code, out, err = run_main(capsys, "predict", "--model", run)
    assert code == 0, err
    rows = out.strip().splitlines()
    assert rows[0] == "id,timestamp,forecast" and len(rows) == 1 + 8 * 4


@pytest.mark.slow
def test_loss_curve_matches_one_process_with_the_same_global_batch(ddp_run, aus_csv: Path, tmp_path: Path) -> None:
    """Each rank's half of every global batch, loss weighted by its share: the same steps as one process. Only
    the order of float additions differs (gradients summed over ranks), hence the tolerance."""
    project, _ = ddp_run
    single = lstmcast("train", aus_csv, *PANEL, *SMALL, "--threads", "1", "--out", tmp_path / "one", "-q")
    assert single.returncode == 0, single.stderr
    one, two = losses(tmp_path / "one"), losses(project / "p")
    assert len(one) == len(two)  # the same epochs: early stopping decided alike
    for (t1, v1), (t2, v2) in zip(one, two):
        assert t2 == pytest.approx(t1, rel=1e-3) and v2 == pytest.approx(v1, rel=1e-3)
    a = json.loads((tmp_path / "one" / "summary.json").read_text())
    b = json.loads((project / "p" / "summary.json").read_text())
    assert (a["best_epoch"], a["stop_reason"]) == (b["best_epoch"], b["stop_reason"])


@pytest.mark.slow
def test_torchrun_launches_the_same_training(aus_csv: Path, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "lstmcast"]
    proc = subprocess.run(
        [*cmd, "train", str(aus_csv), *PANEL, *SMALL, "--epochs", "2", "--out", str(tmp_path / "r"), "-q"],
        capture_output=True, text=True, env=process_env(), timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert len(losses(tmp_path / "r")) == 2
    assert ckpt_io.load(tmp_path / "r").config.model.hidden_size == 8


def _long_job(datasets: Path, out: Path) -> subprocess.Popen[str]:
    """`train --nproc 2` for far longer than a test, started once its first epoch is saved (last.pt)."""
    job = subprocess.Popen(
        [sys.executable, "-m", "lstmcast", "train", str(datasets / "taylor.csv"), "--hidden", "16", "--epochs",
         "400", "--patience", "400", "--device", "cpu", "--nproc", "2", "--out", str(out), "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=process_env(), start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while not (out / "last.pt").exists():
        if job.poll() is not None or time.monotonic() > deadline:
            if job.poll() is None:
                os.killpg(job.pid, signal.SIGKILL)
            raise AssertionError(f"training never finished an epoch: {job.communicate()[1]}")
        time.sleep(0.2)
    return job


def _stop(job: subprocess.Popen[str], pid: int, sig: int) -> str:
    """Send `sig` to `pid`; the job must end within a bounded time. Returns its stderr."""
    try:
        os.kill(pid, sig)
        sent = time.monotonic()
        _, err = job.communicate(timeout=120)
        assert time.monotonic() - sent < 90
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
    assert "Traceback" not in err
    return err


@pytest.mark.slow
def test_a_rank_that_dies_ends_the_job_with_a_clear_error(datasets: Path, tmp_path: Path) -> None:
    """SIGKILL rank 1 mid-training: the launcher stops rank 0 and exits non-zero with one line naming the rank,
    within a bounded time; last.pt (the last completed epoch) stays loadable."""
    job = _long_job(datasets, tmp_path / "r")
    err = _stop(job, _worker(job.pid, rank=1), signal.SIGKILL)
    assert job.returncode not in (0, None)
    line = next(x for x in err.splitlines() if "killed by SIGKILL" in x)
    assert line.startswith("lstmcast: error: rank 1 (pid ")
    assert ckpt_io.load(tmp_path / "r" / "last.pt").stored


@pytest.mark.slow
def test_ctrl_c_stops_every_rank_and_rank_0_saves(datasets: Path, tmp_path: Path) -> None:
    """SIGINT to the launcher: it stops the workers; only rank 0 speaks (where it saved), exit 130, and the run
    resumes from its last.pt like a single-process run."""
    job = _long_job(datasets, tmp_path / "r")
    err = _stop(job, job.pid, signal.SIGINT)
    assert job.returncode == 130, err
    assert err.splitlines() == [
        f"interrupted: saved {tmp_path / 'r'}/last.pt and the best model so far; go on with "
        f"`lstmcast train DATA --resume {tmp_path / 'r'}`",
        "lstmcast: error: interrupted",
    ]
    assert ckpt_io.load(tmp_path / "r" / "last.pt").stored


def _worker(launcher: int, rank: int) -> int:
    """The pid of the launcher's child process with RANK=rank in its environment."""
    for child in Path(f"/proc/{launcher}/task/{launcher}/children").read_text().split():
        env = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        if f"RANK={rank}".encode() in env:
            return int(child)
    raise AssertionError(f"no worker with RANK={rank} under pid {launcher}")


@pytest.mark.slow
def test_bad_data_under_nproc_exits_with_the_data_error(write_csv, tmp_path: Path) -> None:
    bad = write_csv("time,value\n2020-01-01,1\n2020-01-02,x\n")
    proc = lstmcast("train", bad, "--nproc", "2", "--out", tmp_path / "r")
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.startswith("lstmcast: error: ")]
    assert lines and all("data.csv" in x for x in lines)
    assert any(x.startswith("lstmcast: error: rank 1: ") for x in lines) or len(lines) == 1


@pytest.mark.slow
def test_rank_0_failing_to_create_the_run_stops_the_job_with_its_one_line(air_csv: Path, tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("not a run")
    proc = lstmcast("train", air_csv, "--nproc", "2", "--out", tmp_path / "full", "-q")
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"lstmcast: error: --out {tmp_path / 'full'}: the directory is not empty; choose a new one so no run is "
        "overwritten"
    ]
    assert sorted(p.name for p in (tmp_path / "full").iterdir()) == ["keep.txt"]


def test_nproc_refuses_stdin_and_nesting(capsys, air_csv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run_main(capsys, "train", "-", "--nproc", "2")
    assert code == 2 and "not - (standard input)" in err
    monkeypatch.setenv("WORLD_SIZE", "2")
    code, _, err = run_main(capsys, "train", air_csv, "--nproc", "2")
    assert code == 2 and "already a process of a distributed job" in err


def test_shards_are_disjoint_and_cover_the_batch() -> None:
    idx = torch.arange(10, 33)
    parts = [distributed.shard(idx, distributed.Group(r, 3)) for r in range(3)]
    assert torch.equal(torch.cat(parts), idx)
    assert {len(p) for p in parts} <= {7, 8}
    assert torch.equal(distributed.shard(idx, distributed.Group()), idx)


def test_collective_failures_become_one_distributed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from lstmcast.errors import DistributedError

    lost = RuntimeError("Connection closed by peer [127.0.0.1]:1234\nmore detail")
    # not in a job: not a distributed failure
    with pytest.raises(RuntimeError, match="Connection closed"), distributed.collective("summing losses"):
        raise lost
    monkeypatch.setattr(distributed, "current", lambda: distributed.Group(0, 2))
    expected = r"^rank 0: summing losses failed: another process.*1234\)"
    with pytest.raises(DistributedError, match=expected), distributed.collective("summing losses"):
        raise lost
    # kept as it is: the CLI names it
    with pytest.raises(torch.OutOfMemoryError), distributed.collective("summing losses"):
        raise torch.OutOfMemoryError("CUDA out of memory")


def test_timeout_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from lstmcast.errors import ConfigError

    assert distributed.timeout().total_seconds() == distributed.DEFAULT_TIMEOUT
    monkeypatch.setenv(distributed.TIMEOUT_ENV, "12.5")
    assert distributed.timeout().total_seconds() == 12.5
    monkeypatch.setenv(distributed.TIMEOUT_ENV, "soon")
    with pytest.raises(ConfigError, match="in seconds"):
        distributed.timeout()


@pytest.mark.slow
def test_sigterm_while_reporting_an_error_cannot_interrupt_it(
    capsys, write_csv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A launcher stops every rank with SIGTERM once one failed; a rank already reporting its own error must
    finish that one line (a KeyboardInterrupt there would escape as a traceback)."""
    from lstmcast.cli import exits

    real = exits._click_types

    def click_types_then_sigterm(name: str) -> tuple[type, ...]:
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while the error is being handled
        return real(name)

    monkeypatch.setattr(exits, "_click_types", click_types_then_sigterm)
    bad = write_csv("time,value\n2020-01-01,1\n2020-01-02,x\n")
    code, _, err = run_main(capsys, "train", bad, "--out", tmp_path / "r")
    assert code == 3 and err.count("lstmcast: error: ") == 1 and "data.csv" in err


@pytest.mark.parametrize(("kind", "status"), [("ConfigError", 2), ("DataError", 3), ("RuntimeError", 1)])
def test_other_ranks_exit_silently_with_rank_0s_status(
    capsys, air_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, status: int
) -> None:
    """Whichever rank a launcher sees end first, the job's status is rank 0's: the others take its error's kind."""
    from lstmcast.pipeline import runs as pipeline

    def rank_0_failed(*_: object, **__: object) -> None:
        box = [("failed", kind, "--out x: the directory is not empty")]
        monkeypatch.setattr(distributed, "current", lambda: distributed.Group(1, 2))
        monkeypatch.setattr(torch.distributed, "broadcast_object_list", lambda b, src: b.__setitem__(0, box[0]))
        distributed.share(lambda: None)

    monkeypatch.setattr(pipeline, "train_run", rank_0_failed)
    code, out, err = run_main(capsys, "train", air_csv, "--out", tmp_path / "r")
    assert (code, out, err) == (status, "", "")
