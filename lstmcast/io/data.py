"""CSV or stdin -> a validated, regular series: time parsing, target choice, frequency, gaps and NaN policy."""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from lstmcast.config import DataConfig
from lstmcast.errors import ConfigError, DataError, MissingColumn
from lstmcast.io.cells import line_of, parse_times, show, to_numbers
from lstmcast.io.csvio import read_csv
from lstmcast.io.header import PARQUET_MAGIC, did_you_mean, stdin_stream
from lstmcast.io.header import _Chain as Chain
from lstmcast.io.header import _read_at_least as read_at_least
from lstmcast.io.parquetio import is_parquet, read_parquet

Report = Callable[[str], None]


@dataclass(frozen=True)
class Series:
    """One regular series. `index` is None for a file without a time column (positions 0..N-1).

    values:     float64 (N,), finite, in original units.
    covariates: float64 (N, C) input columns in original units (observed ones first, then those known ahead),
                or None; `covariate_names` names them.
    future:     float64 (F, Cf) values of the known-ahead covariates (the last `known_ahead` covariate columns)
                for the F rows after the end (rows whose target was empty), or None.
    id:         the series' name in a panel (None for a lone series).
    """

    values: np.ndarray
    index: pd.DatetimeIndex | None
    freq: str | None
    target: str
    time_col: str | None
    source: str
    filled: int = 0
    id: str | None = None
    covariates: np.ndarray | None = None
    covariate_names: tuple[str, ...] = ()
    future: np.ndarray | None = None
    known_ahead: int = 0  # how many of the last covariate columns are known in advance

    def __len__(self) -> int:
        return len(self.values)

    @property
    def last_time(self) -> str | None:
        return None if self.index is None else self.index[-1].isoformat()

    def _slice(self, part: slice) -> Series:
        idx = None if self.index is None else self.index[part]
        cov = None if self.covariates is None else self.covariates[part]
        return replace(self, values=self.values[part], index=idx, covariates=cov, future=None)

    def tail(self, n: int) -> Series:
        return self._slice(slice(len(self) - n, None))

    def head(self, n: int) -> Series:
        """The first n rows; the known-ahead covariates of the rows after them become its `future`."""
        cut = self._slice(slice(0, n))
        if not self.known_ahead or self.covariates is None:
            return cut
        ahead = [self.covariates[n:, -self.known_ahead :]]
        if self.future is not None:
            ahead.append(self.future)
        return replace(cut, future=np.concatenate(ahead, axis=0))


def _line(row: int, lines: Any = None) -> int:
    """File line of a 0-based data row: the header is line 1 unless `lines` (a frame's attrs["lines"]) says else."""
    return line_of(row, lines)


def _file_rows(rows: np.ndarray, frame: pd.DataFrame) -> np.ndarray:
    """Data rows as `_line` (without `lines`) counts them: shifted where the file has blank or leading lines."""
    lines = frame.attrs.get("lines")
    return rows if lines is None else np.asarray([_line(int(r), lines) - 2 for r in rows])


def read_frame(
    source: str | Path, stdin: IO[bytes] | None = None, *, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Read a CSV (path, .csv.gz or '-') into a DataFrame of raw cells, nothing inferred yet (see csvio.read_csv),
    or a Parquet file (*.parquet, *.pq, or Parquet's magic bytes: parquetio.read_parquet)."""
    if is_parquet(source):
        return read_parquet(source, columns=columns)
    if str(source) == "-":  # standard input: Parquet's magic bytes decide, else CSV from the same bytes
        stream = stdin_stream(stdin)
        head = read_at_least(stream, len(PARQUET_MAGIC), "<stdin>")
        if head == PARQUET_MAGIC:
            return read_parquet(io.BytesIO(head + stream.read()), columns=columns, name="<stdin>")
        return read_csv(source, Chain(head, stream), columns=columns)  # type: ignore[arg-type]  # a readable stream
    return read_csv(source, stdin, columns=columns)


def _parse_times(col: pd.Series, name: str, column: str, lines: Any = None) -> pd.DatetimeIndex | None:
    """Parse a column as datetimes; None when most cells are not dates. Raises on bad or ambiguous cells."""
    return parse_times(col, name, column, lines)  # a datetime column (a panel parses it once) passes through


def _numeric_share(col: pd.Series) -> float:
    present = col.notna().to_numpy()
    if not present.any():
        return 0.0
    values, _ = to_numbers(col)
    return float(np.mean(~np.isnan(values[present])))


def choose_columns(frame: pd.DataFrame, cfg: DataConfig) -> tuple[str | None, pd.DatetimeIndex | None, str]:
    """Find the time column (by name or as the one date column) and the target column."""
    name = frame.attrs.get("source", "input")
    columns = [str(c) for c in frame.columns]
    for wanted, flag in ((cfg.time_col, "--time-col"), (cfg.target, "--target")):
        if wanted is not None and wanted not in columns:
            raise MissingColumn(
                f"{name}: no column {wanted!r} for {flag}{did_you_mean(wanted, columns, flag)}; the columns are "
                f"{', '.join(columns)}",
                wanted,
                tuple(columns),
            )
    time_col, times = cfg.time_col, None
    if time_col is not None:
        times = _parse_times(frame[time_col], name, time_col, frame.attrs.get("lines"))
        if times is None:
            raise DataError(f"{name}: column {time_col!r} (--time-col) does not hold dates")
    else:
        found = {}
        for c in columns:
            if c == cfg.target:
                continue
            parsed = _parse_times(frame[c], name, c, frame.attrs.get("lines"))
            if parsed is not None:
                found[c] = parsed
        if len(found) > 1:
            raise DataError(f"{name}: several columns hold dates ({', '.join(found)}); choose one with --time-col")
        if found:
            time_col, times = next(iter(found.items()))
        else:
            _refuse_time_labels(frame, cfg, name)
    if cfg.target is not None:
        return time_col, times, cfg.target
    candidates = [c for c in columns if c != time_col and _numeric_share(frame[c]) > 0.5]
    if len(candidates) == 1:
        return time_col, times, candidates[0]
    if not candidates:
        raise DataError(f"{name}: no numeric column to forecast; the columns are {', '.join(columns)}")
    raise DataError(f"{name}: several numeric columns ({', '.join(candidates)}); choose one with --target")


def _refuse_time_labels(frame: pd.DataFrame, cfg: DataConfig, name: str) -> None:
    """No column holds dates: a text column whose cells are all distinct and hold digits (1960 H1, FY2020, 2000/01)
    labels the rows' times in a form not read. Using row positions would drop it silently; say so instead."""
    used = {*cfg.targets, *cfg.covariates, *cfg.future_covariates, *([cfg.id_col] if cfg.id_col else [])}
    for c in frame.columns:
        col = frame[c]
        if str(c) in used or pd.api.types.is_numeric_dtype(col) or _numeric_share(col) > 0.5:
            continue
        cells = col.dropna().astype(str).str.strip()
        if len(cells) >= 3 and cells.is_unique and cells.str.contains(r"\d", regex=True).all():
            raise DataError(
                f"{name}: column {str(c)!r} holds labels like {show(cells.iloc[0])}, {show(cells.iloc[1])} that look "
                "like times but are not dates lstmcast reads; write them as dates (YYYY-MM-DD), quarters (1960 Q1) "
                "or ISO weeks (2000-W01), or remove the column to use row positions"
            )


def _values(frame: pd.DataFrame, target: str, name: str) -> np.ndarray:
    lines = frame.attrs.get("lines")
    values, problem = to_numbers(frame[target])
    if problem is not None:
        row, what = problem
        raise DataError(f"{name}: line {_line(row, lines)}, column {target!r}: {what}")
    inf = np.isinf(values)
    if inf.any():
        row = int(np.flatnonzero(inf)[0])
        raise DataError(
            f"{name}: line {_line(row, lines)}, column {target!r}: infinite value; replace it or leave it empty"
        )
    big = np.abs(values) > 1e30
    if big.any():
        row = int(np.flatnonzero(big)[0])
        raise DataError(
            f"{name}: line {_line(row, lines)}, column {target!r}: {values[row]:g} is too large to model; "
            "rescale the column (|value| <= 1e30)"
        )
    return values


def _id_col_hint(frame: pd.DataFrame, time_col: str, times: pd.DatetimeIndex, used: Sequence[str]) -> str:
    """For duplicate timestamps: the column that would make the file a long panel (one row per time and value of
    it), as advice to pass --id-col; the non-numeric ones first. Empty when no column does."""
    stamps = pd.Series(times.asi8)
    candidates = [c for c in map(str, frame.columns) if c not in (time_col, *used)]
    candidates.sort(key=lambda c: _numeric_share(frame[c]) > 0.5)
    for c in candidates:
        ids = frame[c].astype(str).to_numpy()
        if len(set(ids)) > 1 and not pd.DataFrame({"t": stamps.to_numpy(), "id": ids}).duplicated().any():
            return f"it looks like a long panel, one series per {c!r}: pass --id-col {c}"
    return ""


def _regularise(
    times: pd.DatetimeIndex, values: np.ndarray, name: str, time_col: str, rows: np.ndarray, hint: str = ""
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
            + (hint or "keep one row per timestamp")
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
            grid = pd.DataFrame(values.reshape(len(times), -1), index=times).reindex(full).to_numpy(dtype="float64")
            return pd.DatetimeIndex(full), grid.reshape((len(full),) + values.shape[1:]), f, len(full) - len(times)
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
    frame = read_frame(source, stdin, columns=_named_columns(cfg))
    return series_from_frame(frame, cfg, report=report)


def _named_columns(cfg: DataConfig) -> list[str] | None:
    """Every column a run reads, when the config names the time and target columns (None: read them all)."""
    if not cfg.time_col or not cfg.target:
        return None
    names = [cfg.time_col, *getattr(cfg, "targets", [cfg.target]), *getattr(cfg, "covariates", ())]
    names += [*getattr(cfg, "future_covariates", ()), *([cfg.id_col] if getattr(cfg, "id_col", None) else [])]
    return names


def series_from_frame(frame: pd.DataFrame, cfg: DataConfig, *, report: Report | None = None) -> Series:
    """One series from a frame: time index, target, and the covariate columns the config names.

    With known-ahead covariates, trailing rows whose target is empty are the future: their covariate values
    become `Series.future` (what a forecast of those steps needs).
    """
    name = frame.attrs.get("source", "input")
    time_col, times, target = choose_columns(frame, cfg)
    names = (*cfg.covariates, *cfg.future_covariates)
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise DataError(
            f"{name}: no covariate column {missing[0]!r}; the columns are {', '.join(map(str, frame.columns))}"
        )
    matrix = np.column_stack([_values(frame, c, name) for c in (target, *names)])  # (N, 1 + C)
    index: pd.DatetimeIndex | None = None
    freq: str | None = None
    if times is not None and time_col is not None:
        hint = _id_col_hint(frame, time_col, times, (target, *names)) if times.has_duplicates else ""
        order = np.argsort(times.asi8, kind="stable")
        if not (order == np.arange(len(order))).all():
            times, matrix = times[order], matrix[order]
        index, matrix, freq, inserted = _regularise(times, matrix, name, time_col, _file_rows(order, frame), hint)
        if inserted and report is not None:
            report(f"{name}: {inserted} missing timestamp(s) at frequency {freq} inserted as gaps")
    future = None
    if cfg.future_covariates:
        known = np.flatnonzero(~np.isnan(matrix[:, 0]))
        end = int(known[-1]) + 1 if len(known) else len(matrix)
        ahead = matrix[end:, -len(cfg.future_covariates) :]
        complete = ~np.isnan(ahead).any(axis=1)
        future = ahead[: int(np.argmin(complete)) if not complete.all() else len(ahead)]
        matrix, index = matrix[:end], None if index is None else index[:end]
    values, filled = _fill(matrix[:, 0], cfg.fill, name, target, report)
    covariates = None
    if names:
        covariates = np.column_stack(
            [_fill(matrix[:, 1 + j], cfg.fill, name, c, report)[0] for j, c in enumerate(names)]
        )
    return Series(
        values, index, freq, target, time_col, name, filled, covariates=covariates, covariate_names=names,
        future=future, known_ahead=len(cfg.future_covariates),
    )  # fmt: skip


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


def future_times(last_time: str, freq: str, steps: int) -> pd.DatetimeIndex:
    """The timestamps of the `steps` points after `last_time`."""
    return pd.date_range(start=pd.Timestamp(last_time), periods=steps + 1, freq=freq)[1:]


def check_future(series_last: str | None, freq: str | None, steps: int, flag: str = "--horizon") -> None:
    """A usage error when `steps` points after `series_last` would pass 9999-12-31, the last date an ISO timestamp
    (and Python's datetime) can hold, or the range of pandas' timestamps."""
    if series_last is None or freq is None:
        return
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
        end = pd.Timestamp(series_last) + offset * steps
        ok = end.year <= 9999
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):  # OutOfBoundsDatetime is a ValueError
        ok = False
    if not ok:
        raise ConfigError(
            f"{flag} {steps}: {steps} steps of {freq} after {series_last} end after the year 9999, the last date a "
            "timestamp can hold; forecast fewer steps"
        )


def future_index(series_last: str | None, freq: str | None, start: int, steps: int) -> list[str] | list[int]:
    """Timestamps (ISO strings) or integer positions of the `steps` points after the end of a series."""
    if series_last is None or freq is None:
        return list(range(start, start + steps))
    check_future(series_last, freq, steps)
    return format_times(future_times(series_last, freq, steps))


def format_times(stamps: pd.DatetimeIndex) -> list[str]:
    """ISO 8601 strings; dates alone when every stamp is at midnight (daily and coarser data)."""
    if len(stamps) and (stamps == stamps.normalize()).all() and stamps.tz is None:
        return [t.strftime("%Y-%m-%d") for t in stamps]
    return [t.isoformat() for t in stamps]
