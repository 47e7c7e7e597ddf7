"""CSV or stdin -> a validated, regular series: time parsing, target choice, frequency, gaps and NaN policy."""

from __future__ import annotations

import csv
import gzip
import io
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from lstmcast.config import DataConfig
from lstmcast.errors import DataError

Report = Callable[[str], None]


@dataclass(frozen=True)
class Series:
    """One regular series. `index` is None for a file without a time column (positions 0..N-1).

    values: float64 array (N,), finite, in original units.
    """

    values: np.ndarray
    index: pd.DatetimeIndex | None
    freq: str | None
    target: str
    time_col: str | None
    source: str
    filled: int = 0

    def __len__(self) -> int:
        return len(self.values)

    @property
    def last_time(self) -> str | None:
        return None if self.index is None else self.index[-1].isoformat()

    def tail(self, n: int) -> Series:
        idx = None if self.index is None else self.index[-n:]
        return Series(self.values[-n:], idx, self.freq, self.target, self.time_col, self.source, self.filled)

    def head(self, n: int) -> Series:
        idx = None if self.index is None else self.index[:n]
        return Series(self.values[:n], idx, self.freq, self.target, self.time_col, self.source, self.filled)


def _line(row: int) -> int:
    """File line of a 0-based data row (the header is line 1)."""
    return row + 2


def _read_bytes(source: str | Path, stdin: IO[bytes] | None) -> bytes:
    if str(source) == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        raw = stream.read()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    path = Path(source)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not a CSV file")
    try:
        with path.open("rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise DataError(f"{path}: cannot read it ({exc.strerror})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: not a readable gzip file ({exc})") from None
    return raw


def _decode(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{name}: line {line} is not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None


def _delimiter(text: str) -> str:
    head = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_frame(source: str | Path, stdin: IO[bytes] | None = None) -> pd.DataFrame:
    """Read a CSV (path, .csv.gz or '-') into a DataFrame of strings and numbers, nothing inferred yet."""
    name = "<stdin>" if str(source) == "-" else str(source)
    text = _decode(_read_bytes(source, stdin), name)
    if not text.strip():
        raise DataError(f"{name}: the file is empty; it needs a header line and data rows")
    sep = _delimiter(text)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, skipinitialspace=True)
    except pd.errors.ParserError as exc:
        raise DataError(f"{name}: not a valid CSV ({str(exc).strip().splitlines()[-1]})") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{name}: the file is empty; it needs a header line and data rows") from None
    dupes = [c for c in frame.columns if "." in str(c) and str(c).rsplit(".", 1)[0] in frame.columns]
    if dupes:
        raise DataError(f"{name}: duplicated column name {str(dupes[0]).rsplit('.', 1)[0]!r}; rename one of them")
    if frame.empty:
        raise DataError(f"{name}: the file has a header but no data rows")
    frame.attrs["source"] = name
    return frame


def _parse_times(col: pd.Series, name: str, column: str) -> pd.DatetimeIndex | None:
    """Parse a column as datetimes; None when most cells are not dates. Raises on partly bad columns."""
    if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        return None
    text = col.astype("string").str.strip()
    parsed = None
    for kwargs in ({"format": "ISO8601"}, {"format": "mixed"}):
        try:
            parsed = pd.to_datetime(text, errors="coerce", **kwargs)  # type: ignore[call-overload]
        except (ValueError, TypeError):
            try:
                parsed = pd.to_datetime(text, errors="coerce", utc=True, **kwargs)  # type: ignore[call-overload]
            except (ValueError, TypeError):
                parsed = None
        if parsed is not None and parsed.notna().mean() > 0.5:
            break
    if parsed is None or parsed.notna().mean() <= 0.5:
        return None
    bad = parsed.isna() & text.notna()
    if bad.any() or parsed.isna().any():
        row = int(np.flatnonzero((bad | parsed.isna()).to_numpy())[0])
        raise DataError(
            f"{name}: line {_line(row)}, column {column!r}: {col.iloc[row]!r} is not a date; fix or remove that row"
        )
    return pd.DatetimeIndex(parsed)


def _to_number(col: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(col):
        return col.astype("float64")
    if pd.api.types.is_numeric_dtype(col):
        return col.astype("float64")
    text = col.astype("string").str.strip().str.strip("\"'")
    return pd.to_numeric(text, errors="coerce").astype("float64")


def _numeric_share(col: pd.Series) -> float:
    present = col.notna()
    if not present.any():
        return 0.0
    return float(_to_number(col)[present].notna().mean())


def choose_columns(frame: pd.DataFrame, cfg: DataConfig) -> tuple[str | None, pd.DatetimeIndex | None, str]:
    """Find the time column (by name or as the one date column) and the target column."""
    name = frame.attrs.get("source", "input")
    columns = [str(c) for c in frame.columns]
    for wanted, flag in ((cfg.time_col, "--time-col"), (cfg.target, "--target")):
        if wanted is not None and wanted not in columns:
            raise DataError(f"{name}: no column {wanted!r} for {flag}; the columns are {', '.join(columns)}")
    time_col, times = cfg.time_col, None
    if time_col is not None:
        times = _parse_times(frame[time_col], name, time_col)
        if times is None:
            raise DataError(f"{name}: column {time_col!r} (--time-col) does not hold dates")
    else:
        found = {}
        for c in columns:
            if c == cfg.target:
                continue
            parsed = _parse_times(frame[c], name, c)
            if parsed is not None:
                found[c] = parsed
        if len(found) > 1:
            raise DataError(f"{name}: several columns hold dates ({', '.join(found)}); choose one with --time-col")
        if found:
            time_col, times = next(iter(found.items()))
    if cfg.target is not None:
        return time_col, times, cfg.target
    candidates = [c for c in columns if c != time_col and _numeric_share(frame[c]) > 0.5]
    if len(candidates) == 1:
        return time_col, times, candidates[0]
    if not candidates:
        raise DataError(f"{name}: no numeric column to forecast; the columns are {', '.join(columns)}")
    raise DataError(f"{name}: several numeric columns ({', '.join(candidates)}); choose one with --target")


def _values(frame: pd.DataFrame, target: str, name: str) -> np.ndarray:
    col = frame[target]
    numbers = _to_number(col)
    bad = numbers.isna() & col.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{name}: line {_line(row)}, column {target!r}: {col.iloc[row]!r} is not a number; "
            "fix it or leave the cell empty to fill it"
        )
    values = numbers.to_numpy(dtype="float64", copy=True)
    inf = np.isinf(values)
    if inf.any():
        row = int(np.flatnonzero(inf)[0])
        raise DataError(f"{name}: line {_line(row)}, column {target!r}: infinite value; replace it or leave it empty")
    big = np.abs(values) > 1e30
    if big.any():
        row = int(np.flatnonzero(big)[0])
        raise DataError(
            f"{name}: line {_line(row)}, column {target!r}: {values[row]:g} is too large to model; "
            "rescale the column (|value| <= 1e30)"
        )
    return values


def _regularise(
    times: pd.DatetimeIndex, values: np.ndarray, name: str, time_col: str, rows: np.ndarray
) -> tuple[pd.DatetimeIndex, np.ndarray, str, int]:
    """Check the spacing: returns (regular index, values with NaN for missing stamps, freq, inserted count).

    times are sorted; rows[i] is the 0-based data row of times[i] in the file (for the line in messages).
    """
    if len(times) < 3:
        raise DataError(f"{name}: {len(times)} rows are too few to infer the frequency of {time_col!r}")
    dup = times.duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        raise DataError(
            f"{name}: duplicate timestamp {times[row]} in column {time_col!r} (line {_line(int(rows[row]))}); "
            "keep one row per timestamp"
        )
    freq = pd.infer_freq(times)
    if freq is not None:
        return times, values, freq, 0
    # Not regular as a whole: try the frequency of the regular stretches, then see if only stamps are missing.
    votes: dict[str, int] = {}
    step = max(1, len(times) // 50)
    for i in range(0, len(times) - 4, step):
        f = pd.infer_freq(times[i : i + 5])
        if f is not None:
            votes[f] = votes.get(f, 0) + 1
    off_grid: int | None = None  # the first stamp off the grid of the most common frequency
    for f in sorted(votes, key=votes.__getitem__, reverse=True):
        full = pd.date_range(times[0], times[-1], freq=f)
        on_grid = times.isin(full)
        if len(full) <= 4 * len(times) and on_grid.all():
            filled = pd.Series(values, index=times).reindex(full)
            return pd.DatetimeIndex(full), filled.to_numpy(dtype="float64"), f, len(full) - len(times)
        if off_grid is None and not on_grid.all():
            off_grid = int(np.flatnonzero(~on_grid)[0])
    if off_grid is None:
        diffs = np.diff(times.asi8)
        steps, counts = np.unique(diffs, return_counts=True)
        typical = steps[np.argmax(counts)]  # the most common step: a median need not be a step at all
        off_grid = int(np.flatnonzero(diffs != typical)[0]) + 1
    row = off_grid
    raise DataError(
        f"{name}: irregular timestamps in column {time_col!r}: the step changes at {times[row]} (line "
        f"{_line(int(rows[row]))}); resample the data to a fixed frequency first"
    )


def _fill(values: np.ndarray, policy: str, name: str, target: str, report: Report | None) -> tuple[np.ndarray, int]:
    missing = np.isnan(values)
    count = int(missing.sum())
    if count == 0:
        return values, 0
    if count == len(values):
        raise DataError(f"{name}: column {target!r} has no values at all")
    if policy == "error":
        row = int(np.flatnonzero(missing)[0])
        raise DataError(
            f"{name}: column {target!r} has {count} missing value(s), the first at position {row + 1}; "
            "fill them or use --fill interpolate|ffill"
        )
    s = pd.Series(values)
    if policy == "interpolate":
        s = s.interpolate(method="linear", limit_direction="both")
    else:
        s = s.ffill().bfill()
    if report is not None:
        report(f"{name}: filled {count} missing value(s) in {target!r} ({policy})")
    return s.to_numpy(dtype="float64"), count


def load_series(
    source: str | Path, cfg: DataConfig | None = None, *, stdin: IO[bytes] | None = None, report: Report | None = None
) -> Series:
    """Read and validate one series. Raises DataError with the file, line or column and what to do."""
    cfg = cfg or DataConfig()
    frame = read_frame(source, stdin)
    return series_from_frame(frame, cfg, report=report)


def series_from_frame(frame: pd.DataFrame, cfg: DataConfig, *, report: Report | None = None) -> Series:
    name = frame.attrs.get("source", "input")
    time_col, times, target = choose_columns(frame, cfg)
    values = _values(frame, target, name)
    index: pd.DatetimeIndex | None = None
    freq: str | None = None
    if times is not None and time_col is not None:
        order = np.argsort(times.asi8, kind="stable")
        if not (order == np.arange(len(order))).all():
            times, values = times[order], values[order]
        index, values, freq, inserted = _regularise(times, values, name, time_col, order)
        if inserted and report is not None:
            report(f"{name}: {inserted} missing timestamp(s) at frequency {freq} inserted as gaps")
    values, filled = _fill(values, cfg.fill, name, target, report)
    return Series(values, index, freq, target, time_col, name, filled)


def season_length(freq: str | None) -> int:
    """The dominant seasonal period for a pandas frequency string (1 when unknown or yearly)."""
    if freq is None:
        return 1
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except ValueError:
        return 1
    base = type(offset).__name__
    n = max(1, offset.n)
    calendar = {
        "MonthBegin": 12, "MonthEnd": 12, "BusinessMonthBegin": 12, "BusinessMonthEnd": 12,
        "QuarterBegin": 4, "QuarterEnd": 4, "BQuarterBegin": 4, "BQuarterEnd": 4,
        "Week": 52, "BusinessDay": 5, "YearBegin": 1, "YearEnd": 1,
    }  # fmt: skip
    if base in calendar:
        return max(1, calendar[base] // n)
    try:
        seconds = pd.Timedelta(offset).total_seconds()
    except (ValueError, TypeError):
        return 1
    if seconds <= 0:
        return 1
    day = 86400.0
    if seconds >= day:
        per_week = 7 * day / seconds
        return int(round(per_week)) if per_week >= 2 and math.isclose(per_week, round(per_week)) else 1
    per_day = day / seconds
    if per_day <= 288:  # up to 5-minute data: the daily cycle
        return int(round(per_day))
    per_hour = 3600.0 / seconds
    return int(round(per_hour)) if per_hour >= 2 else 1


def future_index(series_last: str | None, freq: str | None, start: int, steps: int) -> list[str] | list[int]:
    """Timestamps (ISO strings) or integer positions of the `steps` points after the end of a series."""
    if series_last is None or freq is None:
        return list(range(start, start + steps))
    stamps = pd.date_range(pd.Timestamp(series_last), periods=steps + 1, freq=freq)[1:]
    return format_times(stamps)


def format_times(stamps: pd.DatetimeIndex) -> list[str]:
    """ISO 8601 strings; dates alone when every stamp is at midnight (daily and coarser data)."""
    if len(stamps) and (stamps == stamps.normalize()).all() and stamps.tz is None:
        return [t.strftime("%Y-%m-%d") for t in stamps]
    return [t.isoformat() for t in stamps]
