"""lstmcast.defaults: README's defaults table states the rules defaults.py applies, number for number."""

from __future__ import annotations

from pathlib import Path

import pytest

from lstmcast import defaults
from lstmcast.config import RunConfig, TrainConfig, WindowConfig, resolve_train, resolve_window

README = Path(__file__).resolve().parents[1] / "README.md"
SHARES = {"a third": 3, "a fifth": 5, "a tenth": 10}


def table_rows() -> dict[str, str]:
    """The rows of README's "Defaults you do not have to think about" table: setting -> default."""
    text = README.read_text()
    section = text.split("### Defaults you do not have to think about", 1)[1].split("\n\n", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and not set(cells[0]) <= {"-"}:
            rows[cells[0]] = cells[1]
    return rows


def test_the_window_rows_state_the_window_rules() -> None:
    rows = table_rows()
    assert rows["`--horizon`"].startswith("one season; with no season") and defaults.HORIZON_SEASONS == 1
    share = next(words for words, n in SHARES.items() if n == defaults.SEASONLESS_MAX_SHARE)
    assert f"{defaults.SEASONLESS_HORIZON} steps" in rows["`--horizon`"] and f"{share} of the series" in rows["`--horizon`"]
    lookback = rows["`--lookback`"]
    assert lookback.startswith(f"{defaults.LOOKBACK_SEASONS_SHORT} seasons")
    assert f"({defaults.LOOKBACK_SEASONS_LONG} for seasons longer than {defaults.SHORT_SEASON} steps)" in lookback
    assert f"at least {defaults.LOOKBACK_MIN}" in lookback and f"at most {defaults.LOOKBACK_MAX}" in lookback
    share = next(words for words, n in SHARES.items() if n == defaults.LOOKBACK_MAX_SHARE)
    assert f"{share} of the series" in lookback
    val = rows["`--val-size`"]
    tenth = next(words for words, n in SHARES.items() if n == defaults.VAL_MAX_SHARE)
    assert f"up to {defaults.VAL_HORIZONS} horizons" in val and f"at most {tenth} of the series" in val


def test_the_training_rows_state_the_training_rules() -> None:
    rows = table_rows()
    sizes = rows["`--batch-size`, `--epochs`"]
    assert f"batch n/{defaults.BATCH_SHARE} within [{defaults.BATCH_MIN}, {defaults.BATCH_MAX}]" in sizes
    panel = f"(within [{defaults.BATCH_MIN}, {defaults.BATCH_MAX_PANEL}] for a panel whose budget exceeds"
    assert f"{panel} {defaults.SAMPLE_BUDGET:,})" in sizes
    assert f"epochs for about {defaults.SAMPLE_BUDGET:,} window passes" in sizes
    assert f"about {defaults.EPOCHS_AIM} epochs of passes, at most {defaults.SAMPLE_BUDGET:,} per series" in sizes
    assert f"and {defaults.SAMPLE_MAX:,} in all, within [{defaults.EPOCHS_MIN}, {defaults.EPOCHS_MAX}]" in sizes
    patience = rows["`--patience`"]
    fifth = next(words for words, n in SHARES.items() if n == defaults.PATIENCE_SHARE)
    assert patience.startswith(f"{fifth} of the epochs, at least {defaults.PATIENCE_MIN}")
    assert f"fewer than {defaults.REFIT_BELOW:,} training windows" in rows["`--refit`"]
    refit = rows["`--refit`"]
    assert f"fewer than {defaults.REFIT_MAX:,} and a validation part of at least" in refit
    assert f"at least {defaults.REFIT_VAL_SHARE:.0%} of the rows".replace("%", " %") in refit


def test_the_new_rows_state_the_short_series_rules() -> None:
    rows = table_rows()
    assert f"seasons of up to {defaults.LAST_VALUE_SEASON} steps" in rows["`--norm`"]
    assert f"at least {defaults.MIN_HISTORY} real steps" in rows["`--padding`"]
    assert f"shorter than {defaults.MIN_HISTORY} + horizon + validation" in rows["`--padding`"]
    assert "{0, 0.25, 0.5, 0.75, 1}" in rows["`--combine`"]
    assert f"for seasons of up to {defaults.COMBINE_SEASON} steps" in rows["`--combine`"]
    threads = rows["`--threads`"]
    assert f"one torch thread on a CPU for networks of up to {defaults.ONE_THREAD_UNITS} hidden units" in threads
    assert f"at most {defaults.PREDICT_THREADS} threads for `predict`" in threads


def test_the_calendar_row_states_the_calendar_rule() -> None:
    calendar = table_rows()["`--calendar`"]
    steps = {2: "two", 3: "three"}[defaults.CYCLE_MIN_STEPS]
    repeats = {2: "twice", 3: "three times"}[defaults.CYCLE_MIN_REPEATS]
    assert f"at least {steps} steps long and covered {repeats} by the data" in calendar


@pytest.mark.parametrize(("n_rows", "season"), [(144, 12), (1000, 52), (30, 1), (5000, 24), (476, 4)])
def test_resolving_applies_the_stated_window_rules(n_rows: int, season: int) -> None:
    w = resolve_window(WindowConfig(), n_rows, season)
    seasonless = min(defaults.SEASONLESS_HORIZON, n_rows // defaults.SEASONLESS_MAX_SHARE)
    assert w.horizon == (season if season > 1 else seasonless)
    assert w.horizon <= w.val_size <= max(w.horizon, n_rows // defaults.VAL_MAX_SHARE)
    assert w.lookback <= defaults.LOOKBACK_MAX and w.lookback <= max(w.horizon, (n_rows - w.val_size) // 3)


@pytest.mark.parametrize("n_windows", [1, 50, 800, 2_000, 100_000])
def test_resolving_applies_the_stated_training_rules(n_windows: int) -> None:
    t = resolve_train(TrainConfig(), n_windows)
    assert defaults.BATCH_MIN <= t.batch_size <= defaults.BATCH_MAX and t.batch_size & (t.batch_size - 1) == 0
    assert t.patience == max(defaults.PATIENCE_MIN, t.epochs // defaults.PATIENCE_SHARE)
    assert defaults.EPOCHS_MIN <= t.epochs <= defaults.EPOCHS_MAX
    if defaults.EPOCHS_MIN < t.epochs < defaults.EPOCHS_MAX:  # one series: the plain budget of window passes
        assert (t.epochs - 1) * n_windows < defaults.SAMPLE_BUDGET <= t.epochs * n_windows


@pytest.mark.parametrize(("n_windows", "n_series", "epochs", "batch"), [
    (30_000, 756, 16, 256),  # M3 quarterly: 480,000 passes in all
    (10_000, 645, 20, 256),  # M3 yearly: 20 epochs
    (440, 8, 137, 32),  # aus_accommodation: a small panel keeps the plain budget
    (85, 1, 400, 16),  # airpassengers: 400 epochs of 6 batches, patience 80
    (3_840, 1, 16, 32),  # taylor: a long series, batches of 32 (128 before the speed issue)
])  # fmt: skip
def test_panels_of_many_series_get_more_passes(n_windows: int, n_series: int, epochs: int, batch: int) -> None:
    t = resolve_train(TrainConfig(), n_windows, n_series)
    assert (t.epochs, t.batch_size) == (epochs, batch)
    assert t.patience == max(defaults.PATIENCE_MIN, t.epochs // defaults.PATIENCE_SHARE)


def test_yearly_data_gets_the_m3_horizon_of_six_and_validation_of_at_least_one_horizon() -> None:
    w = resolve_window(WindowConfig(), 40, 1)
    assert (w.horizon, w.val_size) == (6, 6)
    assert resolve_window(WindowConfig(), 9, 1).horizon == 3  # at most a third of a very short series


def test_given_sizes_are_kept_and_resolved_ones_are_whole_numbers() -> None:
    asked = RunConfig(window=WindowConfig(lookback=5, horizon=3), train=TrainConfig(epochs=7))
    w = resolve_window(asked.window, 1000, 12)
    t = resolve_train(asked.train, 10)
    assert (w.lookback, w.horizon, t.epochs) == (5, 3, 7)
    assert all(isinstance(v, int) for v in (w.lookback, w.horizon, w.val_size, t.epochs, t.batch_size, t.patience))
