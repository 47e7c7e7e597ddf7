"""Prediction intervals: conformal calibration, half-widths, `predict --level`, and interval scores in backtests."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from clitools import run_main

from lstmcast.checkpoint import format as ckpt_io
from lstmcast.config import ModelConfig, RunConfig, TrainConfig, WindowConfig
from lstmcast.evaluation.backtest import backtest
from lstmcast.forecasting.forecast import predict_scaled
from lstmcast.forecasting.intervals import GRID, calibrate, generalisation_gap, half_width
from lstmcast.io.data import load_series
from lstmcast.prep.windows import normalise
from lstmcast.training.fitting import prepare

DATASETS = Path(__file__).resolve().parent / "data"
AIR = DATASETS / "airpassengers.csv"
HYNDSIGHT = DATASETS / "hyndsight.csv"
SAMPLE_AIR = Path(__file__).resolve().parents[1] / "sample_data" / "airpassengers.csv"  # the tiny run's data
TINY_ARGS = ["--lookback", "24", "--horizon", "12", "--val-size", "12", "--hidden", "8", "--epochs", "2",
             "--batch-size", "32", "--device", "cpu", "--threads", "1", "--quiet"]  # fmt: skip


def parse_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# --- predict --level ------------------------------------------------------------------------------------------


def test_predict_levels_add_nested_bounds(capsys, tiny_run_dir: Path):
    code, stdout, err = run_main(capsys, "predict", "-m", tiny_run_dir, "--level", "80", "--level", "95")
    assert code == 0, err
    assert stdout.splitlines()[0] == "timestamp,forecast,lo_80,hi_80,lo_95,hi_95"
    rows = parse_csv(stdout)
    assert len(rows) == 12
    for r in rows:
        lo95, lo80, f, hi80, hi95 = (float(r[k]) for k in ("lo_95", "lo_80", "forecast", "hi_80", "hi_95"))
        assert lo95 <= lo80 <= f <= hi80 <= hi95, r
        assert hi80 - f == pytest.approx(f - lo80, rel=1e-6)  # symmetric around the forecast
    assert sum(float(r["hi_95"]) - float(r["lo_95"]) for r in rows) > sum(
        float(r["hi_80"]) - float(r["lo_80"]) for r in rows
    )


def test_predict_levels_in_json(capsys, tiny_run_dir: Path):
    code, text, err = run_main(capsys, "predict", "-m", tiny_run_dir, "--level", "80", "--level", "95")
    assert code == 0, err
    code, stdout, err = run_main(capsys, "predict", "-m", tiny_run_dir, "--level", "80", "--level", "95", "-f", "json")
    assert code == 0, err
    records = [json.loads(line) for line in stdout.splitlines()]
    assert len(records) == 12
    for rec, row in zip(records, parse_csv(text)):
        assert set(rec) == {"timestamp", "forecast", "lo_80", "hi_80", "lo_95", "hi_95"}
        for key in ("forecast", "lo_80", "hi_80", "lo_95", "hi_95"):
            assert rec[key] == pytest.approx(float(row[key]), rel=1e-6)
        assert rec["lo_95"] <= rec["lo_80"] <= rec["forecast"] <= rec["hi_80"] <= rec["hi_95"]


def test_predict_level_out_of_range_is_a_usage_error(capsys, tiny_run_dir: Path):
    code, stdout, err = run_main(capsys, "predict", "-m", tiny_run_dir, "--level", "100")
    assert code == 2
    assert stdout == ""


def test_checkpoint_without_calibration_and_level_is_an_error(capsys, tiny_run_dir: Path, tmp_path: Path):
    ckpt = ckpt_io.load(tiny_run_dir)
    ckpt.calibration = None
    path = ckpt_io.save(ckpt, tmp_path / "uncalibrated.pt")
    code, stdout, err = run_main(capsys, "predict", "-m", path)
    assert code == 0, err  # a point forecast needs no calibration
    code, stdout, err = run_main(capsys, "predict", "-m", path, "--level", "80")
    assert code == 3
    assert stdout == ""
    assert err.startswith("lstmcast: error: ") and "no interval calibration" in err


# --- calibration and half-widths -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def air_prep(tiny_run):
    """The tiny run's windows, rebuilt from its data and configuration."""
    return prepare(load_series(SAMPLE_AIR), tiny_run.checkpoint.config)


def test_calibrate_gives_a_table_non_decreasing_in_level(tiny_run, air_prep):
    ckpt = tiny_run.checkpoint
    assert tiny_run.refit is not None  # the stored model is the refit; the calibration comes from the first fit,
    table = calibrate(tiny_run.result.model, air_prep.windows, ckpt.config.window.norm)  # whose validation is held out
    assert table.shape == (99, 12)
    assert (table >= 0).all() and np.isfinite(table).all()
    assert (np.diff(table, axis=0) >= 0).all()
    assert (table[-1] > table[0]).all()
    np.testing.assert_allclose(table, ckpt.calibration, rtol=1e-6)  # what training stored


def test_calibration_covers_the_training_errors_widened_by_the_gap(tiny_run, air_prep):
    """Conformal quantiles: at level p at least p % of the training windows' errors lie within the stored width
    divided by the generalisation gap (the validation over the training mean error, at least 1)."""
    ckpt, windows = tiny_run.checkpoint, air_prep.windows
    norm = ckpt.config.window.norm

    def errors(starts):
        x, future, y = windows.gather(starts)
        _, _, spread = normalise(x, norm)
        pred = predict_scaled(tiny_run.result.model, x, future, norm)  # the first fit's, in scaled units
        return ((y - pred).abs() / spread).double().numpy()  # (W, H) in normalised units

    train, val = errors(windows.train_starts), errors(windows.val_starts)
    gap = np.maximum(1.0, np.maximum.accumulate(val.mean(axis=0)) / np.maximum.accumulate(train.mean(axis=0)))
    np.testing.assert_allclose(generalisation_gap(train, val), gap, rtol=1e-6)
    table = ckpt.calibration / gap[None, :]
    for j, level in enumerate(GRID):
        inside = (train <= table[j] * (1 + 1e-6) + 1e-9).mean(axis=0)
        assert (inside >= level / 100 - 1e-9).all(), level


def test_validation_forecasts_carry_the_bands_forecast_png_draws(tiny_run, air_prep):
    """validate(table, levels): each validation forecast with its bands, as predict would give them: nested,
    around the forecast, and as wide as the table says times the window's spread (original units)."""
    from lstmcast.evaluation.validation import validate

    ckpt, prep = tiny_run.checkpoint, air_prep
    _, per_series = validate(
        ckpt.model, prep.scaling, prep.windows, prep.panel, prep.n_trains, "window", 12, ckpt.calibration, (80, 95)
    )
    v = per_series[0]
    (lo80, hi80), (lo95, hi95) = v.bands[80], v.bands[95]
    assert lo80.shape == v.forecasts.shape == hi95.shape
    assert (lo95 <= lo80).all() and (lo80 <= v.forecasts).all() and (v.forecasts <= hi80).all()
    assert (hi80 <= hi95).all() and (hi95 > lo95).all()
    x, _, _ = prep.windows.gather(prep.windows.val_starts)
    _, _, spread = normalise(x, "window")
    scale = prep.scaling.inverse_rows(np.zeros(1, dtype=int), np.ones((1, 1))) - prep.scaling.inverse_rows(
        np.zeros(1, dtype=int), np.zeros((1, 1))
    )  # original units per scaled unit
    expected = half_width(ckpt.calibration, 80, 12)[None, :] * spread.double().numpy() * scale
    np.testing.assert_allclose((hi80 - lo80) / 2, expected, rtol=1e-6)


def test_generalisation_gap_per_step_widens_only():
    train = np.full((50, 4), 0.5)
    val = np.array([[1.0, 0.25, 2.0, 0.5]] * 3)  # a lucky second step borrows the first step's error
    np.testing.assert_allclose(generalisation_gap(train, val), [2.0, 2.0, 4.0, 4.0])
    lucky = np.full((3, 4), 0.25)
    np.testing.assert_allclose(generalisation_gap(train, lucky), 1.0)  # held-out errors never narrow the intervals
    np.testing.assert_allclose(generalisation_gap(np.zeros((50, 4)), lucky), 1.0)  # a perfect fit: no ratio


def test_long_series_calibrate_on_evenly_spaced_windows():
    import torch

    from lstmcast.defaults import CALIBRATION_WINDOWS as MAX_WINDOWS
    from lstmcast.forecasting.intervals import _spaced

    starts = torch.arange(7, 7 + 3 * MAX_WINDOWS)
    picked = _spaced(starts)
    assert len(picked) == MAX_WINDOWS and len(picked.unique()) == MAX_WINDOWS
    assert picked[0] == starts[0] and picked[-1] == starts[-1]
    assert (picked.diff() >= 2).all() and (picked.diff() <= 4).all()  # spread over all of them
    assert torch.equal(_spaced(starts[:100]), starts[:100])


def test_half_width_interpolates_between_levels():
    horizon = 4
    table = GRID[:, None] * np.arange(1, horizon + 1)[None, :] / 100  # width at level p, step h: p/100 * h
    np.testing.assert_allclose(half_width(table, 80, horizon), 0.80 * np.arange(1, 5))
    np.testing.assert_allclose(half_width(table, 85.5, horizon), 0.855 * np.arange(1, 5))
    np.testing.assert_allclose(half_width(table, 95, 2), [0.95, 1.90])


def test_half_width_grows_by_sqrt_of_horizons_beyond_the_horizon():
    horizon = 3
    table = np.repeat((GRID / 100)[:, None], horizon, axis=1)  # the same width at every step
    got = half_width(table, 90, 3 * horizon + 1)
    expected = 0.9 * np.sqrt([1, 1, 1, 2, 2, 2, 3, 3, 3, 4])
    np.testing.assert_allclose(got, expected)
    assert (np.diff(got) >= 0).all()


def test_half_width_beyond_the_horizon_starts_from_the_last_steps_width():
    horizon = 3
    table = GRID[:, None] * np.array([1.0, 2.0, 4.0])[None, :] / 100  # widths grow with the step, as they do
    got = half_width(table, 50, 2 * horizon)
    np.testing.assert_allclose(got[:horizon], [0.5, 1.0, 2.0])
    np.testing.assert_allclose(got[horizon:], 2.0 * np.sqrt(2) * np.ones(horizon))
    assert (np.diff(got) >= 0).all(), "an interval narrower one step after the horizon"


# --- interval scores in backtests -----------------------------------------------------------------------------


def test_backtest_level_adds_coverage_and_msis(capsys):
    code, stdout, err = run_main(capsys, "backtest", AIR, "--folds", "2", "--level", "80", "-f", "csv", *TINY_ARGS)
    assert code == 0, err
    rows = parse_csv(stdout)
    assert {"coverage_80", "msis_80"} <= set(rows[0])
    values = np.loadtxt(AIR, delimiter=",", skiprows=1, usecols=1)
    for r in rows:
        if r["model"] in ("lstmcast", "seasonal naive"):
            cov, score = float(r["coverage_80"]), float(r["msis_80"])
            assert 0.0 <= cov <= 1.0 and math.isfinite(score) and score > 0
        else:
            assert r["coverage_80"] == "" and r["msis_80"] == ""  # no intervals for naive and drift
    # seasonal naive's interval scores by hand: one season ahead, +- the 80 % quantile of its in-sample errors
    for r in rows:
        if r["model"] != "seasonal naive" or r["fold"] == "all":
            continue
        origin = {"1": 120, "2": 132}[r["fold"]]
        past, actual = values[:origin], values[origin : origin + 12]
        q = np.quantile(np.abs(past[12:] - past[:-12]), 0.8)
        lo, hi = past[-12:] - q, past[-12:] + q
        assert float(r["coverage_80"]) == pytest.approx(np.mean((actual >= lo) & (actual <= hi)))
        score = (hi - lo) + 10 * (lo - actual) * (actual < lo) + 10 * (actual - hi) * (actual > hi)
        assert float(r["msis_80"]) == pytest.approx(np.mean(score) / np.mean(np.abs(past[12:] - past[:-12])))


def test_empirical_coverage_on_a_real_series():
    cfg = RunConfig(
        window=WindowConfig(lookback=14, horizon=7, val_size=7),
        model=ModelConfig(hidden_size=8),
        train=TrainConfig(epochs=3, batch_size=64, patience=5, seed=0, device="cpu"),
    )
    result = backtest(load_series(HYNDSIGHT), cfg, folds=3, levels=(80, 95))
    assert result.season == 7 and len(result.folds) == 3
    for f in result.folds:
        lo80, hi80, lo95, hi95 = (f.forecasts[k] for k in ("lo_80", "hi_80", "lo_95", "hi_95"))
        assert (lo95 <= lo80).all() and (hi80 <= hi95).all()
        assert (lo80 <= f.forecasts["lstmcast"]).all() and (f.forecasts["lstmcast"] <= hi80).all()
        for model in ("lstmcast", "seasonal naive"):
            s = f.scores[model]
            assert 0.0 <= s["coverage_80"] <= s["coverage_95"] <= 1.0, model
            assert math.isfinite(s["msis_80"]) and math.isfinite(s["msis_95"]), model
        inside = np.mean((f.actual >= lo80) & (f.actual <= hi80))
        assert f.scores["lstmcast"]["coverage_80"] == pytest.approx(inside)
    overall = result.overall()["lstmcast"]
    assert 0.0 <= overall["coverage_80"] <= 1.0
    assert overall["coverage_80"] == pytest.approx(np.mean([f.scores["lstmcast"]["coverage_80"] for f in result.folds]))


# --- intervals of non-negative series are clipped at zero (issue 14, item 10) ----------------------------------


def test_clip_at_zero_clips_only_the_series_never_negative():
    from lstmcast.forecasting.intervals import clip_at_zero, never_negative

    lo, hi = np.array([[-2.0, 1.0], [-2.0, 1.0]]), np.array([[-1.0, 3.0], [-1.0, 3.0]])
    clo, chi = clip_at_zero(lo, hi, np.array([True, False]))
    assert clo.tolist() == [[0.0, 1.0], [-2.0, 1.0]] and chi.tolist() == [[0.0, 3.0], [-1.0, 3.0]]
    assert never_negative(np.array([0.0, 2.0, np.nan])) and not never_negative(np.array([1.0, -0.1]))
    assert not never_negative(np.array([np.nan]))


@pytest.fixture(scope="module")
def sunspot_minimum(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Monthly sunspot numbers 1989..2008-06 and 1989..2009-06, at the solar minimum (near zero, never negative)."""
    lines = (DATASETS / "sunspot_month.csv").read_text().splitlines()
    where = tmp_path_factory.mktemp("sun")
    paths = []
    for end in ("2008-06-01", "2009-06-01"):
        rows = [ln for ln in lines[1:] if "1989-01-01" <= ln[:10] <= end]
        paths.append(where / f"sunspots-{end[:4]}.csv")
        paths[-1].write_text("\n".join([lines[0], *rows]) + "\n")
    return paths[0], paths[1]


def test_predict_backtest_and_evaluate_clip_the_intervals_of_a_non_negative_series(
    capsys, sunspot_minimum: tuple[Path, Path], tmp_path: Path
):
    run, (train_part, whole) = tmp_path / "run", sunspot_minimum
    code, _, err = run_main(capsys, "train", train_part, "--out", run, *TINY_ARGS)
    assert code == 0, err
    lows = {}
    for flag in ("--clip-zero", "--no-clip-zero"):
        code, out, err = run_main(capsys, "predict", "-m", run, "--level", "95", flag)
        assert code == 0, err
        lows[flag] = min(float(r["lo_95"]) for r in csv.DictReader(io.StringIO(out)))
    assert lows["--no-clip-zero"] < 0 <= lows["--clip-zero"]  # the default clips
    code, out, err = run_main(capsys, "predict", "-m", run, "--level", "95")
    assert min(float(r["lo_95"]) for r in csv.DictReader(io.StringIO(out))) >= 0
    from lstmcast.pipeline import runs as pipeline

    for clip in (True, False):
        result = pipeline.evaluate_run(run, whole, levels=[95.0], clip=clip)
        lows = [min(f.forecasts["lo_95"]) for f in result.folds]
        assert bool(min(lows) >= 0) is clip
    code, _, err = run_main(capsys, "evaluate", "-m", run, whole, "--level", "95", "--no-clip-zero", "-q")
    assert code == 0, err
    cfg = RunConfig(window=WindowConfig(lookback=24, horizon=12, val_size=12), model=ModelConfig(hidden_size=8),
                    train=TrainConfig(epochs=2, batch_size=32, device="cpu", combine="off"))  # fmt: skip
    result = pipeline.backtest_run(whole, cfg, folds=2, levels=[95.0])
    assert all(min(f.forecasts["lo_95"]) >= 0 for f in result.folds)
