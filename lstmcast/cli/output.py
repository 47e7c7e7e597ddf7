"""What commands print: notes and tables on stderr through one console, data (CSV, JSON) on stdout."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from lstmcast.cli.options import OutFormat, ReportFormat
from lstmcast.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console


def _console() -> Console:
    from lstmcast.ui.render import error_console

    return error_console()


def _note(console: Console, message: str, *, markup: bool = False) -> None:
    """One line on stderr. Plain text unless `markup`: paths, column names and series ids may hold brackets that
    rich would read as markup (a file d[b].csv was named d.csv; an id [/] raised MarkupError)."""
    from rich.markup import escape

    from lstmcast.ui.render import note

    note(console, message if markup else escape(message))


def _show_scores(result: Any, format: ReportFormat, quiet: bool, title: str) -> None:
    """The score table on stderr (unless quiet) and, as asked, the records as CSV or JSON lines on stdout."""
    from lstmcast.ui import render

    overall = result.overall()
    if not quiet:
        from rich.markup import escape

        title = escape(title)  # it names the data file and the target column
        console = _console()
        if len(result.ids) > 1:
            rel = result.relative_mase()
            render.series_table(console, "MASE relative to seasonal naive, per series", rel, result.models)
            per_fold: dict[str, list[float]] = {m: [] for m in result.models}
        else:
            per_fold = {m: [f.scores[m]["mase"] for f in result.folds] for m in result.models}
        render.backtest_table(console, title, overall, per_fold)
        if result.levels:
            render.interval_table(
                console, "Prediction intervals: coverage (nominal in the header) and MSIS", result.interval_scores()
            )
        skipped = int(overall["lstmcast"]["mape_skipped"])
        if skipped:
            _note(console, f"note: MAPE skips {skipped} forecast point(s) whose actual value is zero")
        if result.beats_seasonal_naive() is False:
            _note(console, "[yellow]warning:[/] lstmcast does not beat seasonal naive here (skill <= 0)", markup=True)
    if format is not ReportFormat.table:
        _write_frame(pd_frame(result.records()), OutFormat(format.value))


def pd_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame.from_records(records)


def _stdout() -> Any:
    """Standard output, where the data goes; a usage error when the program was started with it closed (>&-)."""
    if sys.stdout is None:
        raise ConfigError("standard output is closed (>&-): the results are written there; redirect it to a file")
    return sys.stdout


def _stdin() -> Any:
    """Standard input as bytes, or None when the program was started with it closed (<&-)."""
    return None if sys.stdin is None else sys.stdin.buffer


def _write_frame(frame: pd.DataFrame, fmt: OutFormat) -> None:
    if fmt is OutFormat.json:
        text = frame.to_json(orient="records", lines=True, double_precision=10)
    else:
        text = frame.to_csv(index=False, float_format="%.10g", lineterminator="\n")
    out = _stdout()
    out.write(text if text.endswith("\n") else text + "\n")
    out.flush()
