"""Rolling-origin backtests and evaluation of a trained model: origins, baseline scores by hand, no leakage of
fold-test rows into the scaler, and the backtest / evaluate commands."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from clitools import run_main

from lstmcast import cli
from lstmcast.config import ModelConfig, RunConfig, TrainConfig, WindowConfig
from lstmcast.errors import ConfigError
from lstmcast.evaluation.backtest import backtest, origins
from lstmcast.io.data import load_series
from lstmcast.prep.scaling import Scaler

DATASETS = Path(__file__).resolve().parent / "data"
AIR = DATASETS / "airpassengers.csv"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BASELINES = ("naive", "seasonal naive", "drift")

# Explicit sizes and a tiny network: nothing depends on the defaults.
TINY_ARGS = ["--lookback", "24", "--horizon", "12", "--val-size", "12", "--hidden", "8", "--epochs", "2",
             "--batch-size", "32", "--device", "cpu", "--threads", "1"]  # fmt: skip


def tiny_config() -> RunConfig:
    return RunConfig(
        window=WindowConfig(lookback=24, horizon=12, val_size=12),
        model=ModelConfig(hidden_size=8),
        train=TrainConfig(epochs=2, batch_size=32, patience=5, seed=0, device="cpu"),
    )


@pytest.fixture(scope="module")
def air_values() -> np.ndarray:
    return pd.read_csv(AIR)["value"].to_numpy(dtype="float64")


@pytest.fixture(scope="module")
def air_result():
    """A 2-fold library backtest of the tiny config on airpassengers (144 rows: origins 120 and 132)."""
    return backtest(load_series(AIR), tiny_config(), folds=2)


@pytest.fixture(scope="module")
def first_120(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """airpassengers up to 1958-12 (120 rows)."""
    path = tmp_path_factory.mktemp("bt") / "air120.csv"
    lines = AIR.read_text().splitlines()
    path.write_text("\n".join(lines[:121]) + "\n")
    return path


@pytest.fixture(scope="module")
def run_120(tmp_path_factory: pytest.TempPathFactory, first_120: Path) -> Path:
    """A tiny run trained on the first 120 rows of airpassengers."""
    out = tmp_path_factory.mktemp("bt") / "run120"
    try:
        cli.main(["train", str(first_120), "--out", str(out), *TINY_ARGS, "--quiet"])
    except SystemExit as exc:
        assert not exc.code, f"training failed with {exc.code}"
    return out


def parse_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# --- origins ---------------------------------------------------------------------------------------------


def test_origins_count_back_from_the_end_by_step():
    assert origins(144, 3, 12, 12) == [108, 120, 132]
    assert origins(100, 2, 5, 10) == [85, 90]
    assert origins(50, 1, 7, 4) == [46]


def test_origins_leave_a_full_horizon_after_the_last():
    n, horizon = 97, 7
    for k, step in ((1, 3), (4, 5), (6, 2)):
        got = origins(n, k, step, horizon)
        assert len(got) == k
        assert got[-1] + horizon == n
        assert np.all(np.diff(got) == step)


# --- the library backtest ----------------------------------------------------------------------------------


def test_backtest_scores_every_model_on_each_fold(air_result):
    assert [f.fold for f in air_result.folds] == [1, 2]
    assert [f.origin for f in air_result.folds] == [120, 132]
    assert [f.times[0] for f in air_result.folds] == ["1959-01-01T00:00:00", "1960-01-01T00:00:00"]
    assert air_result.season == 12
    for f in air_result.folds:
        assert set(f.scores) == {"lstmcast", *BASELINES}
        assert len(f.actual) == 12 and len(f.times) == 12
        for model, s in f.scores.items():
            assert {"mae", "rmse", "mape", "smape", "mase"} <= set(s), model
            assert all(math.isfinite(s[k]) for k in ("mae", "rmse", "smape", "mase")), model
        assert f.forecasts["lstmcast"].shape == (12,)
        assert np.isfinite(f.forecasts["lstmcast"]).all()


def test_backtest_baseline_mase_matches_hand_computation(air_result, air_values):
    y = air_values
    for f in air_result.folds:
        o = f.origin
        past, actual = y[:o], y[o : o + 12]
        np.testing.assert_array_equal(f.actual, actual)
        scale = np.mean(np.abs(past[12:] - past[:-12]))
        by_hand = {
            "naive": np.full(12, past[-1]),
            "seasonal naive": past[-12:],
            "drift": past[-1] + (past[-1] - past[0]) / (o - 1) * np.arange(1, 13),
        }
        for name, pred in by_hand.items():
            np.testing.assert_allclose(f.forecasts[name], pred)
            assert f.scores[name]["mase"] == pytest.approx(np.mean(np.abs(actual - pred)) / scale), (name, o)
            assert f.scores[name]["mae"] == pytest.approx(np.mean(np.abs(actual - pred))), (name, o)


def test_records_hold_fold_rows_then_overall_rows(air_result):
    rows = air_result.records()
    assert len(rows) == 2 * 4 + 4
    per_fold = [r for r in rows if r["fold"] != "all"]
    overall = [r for r in rows if r["fold"] == "all"]
    assert {r["fold"] for r in per_fold} == {1, 2}
    assert {r["model"] for r in overall} == {"lstmcast", *BASELINES}
    assert all(r["series"] == "" and r["origin"] == "" for r in overall)
    for r in overall:
        assert r["skill"] == pytest.approx(1 - r["rel_mase"])
        fold_mase = [f.scores[r["model"]]["mase"] for f in air_result.folds]
        assert r["mase"] == pytest.approx(np.mean(fold_mase))


def test_skill_is_one_minus_relative_mase(air_result):
    overall = air_result.overall()
    snaive = np.mean([f.scores["seasonal naive"]["mase"] for f in air_result.folds])
    assert overall["seasonal naive"]["rel_mase"] == pytest.approx(1.0)
    assert overall["seasonal naive"]["skill"] == pytest.approx(0.0)
    for model in ("lstmcast", *BASELINES):
        mase = np.mean([f.scores[model]["mase"] for f in air_result.folds])
        assert overall[model]["rel_mase"] == pytest.approx(mase / snaive)
        assert overall[model]["skill"] == pytest.approx(1 - overall[model]["rel_mase"])


def test_scaler_never_sees_fold_test_rows(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Every fold's scaler is fitted on the rows before its origin (less validation), never on the rows it is
    scored on: the rows after the first origin are made distinctive (+10000) and looked for in every fit."""
    frame = pd.read_csv(AIR)
    frame.loc[120:, "value"] += 10000.0  # the rows the two folds are scored on (origins 120 and 132)
    marked = tmp_path / "marked.csv"
    frame.to_csv(marked, index=False)
    values = frame["value"].to_numpy(dtype="float64")

    fitted: list[np.ndarray] = []
    original = Scaler.fit.__func__  # type: ignore[attr-defined]

    def recording(cls, kind, train_values, season=1):
        fitted.append(np.array(train_values, dtype="float64", copy=True))
        return original(cls, kind, train_values, season)

    monkeypatch.setattr(Scaler, "fit", classmethod(recording))
    result = backtest(load_series(marked), tiny_config(), folds=2)

    assert [f.origin for f in result.folds] == [120, 132]
    assert len(fitted) == 2, "one target scaler per fold"
    for arr, fold in zip(fitted, result.folds):
        assert arr.max() < 10000, f"fold {fold.fold}: the scaler saw rows at or after its origin"
        assert len(arr) == fold.origin - 12  # the training part: before the origin, less validation
        np.testing.assert_array_equal(arr, values[: len(arr)])


@pytest.mark.parametrize(("folds", "step"), [(12, 12), (2, 200), (0, None)])
def test_backtest_longer_than_the_series_is_a_config_error(folds, step):
    series = load_series(AIR)
    with pytest.raises(ConfigError, match="--folds"):
        backtest(series, tiny_config(), folds=folds, step=step)


# --- the backtest command ---------------------------------------------------------------------------------


def test_backtest_cli_csv_and_out_dir(capsys, tmp_path: Path):
    out = tmp_path / "bt"
    code, stdout, err = run_main(capsys, "backtest", AIR, "--folds", "2", "-f", "csv", "--out", out, *TINY_ARGS)
    assert code == 0, err
    assert "\x1b[" not in stdout
    rows = parse_csv(stdout)
    assert len(rows) == 2 * 4 + 4
    assert {"series", "fold", "origin", "model", "mae", "rmse", "mape", "smape", "mase", "rel_mase", "skill"} <= set(
        rows[0]
    )
    assert [r["origin"] for r in rows if r["model"] == "lstmcast" and r["fold"] != "all"] == [
        "1959-01-01T00:00:00", "1960-01-01T00:00:00",
    ]  # fmt: skip
    overall = {r["model"]: r for r in rows if r["fold"] == "all"}
    assert float(overall["seasonal naive"]["rel_mase"]) == pytest.approx(1.0)
    for r in overall.values():
        assert float(r["skill"]) == pytest.approx(1 - float(r["rel_mase"]), abs=1e-8)
    # the table is for humans: stderr only
    assert "Backtest of value" in err and "Backtest" not in stdout
    written = pd.read_csv(out / "backtest.csv")
    assert len(written) == len(rows)
    assert list(written.columns) == list(rows[0])
    assert (out / "backtest.png").read_bytes()[:8] == PNG_MAGIC


def test_backtest_out_writes_every_folds_forecasts(capsys, tmp_path: Path, air_values: np.ndarray):
    out = tmp_path / "bt"
    code, _, err = run_main(capsys, "backtest", AIR, "--folds", "2", "--level", "80", "--out", out, "-q", *TINY_ARGS)
    assert code == 0, err
    frame = pd.read_csv(out / "forecasts.csv")
    assert list(frame.columns) == ["fold", "cutoff", "timestamp", "actual", "forecast", "lo_80", "hi_80", "naive",
                                   "seasonal_naive", "drift"]  # fmt: skip
    assert len(frame) == 2 * 12  # one row per fold and forecast point
    assert set(frame["cutoff"]) == {"1958-12-01T00:00:00", "1959-12-01T00:00:00"}
    first = frame[frame["fold"] == 1]
    assert first["timestamp"].iloc[0] == "1959-01-01T00:00:00" and first["timestamp"].iloc[-1] == "1959-12-01T00:00:00"
    assert np.allclose(first["actual"], air_values[120:132])
    assert np.allclose(first["seasonal_naive"], air_values[108:120])  # the last season before the cutoff
    assert (frame["lo_80"] <= frame["forecast"]).all() and (frame["forecast"] <= frame["hi_80"]).all()


def test_forecast_records_of_a_panel_name_each_series(tmp_path: Path):
    wide = tmp_path / "wide.csv"
    frame = pd.read_csv(AIR)
    frame["other"] = frame["value"] * 2.0
    frame.to_csv(wide, index=False)
    result = backtest(_panel(wide), tiny_config(), folds=1)
    rows = result.forecast_records()
    assert {r["id"] for r in rows} == {"value", "other"} and len(rows) == 2 * 12
    assert all(r["cutoff"] == "1959-12-01T00:00:00" for r in rows)


def _panel(path: Path):
    from lstmcast.config import DataConfig
    from lstmcast.io.panel import load_panel

    return load_panel(path, DataConfig(target="value,other"))


def test_backtest_cli_json_lines(capsys):
    code, stdout, err = run_main(capsys, "backtest", AIR, "--folds", "1", "-f", "json", *TINY_ARGS, "--quiet")
    assert code == 0, err
    lines = stdout.splitlines()
    assert len(lines) == 4 + 4
    records = [json.loads(line) for line in lines]
    assert {r["model"] for r in records} == {"lstmcast", *BASELINES}
    assert all(isinstance(r["mase"], float) for r in records)
    assert err == ""


def test_backtest_cli_table_goes_to_stderr_only(capsys):
    code, stdout, err = run_main(capsys, "backtest", AIR, "--folds", "1", *TINY_ARGS)
    assert code == 0, err
    assert stdout == ""
    assert "Backtest of value" in err
    assert "seasonal naive" in err and "lstmcast" in err


def test_backtest_cli_too_many_folds_exits_2(capsys):
    code, stdout, err = run_main(capsys, "backtest", AIR, "--folds", "12", *TINY_ARGS, "--quiet")
    assert code == 2
    assert stdout == ""
    assert err.startswith("lstmcast: error: ") and "--folds 12" in err


# --- evaluate ------------------------------------------------------------------------------------------------


def test_evaluate_scores_the_rows_after_the_training_data(capsys, run_120: Path):
    code, stdout, err = run_main(capsys, "evaluate", "-m", run_120, AIR, "-f", "csv", "--quiet")
    assert code == 0, err
    rows = parse_csv(stdout)
    fold_rows = [r for r in rows if r["fold"] != "all"]
    origins_seen = sorted({pd.Timestamp(r["origin"]) for r in fold_rows})
    assert origins_seen == [pd.Timestamp("1959-01-01"), pd.Timestamp("1960-01-01")]
    assert all(t > pd.Timestamp("1958-12-01") for t in origins_seen)  # the last training row
    assert {r["model"] for r in fold_rows} == {"lstmcast", *BASELINES}


def test_evaluate_forecasts_from_the_data_before_each_origin(run_120: Path, first_120: Path):
    """The first origin's lstmcast forecast is the model's forecast after the 120 training rows."""
    from lstmcast.pipeline.runs import evaluate_run, predict_run

    result = evaluate_run(run_120, AIR)
    assert [f.origin for f in result.folds] == [120, 132]
    expected = predict_run(run_120, first_120)["forecast"].to_numpy()
    np.testing.assert_allclose(result.folds[0].forecasts["lstmcast"], expected, rtol=1e-5)


def test_evaluate_without_rows_after_training_exits_3(capsys, run_120: Path, first_120: Path):
    code, stdout, err = run_main(capsys, "evaluate", "-m", run_120, first_120, "--quiet")
    assert code == 3
    assert stdout == ""
    assert err.startswith("lstmcast: error: ")
    assert "after 1958-12-01" in err and "has 0" in err
