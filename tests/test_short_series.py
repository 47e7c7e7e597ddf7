"""Short series (the M3 competition's yearly histories of 14-41 points): padded windows, the mase scaler and the
last-value norm, the Theta combination, and every series forecast through the command line."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from clitools import run_main

from lstmcast import defaults
from lstmcast.checkpoint import format as ckpt_io
from lstmcast.config import DataConfig, ModelConfig, RunConfig, TrainConfig, WindowConfig, resolve_window
from lstmcast.forecasting.combine import SeriesHoldout, choose
from lstmcast.forecasting.forecast import forecast_with_bands
from lstmcast.io.panel import load_panel
from lstmcast.nn.theta import Theta
from lstmcast.prep.scaling import Scaler, mase_scale
from lstmcast.prep.windows import normalise
from lstmcast.training.fitting import prepare

DATA = Path(__file__).resolve().parent / "data"
YEARLY = DATA / "m3_yearly.csv"  # 16 series: the four shortest of M3 yearly (14 points) and 12 drawn at random
SMALL = ["--id-col", "id", "--horizon", "6", "--hidden", "8", "--epochs", "3", "--device", "cpu", "--threads", "1"]


@pytest.fixture(scope="module")
def yearly() -> list:
    return load_panel(YEARLY, DataConfig(id_col="id"))


@pytest.fixture(scope="module")
def yearly_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A default-settings run (small network, 3 epochs) on the M3 yearly sample."""
    from lstmcast import cli

    out = tmp_path_factory.mktemp("yearly") / "run"
    try:
        cli.main(["train", str(YEARLY), *SMALL, "--out", str(out), "--quiet"])
    except SystemExit as exc:
        assert not exc.code
    return out


def config(**window: object) -> RunConfig:
    return RunConfig(
        data=DataConfig(id_col="id"),
        window=WindowConfig(horizon=6, **window),  # type: ignore[arg-type]
        model=ModelConfig(hidden_size=8),
        train=TrainConfig(epochs=2, seed=0, device="cpu"),
    )


def test_the_sample_holds_series_shorter_than_one_unpadded_window(yearly: list) -> None:
    lengths = [len(s) for s in yearly]
    assert min(lengths) == 14 and len(yearly) == 16
    window = prepare(yearly, config()).config.window
    assert window.padding == "on" and min(lengths) < window.lookback + window.horizon + window.val_size


def test_padded_windows_repeat_the_first_value_and_never_straddle_two_series(yearly: list) -> None:
    prep = prepare(yearly, config())
    w, windows = prep.config.window, prep.windows
    assert windows.pad == w.lookback - defaults.MIN_HISTORY
    first = windows.train_starts[0:1]
    x, _, y = windows.gather(first)
    scaled = prep.scaling.series(0).transform(yearly[0].values)
    # the first window: its input is the series' first value repeated, then its first two real values
    np.testing.assert_allclose(x[0, : windows.pad, 0].numpy(), scaled[0], rtol=1e-5)
    np.testing.assert_allclose(x[0, windows.pad :, 0].numpy(), scaled[:2], rtol=1e-5)
    np.testing.assert_allclose(y[0].numpy(), scaled[2 : 2 + w.horizon], rtol=1e-5)
    rows, origins = windows.origins(windows.train_starts)
    for k in range(len(yearly)):  # each series' windows: every origin from the 2nd point to the training end
        own = np.sort(origins[rows == k])
        n_train = prep.n_trains[k]
        np.testing.assert_array_equal(own, np.arange(defaults.MIN_HISTORY, n_train - w.horizon + 1))
    # validation: one origin per series, at the end of its training part
    rows, origins = windows.origins(windows.val_starts)
    np.testing.assert_array_equal(origins, prep.n_trains)


def test_padding_off_keeps_skipping_short_series(yearly: list) -> None:
    notes: list[str] = []
    prep = prepare(yearly, config(padding="off"), report=notes.append)
    assert len(prep.panel) < len(yearly)
    assert any("skipped" in n for n in notes)


def test_mase_scaler_divides_by_the_mean_seasonal_change() -> None:
    y = np.array([10.0, 12.0, 11.0, 15.0, 14.0, 18.0])
    assert mase_scale(y, 1) == pytest.approx(np.mean([2, 1, 4, 1, 4]))
    assert mase_scale(y, 2) == pytest.approx(np.mean([1, 3, 3, 3]))
    assert mase_scale(y, 3) == mase_scale(y, 1)  # not longer than two seasons: lag 1
    assert mase_scale(np.full(5, 4.0), 1) == pytest.approx(4.0)  # flat: |mean|
    scaler = Scaler.fit("mase", y, 1)
    np.testing.assert_allclose(scaler.inverse(scaler.transform(y)), y)


def test_last_norm_takes_each_window_relative_to_its_last_value() -> None:
    x = torch.tensor([[[1.0], [3.0], [2.0]], [[5.0], [5.0], [7.0]]])
    xn, level, spread = normalise(x, "last")
    np.testing.assert_allclose(level.numpy(), [[2.0], [7.0]])
    np.testing.assert_allclose(spread.numpy(), 1.0)
    np.testing.assert_allclose(xn[:, :, 0].numpy(), [[-1.0, 1.0, 0.0], [-2.0, -2.0, 0.0]])


def test_auto_norm_follows_the_season_length() -> None:
    short = resolve_window(WindowConfig(), 100, 4)
    long = resolve_window(WindowConfig(), 100, 12)
    assert (short.norm, short.scaler) == ("last", "mase")
    assert (long.norm, long.scaler) == ("window", "standard")
    kept = resolve_window(WindowConfig(norm="window"), 100, 1)
    assert (kept.norm, kept.scaler) == ("window", "standard")


def holdout(lstm: np.ndarray, theta_like: bool = False) -> SeriesHoldout:
    values = 100 + 2 * np.arange(30.0)
    origins = np.array([24])
    actual = values[24:30][None, :]
    return SeriesHoldout(values, origins, lstm, np.full((1, 6), values[23]), actual)


def test_the_combination_weight_follows_the_validation_errors() -> None:
    values = 100 + 2 * np.arange(30.0)
    actual = values[24:30][None, :]
    perfect = choose([holdout(actual.copy())], 1)
    assert perfect.weight == 1.0 and perfect.lstm_beats_snaive == [True]
    # Theta extends a straight line with half its slope; an LSTM far off loses its share
    bad = choose([holdout(actual + 50)], 1)
    assert bad.weight == 0.0 and bad.lstm_beats_snaive == [False]
    assert set(bad.scores) == {0.0, 0.25, 0.5, 0.75, 1.0}
    theta = Theta.fit(values[:24], 1).forecast(6)
    assert bad.scores[0.0] == pytest.approx(np.abs(actual - theta).mean() / np.abs(actual - values[23]).mean())


def test_every_series_is_trained_and_forecast(yearly_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    summary = json.loads((yearly_run / "summary.json").read_text())
    assert summary["series"] == 16
    code, out, err = run_main(capsys, "predict", "--model", yearly_run)
    assert code == 0, err
    frame = pd.read_csv(io.StringIO(out))
    assert frame["id"].nunique() == 16 and len(frame) == 16 * 6
    assert np.isfinite(frame["forecast"]).all()


def test_a_short_series_forecasts_the_same_from_its_data_as_from_the_checkpoint(
    yearly_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, stored, _ = run_main(capsys, "predict", "--model", yearly_run)
    code, given, err = run_main(capsys, "predict", "--model", yearly_run, YEARLY)
    assert code == 0, err
    a, b = pd.read_csv(io.StringIO(stored)), pd.read_csv(io.StringIO(given))
    np.testing.assert_allclose(a["forecast"], b["forecast"], rtol=1e-4)


def test_the_checkpoint_holds_the_combination_and_predict_blends_it(
    yearly_run: Path, yearly: list, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = ckpt_io.load(yearly_run / "model.pt")
    assert ckpt.combination is not None and 0.0 <= ckpt.weight <= 1.0
    summary = json.loads((yearly_run / "summary.json").read_text())
    assert summary["combination"]["weight"] == ckpt.weight
    assert set(summary["validation"]) >= {"lstmcast", "seasonal naive"}
    assert len(summary["combination"]["per_series"]) == 16
    if ckpt.weight < 1.0:  # forecasts = w * LSTM + (1 - w) * Theta fitted on each whole series
        assert len(ckpt.combination.thetas) == 16
        assert "LSTM alone" in summary["validation"]
    _, out, _ = run_main(capsys, "predict", "--model", yearly_run)
    forecasts = pd.read_csv(io.StringIO(out))["forecast"].to_numpy().reshape(16, 6)
    lstm, _ = forecast_with_bands(ckpt.model, ckpt.scaling, ckpt.layout, ckpt.config.window, ckpt.stored, range(16), 6)
    theta = np.stack([Theta.fit(s.values, 1).forecast(6) for s in yearly])
    np.testing.assert_allclose(forecasts, ckpt.weight * lstm + (1 - ckpt.weight) * theta, rtol=1e-5)


def test_combine_off_forecasts_with_the_lstm_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "train", YEARLY, *SMALL, "--combine", "off", "--out", tmp_path / "r", "--quiet")
    assert code == 0, err
    ckpt = ckpt_io.load(tmp_path / "r" / "model.pt")
    assert ckpt.combination is None and ckpt.weight == 1.0


def test_series_too_short_to_hold_out_a_validation_part_still_train_and_forecast(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # M3 quarterly's shortest histories (16 points) cannot give up 8 validation points and keep a training window
    # of 2 + 8: they train on every row, are not validated, and are forecast like the others
    quarterly = DATA / "m3_quarterly.csv"
    panel = load_panel(quarterly, DataConfig(id_col="id"))
    prep = prepare(panel, RunConfig(data=DataConfig(id_col="id"), window=WindowConfig(horizon=8)))
    short = [k for k, s in enumerate(panel) if len(s) < defaults.MIN_HISTORY + 8 + prep.config.window.val_size]
    assert short and len(prep.panel) == len(panel)
    for k in short:
        assert prep.n_trains[k] == len(panel[k])
    rows, _ = prep.windows.origins(prep.windows.val_starts)
    assert not set(short) & set(rows.tolist())
    code, _, err = run_main(capsys, "train", quarterly, *SMALL[:2], "--horizon", "8", *SMALL[4:], "--out", tmp_path / "q", "-q")
    assert code == 0, err
    code, out, err = run_main(capsys, "predict", "--model", tmp_path / "q")
    assert code == 0, err
    frame = pd.read_csv(io.StringIO(out))
    assert frame["id"].nunique() == len(panel) and np.isfinite(frame["forecast"]).all()
    summary = json.loads((tmp_path / "q" / "summary.json").read_text())
    flags = {row["id"]: row["lstm_beats_snaive"] for row in summary["combination"]["per_series"]}
    assert all(flags[panel[k].id] is None for k in short)


def test_backtest_folds_blend_theta_as_train_does(yearly: list) -> None:
    from lstmcast.training.fitting import fit_series

    fitted = fit_series(yearly, config())
    assert len(fitted.weights) == 1 and fitted.weights[0] in (0.0, 0.25, 0.5, 0.75, 1.0)
    values, _ = fitted.forecast_bands(yearly, 6)
    p, w = fitted.prep, fitted.weights[0]
    lstm, _ = forecast_with_bands(fitted.models[0], p.scaling, p.layout, p.config.window, yearly, range(16), 6)
    theta = np.stack([Theta.fit(s.values, 1).forecast(6) for s in yearly])
    np.testing.assert_allclose(values, w * lstm + (1 - w) * theta, rtol=1e-6)
    off = fit_series(yearly, config().replace(train=TrainConfig(epochs=2, seed=0, device="cpu", combine="off")))
    assert off.weights == [1.0]
def test_yearly_defaults_forecast_six_steps_and_call_the_baseline_naive(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    one = tmp_path / "one.csv"
    frame = pd.read_csv(YEARLY)
    first = frame[frame["id"] == frame["id"].iloc[-1]].drop(columns=["id"])
    first.to_csv(one, index=False)
    code, _, err = run_main(capsys, "train", one, "--out", tmp_path / "run", "--hidden", "8", "--epochs", "2",
                            "--device", "cpu", "--combine", "off")  # fmt: skip
    assert code == 0, err
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["season"] == 1 and summary["baseline"] == "naive"
    assert summary["config"]["window"]["horizon"] == 6 and summary["config"]["window"]["val_size"] >= 6
    assert "horizon 6" in err and "\nnaive " in err and "seasonal naive" not in err


def test_series_too_short_to_validate_are_listed_unscored_per_series(tmp_path: Path) -> None:
    from lstmcast.pipeline.runs import train_run

    cfg = RunConfig(data=DataConfig(id_col="id"), window=WindowConfig(horizon=8), model=ModelConfig(hidden_size=8),
                    train=TrainConfig(epochs=1, device="cpu", combine="off"))  # fmt: skip
    run = train_run(DATA / "m3_quarterly.csv", cfg, out=tmp_path / "run")
    unscored = [r for r in run.series_scores if r["windows"] == 0]
    assert unscored and all(r["rel_mase"] is None for r in unscored)
    assert all(r["rel_mase"] is not None for r in run.series_scores if r["windows"])
