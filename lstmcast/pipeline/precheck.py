"""Checks a command makes before the heavy libraries load: the columns it names against the CSV header, so a
wrong column name fails at once instead of after torch has been imported (seconds). Standard library only."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lstmcast.errors import MissingColumn
from lstmcast.io.header import did_you_mean, read_header


def check_columns(
    source: str | Path,
    *,
    target: str | None = None,
    time_col: str | None = None,
    id_col: str | None = None,
    covariates: Sequence[str] = (),
    future_covariates: Sequence[str] = (),
) -> None:
    """Raise MissingColumn (naming the flag, with a close match) for a named column the file's header lacks.
    Nothing to check for standard input, Parquet, or a start that does not read as a header."""
    names = read_header(source)
    if names is None:
        return
    targets = [t.strip() for t in (target or "").split(",") if t.strip()]
    named = [("--target", t) for t in targets] + [("--time-col", time_col), ("--id-col", id_col)]
    named += [("--covariates", c) for c in covariates] + [("--future-covariates", c) for c in future_covariates]
    for flag, column in named:
        if column and column not in names:
            raise MissingColumn(
                f"{source}: no column {column!r} for {flag}{did_you_mean(column, names, flag)}; the columns are "
                f"{', '.join(names)}",
                column,
                tuple(names),
            )
