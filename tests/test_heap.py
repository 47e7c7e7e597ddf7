"""cli.heap: the garbage collector of a console process, kept away from the objects of the heavy imports."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from clitools import process_env

from lstmcast.cli import heap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Whatever a test freezes goes back to the collector: the test process is not a console process."""
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if enabled:
        gc.enable()


def test_outside_a_console_process_the_collector_is_left_alone(unfrozen: None) -> None:
    frozen = gc.get_freeze_count()
    with heap.imports():
        assert gc.isenabled()
        import json  # noqa: F401
    heap.leaving()
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_in_a_console_process_the_imports_are_frozen_and_collection_goes_on(
    monkeypatch: pytest.MonkeyPatch, unfrozen: None
) -> None:
    monkeypatch.setattr(heap, "_console", False)
    heap.for_this_process()
    assert heap._console
    before = gc.get_freeze_count()
    with heap.imports():
        assert not gc.isenabled()  # no full collection while the heavy modules load
        made = [[i] for i in range(1000)]
    assert gc.isenabled() and gc.get_freeze_count() >= before + len(made)
    # objects made afterwards are collected as before, cycles included
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1
    gc.disable()
    with heap.imports():
        pass
    assert not gc.isenabled()  # a collector that was off stays off


@pytest.mark.slow
def test_a_real_train_and_predict_still_write_and_exit(air_csv: Path, tmp_path: Path) -> None:
    """Through the console entry point (where heap acts): the run is saved, the forecast printed, exit status 0."""
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "lstmcast"]
    env = process_env()
    train = subprocess.run([*cmd, "train", str(air_csv), "--out", str(run), "--epochs", "3", "-q"], env=env,
                           capture_output=True, text=True)  # fmt: skip
    assert train.returncode == 0, train.stderr
    predict = subprocess.run([*cmd, "predict", "--model", str(run)], env=env, capture_output=True, text=True)
    assert predict.returncode == 0, predict.stderr
    assert predict.stdout.splitlines()[0] == "timestamp,forecast" and len(predict.stdout.splitlines()) == 13
