"""Tables for humans that never cut a cell: rich on a terminal wide enough, plain aligned lines elsewhere."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:,.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    return str(value)


def metrics_table(
    console: Console, title: str, rows: Mapping[str, Mapping[str, float]], columns: Sequence[str]
) -> None:
    """One row per model (e.g. lstmcast, seasonal naive), one column per metric."""
    header = ["model", *(c.upper() if c != "mape" else "MAPE %" for c in columns)]
    body = [[name, *(_fmt(values.get(c, float("nan"))) for c in columns)] for name, values in rows.items()]
    show_table(console, title, header, body)


def show_table(
    console: Console, title: str, header: Sequence[str], rows: Sequence[Sequence[str]], bold: Sequence[str] = ()
) -> None:
    """A table that never cuts a cell: a rich table on a terminal wide enough for it, else a plain layout (aligned
    columns, one line per row, never wrapped) that reads the same in a log, a pipe or a narrow terminal. The first
    column is left-aligned, the others right-aligned."""
    # cells and titles hold data (ids, column names, paths): never rich markup
    table = Table(title=escape(title), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)  # more fits in 80
    for i, h in enumerate(header):
        table.add_column(escape(h), justify="left" if i == 0 else "right", style="bold" if h in bold else None, no_wrap=True)
    for row in rows:
        table.add_row(*(escape(str(c)) for c in row))
    wide = console.options.update_width(100_000)  # measured unbounded: Measurement.get clamps to the width
    if console.is_terminal and Measurement.get(console, wide, table).maximum <= console.width:
        console.print(table)
        return
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    console.print(Text(title), soft_wrap=True)
    for cells in [header, *rows]:
        console.print(Text(line(cells).rstrip()), soft_wrap=True)


def series_table(
    console: Console, title: str, rows: Mapping[str | None, Mapping[str, float]], models: Sequence[str], limit: int = 40
) -> None:
    """One row per series, one column per model (e.g. relative MASE); long panels show the first `limit`."""
    body = [[str(sid), *(_fmt(values.get(m, float("nan"))) for m in models)] for sid, values in list(rows.items())[:limit]]
    if len(rows) > limit:
        body.append([f"... {len(rows) - limit} more", *("" for _ in models)])
    show_table(console, title, ["series", *models], body)


def series_validation_table(console: Console, rows: Sequence[Mapping[str, Any]], few: int = 5) -> None:
    """Each series' validation scores, best relative MASE first; long panels show the best and worst `few`
    (`train --format json` gives them all)."""
    def rel(r: Mapping[str, Any]) -> float:
        v = r.get("rel_mase")
        return math.inf if v is None or math.isnan(v) else float(v)

    ranked = sorted(rows, key=rel)
    shown = ranked if len(ranked) <= 2 * few else [*ranked[:few], None, *ranked[-few:]]
    cols = ("mae", "rmse", "mase", "snaive_mase", "rel_mase")
    body = [
        [f"... {len(ranked) - 2 * few} more (train --format json lists all)", *("" for _ in cols)] if r is None
        else [str(r["id"]), *(_fmt(float("nan") if r.get(c) is None else r[c]) for c in cols)]
        for r in shown
    ]  # fmt: skip
    which = "" if len(ranked) <= 2 * few else f", the best and worst {few}"
    title = f"Validation per series ({len(ranked)} series{which}; rel. MASE = MASE / seasonal naive's)"
    show_table(console, title, ["series", "MAE", "RMSE", "MASE", "snaive MASE", "rel. MASE"], body, bold=("rel. MASE",))


def interval_table(
    console: Console, title: str, scores: Mapping[str, Mapping[float, tuple[float, float]]]
) -> None:
    """Coverage and MSIS per level (in %), for each model: {model: {level: (coverage, msis)}}."""
    levels = sorted({lv for per_level in scores.values() for lv in per_level})
    header = ["model"]
    for lv in levels:
        header += [f"coverage {lv:g}%", f"MSIS {lv:g}%"]
    body = []
    for name, per_level in scores.items():
        cells = [name]
        for lv in levels:
            cov, msis = per_level.get(lv, (float("nan"), float("nan")))
            cells += ["-" if math.isnan(cov) else f"{cov:.1%}", _fmt(msis)]
        body.append(cells)
    show_table(console, title, header, body)


WIDE_FOLDS = 3  # up to this many origins, each origin's MASE is a column; more go to a table of their own


def backtest_table(
    console: Console, title: str, overall: Mapping[str, Mapping[str, float]], per_fold: Mapping[str, Sequence[float]],
    baseline: str = "seasonal naive",
) -> None:  # fmt: skip
    """Models as rows: the overall metrics and the skill against the baseline; the MASE of each origin as columns
    (a few origins) or as a long table, one row per origin (many)."""
    folds = len(next(iter(per_fold.values()), []))
    wide = folds <= WIDE_FOLDS
    header = ["model", *(f"MASE f{k + 1}" for k in range(folds if wide else 0))]
    header += ["MAE", "RMSE", "MAPE %", "sMAPE %", "MASE", "rel. MASE", "skill"]
    body = []
    for name, row in overall.items():
        cells = [name, *(_fmt(v) for v in per_fold[name])] if wide else [name]
        cells += [_fmt(row.get(m, float("nan"))) for m in ("mae", "rmse", "mape", "smape", "mase", "rel_mase")]
        skill = row.get("skill", float("nan"))
        cells.append("-" if name == baseline or math.isnan(skill) else f"{skill:+.1%}")
        body.append(cells)
    show_table(console, title, header, body, bold=("rel. MASE", "skill"))
    if not wide:
        models = list(per_fold)
        rows = [[f"f{k + 1}", *(_fmt(per_fold[m][k]) for m in models)] for k in range(folds)]
        show_table(console, "MASE per origin", ["origin", *models], rows)
