"""lstmcast.prep.windows: the scaler, the chronological split, windows as views, default sizes and normalisation."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstmcast import defaults
from lstmcast.config import ResolvedWindow, WindowConfig, resolve_window
from lstmcast.errors import ConfigError, DataError
from lstmcast.prep.windows import NORM_EPS, Scaler, check_length, make_windows, normalise

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False, allow_subnormal=False)
kinds = st.sampled_from(["standard", "minmax", "none"])


def cfg(lookback: int, horizon: int, val_size: int) -> ResolvedWindow:
    return ResolvedWindow(lookback=lookback, horizon=horizon, val_size=val_size)


def positions(n: int, lookback: int, horizon: int, val_size: int):
    """Windows over 0..n-1 (unscaled), so every value in a window is its own position."""
    return make_windows(np.arange(n, dtype="float64"), cfg(lookback, horizon, val_size), n - val_size)


# --- scaler --------------------------------------------------------------------------------------------------


@given(kind=kinds, x=st.lists(finite, min_size=2, max_size=60))
def test_scaler_round_trip(kind: str, x: list[float]) -> None:
    values = np.array(x)
    s = Scaler.fit(kind, values)
    back = s.inverse(s.transform(values))
    assert np.allclose(back, values, rtol=1e-9, atol=1e-9 * max(1.0, float(np.abs(values).max())))
    assert Scaler.from_dict(s.to_dict()) == s
    assert s.scale != 0 and np.isfinite(s.scale) and np.isfinite(s.offset)


@given(x=st.lists(st.integers(-10_000, 10_000), min_size=2, max_size=60, unique=True))
def test_scaler_statistics_are_those_of_the_fitting_rows(x: list[int]) -> None:
    values = np.array(x, dtype="float64") / 8
    z = Scaler.fit("standard", values).transform(values)
    assert abs(z.mean()) < 1e-6 and z.std() == pytest.approx(1.0, rel=1e-6)
    m = Scaler.fit("minmax", values).transform(values)
    assert m.min() == pytest.approx(0.0, abs=1e-9) and m.max() == pytest.approx(1.0, rel=1e-9)


def test_scaler_of_a_flat_series_does_not_divide_by_zero() -> None:
    for kind in ("standard", "minmax"):
        s = Scaler.fit(kind, np.full(10, 5.0))
        assert s.scale == 1.0
        assert np.array_equal(s.inverse(s.transform(np.array([5.0, 6.0]))), [5.0, 6.0])


@pytest.mark.parametrize("name", ["airpassengers.csv", "sunspot_month.csv", "co2_weekly.csv", "taylor.csv"])
def test_scalers_are_scikit_learns(name: str, datasets: Path) -> None:
    """standard and minmax are written out in numpy (scikit-learn's import cost 0.75 s per run): the fitted offset
    and scale equal StandardScaler's and MinMaxScaler's on real series, also on a near-constant one."""
    import pandas as pd
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    values = pd.read_csv(datasets / name).select_dtypes("number").iloc[:, -1].dropna().to_numpy("float64")
    for x in (values, np.full(50, 0.1) + np.arange(50) * 1e-18, np.full(7, -3.3)):
        ss = StandardScaler().fit(x.reshape(-1, 1))
        mm = MinMaxScaler().fit(x.reshape(-1, 1))
        std, mnx = Scaler.fit("standard", x), Scaler.fit("minmax", x)
        assert std.offset == pytest.approx(ss.mean_[0], rel=1e-12, abs=1e-300)
        assert std.scale == pytest.approx(ss.scale_[0], rel=1e-12)
        assert mnx.offset == mm.data_min_[0]
        assert mnx.scale == pytest.approx(1 / mm.scale_[0], rel=1e-12)


def test_unknown_scaler() -> None:
    with pytest.raises(ConfigError, match="--scaler 'robust'"):
        Scaler.fit("robust", np.arange(3.0))


AIR_TRAIN = 132  # airpassengers rows before the 12 validation rows of the runs below


@pytest.mark.slow  # four full training runs
@settings(max_examples=4, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["standard", "minmax"]),
    val=st.lists(st.integers(-100_000, 100_000), min_size=12, max_size=12),
)
def test_training_run_fits_the_scaler_on_training_rows_only(
    tmp_path_factory: pytest.TempPathFactory, air_csv: Path, kind: str, val: list[int]
) -> None:
    """Whatever the validation rows hold, a training run's scaler is the one fitted on the training rows."""
    from lstmcast.config import ModelConfig, RunConfig, TrainConfig
    from lstmcast.pipeline.runs import train_run

    lines = air_csv.read_text().splitlines()
    train_lines = lines[1 : AIR_TRAIN + 1]
    stamps = [line.split(",")[0] for line in lines[AIR_TRAIN + 1 :]]
    text = "\n".join([lines[0], *train_lines, *(f"{t},{v / 4}" for t, v in zip(stamps, val, strict=True))]) + "\n"
    run_cfg = RunConfig(
        window=WindowConfig(lookback=24, horizon=12, val_size=12, scaler=kind),
        model=ModelConfig(hidden_size=2),
        train=TrainConfig(epochs=1, batch_size=64, patience=1, steps_per_epoch=1, device="cpu"),
    )
    run = train_run("-", run_cfg, out=tmp_path_factory.mktemp("scaler") / "run", stdin=io.BytesIO(text.encode()))
    train_values = np.array([float(line.split(",")[1]) for line in train_lines])
    assert run.checkpoint.scaler == Scaler.fit(kind, train_values)


# --- windows -------------------------------------------------------------------------------------------------


def test_windows_are_views_of_one_tensor() -> None:
    w = positions(100, 24, 12, 12)
    view = w.view
    assert view.shape == (100 - 24 - 12 + 1, 1, 36)
    assert view.untyped_storage().data_ptr() == w.series.untyped_storage().data_ptr()
    assert view._base is w.series
    assert view.untyped_storage().nbytes() == 100 * 4  # one float32 series, not one copy per window
    w.series[40, 0] = -7.0  # a write to the series shows in every window that covers it
    assert view[40 - 35, 0, 35] == -7.0 and view[40, 0, 0] == -7.0


def test_window_contents_at_the_edges() -> None:
    n, lookback, horizon, val_size = 100, 24, 12, 20
    n_train = n - val_size
    w = positions(n, lookback, horizon, val_size)
    assert w.series.dtype == torch.float32 and w.series.shape == (n, 1)
    assert w.train_starts[0] == 0 and w.train_starts[-1] == n_train - lookback - horizon
    assert w.val_starts[0] == n_train - lookback and w.val_starts[-1] == n - lookback - horizon

    x, y = w.batch(w.train_starts[[0, -1]])
    assert x.shape == (2, lookback, 1) and y.shape == (2, horizon)
    assert x[0, :, 0].tolist() == list(range(0, lookback))
    assert y[0].tolist() == list(range(lookback, lookback + horizon))
    assert y[1].tolist() == list(range(n_train - horizon, n_train))  # last training target: just before the split

    x, y = w.batch(w.val_starts[[0, -1]])
    assert x[0, :, 0].tolist() == list(range(n_train - lookback, n_train))  # inputs may reach into training
    assert y[0].tolist() == list(range(n_train, n_train + horizon))  # first validation target: the split
    assert y[1].tolist() == list(range(n - horizon, n))  # last validation window ends at the series' end
    assert x[1, :, 0].tolist() == list(range(n - horizon - lookback, n - horizon))


def test_training_windows_never_touch_validation_targets() -> None:
    n, lookback, horizon, val_size = 144, 24, 12, 24
    w = positions(n, lookback, horizon, val_size)
    _, y = w.batch(w.train_starts)
    assert y.max().item() == n - val_size - 1
    x, _ = w.batch(w.train_starts)
    assert x.max().item() < n - val_size - horizon


@given(
    lookback=st.integers(1, 60),
    horizon=st.integers(1, 24),
    extra_val=st.integers(0, 40),
    extra_rows=st.integers(0, 200),
)
def test_window_count_law(lookback: int, horizon: int, extra_val: int, extra_rows: int) -> None:
    val_size = horizon + extra_val
    n = lookback + horizon + val_size + extra_rows
    n_train = n - val_size
    w = positions(n, lookback, horizon, val_size)
    assert w.view.shape[0] == n - lookback - horizon + 1
    assert len(w.train_starts) == n_train - lookback - horizon + 1
    assert len(w.val_starts) == val_size - horizon + 1
    train, val = set(w.train_starts.tolist()), set(w.val_starts.tolist())
    assert not train & val
    assert max(train) + lookback + horizon <= n_train
    # The validation targets cover the validation part exactly, with nothing from before it.
    covered = {s + lookback + k for s in val for k in range(horizon)}
    assert covered == set(range(n_train, n))
    _, y = w.batch(w.val_starts)
    assert y.min().item() == n_train and y.max().item() == n - 1


def test_exactly_one_training_window() -> None:
    w = positions(10 + 4 + 6, 10, 4, 6)
    assert w.train_starts.tolist() == [0]
    with pytest.raises(DataError, match="no training window: the training part has 13 rows"):
        positions(10 + 4 + 6 - 1, 10, 4, 6)


@pytest.mark.parametrize("n", [15, 12])
def test_too_short_training_part_is_a_data_error(n: int) -> None:
    with pytest.raises(DataError, match="no training window"):
        positions(n, 10, 4, 6)


def test_windows_with_feature_channels_keep_the_target_first() -> None:
    n = 60
    features = np.stack([np.full(n, 0.5), -np.arange(n, dtype="float64")], axis=1)
    w = make_windows(np.arange(n, dtype="float64"), cfg(10, 5, 10), n - 10, features)
    x, y = w.batch(torch.tensor([3]))
    assert x.shape == (1, 10, 3)
    assert x[0, :, 0].tolist() == list(range(3, 13))
    assert x[0, :, 2].tolist() == [-float(i) for i in range(3, 13)]
    assert y[0].tolist() == list(range(13, 18))


# --- sizes ---------------------------------------------------------------------------------------------------


def test_default_sizes_keep_what_the_user_gave() -> None:
    given_cfg = WindowConfig(lookback=5, horizon=3, val_size=7, scaler="minmax", norm="none")
    out = resolve_window(given_cfg, 1000, 12)
    assert (out.lookback, out.horizon, out.val_size, out.scaler, out.norm) == (5, 3, 7, "minmax", "none")
    partial = resolve_window(WindowConfig(horizon=6), 1000, 12)
    assert partial.horizon == 6 and isinstance(partial, ResolvedWindow)


@given(season=st.sampled_from([1, 4, 5, 7, 12, 24, 48, 52]), extra=st.integers(0, 5000))
def test_default_sizes_fit_any_series_of_ten_seasons(season: int, extra: int) -> None:
    n = 10 * season + 100 + extra
    out = resolve_window(WindowConfig(), n, season)
    assert isinstance(out, ResolvedWindow)
    # documented: one season; with no season the M3/M4 yearly horizon (at most a third of the series)
    assert out.horizon == (season if season > 1 else min(defaults.SEASONLESS_HORIZON, n // 3))
    assert out.lookback >= 1
    assert out.val_size >= out.horizon
    assert check_length(n, out, "x.csv") == out.lookback + out.horizon + out.val_size <= n


def test_check_length_names_needed_and_available_rows() -> None:
    with pytest.raises(DataError) as err:
        check_length(30, cfg(10, 5, 20), "short.csv")
    msg = str(err.value)
    assert msg.startswith("short.csv: ")
    assert re.search(r"\b35 rows\b", msg) and re.search(r"\bhas 30\b", msg)
    assert check_length(35, cfg(10, 5, 20), "ok.csv") == 35


def test_validation_shorter_than_horizon_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="--val-size 4 must be at least the horizon \\(6\\)"):
        check_length(1000, cfg(10, 6, 4), "x.csv")


@pytest.mark.parametrize("field", ["lookback", "horizon", "val_size"])
def test_sizes_must_be_positive(field: str) -> None:
    with pytest.raises(ConfigError, match="out of range"):
        WindowConfig(**{field: 0})


# --- normalisation -------------------------------------------------------------------------------------------


@given(
    data=st.lists(st.lists(finite, min_size=4, max_size=4), min_size=1, max_size=6),
    shift=st.floats(-100, 100),
)
def test_normalise_round_trip(data: list[list[float]], shift: float) -> None:
    x = torch.tensor(data, dtype=torch.float64).unsqueeze(-1) + shift  # (B, L=4, 1)
    xn, level, spread = normalise(x, "window")
    assert xn.shape == x.shape and level.shape == (len(data), 1) and spread.shape == (len(data), 1)
    assert (spread >= NORM_EPS).all()
    back = xn[:, :, 0] * spread + level
    assert torch.allclose(back, x[:, :, 0], rtol=1e-9, atol=1e-6)


def test_normalise_statistics_and_other_channels() -> None:
    torch.manual_seed(0)
    target = torch.randn(3, 20) * 5 + 10
    extra = torch.rand(3, 20)
    x = torch.stack([target, extra], dim=2)
    xn, level, spread = normalise(x, "window")
    assert torch.allclose(xn[:, :, 0].mean(dim=1), torch.zeros(3), atol=1e-5)
    assert torch.allclose(xn[:, :, 0].std(dim=1, unbiased=False), torch.ones(3), atol=1e-5)
    assert torch.equal(xn[:, :, 1], extra)  # covariates are not normalised
    assert torch.allclose(level[:, 0], target.mean(dim=1))


def test_normalise_flat_window_stays_finite() -> None:
    x = torch.full((2, 8, 1), 3.0)
    xn, level, spread = normalise(x, "window")
    assert torch.isfinite(xn).all() and torch.equal(xn, torch.zeros_like(xn))
    assert torch.equal(spread, torch.full((2, 1), NORM_EPS)) and torch.equal(level, torch.full((2, 1), 3.0))


def test_normalise_none_is_the_identity() -> None:
    x = torch.randn(4, 6, 1)
    xn, level, spread = normalise(x, "none")
    assert torch.equal(xn, x)
    assert torch.equal(level, torch.zeros(4, 1)) and torch.equal(spread, torch.ones(4, 1))
