"""Cells of a CSV column -> numbers or timestamps, strictly: the right values, or the first bad cell and why.

Nothing is guessed where two readings are possible: 1,234 (a thousand, or one point two?) and 01/02/2020 (day or
month first?) are refused unless the rest of the column decides.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pandas as pd

from lstmcast.errors import DataError


def show(value: Any, width: int = 40) -> str:
    """repr of a cell for a message, shortened so an error stays one readable line."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 4] + "...'"


def line_of(row: int, lines: Any = None) -> int:
    """File line of a 0-based data row. `lines`: None (header on line 1), the line of row 0, or one per row."""
    if lines is None:
        return row + 2
    if isinstance(lines, (int, np.integer)):
        return row + int(lines)
    return int(lines[row])


# --- cells -> numbers --------------------------------------------------------------------------------------------

_MISSING = {"", "nan", "na", "n/a", "null", "none", "-nan", "#n/a", "<na>", "#na"}
_THOUSANDS_COMMA = r"[+-]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?"  # 1,234 and 1,234.5
_DECIMAL_COMMA = r"[+-]?(?:\d+|[1-9]\d{0,2}(?:\.\d{3})+),\d+"  # 1,5 and 1.234,5
_SPACED = r"[+-]?[1-9]\d{0,2}(?:[ \u00a0\u202f']\d{3})+(?:[.,]\d+)?"  # 1 234 and 1'234.5


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def to_numbers(col: pd.Series) -> tuple[np.ndarray, tuple[int, str] | None]:
    """A column's cells as float64 (NaN where empty), and the first problem as (row, what is wrong) or None.

    Plain numbers, quoted numbers and numbers with thousands separators or decimal commas are read when the
    column is consistent; a column that mixes 1,234.5 and 1.234,5 styles, or holds only cells like 1,234 (a
    thousand or one point two?) is a problem, as is any other text. Cells with a problem read as NaN.
    """
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        return col.to_numpy(dtype="float64", na_value=np.nan, copy=True), None
    text = col.astype("string").str.strip().str.strip("\"'").str.strip()
    missing = (text.isna() | text.str.lower().isin(_MISSING)).to_numpy(dtype=bool, na_value=False)
    plain = pd.to_numeric(text.where(~missing), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    left = ~missing & np.isnan(plain)
    if not left.any():
        return plain, None
    rest = text[left]
    t = rest.str.fullmatch(_THOUSANDS_COMMA).to_numpy(dtype=bool, na_value=False)
    d = rest.str.fullmatch(_DECIMAL_COMMA).to_numpy(dtype=bool, na_value=False)
    s = rest.str.fullmatch(_SPACED).to_numpy(dtype=bool, na_value=False) & ~t & ~d
    comma_mark = s & rest.str.contains(",", regex=False).to_numpy(dtype=bool, na_value=False)
    rows = np.flatnonzero(left)
    votes_t = (t & ~d) | (s & rest.str.contains(".", regex=False).to_numpy(dtype=bool, na_value=False))
    votes_d = (d & ~t) | comma_mark
    dotted = ~missing & ~left & text.str.contains(".", regex=False).to_numpy(dtype=bool, na_value=False)
    values = plain.copy()
    problem: tuple[int, str] | None = None
    decimal_comma = bool(votes_d.any())
    if votes_t.any() and votes_d.any():
        row = int(rows[_first(votes_d)])
        other = str(rest.iloc[_first(votes_t)])
        problem = (row, f"{show(text.iloc[row])} has a decimal comma, but {show(other)} has a decimal point; "
                        "write every number in one style")  # fmt: skip
    elif decimal_comma and dotted.any():
        row = _first(dotted)
        problem = (row, f"{show(text.iloc[row])} is ambiguous in a column with decimal commas (is the dot a "
                        "decimal point or a thousands separator?); write every number in one style")  # fmt: skip
    elif (t & d).any() and not (votes_t.any() or votes_d.any()):
        row = int(rows[_first(t & d)])
        cell = str(text.iloc[row])
        problem = (row, f"{show(cell)} could be {cell.replace(',', '')} or {cell.replace(',', '.')}; write "
                        "numbers without thousands separators, with a decimal point")  # fmt: skip
    known = t | d | s
    if problem is None and not known.all():
        row = int(rows[_first(~known)])
        problem = (row, f"{show(text.iloc[row])} is not a number; fix it or leave the cell empty to fill it")
    cleaned = rest.str.replace(r"[ \u00a0\u202f']", "", regex=True)
    if decimal_comma:
        cleaned = cleaned.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    else:
        cleaned = cleaned.str.replace(",", "", regex=False)
    parsed = pd.to_numeric(cleaned.where(known), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    values[rows] = parsed
    if problem is not None:
        values[rows[~known]] = np.nan
    return values, problem


# --- cells -> timestamps -----------------------------------------------------------------------------------------

_OFFSET = r"(?:Z|[+-]\d\d(?::?\d\d)?)$"
MONTH_FORMATS = ("%b %Y", "%B %Y", "%b-%Y", "%b-%y", "%Y %b", "%Y-%b", "%m/%Y", "%m.%Y")
_MONTH_YEAR = re.compile(r"[A-Za-z]{3,9}[ -]\d{2,4}|\d{4}[ -][A-Za-z]{3,9}|\d{1,2}[/.]\d{4}")


def _iso(text: pd.Series, name: str, column: str, lines: Any) -> pd.DatetimeIndex:
    try:
        return pd.DatetimeIndex(pd.to_datetime(text, format="ISO8601", errors="coerce"))
    except (ValueError, TypeError):  # several UTC offsets (e.g. across a DST change): compare them in UTC
        pass
    present = text.notna().to_numpy(dtype=bool, na_value=False)
    aware = text.str.contains(_OFFSET, regex=True).to_numpy(dtype=bool, na_value=False)
    if aware[present].any() and not aware[present].all():
        row = _first(present & ~aware) if aware[present][0] else _first(aware)
        raise DataError(
            f"{name}: line {line_of(row, lines)}, column {column!r}: {show(text.iloc[row])} mixes times with and "
            "without a UTC offset; give every timestamp an offset, or none"
        )
    return pd.DatetimeIndex(pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True))


def _guesses(sample: list[str]) -> list[str]:
    """strptime formats that could read the sample's cells, with a year and a month; day/month orders both."""
    from pandas.tseries.api import guess_datetime_format

    found: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas warns when the guess contradicts dayfirst
        for value in sample:
            for dayfirst in (False, True):
                try:
                    fmt = guess_datetime_format(value, dayfirst=dayfirst)
                except (ValueError, TypeError, OverflowError):
                    fmt = None
                if not fmt or fmt in found or not re.search("%[Yy]", fmt) or not re.search("%[mbB]", fmt):
                    continue
                if fmt.startswith(("%Y", "%y")) and "%d" in fmt and "%m" in fmt and fmt.index("%d") < fmt.index("%m"):
                    continue  # year-day-month: no one writes that
                found.append(fmt)
    if not found and sample and _MONTH_YEAR.fullmatch(sample[0]):  # month and year alone: pandas does not guess it
        for fmt in MONTH_FORMATS:
            if pd.to_datetime(pd.Series(sample), format=fmt, errors="coerce").notna().all():
                found.append(fmt)
    return found


_QUARTER = re.compile(r"(?P<y>\d{4})[ -]?[Qq](?P<q>[1-4])|[Qq](?P<q2>[1-4])[ -/]?(?P<y2>\d{4})")
_ISO_WEEK = re.compile(r"(?P<y>\d{4})-?W(?P<w>\d{2})(?:-?(?P<d>[1-7]))?")


def _periods(text: pd.Series, present: np.ndarray, name: str, column: str, lines: Any) -> pd.DatetimeIndex | None:
    """Quarters (1960 Q1, 1960-Q1, 1960Q1, Q1 1960) as their first day, ISO weeks (2000-W01, 2000W01, 2000-W01-1)
    as their Monday (or the day given); None when the column's first cells are neither. A later cell in another
    form, or a week the year does not have (2001-W53), is an error naming its line."""
    head = [str(v) for v in text[present].iloc[:20]]
    for pattern, kind in ((_QUARTER, "a quarter"), (_ISO_WEEK, "an ISO week")):
        if not head or sum(bool(pattern.fullmatch(v)) for v in head) <= len(head) / 2:
            continue
        stamps: list[Any] = []
        for row, cell in enumerate(text):
            if not present[row]:
                stamps.append(pd.NaT)
                continue
            found = pattern.fullmatch(str(cell))
            stamp = None if found is None else _period_start(found, kind)
            if stamp is None:
                raise DataError(
                    f"{name}: line {line_of(row, lines)}, column {column!r}: {show(cell)} is not {kind} like "
                    f"{show(head[0])}; fix or remove that row"
                )
            stamps.append(stamp)
        return pd.DatetimeIndex(stamps)
    return None


def _period_start(found: re.Match[str], kind: str) -> pd.Timestamp | None:
    import datetime as dt

    g = found.groupdict()
    if kind == "a quarter":
        year, quarter = int(g["y"] or g["y2"]), int(g["q"] or g["q2"])
        return pd.Timestamp(year, 3 * quarter - 2, 1)
    try:
        return pd.Timestamp(dt.date.fromisocalendar(int(g["y"]), int(g["w"]), int(g["d"] or 1)))
    except ValueError:  # week 00, or 53 in a year with 52
        return None


def parse_times(col: pd.Series, name: str, column: str, lines: Any = None) -> pd.DatetimeIndex | None:
    """A column as timestamps, or None when most cells are not dates. Raises DataError on bad or ambiguous cells."""
    if pd.api.types.is_datetime64_any_dtype(col):
        index = pd.DatetimeIndex(col)
        if index.isna().any():
            row = _first(index.isna())
            raise DataError(f"{name}: line {line_of(row, lines)}, column {column!r}: the timestamp is empty")
        return index
    if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        return None
    text = col.astype("string").str.strip()
    present = text.notna().to_numpy(dtype=bool, na_value=False)
    count = int(present.sum())
    if count == 0:
        return None
    sample = [str(v) for v in text[present].iloc[:20] if len(str(v)) <= 64]  # a date is short; guessing is slow
    head = text[present].iloc[:20]
    parsed: pd.DatetimeIndex | None = None
    if pd.to_datetime(head, format="ISO8601", errors="coerce", utc=True).notna().mean() > 0.5:
        parsed = _iso(text, name, column, lines)
        if parsed.notna().sum() <= count / 2:
            parsed = None
    if parsed is None:
        parsed = _periods(text, present, name, column, lines)
    if parsed is None:
        readings = []
        for fmt in _guesses(sample[:5]):
            try:
                candidate = pd.DatetimeIndex(pd.to_datetime(text, format=fmt, errors="coerce"))
            except (ValueError, TypeError, OverflowError):  # e.g. several UTC offsets under a guessed %z
                continue
            if candidate.notna().sum() > count / 2:
                readings.append((fmt, candidate))
        if not readings:
            return None
        complete = [(f, c) for f, c in readings if c.notna().sum() == count]
        if len(complete) > 1 and not all(c.equals(complete[0][1]) for _, c in complete[1:]):
            (f1, c1), (f2, c2) = complete[:2]
            row = _first(np.asarray(c1 != c2))
            raise DataError(
                f"{name}: column {column!r}: dates like {show(text.iloc[row])} read as {f1} or as {f2}; "
                "write them as YYYY-MM-DD (ISO 8601)"
            )
        parsed = (complete or sorted(readings, key=lambda r: -int(r[1].notna().sum())))[0][1]
    bad = np.asarray(parsed.isna())
    if bad.any():
        row = _first(bad)
        if not present[row]:
            raise DataError(
                f"{name}: line {line_of(row, lines)}, column {column!r}: the timestamp is empty; fill it in or "
                "remove that row"
            )
        raise DataError(
            f"{name}: line {line_of(row, lines)}, column {column!r}: {show(col.iloc[row])} is not a date "
            "(or not in the format of the other rows); fix or remove that row"
        )
    return parsed
