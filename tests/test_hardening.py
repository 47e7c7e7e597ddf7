"""The second red-team pass (issue 16): each case that broke a README promise, with the others of its family.

Families: paths built from user input; files opened for reading or writing (their type checked before opening);
numbers that become sizes or dates; messages that name files they claim to have written (and models that never
trained); internal errors where a usage or data error belongs. HARDENING_CASES counts them for the README.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from clitools import assert_one_error_line, process_env, run_main

from lstmcast import cli, configfile
from lstmcast.checkpoint import format as ckpt_io
from lstmcast.config import DataConfig, ModelConfig, RunConfig
from lstmcast.errors import CheckpointError, ConfigError, DataError
from lstmcast.files import check_name, output_target
from lstmcast.io import header
from lstmcast.io.data import check_future, load_series
from lstmcast.training import loop as train

REPO = Path(__file__).resolve().parents[1]
TINY = ["--lookback", "24", "--horizon", "12", "--val-size", "12", "--hidden", "8", "--batch-size", "32",
        "--epochs", "1", "--device", "cpu", "--quiet"]  # fmt: skip
LINUX_ROOT = sys.platform.startswith("linux") and hasattr(os, "geteuid") and os.geteuid() == 0
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")

HARDENING_CASES = [
    # paths built from user input
    "--name with ../ climbs out of --project",
    "--name that is an absolute path",
    "[run] name in a config file with a separator",
    "--name with a newline (or another control character)",
    "[run] out or project with a NUL character, or empty (ValueError)",
    "inspect --gates --out that is a file",
    "export -o /dev/full (a device) as root",
    "export -o a FIFO, a directory",
    "export -o a symlink (written through, the link kept)",
    "export -o RUN/model.pt or RUN/last.pt (replaced the model it exported)",
    "backtest --out DIR where DIR/backtest.csv is the data being read",
    "a FIFO where a run, backtest or gates file is written",
    # files opened for reading: the type checked before opening
    "model.pt that is a directory",
    "model.pt that is a symlink loop",
    "model.pt that links to /dev/zero",
    "model.pt that is a FIFO",
    "a run without model.pt (last.pt used, and said)",
    "--resume with a last.pt that is a FIFO, or a run that saved no model",
    "DATA that is a FIFO with no writer",
    "DATA that is a FIFO with a writer (read)",
    "DATA that is a character device (/dev/zero)",
    "DATA that is a symlink loop",
    "--config that is a FIFO",
    "DATA - with standard input closed",
    # numbers that become sizes or dates
    "--seed 2**64",
    "--hidden 100000 (a network of 40 billion weights)",
    "--hidden that fits the bound but not the memory limit",
    "--layers 1000",
    "predict --horizon 1000000000",
    "predict --horizon 100000 past the year 9999",
    "--threads 1000000000 (libgomp aborted the process)",
    "backtest --folds 1000000000 (listed a billion origins first)",
    "backtest or evaluate --season longer than the history (silently lag 1)",
    "LSTMCAST_DIST_TIMEOUT=inf, nan or 1e30 (OverflowError, ValueError)",
    "100,000 nested [ in a config file",
    "5,000 nested inline tables in a config file",
    # silent wrong answers and messages about files
    "a time column of quarters (1960 Q1)",
    "a time column of ISO weeks (2000-W01)",
    "a quarter or week column with a bad cell",
    "time labels in a form not read (1960 H1, FY2001): refused, not dropped",
    "--target value,value (and --covariates a,a)",
    "values of 1e27 with mse, no scaling: no model saved, and said",
    "Ctrl-C before the first epoch: no model saved, and said",
    "an older run's last.pt that never trained",
    "a data file or run directory named with brackets (d[b].csv was called d.csv)",
    "rich markup inside a checkpoint's schema (MarkupError)",
    # internal errors where one line belongs
    "predict with standard output closed (>&-)",
    "an error with standard error closed (2>&-)",
    "a disk that fills inside torch.save's writer",
    "a real 12 MiB tmpfs that fills during training",
    "SIGINT while the modules import",
]


def test_hardening_case_count_for_the_readme() -> None:
    assert len(HARDENING_CASES) == 51


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# --- paths built from user input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../../escape", "/abs/dir", "..", ".", "a/b", "a\\b", "", "a\nb"])
def test_a_run_name_is_one_directory_name(
    capsys: pytest.CaptureFixture[str], air_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(capsys, "train", air_csv, "--project", "P/inner", "--name", name, *TINY)
    assert (code, out) == (2, "")
    assert "--name" in assert_one_error_line(err)
    assert sorted(p.name for p in tmp_path.rglob("*")) == [], "nothing may be created anywhere"


def test_a_run_name_from_a_config_file_is_checked_too(
    capsys: pytest.CaptureFixture[str], air_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "c.toml"
    config.write_text('[run]\nproject = "P"\nname = "../out"\n')
    code, _, err = run_main(capsys, "train", air_csv, "--config", config, *TINY)
    assert code == 2 and "a run name is a single directory name" in assert_one_error_line(err)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("line", ['out = "a\\u0000b"', 'project = "p\\u0000q"', 'out = ""'])
def test_a_run_path_from_a_config_file_with_a_nul_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], air_csv: Path, tmp_path: Path, line: str
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f"[run]\n{line}\n")
    code, _, err = run_main(capsys, "train", air_csv, "--config", config, *TINY)
    assert code == 2 and "a path cannot be empty or hold a NUL character" in assert_one_error_line(err)


def test_check_name_accepts_plain_names() -> None:
    assert check_name("nightly-2026.12") == "nightly-2026.12"
    with pytest.raises(ConfigError):
        check_name("x\0y")


@pytest.mark.skipif(not (LINUX_ROOT and os.path.exists("/dev/full")), reason="needs root on Linux")
def test_export_to_dev_full_is_refused_and_the_device_stays(
    capsys: pytest.CaptureFixture[str], tiny_run_dir: Path
) -> None:
    code, out, err = run_main(capsys, "export", "-m", tiny_run_dir, "--format", "torchscript", "-o", "/dev/full")
    assert (code, out) == (2, "")
    assert "a character device, not a regular file" in assert_one_error_line(err)
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


@needs_fifo
def test_export_to_a_fifo_or_a_directory_is_refused(
    capsys: pytest.CaptureFixture[str], tiny_run_dir: Path, tmp_path: Path
) -> None:
    fifo = tmp_path / "model.ts"
    os.mkfifo(fifo)
    for target, what in ((fifo, "FIFO"), (tmp_path, "directory")):
        code, _, err = run_main(capsys, "export", "-m", tiny_run_dir, "--format", "torchscript", "-o", target)
        assert code == 2 and what in assert_one_error_line(err)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_export_through_a_symlink_writes_its_target_and_keeps_the_link(
    capsys: pytest.CaptureFixture[str], tiny_run_dir: Path, tmp_path: Path
) -> None:
    real, link = tmp_path / "real.ts", tmp_path / "link.ts"
    real.write_bytes(b"old")
    link.symlink_to(real)
    code, _, err = run_main(capsys, "export", "-m", tiny_run_dir, "--format", "torchscript", "-o", link)
    assert code == 0, err
    assert link.is_symlink() and real.read_bytes()[:2] == b"PK"
    assert torch.jit.load(str(link)) is not None


@pytest.mark.parametrize("name", ["model.pt", "last.pt"])
def test_export_never_replaces_a_run_checkpoint(
    capsys: pytest.CaptureFixture[str], tiny_run_dir: Path, tmp_path: Path, name: str
) -> None:
    """`export -m RUN -o RUN/model.pt` replaced the model it exported with a TorchScript file: the run was lost."""
    run = copy_run(tiny_run_dir, tmp_path / "run")
    before = (run / name).read_bytes()
    code, _, err = run_main(capsys, "export", "-m", run, "-f", "torchscript", "-o", run / name)
    assert code == 2 and "-o" in assert_one_error_line(err)
    assert (run / name).read_bytes() == before


def test_backtest_never_writes_over_its_own_data(
    capsys: pytest.CaptureFixture[str], air_csv: Path, tmp_path: Path
) -> None:
    data = tmp_path / "backtest.csv"
    shutil.copy(air_csv, data)
    code, _, err = run_main(capsys, "backtest", data, "--out", tmp_path, *TINY, "--folds", "1")
    assert code == 2 and "that is the file this command reads" in assert_one_error_line(err)
    assert data.read_bytes() == air_csv.read_bytes()


@needs_fifo
def test_a_fifo_is_never_written_as_a_file(tmp_path: Path) -> None:
    """Files written into directories that already exist (backtest --out, inspect --out, a resumed run) go through
    the same check: a FIFO would block the write forever; an atomic rename would replace it."""
    from lstmcast.pipeline import artifacts as pipeline
    from lstmcast.ui import render

    fifo = tmp_path / "backtest.csv"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="FIFO"):
        pipeline.write_records(fifo, [{"a": 1}])
    with pytest.raises(ConfigError, match="FIFO"):
        render.loss_figure(fifo, [1], [1.0], [1.0], 1)
    with pytest.raises(ConfigError, match="FIFO"):
        ckpt_io.write_atomic(fifo, lambda fh: fh.write(b"x"))
    with pytest.raises(ConfigError, match="FIFO"):
        configfile.write(RunConfig(), fifo)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert output_target(tmp_path / "new.csv", "--out") == tmp_path / "new.csv"
    with pytest.raises(ConfigError, match="does not exist"):
        output_target(tmp_path / "no" / "new.csv", "-o")


# --- files opened for reading: the type is checked before opening --------------------------------------------------


def _damage(run: Path, kind: str) -> None:
    model = run / "model.pt"
    model.unlink()
    if kind == "directory":
        model.mkdir()
    elif kind == "symlink loop":
        model.symlink_to("model.pt")
    elif kind == "link to /dev/zero":
        model.symlink_to("/dev/zero")
    else:
        os.mkfifo(model)


@pytest.mark.parametrize("kind", ["directory", "symlink loop", "link to /dev/zero", "FIFO"])
def test_a_damaged_model_pt_is_an_error_not_a_silent_fallback_to_last_pt(
    capsys: pytest.CaptureFixture[str], tiny_run_dir: Path, tmp_path: Path, kind: str
) -> None:
    if kind in ("link to /dev/zero", "FIFO") and not (os.path.exists("/dev/zero") and hasattr(os, "mkfifo")):
        pytest.skip("needs /dev/zero and FIFOs")
    run = copy_run(tiny_run_dir, tmp_path / "run")
    _damage(run, kind)
    for command in (["predict", "-m", run], ["evaluate", "-m", run, REPO / "sample_data" / "airpassengers.csv"],
                    ["inspect", "-m", run], ["export", "-m", run, "-f", "torchscript", "-o", tmp_path / "m.ts"]):  # fmt: skip
        code, out, err = run_main(capsys, *command)
        assert (code, out) == (4, ""), (command, err)
        assert f"{run / 'model.pt'}:" in assert_one_error_line(err)


@needs_fifo
def test_resume_from_a_last_pt_that_is_not_a_file_or_from_a_run_that_saved_no_model(
    capsys: pytest.CaptureFixture[str], air_csv: Path, tiny_run_dir: Path, tmp_path: Path
) -> None:
    run = copy_run(tiny_run_dir, tmp_path / "run")
    (run / "last.pt").unlink()
    os.mkfifo(run / "last.pt")
    code, _, err = run_main(capsys, "train", air_csv, "--resume", run)
    assert code == 4 and "FIFO" in assert_one_error_line(err)
    (run / "last.pt").unlink()
    code, _, err = run_main(capsys, "train", air_csv, "--resume", run)
    assert code == 4 and "that run saved no model" in assert_one_error_line(err)


def test_a_run_without_model_pt_forecasts_from_last_pt_and_says_so(
    capsys: pytest.CaptureFixture[str], tiny_run_dir: Path, tmp_path: Path
) -> None:
    run = copy_run(tiny_run_dir, tmp_path / "run")
    (run / "model.pt").unlink()
    code, out, err = run_main(capsys, "predict", "-m", run)
    assert code == 0, err
    assert f"has no model.pt; using {run / 'last.pt'}" in err
    assert len(pd.read_csv(pd.io.common.StringIO(out))) == 12


@needs_fifo
def test_a_data_fifo_without_a_writer_is_refused_without_hanging(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(header, "PIPE_WAIT_S", 0.2)
    fifo = tmp_path / "data.csv"
    os.mkfifo(fifo)
    started = time.monotonic()
    code, out, err = run_main(capsys, "train", fifo, "--out", tmp_path / "run", *TINY)
    assert (code, out) == (3, "")
    assert "nothing writes to" in assert_one_error_line(err)
    assert time.monotonic() - started < 30
    assert not (tmp_path / "run").exists()


@needs_fifo
def test_a_data_fifo_with_a_writer_is_read(tmp_path: Path, air_csv: Path) -> None:
    fifo = tmp_path / "data.csv"
    os.mkfifo(fifo)

    def writer() -> None:
        time.sleep(0.3)  # starts after the reader, as `cat data > fifo &` may
        with open(fifo, "wb") as fh:
            fh.write(air_csv.read_bytes())

    thread = threading.Thread(target=writer)
    thread.start()
    series = load_series(fifo)
    thread.join()
    assert len(series) == 144 and series.values[0] == 112


@pytest.mark.parametrize("kind", ["/dev/zero", "symlink loop"])
def test_data_that_is_a_device_or_a_symlink_loop_is_refused(tmp_path: Path, kind: str) -> None:
    if kind == "/dev/zero":
        if not os.path.exists("/dev/zero"):
            pytest.skip("no /dev/zero")
        path = Path("/dev/zero")
    else:
        path = tmp_path / "loop.csv"
        path.symlink_to(path.name)
    with pytest.raises(DataError, match="character device|cannot read it"):
        load_series(path)


@needs_fifo
def test_a_config_file_that_is_a_fifo_is_refused_without_hanging(
    capsys: pytest.CaptureFixture[str], air_csv: Path, tmp_path: Path
) -> None:
    fifo = tmp_path / "c.toml"
    os.mkfifo(fifo)
    code, _, err = run_main(capsys, "train", air_csv, "--config", fifo, *TINY)
    assert code == 2 and "FIFO" in assert_one_error_line(err)


def test_reading_standard_input_when_it_is_closed(
    capsys: pytest.CaptureFixture[str], tiny_run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", None)
    code, out, err = run_main(capsys, "predict", "-m", tiny_run_dir, "-")
    assert (code, out) == (3, "")
    assert "standard input is closed" in assert_one_error_line(err)


# --- numbers that become sizes or dates ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--seed", "18446744073709551616"], "--seed"),
        (["--layers", "1000", "--hidden", "1"], "--layers"),
        (["--hidden", "100000"], "40,003,200,300 weights"),
        (["--threads", "1000000000"], "--threads"),
    ],
)
def test_sizes_beyond_their_bound_are_usage_errors_before_any_run_directory(
    capsys: pytest.CaptureFixture[str], air_csv: Path, tmp_path: Path, args: list[str], words: str
) -> None:
    code, out, err = run_main(capsys, "train", air_csv, "--out", tmp_path / "run", *TINY, *args)
    assert (code, out) == (2, "")
    assert words in assert_one_error_line(err)
    assert not (tmp_path / "run").exists()


def test_backtest_folds_beyond_the_data_are_refused_at_once(capsys: pytest.CaptureFixture[str], air_csv: Path) -> None:
    started = time.monotonic()
    code, _, err = run_main(capsys, "backtest", air_csv, *TINY, "--folds", "1000000000")
    assert code == 2 and "--folds 1000000000" in assert_one_error_line(err)
    assert time.monotonic() - started < 60


def test_a_season_longer_than_the_history_is_refused_not_replaced_by_lag_1(
    capsys: pytest.CaptureFixture[str], air_csv: Path
) -> None:
    """It used to report 'season 1000' while seasonal naive and MASE quietly used lag 1."""
    from lstmcast.evaluation.backtest import check_season

    code, out, err = run_main(capsys, "backtest", air_csv, *TINY, "--folds", "1", "--season", "1000")
    assert (code, out) == (2, "")
    assert "--season 1000 needs more than 1000 rows" in assert_one_error_line(err)
    check_season(12, [[132, None], [120, 60]])  # evaluate's origins: a series may join in a later fold
    with pytest.raises(ConfigError, match="the shortest history has 60"):
        check_season(60, [[132, None], [120, 60]])


def test_inspect_out_that_is_a_file_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tiny_run_dir: Path, tmp_path: Path
) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    code, _, err = run_main(capsys, "inspect", "-m", tiny_run_dir, "--gates", "--out", a_file)
    assert code == 2 and f"--out {a_file}" in assert_one_error_line(err)
    assert a_file.read_text() == "mine"


@pytest.mark.parametrize(
    ("section", "key", "value"), [("model", "num_layers", "17"), ("train", "seed", "4294967296"),
                                  ("train", "threads", "1025")],
)  # fmt: skip
def test_the_bounds_hold_for_config_files_too(tmp_path: Path, section: str, key: str, value: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f"[{section}]\n{key} = {value}\n")
    with pytest.raises(ConfigError, match="out of range"):
        configfile.read(path)
    path.write_text(f"[{section}]\n{key} = {int(value) - 1}\n")
    assert configfile.read(path) is not None


def test_a_network_over_the_weight_bound_is_refused_before_allocating() -> None:
    with pytest.raises(ConfigError, match="at most 200,000,000"):
        train.check_model_size(_resolved(RunConfig(model=ModelConfig(hidden_size=100_000))), 1)


def _resolved(asked: RunConfig):
    from lstmcast.config import resolve, resolve_window

    return resolve(asked, resolve_window(asked.window, 144, 12), 100)


def test_an_allocator_refusal_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch's CPU allocator raises a plain RuntimeError; it becomes one line naming the sizes to lower."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory: 576000000")

    monkeypatch.setattr(train.LSTMRegressor, "to", refuse)
    with pytest.raises(ConfigError, match="cannot allocate the network's"):
        train.build_model(_resolved(RunConfig()), 1, 0, 0, torch.device("cpu"))


MEMORY_LIMITED = """
import resource, sys
import torch, pandas  # noqa: F401  the large imports before the limit
from lstmcast import cli  # noqa: F401
from lstmcast.pipeline import runs  # noqa: F401
vm = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize")).split()[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + 300 * 2**20, resource.RLIM_INFINITY))
cli.main(sys.argv[1:])
"""


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
@pytest.mark.parametrize("hidden", ["6000", "3000"])
def test_a_network_beyond_the_memory_limit_is_one_line(air_csv: Path, tmp_path: Path, hidden: str) -> None:
    """Under a real address-space limit: 6000 units cannot even be allocated (refused before the run directory);
    3000 can, but not trained (Adam's state): both one line, exit 2."""
    proc = subprocess.run(
        [sys.executable, "-c", MEMORY_LIMITED, "train", str(air_csv), "--out", str(tmp_path / "run"),
         "--hidden", hidden, "--epochs", "1", "--device", "cpu", "-q"],
        capture_output=True, text=True, env=process_env(), timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "cannot allocate" in assert_one_error_line(proc.stderr)


@pytest.mark.parametrize(("horizon", "words"), [("1000000000", "less than or equal to 100000"),
                                                ("100000", "after the year 9999")])  # fmt: skip
def test_a_forecast_horizon_beyond_its_bound_or_the_calendar_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tiny_run_dir: Path, horizon: str, words: str
) -> None:
    code, out, err = run_main(capsys, "predict", "-m", tiny_run_dir, "--horizon", horizon)
    assert (code, out) == (2, "")
    assert words in err.splitlines()[-1]
    assert "Traceback" not in err


def test_future_dates_are_checked_against_the_calendar() -> None:
    check_future("2000-01-01", "D", 2_900_000)  # about 7,940 years: still before 9999
    for last, freq, steps in (("2000-01-01", "D", 3_000_000), ("1960-12-01", "MS", 100_000), ("9999-12-01", "MS", 1)):
        with pytest.raises(ConfigError, match="year 9999"):
            check_future(last, freq, steps)
    check_future(None, None, 10**9)  # positions have no calendar


@pytest.mark.parametrize("raw", ["inf", "nan", "1e30", "0", "-5", "abc"])
def test_the_distributed_timeout_from_the_environment_is_checked(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    from lstmcast.training import distributed

    monkeypatch.setenv(distributed.TIMEOUT_ENV, raw)
    with pytest.raises(ConfigError, match=distributed.TIMEOUT_ENV):
        distributed.timeout()
    monkeypatch.setenv(distributed.TIMEOUT_ENV, "600")
    assert distributed.timeout().total_seconds() == 600


@pytest.mark.parametrize("text", ["a = " + "[" * 100_000 + "]" * 100_000, "a = " + "{b = " * 5000 + "1" + "}" * 5000])
def test_deeply_nested_toml_is_a_usage_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "deep.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="nested too deeply"):
        configfile.read(path)


# --- silent wrong answers, and messages about files ----------------------------------------------------------------


def _periodic(labels: list[str]) -> str:
    values = pd.read_csv(REPO / "sample_data" / "airpassengers.csv")["value"].to_numpy()[: len(labels)]
    return "period,value\n" + "".join(f"{t},{v}\n" for t, v in zip(labels, values))


QUARTER_STYLES = {
    "1960 Q1": lambda y, q: f"{y} Q{q}",
    "1960-Q1": lambda y, q: f"{y}-Q{q}",
    "1960Q1": lambda y, q: f"{y}Q{q}",
    "Q1 1960": lambda y, q: f"Q{q} {y}",
}


@pytest.mark.parametrize("style", list(QUARTER_STYLES))
def test_quarters_are_read_as_quarterly_dates(write_csv, style: str) -> None:
    labels = [QUARTER_STYLES[style](1960 + i // 4, i % 4 + 1) for i in range(40)]
    s = load_series(write_csv(_periodic(labels)))
    assert s.time_col == "period" and s.freq is not None and s.freq.startswith("QS")
    assert s.index[0] == pd.Timestamp("1960-01-01") and s.index[5] == pd.Timestamp("1961-04-01")


def test_iso_weeks_are_read_as_weekly_dates(write_csv) -> None:
    labels = [
        f"{d.isocalendar().year}-W{d.isocalendar().week:02d}"
        for d in pd.date_range("2003-12-29", periods=60, freq="W-MON")
    ]
    s = load_series(write_csv(_periodic(labels)))
    assert s.freq == "W-MON" and s.index[0] == pd.Timestamp("2003-12-29")
    assert "2004-W53" in labels and s.index[53] == pd.Timestamp("2005-01-03")  # 2004 has 53 ISO weeks


@pytest.mark.parametrize(("labels", "bad"), [
    (["2001-W51", "2001-W52", "2001-W53", "2002-W01"], "'2001-W53' is not an ISO week"),
    (["1960 Q1", "1960 Q2", "1960 Q5", "1960 Q4"], "'1960 Q5' is not a quarter"),
])  # fmt: skip
def test_a_bad_quarter_or_week_names_its_line(write_csv, labels: list[str], bad: str) -> None:
    with pytest.raises(DataError, match=f"line 4, column 'period': {bad}"):
        load_series(write_csv(_periodic(labels)))


def test_a_quarterly_run_forecasts_dated_quarters(
    capsys: pytest.CaptureFixture[str], write_csv, tmp_path: Path
) -> None:
    labels = [f"{1949 + i // 4} Q{i % 4 + 1}" for i in range(144)]
    data = write_csv(_periodic(labels))
    code, _, err = run_main(capsys, "train", data, "--out", tmp_path / "run", *TINY)
    assert code == 0, err
    code, out, _ = run_main(capsys, "predict", "-m", tmp_path / "run", "--horizon", "2")
    assert out.splitlines()[1:] and out.splitlines()[1].startswith("1985-01-01,")


@pytest.mark.parametrize(
    "labels", [["1960 H1", "1960 H2", "1961 H1", "1961 H2"], ["FY2001", "FY2002", "FY2003", "FY2004"]]
)
def test_time_labels_in_a_form_not_read_are_refused_not_dropped(write_csv, labels: list[str]) -> None:
    with pytest.raises(DataError, match=f"column 'period' holds labels like '{labels[0]}'"):
        load_series(write_csv(_periodic(labels)))


def test_other_text_columns_still_leave_rows_as_positions(write_csv) -> None:
    text = "note,value\n" + "".join(f"{n},{v}\n" for n, v in zip(["ok", "ok", "checked", "ok"] * 10, range(40)))
    s = load_series(write_csv(text))
    assert s.index is None and len(s) == 40


@pytest.mark.parametrize("flag", ["--target", "--covariates"])
def test_a_column_listed_twice_is_a_usage_error(flag: str) -> None:
    kwargs = {"target": "value,value"} if flag == "--target" else {"target": "y", "covariates": "a,a"}
    with pytest.raises(ConfigError, match=f"{flag} names column '[a-z]+' twice"):
        DataConfig(**kwargs)


def test_a_loss_that_is_never_finite_saves_no_model_and_says_so(
    capsys: pytest.CaptureFixture[str], write_csv, tmp_path: Path
) -> None:
    t = pd.date_range("2000-01-01", periods=120, freq="MS")
    values = 1e27 * (1 + 0.5 * np.sin(np.arange(120)))
    data = write_csv("timestamp,value\n" + "".join(f"{d:%Y-%m-%d},{v!r}\n" for d, v in zip(t, values.tolist())))
    run = tmp_path / "run"
    code, out, err = run_main(capsys, "train", data, "--out", run, "--loss", "mse", "--norm", "none", "--scaler",
                              "none", *TINY)  # fmt: skip
    assert (code, out) == (3, "")
    line = assert_one_error_line(err)
    assert "no model was saved" in line and "model.pt" not in line
    assert sorted(p.name for p in run.iterdir() if not p.name.startswith(".")) == [
        "config.toml", "metrics.csv", "summary.json"]  # fmt: skip
    assert "holds config.toml, metrics.csv, summary.json" in line
    code, out, err = run_main(capsys, "predict", "-m", run)
    assert (code, out) == (4, "")
    assert "that run saved no model" in assert_one_error_line(err)


def test_ctrl_c_before_the_first_epoch_saves_no_model_and_says_so(
    capsys: pytest.CaptureFixture[str], air_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "step_inputs", interrupted)  # the first batch of the first epoch
    run = tmp_path / "run"
    code, out, err = run_main(capsys, "train", air_csv, "--out", run, *[a for a in TINY if a != "--quiet"])
    monkeypatch.undo()
    assert (code, out) == (130, "")
    assert "saved run to" not in err and "Validation" not in err
    assert "interrupted before the first epoch ended: no model was saved" in err
    assert not (run / "model.pt").exists() and not (run / "last.pt").exists()
    code, _, err = run_main(capsys, "predict", "-m", run)
    assert code == 4 and "saved no model" in err


def test_a_last_pt_that_never_trained_is_refused(tiny_run, tmp_path: Path) -> None:
    """Written by an older lstmcast after a Ctrl-C before the first epoch: its weights are the initial ones."""
    payload = tiny_run.checkpoint.to_payload()
    payload["info"] = {"stop_reason": "interrupted", "best_epoch": 0, "epochs_run": 0}
    torch.save(payload, tmp_path / "last.pt")
    with pytest.raises(CheckpointError, match="never completed an epoch"):
        ckpt_io.load(tmp_path / "last.pt")


def test_the_saved_run_line_lists_the_files_that_are_there(
    capsys: pytest.CaptureFixture[str], air_csv: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    code, _, err = run_main(capsys, "train", air_csv, "--out", run, *[a for a in TINY if a != "--quiet"])
    assert code == 0, err
    listed = err.split("saved run to")[1].split("(")[1].split(")")[0].replace("\n", " ").split(", ")
    assert sorted(" ".join(n.split()) for n in listed) == sorted(
        p.name for p in run.iterdir() if not p.name.startswith(".")
    )


def test_paths_with_brackets_are_named_as_they_are(
    capsys: pytest.CaptureFixture[str], air_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rich read d[b].csv as markup and printed d.csv: every message named the wrong file."""
    monkeypatch.chdir(tmp_path)
    lines = air_csv.read_text().splitlines()
    lines[5] = lines[5].split(",")[0] + ","  # one missing value: a note that names the file
    Path("d[b].csv").write_text("\n".join(lines) + "\n")
    code, _, err = run_main(capsys, "train", "d[b].csv", "--out", "R[b]", *[a for a in TINY if a != "--quiet"])
    assert code == 0, err
    assert "d[b].csv: filled 1 missing value(s)" in err and "saved run to R[b] (" in err
    code, _, err = run_main(capsys, "inspect", "-m", "R[b]", "--gates", "--out", "G[/]")
    assert code == 0, err
    assert "R[b]/model.pt" in err and "wrote G[/]/gates.png" in err
    assert Path("G[/]/gates.png").is_file()


def test_markup_inside_a_checkpoint_is_shown_not_interpreted(
    capsys: pytest.CaptureFixture[str], tiny_run, tmp_path: Path
) -> None:
    payload = tiny_run.checkpoint.to_payload()
    payload["schema"] = {**payload["schema"], "source": "[/]", "target": "[bold red]x"}
    torch.save(payload, tmp_path / "m.pt")
    code, _, err = run_main(capsys, "inspect", "-m", tmp_path / "m.pt")
    assert code == 0, err
    assert "[/]:" in err and "'[bold red]x'" in err  # before: MarkupError, exit 1


# --- internal errors where one line belongs ------------------------------------------------------------------------


def test_predict_with_standard_output_closed_is_one_line(
    capsys: pytest.CaptureFixture[str], tiny_run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdout", None)
    code, _, err = run_main(capsys, "predict", "-m", tiny_run_dir)
    assert code == 2
    assert "standard output is closed" in assert_one_error_line(err)


@pytest.mark.slow
def test_closed_standard_streams_as_real_processes(tiny_run_dir: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "lstmcast", "predict", "-m", str(tiny_run_dir)], stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, env=process_env(), timeout=120, pass_fds=(), close_fds=True,
        preexec_fn=lambda: os.close(1),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "standard output is closed" in assert_one_error_line(proc.stderr)
    proc = subprocess.run(
        [sys.executable, "-m", "lstmcast", "train", "x.csv", "--lookback", "0"], stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, env=process_env(), timeout=120, preexec_fn=lambda: os.close(2),
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == b""


class _FillsUp:
    """A file whose writes fail with ENOSPC once `room` bytes are written (a disk filling during torch.save)."""

    def __init__(self, fh, room: int) -> None:
        self._fh, self._room = fh, room

    def write(self, data) -> int:
        self._room -= len(data)
        if self._room < 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self._fh.write(data)

    def __getattr__(self, name: str):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._fh.close()


def test_a_disk_filling_inside_torch_save_is_the_no_space_line(
    capsys: pytest.CaptureFixture[str], air_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torch.save turns the OSError of its file's write into RuntimeError('... unexpected pos'); write_atomic
    raises the OSError, which the CLI reports as the documented "no space left" line."""
    real_fdopen = os.fdopen
    monkeypatch.setattr(ckpt_io.os, "fdopen", lambda fd, mode: _FillsUp(real_fdopen(fd, mode), 20_000))
    with pytest.raises(OSError) as caught:
        ckpt_io.write_atomic(tmp_path / "x.pt", lambda fh: torch.save({"w": torch.zeros(100_000)}, fh))
    assert caught.value.errno == errno.ENOSPC
    assert not list(tmp_path.iterdir())
    run = tmp_path / "run"
    code, out, err = run_main(capsys, "train", air_csv, "--out", run, *TINY)
    assert (code, out) == (1, "")
    assert "no space left on the device" in assert_one_error_line(err)
    assert not list(run.glob(".*.tmp"))


class _InterruptImport:
    """A meta-path finder that raises KeyboardInterrupt on importing lstmcast.cli: Ctrl-C in the middle of it."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "lstmcast.cli":
            raise KeyboardInterrupt


def test_ctrl_c_while_the_cli_modules_import_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from lstmcast import entry

    monkeypatch.delitem(sys.modules, "lstmcast.cli")
    monkeypatch.setattr(sys, "meta_path", [_InterruptImport(), *sys.meta_path])
    with pytest.raises(SystemExit) as stopped:
        entry.main()
    assert stopped.value.code == 130
    assert capsys.readouterr().err == "lstmcast: error: interrupted\n"


@pytest.fixture
def small_tmpfs(tmp_path: Path):
    """A real 12 MiB file system (tmpfs, as root on Linux): room for the run directory's 8 MiB check, not for
    the checkpoints of a 1-million-weight model."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if not LINUX_ROOT or shutil.which("mount") is None:
        pytest.skip("needs root on Linux to mount a tmpfs")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(mnt)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.slow
def test_a_real_disk_filling_during_a_checkpoint_write_is_the_no_space_line(
    capsys: pytest.CaptureFixture[str], air_csv: Path, small_tmpfs: Path
) -> None:
    run = small_tmpfs / "run"
    args = [a if a != "8" else "512" for a in TINY]  # --hidden 512: about 4 MB per checkpoint, 16 MB with Adam
    code, out, err = run_main(capsys, "train", air_csv, "--out", run, *args, "--epochs", "3")
    assert (code, out) == (1, "")
    assert "no space left on the device" in assert_one_error_line(err)
    assert not list(run.glob(".*.tmp"))
    for name in ("model.pt", "last.pt"):  # whatever was saved is complete
        if (run / name).exists():
            assert ckpt_io.load(run / name) is not None


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.0, 0.05, 0.1, 0.2, 0.3])
def test_sigint_while_the_modules_import_is_one_line(air_csv: Path, tmp_path: Path, delay: float) -> None:
    """A real SIGINT `delay` seconds after the interpreter has started (Python's own start-up, before any lstmcast
    code runs, is outside the program's reach: measured first, then added)."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "import lstmcast.entry"], check=True, env=process_env())
    startup = time.monotonic() - started
    proc = subprocess.Popen(
        [sys.executable, "-m", "lstmcast", "train", str(air_csv), "--out", str(tmp_path / "run"), *TINY],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=process_env(),
    )  # fmt: skip
    time.sleep(startup + delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert proc.returncode in (130, -signal.SIGINT), err  # -SIGINT: the default action, before Python's handler
    if proc.returncode == 130:
        assert err.splitlines()[-1] == "lstmcast: error: interrupted"


def test_the_console_script_starts_through_the_light_entry_point() -> None:
    import importlib.metadata

    scripts = {e.name: e.value for e in importlib.metadata.entry_points(group="console_scripts")}
    assert scripts.get("lstmcast") == "lstmcast.entry:main"
    assert "lstmcast.cli" not in (REPO / "lstmcast" / "__main__.py").read_text()
    assert cli.main is not None
