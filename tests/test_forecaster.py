"""pipeline.forecaster: the DataFrame-first API over the CLI's own entry points (issue 14, item 6)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstmcast import Forecaster
from lstmcast.errors import ConfigError

DATASETS = Path(__file__).resolve().parent / "data"
TINY = {"lookback": 24, "val_size": 12, "hidden": 8, "epochs": 2, "batch_size": 32, "device": "cpu",
        "combine": "off", "threads": 1}  # fmt: skip


@pytest.fixture(scope="module")
def air() -> pd.DataFrame:
    return pd.read_csv(Path(__file__).resolve().parents[1] / "sample_data" / "airpassengers.csv",
                       parse_dates=["timestamp"])  # fmt: skip


@pytest.fixture(scope="module")
def fitted(air: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Forecaster:
    return Forecaster(horizon=12, out=tmp_path_factory.mktemp("fc") / "run", **TINY).fit(air)


def test_fit_a_dataframe_and_predict_datetimes_with_interval_columns(fitted: Forecaster) -> None:
    frame = fitted.predict(levels=[80, 95])
    assert list(frame.columns) == ["timestamp", "forecast", "lo_80", "hi_80", "lo_95", "hi_95"]
    assert pd.api.types.is_datetime64_any_dtype(frame["timestamp"])
    assert frame["timestamp"].iloc[0] == pd.Timestamp("1961-01-01") and len(frame) == 12
    assert (frame["lo_95"] <= frame["lo_80"]).all() and (frame["hi_80"] <= frame["hi_95"]).all()
    assert len(fitted.predict(h=3)) == 3


def test_save_writes_an_ordinary_run_directory_that_load_and_the_cli_read(
    capsys, fitted: Forecaster, tmp_path: Path
) -> None:
    from clitools import run_main

    saved = fitted.save(tmp_path / "saved")
    assert {"model.pt", "config.toml", "metrics.csv", "summary.json"} <= {p.name for p in saved.iterdir()}
    again = Forecaster.load(saved).predict(levels=[80])
    assert np.allclose(again["forecast"], fitted.predict(levels=[80])["forecast"])
    code, out, err = run_main(capsys, "predict", "-m", saved)
    assert code == 0, err
    assert np.allclose([float(line.split(",")[1]) for line in out.splitlines()[1:]], again["forecast"])


def test_the_nixtla_long_format_is_detected(air: pd.DataFrame, tmp_path: Path) -> None:
    long = pd.concat(
        [pd.DataFrame({"unique_id": sid, "ds": air["timestamp"], "y": air["value"] * k}) for sid, k in (("a", 1), ("b", 2))]
    )
    fc = Forecaster(horizon=6, out=tmp_path / "run", **(TINY | {"epochs": 1})).fit(long)
    frame = fc.predict(levels=[80])
    assert list(frame.columns) == ["id", "timestamp", "forecast", "lo_80", "hi_80"]
    assert sorted(set(frame["id"])) == ["a", "b"] and len(frame) == 12


def test_backtest_returns_the_forecast_rows(air: pd.DataFrame) -> None:
    rows = Forecaster(horizon=12, **(TINY | {"epochs": 1})).backtest(air, folds=2, levels=[80])
    assert len(rows) == 24 and {"cutoff", "timestamp", "actual", "forecast", "lo_80", "hi_80"} <= set(rows.columns)
    assert pd.api.types.is_datetime64_any_dtype(rows["cutoff"])


def test_unknown_options_and_an_untrained_forecaster_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="unknown option 'hidden_units'"):
        Forecaster(hidden_units=3)
    with pytest.raises(ConfigError, match="not trained"):
        Forecaster().predict()


def test_train_run_on_something_else_than_a_file_or_dataframe_is_a_data_error() -> None:
    from lstmcast import DataError, RunConfig, train_run

    with pytest.raises(DataError, match="data must be a file path or a pandas DataFrame, not list"):
        train_run([1, 2, 3], RunConfig())  # type: ignore[arg-type]
