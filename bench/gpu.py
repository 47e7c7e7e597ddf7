"""GPU check of the CUDA path: lstmcast's training step against the bare loop on the same GPU, fp32 and --amp.

The bare loop: the series in one float32 tensor on the GPU, windows as `unfold` views, random batches gathered by
index, nn.LSTM -> last step -> Linear, MSE, Adam. lstmcast's side runs `lstmcast.training.loop.fit` with the same data
and config (its window normalisation included), one epoch capped by steps_per_epoch, tiny validation.

    python bench/gpu.py            # prints a table; needs a CUDA device
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dataclasses import replace  # noqa: E402

from lstmcast.config import DataConfig, ModelConfig, ResolvedConfig, ResolvedTrain, ResolvedWindow  # noqa: E402
from lstmcast.prep.windows import make_windows  # noqa: E402
from lstmcast.training.loop import fit  # noqa: E402

CONFIGS = {  # name: lookback, hidden, layers, batch
    "small": (24, 32, 1, 64),
    "medium": (48, 64, 2, 256),
    "long": (168, 64, 2, 256),
}
HORIZON, N, STEPS, REPS = 24, 200_000, 200, 3


def series() -> np.ndarray:
    t = np.arange(N)
    rng = np.random.default_rng(0)
    return (np.sin(2 * np.pi * t / 24) + 0.3 * np.sin(2 * np.pi * t / 168) + 0.1 * rng.standard_normal(N)).astype("float32")


class Bare(nn.Module):
    def __init__(self, hidden: int, layers: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, HORIZON)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.lstm(x)[0][:, -1])


def bare(values: np.ndarray, lookback: int, hidden: int, layers: int, batch: int, amp: bool) -> float:
    dev = torch.device("cuda")
    data = torch.from_numpy(values).to(dev)
    view = data.unfold(0, lookback + HORIZON, 1)
    model = Bare(hidden, layers).to(dev)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    gen = torch.Generator(device=dev).manual_seed(0)
    def step() -> None:
        idx = torch.randint(0, view.shape[0], (batch,), device=dev, generator=gen)
        w = view[idx]
        with torch.autocast("cuda", dtype=torch.float16, enabled=amp):
            loss = nn.functional.mse_loss(model(w[:, :lookback, None]).float(), w[:, lookback:])
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    for _ in range(20):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(STEPS):
        step()
    torch.cuda.synchronize()
    return STEPS * batch / (time.perf_counter() - t0)


def ours(values: np.ndarray, lookback: int, hidden: int, layers: int, batch: int, amp: bool) -> float:
    cfg = ResolvedConfig(
        data=DataConfig(),
        window=ResolvedWindow(lookback=lookback, horizon=HORIZON, val_size=HORIZON, calendar="off"),
        model=ModelConfig(hidden_size=hidden, num_layers=layers),
        train=ResolvedTrain(epochs=1, batch_size=batch, steps_per_epoch=STEPS, device="cuda", amp=amp, patience=5),
    )
    n_train = len(values) - HORIZON
    windows = make_windows(values, cfg.window, n_train)
    warm = replace(cfg, train=replace(cfg.train, steps_per_epoch=20))
    fit(windows, warm)
    torch.cuda.synchronize()
    result = fit(windows, cfg)
    return STEPS * batch / result.history[0].seconds  # the epoch's seconds include validation (one window)


def main() -> None:
    if not torch.cuda.is_available():
        sys.exit("bench/gpu.py needs a CUDA device")
    torch.backends.cudnn.benchmark = True
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}")
    values = series()
    print(f"{'config':<8}{'precision':<10}{'bare win/s':>14}{'lstmcast win/s':>16}{'ratio':>8}")
    for name, (lookback, hidden, layers, batch) in CONFIGS.items():
        for amp in (False, True):
            b, o = [], []
            for _ in range(REPS):  # interleaved, median of REPS
                b.append(bare(values, lookback, hidden, layers, batch, amp))
                o.append(ours(values, lookback, hidden, layers, batch, amp))
            mb, mo = statistics.median(b), statistics.median(o)
            print(f"{name:<8}{'fp16 amp' if amp else 'fp32':<10}{mb:>14,.0f}{mo:>16,.0f}{mo / mb:>8.2f}")


if __name__ == "__main__":
    main()
