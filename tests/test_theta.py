"""The Theta method (nn.theta): hand-computed cases, seasonal adjustment, and statsforecast's Theta on real M3
series (its forecasts stored in tests/data/m3_theta_statsforecast.csv by statsforecast 2.1.1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstmcast.nn.theta import Combination, Theta, blend, blend_bands, seasonal_indices

DATA = Path(__file__).resolve().parent / "data"
SEASONS = {"Y": 1, "Q": 4, "M": 12}


def test_a_straight_line_is_extended_with_half_its_slope() -> None:
    # y = 3 + 2t: SES with alpha 1 tracks it exactly (no one-step error is smaller), the level is the last value,
    # and Theta adds half the regression slope per step: y_last + 1 * h.
    y = 3 + 2 * np.arange(20.0)
    theta = Theta.fit(y, 1)
    assert theta.alpha == pytest.approx(1.0)
    assert theta.drift == pytest.approx(1.0)
    np.testing.assert_allclose(theta.forecast(4), y[-1] + np.arange(1, 5), rtol=1e-12)


def test_a_flat_series_forecasts_its_level() -> None:
    np.testing.assert_allclose(Theta.fit(np.full(12, 7.5), 4).forecast(6), 7.5)


def test_seasonal_indices_recover_a_multiplicative_pattern() -> None:
    pattern = np.array([0.8, 1.0, 1.3, 0.9])
    y = (100 + np.arange(40.0)) * np.tile(pattern, 10)
    idx = seasonal_indices(y, 4, multiplicative=True)
    assert idx is not None
    np.testing.assert_allclose(idx, pattern / pattern.mean(), rtol=0.02)


def test_no_seasonal_adjustment_without_significant_autocorrelation() -> None:
    rng = np.random.default_rng(0)
    assert seasonal_indices(100 + rng.normal(size=48), 12, multiplicative=True) is None
    assert seasonal_indices(np.arange(10.0) + 1, 12, multiplicative=True) is None  # fewer than three seasons


def test_airpassengers_gets_its_yearly_season() -> None:
    values = pd.read_csv(DATA / "airpassengers.csv")["value"].to_numpy("float64")
    theta = Theta.fit(values, 12)
    assert len(theta.season) == 12 and theta.multiplicative
    forecast = theta.forecast(12)
    july, november = forecast[6], forecast[10]  # the series ends in December: July peaks, November dips
    assert july > 1.2 * november


def test_matches_statsforecast_theta_on_real_m3_series() -> None:
    gold = pd.read_csv(DATA / "m3_theta_statsforecast.csv")
    history = pd.concat(pd.read_csv(DATA / f"m3_{name}.csv") for name in ("yearly", "quarterly", "monthly"))
    diffs = []
    for sid, ref in gold.groupby("id"):
        values = history.loc[history["id"] == sid, "value"].to_numpy("float64")
        mine = Theta.fit(values, SEASONS[sid[0]]).forecast(len(ref))
        diffs.append(np.abs(mine - ref["theta"].to_numpy()).max() / np.abs(ref["theta"]).mean())
    # statsforecast optimises alpha and the initial level continuously, this grid-searches alpha: close, not equal
    assert len(diffs) == 30
    assert np.median(diffs) < 0.005
    assert np.quantile(diffs, 0.8) < 0.03


def test_state_round_trips_through_plain_data_and_rejects_bad_values() -> None:
    theta = Theta.fit(pd.read_csv(DATA / "airpassengers.csv")["value"].to_numpy("float64"), 12)
    again = Theta.from_dict(theta.to_dict())
    np.testing.assert_array_equal(again.forecast(30), theta.forecast(30))
    combo = Combination(0.25, (theta, theta))
    assert Combination.from_dict(combo.to_dict(), 2) == combo
    with pytest.raises(ValueError):
        Combination.from_dict(combo.to_dict(), 3)  # one Theta per series
    with pytest.raises(ValueError):
        Theta.from_dict(theta.to_dict() | {"alpha": 0.0})
    with pytest.raises(ValueError):
        Theta.from_dict(theta.to_dict() | {"level": float("nan")})


def test_blending_moves_the_bands_with_the_forecast() -> None:
    lstm, partner = np.array([[10.0, 12.0]]), np.array([[14.0, 8.0]])
    assert blend(1.0, lstm, partner) is lstm
    np.testing.assert_allclose(blend(0.25, lstm, partner), [[13.0, 9.0]])
    combined, bands = blend_bands(0.5, lstm, {80.0: (lstm - 1, lstm + 2)}, partner)
    np.testing.assert_allclose(combined, [[12.0, 10.0]])
    np.testing.assert_allclose(bands[80.0][0], combined - 1)
    np.testing.assert_allclose(bands[80.0][1], combined + 2)
