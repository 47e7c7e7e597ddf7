"""lstmcast.checkpoint.format: plain-data files written atomically, and every kind of bad file refused safely."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pytest
import torch
from clitools import run_main
from payloads import OpensAFile, RunsAShell

from lstmcast.checkpoint import format as ckpt_io
from lstmcast.errors import CheckpointError
from lstmcast.forecasting.forecast import forecast


@pytest.fixture(scope="module")
def payload(tiny_run_dir: Path) -> dict:
    """The raw dict of the tiny run's model.pt (each test gets a fresh copy through `fresh_payload`)."""
    return torch.load(tiny_run_dir / "model.pt", map_location="cpu", weights_only=True)


@pytest.fixture
def fresh_payload(tiny_run_dir: Path) -> dict:
    return torch.load(tiny_run_dir / "model.pt", map_location="cpu", weights_only=True)


def write_payload(raw: object, path: Path) -> Path:
    torch.save(raw, path)
    return path


def test_file_is_plain_data_for_torch_load(payload: dict, tiny_run) -> None:
    assert payload["format"] == ckpt_io.FORMAT
    assert payload["format_version"] == ckpt_io.FORMAT_VERSION
    assert set(ckpt_io.REQUIRED) <= set(payload)
    assert all(isinstance(v, torch.Tensor) for v in payload["state_dict"].values())
    assert payload["config"] == tiny_run.checkpoint.config.to_dict()
    assert payload["config"]["window"]["lookback"] == 24 and payload["config"]["model"]["hidden_size"] == 8
    assert payload["schema"]["freq"] == "MS" and payload["schema"]["last_time"].startswith("1960-12-01")
    assert payload["history"].shape == (1, 24) and payload["history"].dtype == torch.float64  # (series, lookback)
    assert payload["history"][0, -1].item() == 432.0


def test_run_directory_resolves_to_model_pt(tiny_run_dir: Path) -> None:
    assert ckpt_io.resolve_path(tiny_run_dir) == tiny_run_dir / "model.pt"


def test_round_trip_gives_identical_forecasts(tiny_run, tiny_run_dir: Path, tmp_path: Path) -> None:
    loaded = ckpt_io.load(tiny_run_dir)
    copy = ckpt_io.save(loaded, tmp_path / "copy.pt")
    again = ckpt_io.load(copy)
    expected = forecast(tiny_run.checkpoint)
    assert len(expected) == 12
    pd.testing.assert_frame_equal(forecast(loaded), expected)
    pd.testing.assert_frame_equal(forecast(again), expected)
    for k, v in tiny_run.checkpoint.model.state_dict().items():
        assert torch.equal(again.model.state_dict()[k], v)
    assert again.scaler == tiny_run.checkpoint.scaler
    assert again.config == tiny_run.checkpoint.config
    assert again.schema == tiny_run.checkpoint.schema
    assert (again.history == tiny_run.checkpoint.history).all()


def test_last_pt_holds_the_final_epoch(tiny_run, tiny_run_dir: Path) -> None:
    last = ckpt_io.load(tiny_run_dir / "last.pt")
    for k, v in tiny_run.result.last_state.items():
        assert torch.equal(last.model.state_dict()[k], v)
    assert last.info["stop_reason"] == tiny_run.result.stop_reason


def test_atomic_save_leaves_only_the_file(tiny_run, tmp_path: Path) -> None:
    target = tmp_path / "model.pt"
    ckpt_io.save(tiny_run.checkpoint, target)
    ckpt_io.save(tiny_run.checkpoint, target)  # overwrite in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


def test_failed_save_keeps_the_old_file_and_no_temporary(
    tiny_run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "model.pt"
    ckpt_io.save(tiny_run.checkpoint, target)
    before = target.read_bytes()

    def disk_full(obj: object, fh: object, *args: object, **kwargs: object) -> None:
        fh.write(b"partial")  # type: ignore[attr-defined]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        ckpt_io.save(tiny_run.checkpoint, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
    assert target.read_bytes() == before


def test_missing_file_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such model file or run directory"):
        ckpt_io.load(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="no model.pt or last.pt"):
        ckpt_io.load(tmp_path)


def test_falls_back_to_last_pt(tiny_run_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "last.pt").write_bytes((tiny_run_dir / "last.pt").read_bytes())
    assert ckpt_io.resolve_path(tmp_path) == tmp_path / "last.pt"
    assert ckpt_io.load(tmp_path).config.window.horizon == 12


def test_truncated_file(tiny_run_dir: Path, tmp_path: Path) -> None:
    raw = (tiny_run_dir / "model.pt").read_bytes()
    for cut in (0, 10, len(raw) // 2, len(raw) - 1):
        path = tmp_path / f"cut{cut}.pt"
        path.write_bytes(raw[:cut])
        with pytest.raises(CheckpointError, match="not a readable lstmcast checkpoint"):
            ckpt_io.load(path)


def test_random_bytes_are_not_called_python_objects(tmp_path: Path) -> None:
    path = tmp_path / "noise.pt"
    path.write_bytes(bytes((i * 97 + 13) % 256 for i in range(4096)))
    with pytest.raises(CheckpointError) as err:
        ckpt_io.load(path)
    msg = str(err.value)
    assert "not a readable lstmcast checkpoint" in msg
    assert "refused" not in msg and "\n" not in msg and "\x1b" not in msg


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.pt"
    path.write_text("timestamp,value\n2020-01-01,1\n")
    with pytest.raises(CheckpointError, match="not a readable lstmcast checkpoint"):
        ckpt_io.load(path)


def test_foreign_torch_file(tmp_path: Path) -> None:
    path = write_payload({"weight": torch.ones(3), "epoch": 4}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an lstmcast checkpoint"):
        ckpt_io.load(path)
    bare = write_payload(torch.zeros(2), tmp_path / "tensor.pt")
    with pytest.raises(CheckpointError, match="not an lstmcast checkpoint"):
        ckpt_io.load(bare)


def test_newer_format_version(fresh_payload: dict, tmp_path: Path) -> None:
    fresh_payload["format_version"] = ckpt_io.FORMAT_VERSION + 1
    path = write_payload(fresh_payload, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match=f"format {ckpt_io.FORMAT_VERSION + 1} is newer.*upgrade lstmcast"):
        ckpt_io.load(path)


@pytest.mark.parametrize("key", ["config", "state_dict", "scaler", "history"])
def test_incomplete_checkpoint(fresh_payload: dict, tmp_path: Path, key: str) -> None:
    del fresh_payload[key]
    with pytest.raises(CheckpointError, match=f"incomplete checkpoint, missing {key}"):
        ckpt_io.load(write_payload(fresh_payload, tmp_path / "part.pt"))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights(fresh_payload: dict, tmp_path: Path, bad: float) -> None:
    key = next(k for k in fresh_payload["state_dict"] if k.startswith("head.weight"))
    fresh_payload["state_dict"][key][0, 0] = bad
    with pytest.raises(CheckpointError, match=f"weight {key} holds NaN or infinite values"):
        ckpt_io.load(write_payload(fresh_payload, tmp_path / "nan.pt"))


def test_wrong_shape_weights(fresh_payload: dict, tmp_path: Path) -> None:
    fresh_payload["state_dict"]["head.bias"] = torch.zeros(5)
    with pytest.raises(CheckpointError, match=r"weight head.bias has shape \(5,\).*needs \(12,\)"):
        ckpt_io.load(write_payload(fresh_payload, tmp_path / "shape.pt"))


def test_weights_of_another_configuration(fresh_payload: dict, tmp_path: Path) -> None:
    fresh_payload["config"]["model"]["num_layers"] = 2
    with pytest.raises(CheckpointError, match="weights do not match"):
        ckpt_io.load(write_payload(fresh_payload, tmp_path / "layers.pt"))


def test_invalid_stored_config(fresh_payload: dict, tmp_path: Path) -> None:
    fresh_payload["config"]["model"]["cell"] = "transformer"
    with pytest.raises(CheckpointError, match="malformed checkpoint"):
        ckpt_io.load(write_payload(fresh_payload, tmp_path / "cfg.pt"))


def test_bad_history_and_scaler(fresh_payload: dict, tmp_path: Path) -> None:
    short = dict(fresh_payload, history=fresh_payload["history"][:, :5])
    with pytest.raises(CheckpointError, match="stored history must be 1 x 24 finite values"):
        ckpt_io.load(write_payload(short, tmp_path / "hist.pt"))
    flat = dict(fresh_payload, scaler={**fresh_payload["scaler"], "scale": torch.zeros(1, dtype=torch.float64)})
    with pytest.raises(CheckpointError, match="stored scaler holds zero, NaN or infinite values"):
        ckpt_io.load(write_payload(flat, tmp_path / "scaler.pt"))


def test_malformed_info_is_a_checkpoint_error(fresh_payload: dict, tmp_path: Path) -> None:
    fresh_payload["info"] = [1, 2, 3]
    with pytest.raises(CheckpointError):
        ckpt_io.load(write_payload(fresh_payload, tmp_path / "info.pt"))


@pytest.mark.parametrize("payload_kind", [OpensAFile, RunsAShell])
def test_pickle_payload_is_refused_and_never_runs(tmp_path: Path, payload_kind: type) -> None:
    marker = tmp_path / "pwned"
    evil = {"format": ckpt_io.FORMAT, "format_version": 1, "config": payload_kind(marker)}
    path = write_payload(evil, tmp_path / "evil.pt")
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="refused: the file holds Python objects") as err:
        ckpt_io.load(path)
    assert not marker.exists()
    assert "\n" not in str(err.value) and "\x1b" not in str(err.value)


def test_hostile_file_in_a_run_directory(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    write_payload(RunsAShell(marker), tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="refused"):
        ckpt_io.load(tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_during_a_write_lands_after_the_file_is_complete(tmp_path: Path, signum: int) -> None:
    """Ctrl-C or SIGTERM mid-write (inside torch.save it would surface as a RuntimeError from the C++ writer):
    held until the file is written and renamed, then delivered to its own handler (here: KeyboardInterrupt)."""

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    def write(fh: BinaryIO) -> None:
        fh.write(b"first half ")
        os.kill(os.getpid(), signum)
        time.sleep(0.05)  # the handler would run here, mid-write, without the hold
        fh.write(b"second half")

    before = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with pytest.raises(KeyboardInterrupt):
            ckpt_io.write_atomic(tmp_path / "f.bin", write)
        assert {s: signal.getsignal(s) for s in before} == {s: stop for s in before}  # handlers restored
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
    assert (tmp_path / "f.bin").read_bytes() == b"first half second half"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_the_checkpoint_keeps_the_asked_settings_beside_the_resolved_ones(tiny_run, tiny_run_dir: Path) -> None:
    loaded = ckpt_io.load(tiny_run_dir)
    assert loaded.asked is not None and loaded.asked == tiny_run.checkpoint.asked
    assert loaded.asked.data.target is None  # left to the data: resolved in `config`, open in `asked`
    assert loaded.config.data.target == "value"
    assert loaded.config.window.lookback == loaded.asked.window.lookback == 24
    assert type(loaded.config.train.epochs) is int and type(loaded.asked).__name__ == "RunConfig"


FORMAT_1 = Path(__file__).resolve().parent / "data" / "checkpoints"


def test_a_format_1_checkpoint_still_loads_and_forecasts_what_it_did(capsys: pytest.CaptureFixture[str]) -> None:
    """A model.pt written by lstmcast 0.1.0 (checkpoint format 1, tests/data/README.md): every later version loads
    it and forecasts the same numbers, intervals included, as the version that wrote it printed."""
    ckpt = ckpt_io.load(FORMAT_1 / "format1_airpassengers.pt")
    assert ckpt.info["format_version"] == 1 and ckpt.asked is None  # written before the asked settings were kept
    assert (ckpt.config.window.lookback, ckpt.config.window.horizon, ckpt.config.model.hidden_size) == (24, 12, 4)
    code, out, err = run_main(capsys, "predict", "-m", FORMAT_1 / "format1_airpassengers.pt", "--level", "80")
    assert code == 0, err
    assert out == (FORMAT_1 / "format1_airpassengers_predict.csv").read_text()


def test_checkpoints_are_written_after_the_first_epoch_then_at_most_every_few_seconds(
    air_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Short epochs do not spend their time writing files: last.pt after epoch 1, then only when
    CHECKPOINT_SECONDS have passed, and at the end. When a save falls on an epoch that did not improve, model.pt
    gets the best epoch's weights (from the resume state), not the current ones."""
    from conftest import _tiny_config

    from lstmcast import defaults
    from lstmcast.pipeline import runs

    writes: list[tuple[str, int, dict[str, torch.Tensor]]] = []
    real_save = ckpt_io.save

    def counting_save(ckpt: ckpt_io.Checkpoint, path: Path, **kw: object) -> None:
        epoch = len(ckpt.losses.get("epoch", [])) if ckpt.losses else -1
        writes.append((path.name, epoch, {k: v.clone() for k, v in ckpt.model.state_dict().items()}))
        real_save(ckpt, path, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(runs.ckpt_io, "save", counting_save)
    monkeypatch.setattr(defaults, "CHECKPOINT_SECONDS", 3600.0)
    run = runs.train_run(air_csv, _tiny_config(epochs=6, patience=50, refit="off"), out=tmp_path / "slow")
    names = [w[0] for w in writes]
    assert names == ["model.pt", "last.pt", "model.pt", "last.pt"]  # epoch 1, then the final pair
    assert run.result.epochs_run == 6

    writes.clear()
    monkeypatch.setattr(defaults, "CHECKPOINT_SECONDS", 0.0)  # every epoch is due
    run = runs.train_run(air_csv, _tiny_config(epochs=6, patience=50, refit="off"), out=tmp_path / "every")
    history = run.result.history
    assert [w[0] for w in writes].count("last.pt") == 6 + 1
    best_so_far = [min(range(i + 1), key=lambda j: history[j].val_loss) for i in range(len(history))]
    model_writes = [w for w in writes[:-2] if w[0] == "model.pt"]
    assert len(model_writes) == len(set(best_so_far))  # one per improvement, none on other epochs
    final = ckpt_io.load(tmp_path / "every" / "model.pt").model.state_dict()
    assert all(torch.equal(final[k], model_writes[-1][2][k]) for k in final)

    # A clock that moves one second per reading, due every 2.5 s: saves land on improving and other epochs alike;
    # each model.pt written mid-training must hold the weights of the best epoch so far.
    writes.clear()
    ticks = iter(range(10**6))
    monkeypatch.setattr(runs.time, "monotonic", lambda: float(next(ticks)))
    monkeypatch.setattr(defaults, "CHECKPOINT_SECONDS", 2.5)
    weights: list[dict[str, torch.Tensor]] = []
    run = runs.train_run(
        air_csv, _tiny_config(epochs=12, patience=50, refit="off", lr=3e-2), out=tmp_path / "clock",
        on_epoch_end=lambda log, model, improved: weights.append(
            {k: v.detach().clone() for k, v in model.state_dict().items()}
        ),
    )  # fmt: skip
    history = run.result.history
    saved_last = [w for w in writes[:-2] if w[0] == "last.pt"]
    assert 1 < len(saved_last) < len(history)
    for i, w in enumerate(writes[:-2]):
        if w[0] != "model.pt":
            continue
        epoch = next(
            j
            for j, x in enumerate(weights)
            if i + 1 < len(writes) and all(torch.equal(x[k], writes[i + 1][2][k]) for k in x)
        )  # the epoch of the last.pt written with it
        best = min(range(epoch + 1), key=lambda j: history[j].val_loss)
        assert all(torch.equal(w[2][k], weights[best][k]) for k in w[2])
    assert any(
        w[0] == "model.pt" and not all(torch.equal(w[2][k], writes[i + 1][2][k]) for k in w[2])
        for i, w in enumerate(writes[:-2])
    )  # some save came on an epoch that was not the best
