"""The command line: files a run writes, clean stdout for pipes, exit codes and one-line errors on stderr."""

from __future__ import annotations

import csv
import io
import json
import math
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from clitools import assert_one_error_line, process_env, run_main
from typer.testing import CliRunner

from lstmcast import cli
from lstmcast.checkpoint import format as ckpt_io

REPO = Path(__file__).resolve().parents[1]
RUN_FILES = {"model.pt", "last.pt", "metrics.csv", "loss.png", "forecast.png", "summary.json"}


def tiny_args(epochs: int = 3, val_size: int | None = 12) -> list[str]:
    """Explicit sizes and a tiny network: the tests must not depend on the defaults."""
    val = ["--val-size", str(val_size)] if val_size is not None else []
    return ["--lookback", "24", "--horizon", "12", *val, "--hidden", "8", "--epochs", str(epochs),
            "--batch-size", "32", "--patience", "5", "--device", "cpu", "--quiet"]  # fmt: skip


TINY_ARGS = tiny_args()
AIR_NEXT_YEAR = [t.strftime("%Y-%m-%d") for t in pd.date_range("1961-01-01", periods=12, freq="MS")]


def parse_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory: pytest.TempPathFactory, air_csv: Path) -> Path:
    """One run trained through the Typer app (CliRunner). Read it, never write into it."""
    out = tmp_path_factory.mktemp("cli") / "run"
    result = CliRunner().invoke(cli.app, ["train", str(air_csv), "--out", str(out), *TINY_ARGS])
    assert result.exit_code == 0, (result.output, result.exception)
    assert result.stdout == ""  # training writes files, not data
    return out


# --- help ----------------------------------------------------------------------------------------------------


def test_help() -> None:
    runner = CliRunner()
    top = runner.invoke(cli.app, ["--help"])
    assert top.exit_code == 0
    assert "train" in top.stdout and "predict" in top.stdout
    sub = runner.invoke(cli.app, ["train", "--help"])
    assert sub.exit_code == 0
    assert "--lookback" in sub.stdout and "--out" in sub.stdout
    pred = runner.invoke(cli.app, ["predict", "--help"])
    assert pred.exit_code == 0 and "--horizon" in pred.stdout and "--format" in pred.stdout


def test_help_reads_at_80_columns() -> None:
    for command in ("train", "backtest", "predict"):
        text = CliRunner().invoke(cli.app, [command, "--help"], terminal_width=80).stdout
        assert all(len(line) <= 80 for line in text.splitlines()), text
        assert "│" not in text and "…" not in text  # plain help: no panels crushing the help column
    text = CliRunner().invoke(cli.app, ["train", "--help"], terminal_width=80).stdout
    assert "Input steps per window (default: from the season)." in " ".join(text.split())
    text = CliRunner().invoke(cli.app, ["export", "--help"], terminal_width=80).stdout
    assert 'pip install "lstmcast[export]"' in text  # plain help: no markup escapes


@pytest.mark.slow
def test_help_and_version_through_python_m() -> None:
    for args in (["--help"], ["train", "--help"]):
        done = subprocess.run(
            [sys.executable, "-m", "lstmcast", *args], cwd=REPO, env=process_env(), capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert "Usage" in done.stdout
    done = subprocess.run(
        [sys.executable, "-m", "lstmcast", "--version"], cwd=REPO, env=process_env(), capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.startswith("lstmcast ")


# --- train ---------------------------------------------------------------------------------------------------


def test_train_writes_the_run_directory(cli_run: Path) -> None:
    assert {p.name for p in cli_run.iterdir()} >= RUN_FILES
    for png in ("loss.png", "forecast.png"):
        assert (cli_run / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with (cli_run / "metrics.csv").open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["epoch", "train_loss", "val_loss", "lr", "seconds", "phase"]
    fit_rows = [r for r in rows[1:] if r[5] == "fit"]
    assert [r[0] for r in fit_rows] == ["1", "2", "3"]
    assert all(math.isfinite(float(v)) for r in fit_rows for v in r[:5])
    summary = json.loads((cli_run / "summary.json").read_text())
    assert summary["rows"] == 144
    assert summary["config"]["window"]["lookback"] == 24 and summary["config"]["window"]["horizon"] == 12
    assert summary["config"]["model"]["hidden_size"] == 8
    assert summary["epochs_run"] == 3
    assert summary["refit_epochs"] == summary["best_epoch"] >= 1  # short data: refitted on all of it (auto)
    refit_rows = [r for r in rows[1:] if r[5] == "refit"]  # the refit is recorded as its own phase
    assert [int(r[0]) for r in refit_rows] == list(range(1, summary["refit_epochs"] + 1))
    assert all(r[2] == "" and math.isfinite(float(r[1])) for r in refit_rows)  # no validation part left


def test_train_prints_the_resolved_set_up_and_line_progress_when_stderr_is_no_terminal(
    air_csv: Path, tmp_path: Path
) -> None:
    args = [a for a in TINY_ARGS if a != "--quiet"]
    result = CliRunner().invoke(cli.app, ["train", str(air_csv), "--out", str(tmp_path / "run"), *args])
    assert result.exit_code == 0, (result.output, result.exception)
    err = result.stderr  # a CliRunner's stderr is no terminal, as in a log
    setup = next(line for line in err.splitlines() if line.startswith("set-up: "))
    for part in ("season 12", "lookback 24", "horizon 12", "validation 12", "padding off", "norm ", "scaler ",
                 "epochs <= 3", "batch 32", "device cpu", "thread"):  # fmt: skip
        assert part in setup, setup
    epoch_lines = [line for line in err.splitlines() if line.startswith("fit epoch ")]
    assert epoch_lines[0].startswith("fit epoch 1/3") and "best " in epoch_lines[0] and "patience " in epoch_lines[0]
    assert "ETA" in epoch_lines[0]
    assert epoch_lines[-1].startswith("fit epoch 3/3")
    assert any(line.startswith("refit epoch ") for line in err.splitlines())
    assert "\x1b[" not in err and "━" not in err  # no bar, no colour codes in a log


def test_refit_off_keeps_the_early_stopped_model(cli_run: Path, tmp_path: Path, air_csv: Path) -> None:
    off = tmp_path / "off"
    result = CliRunner().invoke(cli.app, ["train", str(air_csv), "--out", str(off), *TINY_ARGS, "--refit", "off"])
    assert result.exit_code == 0, result.output
    on, no = (json.loads((d / "summary.json").read_text()) for d in (cli_run, off))
    assert no["refit_epochs"] == 0 and no["config"]["train"]["refit"] == "off"
    assert on["validation"] == no["validation"]  # held-out metrics come from the first fit in both
    a, b = ckpt_io.load(cli_run).model.state_dict(), ckpt_io.load(off).model.state_dict()
    assert a.keys() == b.keys() and any(not torch.equal(a[k], b[k]) for k in a)  # the refit is another model


def test_two_runs_under_one_project_get_distinct_directories(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, air_csv: Path
) -> None:
    project = tmp_path / "proj"
    tiny = tiny_args(epochs=1)
    for _ in range(2):
        code, out, err = run_main(capsys, "train", air_csv, "--project", project, "--name", "exp", *tiny)
        assert code == 0, err
        assert out == ""
    dirs = sorted(p.name for p in project.iterdir())
    assert dirs == ["exp", "exp2"]
    for d in dirs:
        assert {p.name for p in (project / d).iterdir()} >= RUN_FILES
        assert json.loads((project / d / "summary.json").read_text())["run_dir"] == str(project / d)


def test_out_into_a_non_empty_directory_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, air_csv: Path
) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, stdout, err = run_main(capsys, "train", air_csv, "--out", out, *TINY_ARGS)
    assert code == 2
    assert "not empty" in assert_one_error_line(err)
    assert stdout == ""
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


# --- predict -------------------------------------------------------------------------------------------------


def test_predict_csv_on_stdout(cli_run: Path) -> None:
    result = CliRunner().invoke(cli.app, ["predict", "--model", str(cli_run)], env={"FORCE_COLOR": "1"})
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout
    assert result.stderr == ""
    assert result.stdout.splitlines()[0] == "timestamp,forecast"
    rows = parse_csv(result.stdout)
    assert len(rows) == 12
    assert [r["timestamp"] for r in rows] == AIR_NEXT_YEAR  # monthly, right after 1960-12
    values = [float(r["forecast"]) for r in rows]
    assert all(math.isfinite(v) and 0 < v < 2000 for v in values)


def test_predict_json_lines(cli_run: Path) -> None:
    runner = CliRunner()
    as_json = runner.invoke(cli.app, ["predict", "--model", str(cli_run), "--format", "json"])
    as_csv = runner.invoke(cli.app, ["predict", "--model", str(cli_run)])
    assert as_json.exit_code == 0 and as_csv.exit_code == 0
    records = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert len(records) == 12
    assert all(set(r) == {"timestamp", "forecast"} for r in records)
    assert [r["timestamp"] for r in records] == AIR_NEXT_YEAR
    csv_values = [float(r["forecast"]) for r in parse_csv(as_csv.stdout)]
    assert [r["forecast"] for r in records] == pytest.approx(csv_values, rel=1e-8)


def test_predict_beyond_the_trained_horizon(cli_run: Path) -> None:
    result = CliRunner().invoke(cli.app, ["predict", "--model", str(cli_run), "--horizon", "30"])
    assert result.exit_code == 0
    rows = parse_csv(result.stdout)
    assert len(rows) == 30
    assert [r["timestamp"] for r in rows[:12]] == AIR_NEXT_YEAR
    assert rows[-1]["timestamp"] == "1963-06-01"
    assert "note:" in result.stderr and "30" in result.stderr and "12" in result.stderr
    assert "note" not in result.stdout


def test_predict_after_given_data_matches_the_stored_history(
    capsys: pytest.CaptureFixture[str], cli_run: Path, air_csv: Path, write_csv
) -> None:
    code, stored, err = run_main(capsys, "predict", "--model", cli_run)
    assert code == 0 and err == ""
    code, given, err = run_main(capsys, "predict", "--model", cli_run, air_csv)
    assert code == 0 and err == ""
    assert given == stored
    lines = air_csv.read_text().splitlines()
    before_1960 = write_csv("\n".join(lines[:-12]) + "\n")
    code, earlier, err = run_main(capsys, "predict", "--model", cli_run, "--horizon", "2", before_1960)
    assert code == 0, err
    assert [r["timestamp"] for r in parse_csv(earlier)] == ["1960-01-01", "1960-02-01"]


@pytest.mark.slow
def test_real_pipe_into_head(cli_run: Path, air_csv: Path, tmp_path: Path) -> None:
    """cat data | lstmcast predict - | head -3: the reader leaves early, lstmcast exits 0 and quietly."""
    errfile = tmp_path / "stderr.txt"
    script = (
        f"cat {shlex.quote(str(air_csv))} | {shlex.quote(sys.executable)} -m lstmcast predict "
        f"--model {shlex.quote(str(cli_run))} --horizon 5000 - 2>{shlex.quote(str(errfile))} | head -3; "
        'echo "status ${PIPESTATUS[*]}"'
    )
    done = subprocess.run(
        ["bash", "-c", script], cwd=REPO, env=process_env(), capture_output=True, text=True, timeout=120
    )
    lines = done.stdout.splitlines()
    assert lines[-1] == "status 0 0 0", (done.stdout, errfile.read_text())
    assert lines[0] == "timestamp,forecast"
    assert [line.split(",")[0] for line in lines[1:3]] == AIR_NEXT_YEAR[:2]
    err = errfile.read_text()
    assert "Traceback" not in err and "error" not in err.lower() and "BrokenPipe" not in err
    assert err.startswith("note: --horizon 5000")


def test_each_note_is_one_line_on_stderr(capsys: pytest.CaptureFixture[str], cli_run: Path) -> None:
    code, out, err = run_main(capsys, "predict", "--model", cli_run, "--horizon", "3000")
    assert code == 0
    assert len(out.splitlines()) == 3001
    assert err.splitlines() and all(line.startswith("note: ") for line in err.splitlines()), err


# --- exit codes and error lines ------------------------------------------------------------------------------


def test_bad_data_file_exits_3(capsys: pytest.CaptureFixture[str], write_csv, tmp_path: Path) -> None:
    bad = write_csv("timestamp,value\n2020-01-01,1\n2020-01-02,oops\n2020-01-03,3\n")
    code, out, err = run_main(capsys, "train", bad, "--out", tmp_path / "run", *TINY_ARGS)
    assert code == 3
    line = assert_one_error_line(err)
    assert "line 3" in line and "'value'" in line and "'oops'" in line
    assert out == ""
    assert not (tmp_path / "run").exists()


def test_bad_data_for_predict_exits_3(capsys: pytest.CaptureFixture[str], cli_run: Path, write_csv) -> None:
    code, out, err = run_main(capsys, "predict", "--model", cli_run, write_csv("timestamp,value\n"))
    assert code == 3
    assert "no data rows" in assert_one_error_line(err)
    assert out == ""


def test_missing_data_file_exits_3(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_main(capsys, "train", tmp_path / "absent.csv", *TINY_ARGS)
    assert code == 3
    assert "no such file" in assert_one_error_line(err)


def test_missing_model_exits_4(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run_main(capsys, "predict", "--model", tmp_path / "nothing")
    assert code == 4
    assert "no such model file or run directory" in assert_one_error_line(err)
    assert out == ""


def test_corrupt_model_exits_4(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"PK\x03\x04 certainly not a zip archive")
    code, out, err = run_main(capsys, "predict", "--model", bad)
    assert code == 4
    assert_one_error_line(err)
    assert out == ""


def test_too_short_data_with_explicit_lookback_exits_2(
    capsys: pytest.CaptureFixture[str], air_csv: Path, write_csv
) -> None:
    lines = air_csv.read_text().splitlines()
    short = write_csv("\n".join(lines[:41]) + "\n")  # 40 rows: a lookback of 40 cannot fit
    code, _, err = run_main(capsys, "train", short, "--lookback", "40", "--quiet")
    assert code == 2
    line = assert_one_error_line(err)
    assert "--lookback" in line and "has 40" in line


def test_too_short_data_with_defaults_exits_3(capsys: pytest.CaptureFixture[str], air_csv: Path, write_csv) -> None:
    lines = air_csv.read_text().splitlines()
    short = write_csv("\n".join(lines[:7]) + "\n")  # six months
    code, _, err = run_main(capsys, "train", short, "--quiet")
    assert code == 3
    assert "too little data" in assert_one_error_line(err)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--proj-size", "8"], "--proj-size 8 must be smaller than --hidden 8"),
        (["--val-size", "4"], "--val-size 4 must be at least the horizon (12)"),
    ],
)
def test_invalid_combinations_exit_2(
    capsys: pytest.CaptureFixture[str], air_csv: Path, tmp_path: Path, args: list[str], needle: str
) -> None:
    code, _, err = run_main(capsys, "train", air_csv, "--out", tmp_path / "run", *tiny_args(val_size=None), *args)
    assert code == 2
    assert needle in assert_one_error_line(err)


USAGE_ERRORS = [
    ["train", "data.csv", "--lookback", "0"],
    ["train", "data.csv", "--dropout", "1.5"],
    ["train", "data.csv", "--bogus"],
    ["forecast-it"],
    [],
]


@pytest.mark.parametrize(
    "args", USAGE_ERRORS, ids=["lookback-0", "dropout-1.5", "unknown-option", "unknown-command", "no-args"]
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    code, out, _ = run_main(capsys, *args)
    assert code == 2
    assert out == "" or args == []


@pytest.mark.parametrize(("args", "option"), [(USAGE_ERRORS[0], "--lookback"), (USAGE_ERRORS[1], "--dropout")])
def test_usage_errors_are_one_line_naming_the_option(
    capsys: pytest.CaptureFixture[str], args: list[str], option: str
) -> None:
    _, _, err = run_main(capsys, *args)
    line = assert_one_error_line(err)
    assert option in line and "internal error" not in line


@pytest.mark.slow
def test_errors_from_a_real_process(tmp_path: Path, cli_run: Path) -> None:
    """Through `python -m lstmcast`: the exit code and exactly one error line, no traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "lstmcast", "predict", "--model", str(tmp_path / "missing")],
        cwd=REPO, env=process_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 4
    assert done.stdout == ""
    assert_one_error_line(done.stderr)
