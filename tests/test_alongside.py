"""training.alongside: the refit trained in a second thread while the first fit runs, on airpassengers.

It must compute what the refit after the first fit computes (same weights, same losses, bit for bit on a CPU),
never run an epoch the first fit has not validated as best, and leave no thread behind whatever happens.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import pytest
import torch

from lstmcast.config import ModelConfig, ResolvedConfig, ResolvedTrain, ResolvedWindow
from lstmcast.errors import ConfigError
from lstmcast.io.data import load_series
from lstmcast.prep.windows import Scaler, Windows, make_windows
from lstmcast.training import alongside
from lstmcast.training.loop import EpochLog, fit
from lstmcast.training.run import train_members, train_model

WINDOW = ResolvedWindow(lookback=24, horizon=12, val_size=24)


@pytest.fixture
def windows(air_csv: Path) -> Windows:
    values = load_series(air_csv).values
    n_train = len(values) - WINDOW.val_size
    scaler = Scaler.fit("standard", values[:n_train])
    return make_windows(scaler.transform(values), WINDOW, n_train)


def config(dropout: float = 0.0, hidden: int = 8, **train: object) -> ResolvedConfig:
    values = {"epochs": 14, "batch_size": 32, "patience": 4, "lr": 1e-2, "seed": 3, "device": "cpu", "loss": "mse",
              "refit": "on", "threads": 1, **train}  # fmt: skip
    model = ModelConfig(hidden_size=hidden, num_layers=2 if dropout else 1, dropout=dropout)
    return ResolvedConfig(window=WINDOW, model=model, train=ResolvedTrain(**values))  # type: ignore[arg-type]


def same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def refit_threads() -> list[object]:
    """Refits still running: threads of this process or forked children."""
    return [t for t in threading.enumerate() if t.name == "lstmcast-refit"] + [
        p for p in multiprocessing.active_children() if p.name == "lstmcast-refit"
    ]


@pytest.fixture(params=["process", "thread"])
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The refit in a forked process (Linux) or in a thread (elsewhere): both tested where both run."""
    if request.param == "process" and not alongside.FORK:
        pytest.skip("no fork on this platform: the refit runs in a thread")
    monkeypatch.setattr(alongside, "FORK", request.param == "process")
    return str(request.param)


def test_the_refit_alongside_is_the_refit_after_the_first_fit(windows: Windows, way: str) -> None:
    cfg = config()
    runs = {}
    for mode in (False, True):
        seen: list[EpochLog] = []
        trained = train_model(windows, cfg, refit_alongside=mode, on_refit_epoch=lambda log, m, i, seen=seen: seen.append(log))
        runs[mode] = (trained, seen)
    (after, after_logs), (beside, beside_logs) = runs[False], runs[True]
    assert after.refit is not None and beside.refit is not None
    assert 1 <= after.first.best_epoch < after.first.epochs_run  # it stopped early, past its best epoch
    assert same_state(beside.first.model.state_dict(), after.first.model.state_dict())
    assert same_state(beside.refit.model.state_dict(), after.refit.model.state_dict())
    assert same_state(beside.refit.last_state, after.refit.last_state)
    assert beside.refit.stop_reason == after.refit.stop_reason == "completed" and beside.refitted
    # the same epochs with the same losses, planned as the first fit's best epoch, handed to the callback in order
    assert beside.refit.epochs_run == after.refit.epochs_run == after.first.best_epoch
    key = [(h.epoch, h.train_loss, h.epochs, h.phase) for h in after.refit.history]
    assert [(h.epoch, h.train_loss, h.epochs, h.phase) for h in beside.refit.history] == key
    assert [(h.epoch, h.train_loss) for h in beside_logs] == [(h.epoch, h.train_loss) for h in after_logs]
    assert [h.epochs for h in beside_logs] == [after.first.best_epoch] * after.first.best_epoch
    assert all(h.seconds == 0 for h in beside_logs) and all(h.seconds > 0 for h in beside.refit.history)
    assert not refit_threads()


def test_the_refit_never_runs_an_epoch_that_is_not_a_best_epoch_yet(windows: Windows, way: str) -> None:
    cfg = config()
    companion = alongside.start(windows.every(), cfg)
    try:
        companion.allow(3)
        deadline = time.monotonic() + 60
        while companion.reached() < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # time for several more epochs, were it allowed any
        assert companion.reached() == 3
        companion.allow(5)
        result = companion.finish(5)
    finally:
        companion.cancel()
    assert result.epochs_run == 5 and result.stop_reason == "completed"
    direct = fit(windows.every(), config(epochs=5), phase="refit")
    assert same_state(result.model.state_dict(), direct.model.state_dict())
    assert not refit_threads()


def test_calling_the_refit_off_stops_it_within_its_epoch(windows: Windows, way: str) -> None:
    companion = alongside.start(windows.every(), config(epochs=400))
    companion.allow(400)
    deadline = time.monotonic() + 60
    while companion.reached() < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    t0 = time.monotonic()
    companion.channel.call_off()
    result = companion.finish(400)  # called off stays off: this only collects what it did
    companion.cancel()
    assert time.monotonic() - t0 < 5 and not refit_threads()
    assert result.stop_reason == "interrupted" and 1 <= result.epochs_run < 400


def test_ctrl_c_in_the_first_fit_leaves_no_refit_behind(windows: Windows, way: str) -> None:
    """Also with weights larger than a pipe's buffer (128 units: about 0.5 MB to send back), which the refit's
    process must be able to hand over while it is being called off, at once and not after CLOSE_SECONDS."""

    def interrupt(log: EpochLog, model: object, improved: bool) -> None:
        if log.epoch == 3:
            raise KeyboardInterrupt

    t0 = time.monotonic()
    trained = train_model(windows, config(hidden=128), refit_alongside=True, on_epoch_end=interrupt)
    assert trained.first.stop_reason == "interrupted" and trained.refit is None
    assert not trained.refitted and not refit_threads()
    assert time.monotonic() - t0 < alongside.CLOSE_SECONDS / 2


def test_an_error_in_the_refit_reaches_the_caller(
    windows: Windows, monkeypatch: pytest.MonkeyPatch, way: str
) -> None:
    def failing(*args: object, **kwargs: object) -> None:
        raise ConfigError("cannot allocate the memory to train")

    monkeypatch.setattr(alongside, "fit", failing)
    with pytest.raises(ConfigError, match="cannot allocate"):
        train_model(windows, config(), refit_alongside=True)
    assert not refit_threads()


def test_it_applies_only_where_it_cannot_change_a_result(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alongside, "cores", lambda: 2)
    assert alongside.applies(config())
    assert alongside.applies(config(schedule="plateau"))
    assert not alongside.applies(config(schedule="cosine"))  # its rate depends on the planned epochs
    assert not alongside.applies(config(dropout=0.2))  # both threads would draw from torch's global generator
    assert not alongside.applies(config(threads=2))  # the cores are taken by one training already
    assert not alongside.applies(config(amp=True))
    monkeypatch.setattr(alongside, "cores", lambda: 1)
    assert not alongside.applies(config())


# --- ensemble members side by side (run.train_members) ------------------------------------------------------------


def test_a_refit_process_whose_parent_has_gone_stops(windows: Windows, way: str) -> None:
    """The child holds no copy of the parent's end of the pipe: once the parent's end closes (the parent died),
    the child sees it at its next step and ends instead of training on, then waiting forever."""
    if way != "process":
        pytest.skip("a thread ends with its process")
    companion = alongside.start(windows.every(), config(epochs=20_000))
    channel = companion.channel
    assert isinstance(channel, alongside._Process)
    channel.allow(20_000)
    deadline = time.monotonic() + 60
    while companion.reached() < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    channel.conn.close()
    channel.process.join(timeout=20)
    assert not channel.process.is_alive()


def test_sigterm_to_the_refit_process_is_an_interrupted_refit(windows: Windows, way: str) -> None:
    """A process group stopped as a whole (timeout, systemd, kill -- -PGID): the refit ends as Ctrl-C would end it,
    not as an error."""
    if way != "process":
        pytest.skip("a thread gets no signal of its own")
    import os
    import signal

    companion = alongside.start(windows.every(), config(epochs=20_000))
    try:
        companion.allow(20_000)
        deadline = time.monotonic() + 60
        while companion.reached() < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        channel = companion.channel
        assert isinstance(channel, alongside._Process) and channel.process.pid is not None
        os.kill(channel.process.pid, signal.SIGTERM)
        result = companion.finish(20_000)
    finally:
        companion.cancel()
    assert result.stop_reason == "interrupted" and 1 <= result.epochs_run < 20_000
    assert not refit_threads()


def test_the_child_reads_the_same_plan_as_the_thread() -> None:
    """Both sides of a refit's pace follow one set of rules (_Plan): an "allow" after the "end" changes nothing (it
    used to call the child off), an "end" after "off" revives nothing, and the parent gone is a call-off."""
    parent, child = multiprocessing.Pipe()
    pace = alongside._PipePace(child, multiprocessing.Value("i", 0))
    for message in (("allow", 3), ("end", 5), ("allow", 9)):
        parent.send(message)
    assert pace.wait(5) and not pace.wait(6) and not pace.called_off() and pace.plan.allowed == 5
    parent.send(("off", 0))
    parent.send(("end", 7))
    assert pace.called_off() and not pace.wait(1)
    other_parent, other_child = multiprocessing.Pipe()
    gone = alongside._PipePace(other_child, multiprocessing.Value("i", 0))
    other_parent.close()
    assert gone.called_off() and not gone.wait(1)


def test_a_daemonic_process_trains_its_refit_in_a_thread(windows: Windows, monkeypatch: pytest.MonkeyPatch) -> None:
    """A multiprocessing Pool's workers are daemonic and may not start processes of their own."""

    class Daemonic:
        daemon = True

    monkeypatch.setattr(alongside, "FORK", True)
    monkeypatch.setattr(alongside.mp, "current_process", lambda: Daemonic())
    companion = alongside.start(windows.every(), config())
    try:
        assert isinstance(companion.channel, alongside._Thread)
    finally:
        companion.cancel()


def test_an_error_that_does_not_load_again_reaches_the_parent_as_its_base_class() -> None:
    from lstmcast.errors import DataError, MissingColumn

    sent = alongside._loadable(MissingColumn("no column 'x' in data.csv", "x"))
    assert type(sent) is DataError and str(sent) == "no column 'x' in data.csv"
    error = ConfigError("--hidden 9: too large")
    assert alongside._loadable(error) is error


def test_members_side_by_side_are_the_members_one_after_another(windows: Windows) -> None:
    cfg = config(epochs=6)
    apart = train_members(windows, cfg, 3, side_by_side=False)
    together = train_members(windows, cfg, 3, side_by_side=True)
    for a, b in zip(apart, together):
        assert same_state(a.first.model.state_dict(), b.first.model.state_dict())
        assert a.refit is not None and b.refit is not None
        assert same_state(a.model.state_dict(), b.model.state_dict())
        assert [h.train_loss for h in a.refit.history] == [h.train_loss for h in b.refit.history]
    # each member is its own seed's model
    assert not same_state(together[0].model.state_dict(), together[1].model.state_dict())
    direct = train_model(windows, config(epochs=6, seed=4), refit_alongside=False)
    assert same_state(direct.model.state_dict(), together[1].model.state_dict())
    assert not [t for t in threading.enumerate() if t.name.startswith("lstmcast-member")]


def test_an_error_in_one_member_stops_the_others(windows: Windows, monkeypatch: pytest.MonkeyPatch) -> None:
    from lstmcast.training import run

    real = run.train_model

    first_epoch = threading.Event()

    def second_fails(windows: Windows, cfg: ResolvedConfig, **kwargs: object) -> object:
        if cfg.train.seed == 4:
            assert first_epoch.wait(60)  # the first member is training by now
            raise ConfigError("cannot allocate the memory to train")
        return real(windows, cfg, **kwargs)  # type: ignore[arg-type]

    def seen(log: EpochLog, model: object, improved: bool) -> None:
        epochs.append(log.epoch)
        first_epoch.set()

    monkeypatch.setattr(run, "train_model", second_fails)
    epochs: list[int] = []
    t0 = time.monotonic()
    with pytest.raises(ConfigError, match="cannot allocate"):
        train_members(windows, config(epochs=20_000, patience=20_000), 3, side_by_side=True, on_epoch_end=seen)
    assert 1 <= len(epochs) < 20_000 and time.monotonic() - t0 < 60  # the first member was called off
    assert not [t for t in threading.enumerate() if t.name.startswith("lstmcast-member")]


def test_fit_series_trains_its_ensemble_side_by_side(air_csv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The library's ensemble (fit_series, backtest --ensemble): member k is the model of seed + k alone, with the
    members in two threads (as on any machine with two cores)."""
    from dataclasses import replace

    from lstmcast.config import RunConfig, TrainConfig
    from lstmcast.training.fitting import fit_series

    series = load_series(air_csv)
    cfg = RunConfig(model=ModelConfig(hidden_size=8), train=TrainConfig(epochs=3, patience=3, combine="off", seed=5))
    workers = set()
    real = alongside.side_by_side
    monkeypatch.setattr(alongside, "side_by_side", lambda c: 2)
    from lstmcast.training import run

    real_train = run.train_model

    def recorded(*args: object, **kwargs: object) -> object:
        workers.add(threading.current_thread().name)
        return real_train(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(run, "train_model", recorded)
    fitted = fit_series(series, cfg, ensemble=2)
    assert len(workers) == 2 and all(name.startswith("lstmcast-member") for name in workers)
    monkeypatch.setattr(alongside, "side_by_side", real)
    alone = fit_series(series, replace(cfg, train=replace(cfg.train, seed=6)))
    assert len(fitted.models) == len(fitted.tables) == 2 and len(alone.models) == 1
    assert same_state(fitted.models[1].state_dict(), alone.models[0].state_dict())
    assert not same_state(fitted.models[0].state_dict(), alone.models[0].state_dict())


def test_without_a_process_to_be_had_the_refit_runs_in_a_thread(
    windows: Windows, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(*args: object, **kwargs: object) -> None:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(alongside, "FORK", True)
    monkeypatch.setattr(alongside, "_Process", refused)
    companion = alongside.start(windows.every(), config())
    try:
        assert isinstance(companion.channel, alongside._Thread)
    finally:
        companion.cancel()
    assert not refit_threads()
