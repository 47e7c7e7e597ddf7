"""Shared fixtures: real series, a CSV writer and one tiny trained run that no test may change."""

from __future__ import annotations

import random
import signal
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import settings

from lstmcast.cli import state as cli_state_module

# No per-example deadline: timings on shared CI machines vary too much for a deadline to mean anything.
settings.register_profile("lstmcast", deadline=None)
settings.load_profile("lstmcast")

REPO = Path(__file__).resolve().parents[1]
DATASETS = Path(__file__).resolve().parent / "data"  # real series copied into the repo (see its README)
SAMPLE = REPO / "sample_data"

# The tiny run every checkpoint, forecast and CLI test shares: explicit sizes so changes to the defaults
# do not change what the tests see; the LSTM alone (--combine off: tests/test_short_series.py covers the blend).
TINY = {"lookback": 24, "horizon": 12, "val_size": 12, "hidden": 8, "epochs": 3, "batch_size": 32}


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Tiny models run fastest on one thread, and several threads crawl when other processes load the CPUs."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def seed() -> int:
    """Seed Python, NumPy and torch for tests that draw random numbers themselves."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    return 0


@pytest.fixture(scope="session")
def datasets() -> Path:
    if not (DATASETS / "airpassengers.csv").is_file():
        pytest.fail(f"test data not found at {DATASETS}: it is part of the repository (tests/data/)")
    return DATASETS


@pytest.fixture(scope="session")
def air_csv() -> Path:
    return SAMPLE / "airpassengers.csv"


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """write_csv(text, name="data.csv") -> path of a new file holding `text`."""

    def write(text: str, name: str = "data.csv") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


def _tiny_config(**train: object):
    """The RunConfig of the tiny run: explicit sizes, cpu, seed 0."""
    from lstmcast.config import ModelConfig, RunConfig, TrainConfig, WindowConfig

    return RunConfig(
        window=WindowConfig(lookback=TINY["lookback"], horizon=TINY["horizon"], val_size=TINY["val_size"]),
        model=ModelConfig(hidden_size=TINY["hidden"]),
        train=TrainConfig(
            **{
                "epochs": TINY["epochs"],
                "batch_size": TINY["batch_size"],
                "patience": 10,
                "seed": 0,
                "device": "cpu",
                "combine": "off",
                **train,
            }
        ),
    )


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, air_csv: Path):
    """A TrainRun (pipeline.train_run) on airpassengers, quiet. Read it, never write into its directory."""
    from lstmcast.pipeline.runs import train_run

    out = tmp_path_factory.mktemp("tiny") / "run"
    return train_run(air_csv, _tiny_config(), out=out)


@pytest.fixture(scope="session")
def tiny_run_dir(tiny_run):
    """The tiny run's directory; at the end of the session it must hold exactly what training wrote."""
    run_dir = Path(tiny_run.run_dir)
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    yield run_dir
    after = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    assert after == before, "a test changed the shared tiny run directory"


@pytest.fixture(autouse=True)
def cli_state(monkeypatch: pytest.MonkeyPatch):
    """cli.main installs a SIGTERM handler and keeps flags in cli.state.session: undo both after each test."""
    previous = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(cli_state_module, "session", cli_state_module.Session(debug=False))
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LSTMCAST_DEBUG", raising=False)
    yield
    signal.signal(signal.SIGTERM, previous)
