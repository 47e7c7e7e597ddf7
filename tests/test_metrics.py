"""Point metrics, the baselines and the interval scores, against values worked out by hand on small arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lstmcast.evaluation import metrics


def test_mae_and_rmse_by_hand():
    actual = np.array([1.0, 2.0, 3.0, 4.0])
    pred = np.array([2.0, 2.0, 1.0, 8.0])  # errors 1, 0, 2, 4
    assert metrics.mae(actual, pred) == pytest.approx(7 / 4)
    assert metrics.rmse(actual, pred) == pytest.approx(math.sqrt((1 + 0 + 4 + 16) / 4))


def test_mape_skips_zero_actuals_and_counts_them():
    actual = np.array([0.0, 10.0, 0.0, 20.0])
    pred = np.array([5.0, 12.0, -3.0, 15.0])  # 20 % and 25 % on the non-zero actuals
    value, skipped = metrics.mape(actual, pred)
    assert skipped == 2
    assert value == pytest.approx((20 + 25) / 2)


def test_mape_all_zero_actuals_is_nan_with_every_point_skipped():
    value, skipped = metrics.mape(np.zeros(3), np.ones(3))
    assert math.isnan(value)
    assert skipped == 3


def test_smape_by_hand_and_both_zero_counts_as_no_error():
    actual = np.array([100.0, 0.0, 50.0])
    pred = np.array([50.0, 0.0, 150.0])
    # 2*50/150, 0 (both zero), 2*100/200
    assert metrics.smape(actual, pred) == pytest.approx((2 * 50 / 150 + 0 + 1.0) / 3 * 100)
    assert metrics.smape(np.array([1.0]), np.array([-1.0])) == pytest.approx(200.0)


def test_seasonal_naive_scale_uses_the_season_lag():
    x = np.array([1.0, 5.0, 2.0, 8.0, 4.0])  # lag 2: |2-1|, |8-5|, |4-2| -> mean 2
    assert metrics.seasonal_naive_scale(x, 2) == pytest.approx(2.0)


@pytest.mark.parametrize("n", [3, 12])
def test_seasonal_naive_scale_falls_back_to_lag_one_for_short_samples(n):
    x = np.arange(n, dtype="float64") ** 2  # lag-1 differences 1, 3, 5, ...
    expected = float(np.mean(np.abs(np.diff(x))))
    assert metrics.seasonal_naive_scale(x, 12) == pytest.approx(expected)


def test_seasonal_naive_scale_of_one_point_is_nan():
    assert math.isnan(metrics.seasonal_naive_scale(np.array([3.0]), 4))


def test_mase_by_hand():
    insample = np.array([10.0, 20.0, 14.0, 26.0, 18.0])  # lag 2 errors 4, 6, 4 -> scale 14/3
    actual, pred = np.array([20.0, 30.0]), np.array([22.0, 25.0])  # MAE 3.5
    assert metrics.mase(actual, pred, insample, 2) == pytest.approx(3.5 / (14 / 3))


def test_mase_of_a_flat_sample_is_nan_not_infinite():
    assert math.isnan(metrics.mase(np.ones(2), np.zeros(2), np.full(6, 5.0), 2))


def test_naive_repeats_the_last_value():
    np.testing.assert_array_equal(metrics.naive(np.array([1.0, 2.0, 7.0]), 3), [7.0, 7.0, 7.0])


def test_seasonal_naive_repeats_the_last_season():
    history = np.array([9.0, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(metrics.seasonal_naive(history, 5, 3), [1.0, 2.0, 3.0, 1.0, 2.0])


def test_seasonal_naive_shorter_than_a_season_is_naive():
    np.testing.assert_array_equal(metrics.seasonal_naive(np.array([4.0, 6.0]), 3, 12), [6.0, 6.0, 6.0])


def test_drift_extends_the_line_through_first_and_last():
    history = np.array([10.0, 11.0, 19.0, 16.0])  # slope (16 - 10) / 3 = 2
    np.testing.assert_allclose(metrics.drift(history, 3), [18.0, 20.0, 22.0])
    np.testing.assert_array_equal(metrics.drift(np.array([5.0]), 2), [5.0, 5.0])


def test_point_metrics_flattens_and_reports_skipped_count():
    actual = np.array([[0.0, 10.0], [20.0, 40.0]])
    pred = np.array([[1.0, 11.0], [18.0, 44.0]])
    out = metrics.point_metrics(actual, pred, np.array([1.0, 3.0, 2.0, 6.0]), 1)
    assert out["mae"] == pytest.approx(2.0)
    assert out["mape_skipped"] == 1.0
    assert out["mape"] == pytest.approx((10 + 10 + 10) / 3)
    assert out["mase"] == pytest.approx(2.0 / (7 / 3))  # lag-1 in-sample errors 2, 1, 4


def test_coverage_counts_the_bounds_as_inside():
    actual = np.array([1.0, 2.0, 3.0, 4.0])
    lo = np.array([0.0, 2.0, 3.5, 0.0])
    hi = np.array([2.0, 3.0, 5.0, 3.9])
    assert metrics.coverage(actual, lo, hi) == pytest.approx(0.5)


def test_msis_by_hand():
    # level 80 -> alpha 0.2, penalty 2 / alpha = 10 per unit of miss
    actual = np.array([5.0, 0.0, 12.0])
    lo = np.array([4.0, 1.0, 8.0])
    hi = np.array([6.0, 3.0, 10.0])
    # widths 2, 2, 2; misses: none, 1 below, 2 above -> scores 2, 12, 22
    insample = np.array([1.0, 3.0, 2.0, 6.0])  # season 2: |2-1|, |6-3| -> 2
    expected = np.mean([2.0, 12.0, 22.0]) / 2.0
    assert metrics.msis(actual, lo, hi, 80, insample, 2) == pytest.approx(expected)


def test_msis_scale_falls_back_to_lag_one():
    insample = np.array([1.0, 4.0, 2.0])  # shorter than season 12: lag-1 errors 3, 2 -> 2.5
    value = metrics.msis(np.array([1.0]), np.array([0.0]), np.array([2.0]), 95, insample, 12)
    assert value == pytest.approx(2.0 / 2.5)


def test_seasonal_naive_bands_widen_by_sqrt_k_per_season():
    history = np.array([10.0, 20.0, 30.0, 13.0, 19.0, 33.0, 12.0, 22.0, 30.0])  # season 3
    m, level = 3, 50
    errors = np.abs(history[m:] - history[:-m])
    q = float(np.quantile(errors, level / 100))
    lo, hi = metrics.seasonal_naive_bands(history, 7, m, level)
    point = metrics.seasonal_naive(history, 7, m)
    k = np.array([1, 1, 1, 2, 2, 2, 3])
    np.testing.assert_allclose(hi - point, q * np.sqrt(k))
    np.testing.assert_allclose(point - lo, q * np.sqrt(k))
    half = (hi - lo) / 2
    assert half[3] == pytest.approx(math.sqrt(2) * half[0])
    assert half[6] == pytest.approx(math.sqrt(3) * half[0])


def test_seasonal_naive_bands_are_wider_at_a_higher_level():
    rng = np.random.default_rng(0)
    history = 100 + rng.normal(0, 5, 48)
    lo80, hi80 = metrics.seasonal_naive_bands(history, 12, 12, 80)
    lo95, hi95 = metrics.seasonal_naive_bands(history, 12, 12, 95)
    assert (lo95 <= lo80).all() and (hi80 <= hi95).all()
    assert (hi95 - lo95).sum() > (hi80 - lo80).sum()
