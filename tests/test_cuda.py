"""The CUDA path: skipped on machines without a GPU (CI); run on a GPU machine with `pytest tests/test_cuda.py`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lstmcast.config import DataConfig, ModelConfig, RunConfig, TrainConfig, WindowConfig
from lstmcast.pipeline.runs import predict_run, train_run

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
AIR = Path(__file__).resolve().parents[1] / "sample_data" / "airpassengers.csv"


def config(**train: object) -> RunConfig:
    return RunConfig(
        DataConfig(),
        WindowConfig(lookback=24, horizon=12, val_size=12),
        ModelConfig(hidden_size=16),
        TrainConfig(epochs=5, batch_size=16, **train),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("amp", [False, True])
def test_trains_on_cuda_and_predicts_on_cpu(tmp_path: Path, amp: bool) -> None:
    run = train_run(AIR, config(device="cuda", amp=amp), out=tmp_path / "run")
    assert run.result.stop_reason in ("completed", "early_stop")
    assert all(np.isfinite(h.train_loss) for h in run.result.history)
    assert next(run.checkpoint.model.parameters()).device.type == "cpu"
    frame = predict_run(tmp_path / "run")
    assert len(frame) == 12 and np.isfinite(frame["forecast"]).all()


def test_cuda_and_cpu_learn_the_same_series(tmp_path: Path) -> None:
    """Same seed and data: the GPU model's validation error is close to the CPU model's (not bit-identical)."""
    gpu = train_run(AIR, config(device="cuda"), out=tmp_path / "gpu").val_metrics["lstmcast"]["mase"]
    cpu = train_run(AIR, config(device="cpu"), out=tmp_path / "cpu").val_metrics["lstmcast"]["mase"]
    assert abs(gpu - cpu) < 0.5 * max(gpu, cpu)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="NCCL data-parallel training needs two GPUs")
@pytest.mark.slow
def test_two_gpus_train_with_nccl(tmp_path: Path) -> None:
    """`--nproc 2 --device cuda`: one GPU per rank over NCCL; the run predicts on the CPU like any other."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "lstmcast", "train", str(AIR), "--lookback", "24", "--horizon", "12", "--hidden", "16",
         "--epochs", "3", "--device", "cuda", "--nproc", "2", "--out", str(tmp_path / "run"), "-q"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    frame = predict_run(tmp_path / "run")
    assert len(frame) == 12 and np.isfinite(frame["forecast"]).all()
