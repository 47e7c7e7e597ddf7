"""ui.render: tables that never cut a cell, and progress that reads in a log."""

from __future__ import annotations

import io

from rich.console import Console

from lstmcast.ui import render


def _console(terminal: bool, width: int = 80) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=terminal, width=width, color_system=None), out


def _eleven_origins() -> tuple[dict, dict]:
    overall = {
        "lstmcast": {"mae": 12.3456, "rmse": 15.5, "mape": 4.2, "smape": 4.1, "mase": 0.61234, "rel_mase": 0.8, "skill": 0.2},
        "seasonal naive": {"mae": 15.0, "rmse": 18.25, "mape": 5.0, "smape": 5.1, "mase": 0.7654, "rel_mase": 1.0},
    }
    per_fold = {"lstmcast": [0.5 + k / 100 for k in range(11)], "seasonal naive": [0.7 + k / 100 for k in range(11)]}
    return overall, per_fold


def test_a_backtest_table_of_eleven_origins_cuts_no_cell_on_an_80_column_terminal() -> None:
    console, out = _console(terminal=True, width=80)
    overall, per_fold = _eleven_origins()
    render.backtest_table(console, "Evaluation of a model on a long file name: 11 origins", overall, per_fold)
    text = out.getvalue()
    assert "…" not in text
    assert all(len(line) <= 80 for line in text.splitlines())
    for value in ("12.35", "0.6123", "+20.0%", "0.6", "0.8", "f11", "seasonal naive"):
        assert value in text, value


def test_tables_are_plain_lines_when_the_console_is_no_terminal() -> None:
    console, out = _console(terminal=False, width=30)
    render.metrics_table(console, "Validation (original units)", {"lstmcast": {"mae": 123456.789, "mase": 0.5}},
                         ["mae", "mase"])  # fmt: skip
    lines = out.getvalue().splitlines()
    assert lines[0] == "Validation (original units)"
    assert lines[1].split() == ["model", "MAE", "MASE"]
    assert lines[2].split() == ["lstmcast", "123,457", "0.5"]  # one line per row, never wrapped at 30 columns
    assert not any(ch in out.getvalue() for ch in "┃│━…")


def test_a_too_wide_table_on_a_terminal_falls_back_to_the_plain_layout() -> None:
    console, out = _console(terminal=True, width=40)
    scores = {"lstmcast": {80.0: (0.8123, 3.25), 95.0: (0.95, 5.5)}, "seasonal naive": {80.0: (0.7, 4.0)}}
    render.interval_table(console, "Prediction intervals", scores)
    text = out.getvalue()
    assert "…" not in text and "coverage 80%" in text and "81.2%" in text and "MSIS 95%" in text


def test_progress_in_a_log_is_one_line_per_few_seconds_with_best_patience_and_eta() -> None:
    console, out = _console(terminal=False)
    with render.TrainingProgress(console, 10, every=3600) as bar:
        bar.update(1, 1.0, 0.9, 10, improved=True, patience=4, seconds=2.0)
        bar.update(2, 0.9, 0.95, 10, improved=False, patience=4, seconds=2.0)  # within `every`: no line
        bar.update(3, 0.8, 0.96, 10, improved=False, patience=4, seconds=2.0)
        bar.start_phase("refit", 2)
        bar.update(1, 0.7, float("nan"), 2, seconds=1.0)
        bar.update(2, 0.6, float("nan"), 2, seconds=1.0)
    lines = out.getvalue().splitlines()
    assert lines[0] == "fit epoch 1/10  train 1.0000  val 0.9000  best 0.9000 (epoch 1)  patience 0/4  ETA <= 18s"
    assert lines[1:] == ["refit epoch 1/2  train 0.7000  ETA 1s", "refit epoch 2/2  train 0.6000"]


def test_a_refit_that_ran_beside_the_first_fit_shows_no_eta() -> None:
    """Its epochs come at once with 0 seconds (training.alongside): nothing is left to wait for."""
    console, out = _console(terminal=False)
    with render.TrainingProgress(console, 10, every=3600) as bar:
        bar.start_phase("refit", 3)
        for epoch in (1, 2, 3):
            bar.update(epoch, 1.0 / epoch, float("nan"), 3, seconds=0.0)
    assert out.getvalue().splitlines() == ["refit epoch 1/3  train 1.0000", "refit epoch 3/3  train 0.3333"]


def test_progress_lines_come_every_few_seconds_and_at_the_last_epoch() -> None:
    console, out = _console(terminal=False)
    with render.TrainingProgress(console, 3, every=0) as bar:
        for epoch in (1, 2, 3):
            bar.update(epoch, 1.0 / epoch, 1.0 / epoch, 3, improved=epoch < 3, patience=5, seconds=1.0)
    lines = out.getvalue().splitlines()
    assert [line.split("  ")[0] for line in lines] == ["fit epoch 1/3", "fit epoch 2/3", "fit epoch 3/3"]
    assert "patience 1/5" in lines[2] and "best 0.5000 (epoch 2)" in lines[2]


def test_progress_on_a_terminal_is_a_bar() -> None:
    console, out = _console(terminal=True, width=120)
    with render.TrainingProgress(console, 2) as bar:
        bar.update(1, 1.0, 0.9, 2, improved=True, patience=3, seconds=0.1)
        bar.update(2, 0.9, 0.8, 2, improved=True, patience=3, seconds=0.1)
    text = out.getvalue()
    assert "best 0.8000 (epoch 2)" in text and "patience 0/3" in text


def test_the_per_series_validation_table_shows_the_best_and_worst_few_of_a_long_panel() -> None:
    console, out = _console(terminal=False)
    rows = [{"id": f"s{k}", "mae": 1.0, "rmse": 2.0, "mase": k / 10, "snaive_mase": 1.0, "rel_mase": k / 10}
            for k in range(12)]  # fmt: skip
    rows.append({"id": "flat", "mae": 0.0, "rmse": 0.0, "mase": None, "snaive_mase": 0.0, "rel_mase": None})
    render.series_validation_table(console, rows, few=3)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("Validation per series (13 series, the best and worst 3")
    assert [line.split()[0] for line in lines[2:]] == ["s0", "s1", "s2", "...", "s10", "s11", "flat"]
    assert "7 more (train --format json lists all)" in out.getvalue()
