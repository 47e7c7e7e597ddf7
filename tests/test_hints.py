"""Errors that help (issue 14, item 9): close matches, the known ids, --id-col for a long panel, no flag the user
never passed, and a wrong column caught from the CSV header before torch is imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from clitools import assert_one_error_line, process_env, run_main

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO / "tests" / "data"
TINY_ARGS = ["--lookback", "8", "--hidden", "8", "--epochs", "1", "--batch-size", "32", "--device", "cpu",
             "--threads", "1", "--combine", "off", "--quiet"]  # fmt: skip


def test_a_long_panel_without_id_col_suggests_the_id_column(capsys, tmp_path: Path) -> None:
    code, out, err = run_main(capsys, "train", DATASETS / "aus_accommodation.csv", "--target", "takings",
                              "--out", tmp_path / "run", *TINY_ARGS)  # fmt: skip
    line = assert_one_error_line(err)
    assert code == 3 and out == ""
    assert "duplicate timestamp" in line and "pass --id-col state" in line


def test_a_target_that_differs_in_case_suggests_the_column(capsys, tmp_path: Path) -> None:
    data = tmp_path / "co2.csv"
    lines = (DATASETS / "co2_weekly.csv").read_text().splitlines()
    data.write_text("\n".join(["timestamp,co2,site", *(f"{ln},MLO" for ln in lines[1:60])]) + "\n")
    code, _, err = run_main(capsys, "train", data, "--target", "CO2", "--out", tmp_path / "r")
    line = assert_one_error_line(err)
    assert code == 3 and "no column 'CO2' for --target (did you mean --target co2?)" in line


def test_a_misspelt_id_col_suggests_the_column(capsys, tmp_path: Path) -> None:
    code, _, err = run_main(capsys, "backtest", DATASETS / "aus_accommodation.csv", "--id-col", "stat")
    assert code == 3 and "(did you mean --id-col state?)" in assert_one_error_line(err)


def test_predict_with_an_unknown_id_lists_the_known_ids(capsys, tmp_path: Path) -> None:
    run = tmp_path / "run"
    code, _, err = run_main(capsys, "train", DATASETS / "visnights.csv", "--target", "NSWMetro,NSWNthCo", "--out",
                            run, "--horizon", "2", *TINY_ARGS)  # fmt: skip
    assert code == 0, err
    code, _, err = run_main(capsys, "predict", "-m", run, "--id", "NSWMetr")
    line = assert_one_error_line(err)
    assert code == 3 and "(did you mean --id NSWMetro?)" in line and "the 2 known: NSWMetro, NSWNthCo" in line


def test_a_time_column_the_model_brought_is_not_blamed_on_a_flag(capsys, tiny_run_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "renamed.csv"
    lines = (REPO / "sample_data" / "airpassengers.csv").read_text().splitlines()
    data.write_text("\n".join(["date,value", *lines[1:]]) + "\n")
    code, _, err = run_main(capsys, "predict", "-m", tiny_run_dir, data)
    line = assert_one_error_line(err)
    assert code == 3 and "for --time-col" not in line
    assert "no column 'timestamp', the time column the model was trained with" in line and "date, value" in line
    code, out, err = run_main(capsys, "predict", "-m", tiny_run_dir, data, "--time-col", "date")
    assert code == 0, err


def test_the_header_check_names_each_flag(tmp_path: Path) -> None:
    from lstmcast.errors import MissingColumn
    from lstmcast.pipeline.precheck import check_columns

    check_columns(DATASETS / "elecdaily.csv", target="demand", covariates=("workday",))
    with pytest.raises(MissingColumn, match=r"no column 'temprature' for --future-covariates \(did you mean --future-covariates temperature\?\)"):
        check_columns(DATASETS / "elecdaily.csv", target="demand", future_covariates=("temprature",))
    parquet = tmp_path / "x.parquet"
    parquet.write_bytes(b"PAR1")
    check_columns(parquet, target="anything")  # Parquet: the full reader checks


@pytest.mark.slow
def test_a_wrong_column_fails_before_torch_is_imported() -> None:
    code = (
        "import sys\nfrom lstmcast import cli\n"
        "try:\n    cli.main(['train', 'sample_data/airpassengers.csv', '--target', 'Value'])\n"
        "except SystemExit as exc:\n    print(exc.code, 'torch' in sys.modules, 'pandas' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=process_env(), capture_output=True, text=True)
    assert done.stdout.split() == ["3", "False", "False"], done.stderr
    assert "did you mean --target value?" in done.stderr
