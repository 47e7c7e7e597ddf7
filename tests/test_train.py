"""lstmcast.training.loop: real short training on airpassengers, determinism, early stopping, NaN and Ctrl-C."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

import lstmcast.training.loop as train_mod
from lstmcast import defaults
from lstmcast.config import ModelConfig, ResolvedConfig, ResolvedTrain, ResolvedWindow
from lstmcast.errors import ConfigError
from lstmcast.io.data import load_series
from lstmcast.prep.windows import Scaler, Windows, make_windows
from lstmcast.training.loop import EpochLog, TrainResult, evaluate_loss, fit, loss_function, refit, resolve_device

WINDOW = ResolvedWindow(lookback=24, horizon=12, val_size=24)


@pytest.fixture(scope="module")
def air_values(air_csv: Path):
    return load_series(air_csv).values


@pytest.fixture
def windows(air_values) -> Windows:
    """Fresh windows over scaled airpassengers: 120 training rows, 24 validation rows."""
    n_train = len(air_values) - WINDOW.val_size
    scaler = Scaler.fit("standard", air_values[:n_train])
    return make_windows(scaler.transform(air_values), WINDOW, n_train)


def config(**train: object) -> ResolvedConfig:
    values = {
        "epochs": 4,
        "batch_size": 32,
        "patience": 50,
        "lr": 1e-2,
        "seed": 0,
        "device": "cpu",
        "loss": "mse",
        **train,
    }
    return ResolvedConfig(window=WINDOW, model=ModelConfig(hidden_size=8), train=ResolvedTrain(**values))  # type: ignore[arg-type]


def state_of(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def val_loss_of(model: nn.Module, windows: Windows) -> float:
    return evaluate_loss(model, windows, windows.val_starts, "window", loss_function("mse"), torch.device("cpu"))


def test_short_training_lowers_the_validation_loss(windows: Windows) -> None:
    logs: list[tuple[EpochLog, bool]] = []
    res = fit(windows, config(epochs=5), on_epoch_end=lambda log, model, improved: logs.append((log, improved)))
    assert res.stop_reason == "completed" and res.epochs_run == 5
    hist = res.history
    assert [h.epoch for h in hist] == [1, 2, 3, 4, 5]
    assert all(h.lr == 1e-2 and h.seconds >= 0 and math.isfinite(h.val_loss) for h in hist)
    assert res.best_val < hist[0].val_loss
    assert hist[-1].train_loss < hist[0].train_loss
    assert res.best_val == min(h.val_loss for h in hist)
    assert hist[res.best_epoch - 1].val_loss == res.best_val
    # The callback saw every epoch, and `improved` means a new best validation loss.
    best = math.inf
    for log, improved in logs:
        assert improved == (log.val_loss < best)
        best = min(best, log.val_loss)
    assert [log for log, _ in logs] == hist
    assert not res.model.training
    assert all(p.device.type == "cpu" for p in res.model.parameters())
    assert val_loss_of(res.model, windows) == pytest.approx(res.best_val, rel=1e-6)


def test_same_seed_same_model_other_seed_other_model(windows: Windows) -> None:
    a = fit(windows, config(epochs=2, seed=7))
    b = fit(windows, config(epochs=2, seed=7))
    c = fit(windows, config(epochs=2, seed=8))
    assert same_state(a.model.state_dict(), b.model.state_dict())
    assert same_state(a.last_state, b.last_state)
    assert [(h.train_loss, h.val_loss) for h in a.history] == [(h.train_loss, h.val_loss) for h in b.history]
    assert not same_state(a.model.state_dict(), c.model.state_dict())


def test_early_stopping_restores_the_best_weights(windows: Windows) -> None:
    """After epoch 2 the weights are wrecked, so epoch 3 cannot beat the best: patience 1 stops there."""
    states: dict[int, dict[str, torch.Tensor]] = {}

    def wreck_after_two(log: EpochLog, model: nn.Module, improved: bool) -> None:
        states[log.epoch] = state_of(model)
        if log.epoch == 2:
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(torch.randn_like(p) * 20)

    res = fit(windows, config(epochs=30, patience=1), on_epoch_end=wreck_after_two)
    assert res.stop_reason == "early_stop"
    assert res.epochs_run < 30
    assert res.best_epoch in (1, 2)
    assert res.history[-1].val_loss >= res.best_val
    assert same_state(res.model.state_dict(), states[res.best_epoch])
    assert same_state(res.last_state, states[res.epochs_run])
    assert not same_state(res.last_state, states[res.best_epoch])
    assert val_loss_of(res.model, windows) == pytest.approx(res.best_val, rel=1e-6)


class NaNAfterFirstEpoch(nn.Module):
    """MSE until `poisoned` is set, NaN after that."""

    def __init__(self) -> None:
        super().__init__()
        self.poisoned = False

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = nn.functional.mse_loss(pred, target)
        return loss * float("nan") if self.poisoned else loss


def test_nan_loss_stops_with_the_best_finite_weights(windows: Windows, monkeypatch: pytest.MonkeyPatch) -> None:
    loss = NaNAfterFirstEpoch()
    monkeypatch.setattr(train_mod, "loss_function", lambda name: loss)
    states: dict[int, dict[str, torch.Tensor]] = {}
    seen: list[tuple[int, bool]] = []

    def poison(log: EpochLog, model: nn.Module, improved: bool) -> None:
        states[log.epoch] = state_of(model)
        seen.append((log.epoch, improved))
        loss.poisoned = True

    res = fit(windows, config(epochs=10), on_epoch_end=poison)
    assert res.stop_reason == "non_finite"
    assert res.epochs_run == 2
    assert math.isnan(res.history[-1].train_loss)
    assert seen == [(1, True), (2, False)]
    assert res.best_epoch == 1
    assert same_state(res.model.state_dict(), states[1])
    assert all(torch.isfinite(p).all() for p in res.model.parameters())


def test_huge_learning_rate_stops_as_non_finite(windows: Windows) -> None:
    res = fit(windows, config(epochs=5, lr=1e30, clip=0.0))
    assert res.stop_reason == "non_finite"
    assert res.epochs_run < 5
    last = res.history[-1]
    assert not (math.isfinite(last.train_loss) and math.isfinite(last.val_loss))
    assert all(torch.isfinite(p).all() for p in res.model.parameters())


def test_ctrl_c_keeps_the_best_weights(windows: Windows) -> None:
    states: dict[int, dict[str, torch.Tensor]] = {}

    def interrupt_at_three(log: EpochLog, model: nn.Module, improved: bool) -> None:
        states[log.epoch] = state_of(model)
        if log.epoch == 3:
            raise KeyboardInterrupt

    res = fit(windows, config(epochs=10), on_epoch_end=interrupt_at_three)
    assert res.stop_reason == "interrupted"
    assert res.epochs_run == 3
    assert res.best_val == min(h.val_loss for h in res.history)
    assert same_state(res.model.state_dict(), states[res.best_epoch])
    assert same_state(res.last_state, states[3])
    assert not res.model.training


def test_loss_functions() -> None:
    pred, target = torch.tensor([0.0, 0.0]), torch.tensor([0.5, 3.0])
    assert loss_function("mse")(pred, target).item() == pytest.approx((0.25 + 9) / 2)
    assert loss_function("huber")(pred, target).item() == pytest.approx((0.125 + 2.5) / 2)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_cuda_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="--device cuda"):
        resolve_device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")


def test_every_window_of_every_series_for_a_refit(windows: Windows) -> None:
    every = windows.every()
    width = windows.lookback + windows.horizon
    assert every.train_starts.tolist() == list(range(len(windows.series) - width + 1))
    assert set(windows.train_starts.tolist()) | set(windows.val_starts.tolist()) <= set(every.train_starts.tolist())
    assert len(every.val_starts) == 0 and every.series is windows.series  # a view of the same data, not a copy


def test_without_validation_windows_every_epoch_is_kept(windows: Windows) -> None:
    res = fit(windows.every(), config(epochs=3))
    assert res.stop_reason == "completed" and res.best_epoch == 3
    assert all(math.isfinite(h.train_loss) and math.isnan(h.val_loss) for h in res.history)
    assert same_state(res.model.state_dict(), res.last_state)


def test_refit_trains_on_the_validation_part_for_the_best_epoch_count(windows: Windows) -> None:
    first = fit(windows, config(epochs=6, refit="on"))
    again = refit(windows, config(epochs=6, refit="on"), first)
    assert again is not None and again.epochs_run == first.best_epoch >= 1
    # the same as training on every window for that many epochs (same seed): deterministic
    direct = fit(windows.every(), config(epochs=first.best_epoch))
    assert same_state(again.model.state_dict(), direct.model.state_dict())
    # it learns from the validation part, which the first fit only scores: other values there leave the first
    # fit's weights as they were and change the refit's
    other = Windows(**{**vars(windows), "series": windows.series.clone()})
    other.series[-12:] += 0.5  # the last year of the validation part
    assert same_state(fit(other, config(epochs=2)).last_state, fit(windows, config(epochs=2)).last_state)
    changed = fit(other.every(), config(epochs=first.best_epoch))
    assert not same_state(changed.model.state_dict(), direct.model.state_dict())


def test_refit_auto_is_for_short_data_only(windows: Windows, monkeypatch: pytest.MonkeyPatch) -> None:
    first = fit(windows, config(epochs=2))
    assert config().train.refit == "auto" and len(windows.train_starts) < defaults.REFIT_BELOW
    assert refit(windows, config(epochs=2), first) is not None
    assert refit(windows, config(epochs=2, refit="off"), first) is None
    monkeypatch.setattr(defaults, "REFIT_BELOW", len(windows.train_starts))
    assert refit(windows, config(epochs=2), first) is not None  # the validation part is 1/6 of the rows
    monkeypatch.setattr(defaults, "REFIT_VAL_SHARE", 0.5)
    assert refit(windows, config(epochs=2), first) is None  # long enough: the early-stopped model is kept
    assert refit(windows, config(epochs=2, refit="on"), first) is not None
    stopped = TrainResult(first.model, first.history, first.best_epoch, first.best_val, "interrupted")
    assert refit(windows, config(epochs=2, refit="on"), stopped) is None


# --- start-up cost ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fused", [False, True])
def test_adam_is_torchs_adam_step_for_step(windows: Windows, fused: bool) -> None:
    """lstmcast's Adam (torch's methods without the torch._dynamo import) gives the same weights and optimiser
    state, bit for bit, as torch.optim.Adam, with torch's loop or its fused kernel (what training uses, see
    optim.adam), and their state_dicts load into each other (resume files)."""
    from lstmcast.training.optim import Adam

    def train(opt_cls: type[torch.optim.Adam]) -> tuple[nn.Module, torch.optim.Adam]:
        torch.manual_seed(0)
        net = nn.LSTM(1, 8, batch_first=True)
        opt = opt_cls(net.parameters(), lr=1e-2, fused=fused or None)
        for start in range(0, 40, 8):
            x = windows.series[start : start + 24].reshape(1, 24, -1)[:, :, :1]
            out, _ = net(x)
            opt.zero_grad(set_to_none=True)
            out[:, -1].pow(2).sum().backward()
            nn.utils.clip_grad_norm_(net.parameters(), 0.1)
            opt.step()
        return net, opt

    ours, ours_opt = train(Adam)
    torchs, torchs_opt = train(torch.optim.Adam)
    assert same_state(state_of(ours), state_of(torchs))
    a, b = ours_opt.state_dict(), torchs_opt.state_dict()
    assert a["param_groups"] == b["param_groups"]
    assert all(same_state(a["state"][k], b["state"][k]) for k in b["state"])
    ours_opt.load_state_dict(b)
    torchs_opt.load_state_dict(a)


def test_training_on_a_cpu_uses_the_fused_adam(windows: Windows) -> None:
    """One kernel call per step updates every weight (optim.adam); the optimiser state that last.pt stores says so,
    and --amp keeps torch's loop (its gradient scaler)."""
    states: list[dict] = []
    fit(windows, config(epochs=1), on_state=states.append)
    assert states[-1]["optimizer"]["param_groups"][0]["fused"] is True
    try:
        fit(windows, config(epochs=1, amp=True), on_state=states.append)
    except ConfigError:
        pytest.skip("this CPU has no bfloat16 LSTM kernels (--amp)")
    assert not states[-1]["optimizer"]["param_groups"][0]["fused"]


@pytest.mark.slow
def test_a_training_process_imports_neither_dynamo_nor_scikit_learn(air_csv: Path, tmp_path: Path) -> None:
    """torch._dynamo (1.1 s, pulled in by torch.optim's decorators) and scikit-learn (0.75 s) are not imported by
    a whole `lstmcast train` run: together they were more than the training of a short series."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from lstmcast.entry import main\n"
        f"sys.argv = ['lstmcast', 'train', {str(air_csv)!r}, '--epochs', '3', '--out', {str(tmp_path / 'run')!r}]\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print(sorted(m for m in ('torch._dynamo', 'sklearn', 'scipy') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "run" / "model.pt").is_file()


# --- threads ----------------------------------------------------------------------------------------------------


def test_training_and_its_validation_run_on_one_thread_and_give_the_callers_count_back(windows: Windows) -> None:
    """A small network on a CPU trains with one torch thread, and the calibration, the validation hook and the
    refit run on it too (two threads spin-wait on a busy machine); the caller's thread count comes back after,
    and --threads N is obeyed."""
    from lstmcast.training.run import train_model

    before = torch.get_num_threads()
    try:
        for asked, inside in ((None, 1), (2, 2)):
            torch.set_num_threads(3)
            seen: dict[str, list[int]] = {"fit": [], "after_fit": [], "refit": []}
            cfg = config(epochs=3, threads=asked, refit="on")
            train_model(
                windows, cfg,
                on_epoch_end=lambda *_, seen=seen: seen["fit"].append(torch.get_num_threads()),
                after_fit=lambda *_, seen=seen: seen["after_fit"].append(torch.get_num_threads()),
                on_refit_epoch=lambda *_, seen=seen: seen["refit"].append(torch.get_num_threads()),
            )  # fmt: skip
            assert seen == {"fit": [inside] * 3, "after_fit": [inside], "refit": [inside] * len(seen["refit"])}
            assert seen["refit"]
            assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_predict_uses_one_thread_for_a_small_network(tiny_run_dir: Path) -> None:
    from lstmcast.pipeline.runs import predict_run

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        frame = predict_run(tiny_run_dir)
        assert torch.get_num_threads() == 1 and len(frame) > 0
        assert defaults.predict_threads(defaults.ONE_THREAD_UNITS, 8) == 1
        assert defaults.predict_threads(defaults.ONE_THREAD_UNITS + 1, 8) == defaults.PREDICT_THREADS
        assert defaults.predict_threads(defaults.ONE_THREAD_UNITS + 1, 2) == 2
    finally:
        torch.set_num_threads(before)
