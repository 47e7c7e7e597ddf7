"""`lstmcast inspect`: the model card on stderr, its JSON on stdout, and the gate trace (--gates) of LSTM and
GRU models; a plain RNN has no gates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from clitools import run_main

import lstmcast
from lstmcast import cli
from lstmcast.checkpoint import format as ckpt_io

DATASETS = Path(__file__).resolve().parent / "data"
AIR = DATASETS / "airpassengers.csv"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY_ARGS = ["--lookback", "24", "--horizon", "12", "--val-size", "12", "--hidden", "8", "--epochs", "2",
             "--batch-size", "32", "--device", "cpu", "--threads", "1", "--quiet"]  # fmt: skip


def _train(out: Path, *extra: str) -> Path:
    try:
        cli.main(["train", str(AIR), "--out", str(out), *TINY_ARGS, *extra])
    except SystemExit as exc:
        assert not exc.code, f"training failed with exit {exc.code}"
    return out


@pytest.fixture(scope="module")
def gru_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny GRU run of this module's own: `--gates` without --out writes into it."""
    return _train(tmp_path_factory.mktemp("gru") / "run", "--cell", "gru")


@pytest.fixture(scope="module")
def rnn_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _train(tmp_path_factory.mktemp("rnn") / "run", "--cell", "rnn")


def test_card_goes_to_stderr_only(capsys, tiny_run_dir: Path):
    code, stdout, err = run_main(capsys, "inspect", "-m", tiny_run_dir)
    assert code == 0, err
    assert stdout == ""
    params = sum(p.numel() for p in ckpt_io.load(tiny_run_dir).model.parameters())
    assert "lstmcast model card" in err
    assert f"LSTM hidden 8 x 1 layer(s); {params:,} parameters" in err
    assert "lookback 24, horizon 12, validation 12" in err
    assert f"lstmcast {lstmcast.__version__}, torch {torch.__version__}" in err
    assert "conformal calibration stored" in err
    assert "gate" not in err  # no gate summary without --gates


def test_card_as_json(capsys, tiny_run_dir: Path):
    code, stdout, err = run_main(capsys, "inspect", "-m", tiny_run_dir, "-f", "json")
    assert code == 0, err
    assert err == ""
    card = json.loads(stdout)
    ckpt = ckpt_io.load(tiny_run_dir)
    assert card["parameters"] == sum(p.numel() for p in ckpt.model.parameters())
    assert card["config"] == json.loads(json.dumps(ckpt.config.to_dict()))
    assert card["config"]["model"]["hidden_size"] == 8 and card["config"]["window"]["lookback"] == 24
    assert card["schema"]["target"] == "value"
    assert card["schema"]["freq"] == "MS"
    assert card["schema"]["last_time"].startswith("1960-12-01")
    assert card["lstmcast_version"] == lstmcast.__version__
    assert card["torch_version"] == torch.__version__
    assert isinstance(card["format_version"], int) and card["format_version"] >= 1
    assert card["series"] == 1 and card["intervals"] is True
    assert set(card["validation"]) == {"lstmcast", "seasonal naive"}
    assert card["validation"]["lstmcast"]["mase"] > 0
    assert Path(card["file"]).name == "model.pt"
    assert "gates" not in card


def test_gates_of_an_lstm_into_out(capsys, tiny_run_dir: Path, tmp_path: Path):
    out = tmp_path / "figs"
    code, stdout, err = run_main(capsys, "inspect", "-m", tiny_run_dir, "--gates", "--out", out)
    assert code == 0, err
    assert stdout == ""
    assert (out / "gates.png").read_bytes()[:8] == PNG_MAGIC
    assert not (tiny_run_dir / "gates.png").exists()
    assert "LSTM last layer, mean forget gate per step" in err
    assert "share of a step's contribution still in the final state" in err
    assert str(out / "gates.png") in err


def test_gates_as_json(capsys, tiny_run_dir: Path, tmp_path: Path):
    code, stdout, err = run_main(capsys, "inspect", "-m", tiny_run_dir, "--gates", "--out", tmp_path, "-f", "json")
    assert code == 0, err
    gates = json.loads(stdout)["gates"]
    assert gates["keep_gate"] == "forget"
    assert len(gates["keep_mean"]) == 24 and len(gates["retention"]) == 24
    assert all(0.0 <= v <= 1.0 for v in gates["keep_mean"])
    assert all(0.0 <= v <= 1.0 + 1e-9 for v in gates["retention"])
    assert gates["figure"] == str(tmp_path / "gates.png")
    assert (tmp_path / "gates.png").read_bytes()[:8] == PNG_MAGIC


def test_gates_of_a_gru_into_the_run_dir(capsys, gru_run: Path):
    code, stdout, err = run_main(capsys, "inspect", "-m", gru_run, "--gates")
    assert code == 0, err
    assert stdout == ""
    assert "GRU last layer, mean update gate per step" in err
    assert "forget" not in err
    assert (gru_run / "gates.png").read_bytes()[:8] == PNG_MAGIC
    assert "GRU hidden 8" in err


def test_gates_of_a_plain_rnn_is_a_usage_error(capsys, rnn_run: Path, tmp_path: Path):
    code, stdout, err = run_main(capsys, "inspect", "-m", rnn_run)
    assert code == 0, err  # the card itself is fine
    assert "RNN hidden 8" in err
    code, stdout, err = run_main(capsys, "inspect", "-m", rnn_run, "--gates", "--out", tmp_path)
    assert code == 2
    assert stdout == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstmcast: error: ")
    assert "a plain RNN has no gates" in err
    assert not (tmp_path / "gates.png").exists()


def test_inspect_a_missing_model_exits_4(capsys, tmp_path: Path):
    code, stdout, err = run_main(capsys, "inspect", "-m", tmp_path / "nothing")
    assert code == 4
    assert stdout == ""
    assert err.startswith("lstmcast: error: ")
