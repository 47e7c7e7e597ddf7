"""Reading CSV input strictly: bytes -> a DataFrame of raw cells, and cells -> numbers or timestamps.

Every awkward input either reads to the right values or raises a one-line DataError that names the line or
column and what to do; nothing is guessed where two readings are possible (day/month order, 1,234).
The input is streamed to pandas: no copy of the whole file is held as bytes or text.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
import sys
import warnings
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from lstmcast.errors import DataError

SNIFF_BYTES = 64 * 1024  # the delimiter and header are read from this much of the start
MAX_HEADER_BYTES = 16 * 1024 * 1024
DELIMITERS = (",", ";", "\t", "|")
UTF8_BOM = b"\xef\xbb\xbf"


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


# --- bytes in --------------------------------------------------------------------------------------------------


class _Chain:
    """A read-only stream: `head` bytes, then the rest of `rest`."""

    def __init__(self, head: bytes, rest: IO[bytes] | None) -> None:
        self._head, self._rest = head, rest

    def read(self, size: int = -1) -> bytes:
        if self._head:
            n = len(self._head) if size is None or size < 0 else size
            data, self._head = self._head[:n], self._head[n:]
            return data
        return self._rest.read(size) if self._rest is not None else b""


class _Checked:
    """What pandas reads: the input's bytes, decoded as UTF-8 on the way (strictly) to name the first bad line.

    Gzip and read errors surface as DataError, so a damaged stream fails with a message, not a traceback.
    """

    def __init__(self, head: bytes, rest: IO[bytes], name: str, first_line: int, offset: int) -> None:
        self._stream = _Chain(head, rest)
        self._name = name
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._line = first_line  # file line of the next byte
        self._offset = offset  # file byte offset of the next byte

    def read(self, size: int = -1) -> bytes:
        data = _guarded(self._stream.read, size, self._name)
        pending = len(self._decoder.getstate()[0])
        try:
            self._decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            at = max(exc.start - pending, 0)
            line = self._line + data[:at].count(b"\n")
            raise DataError(
                f"{self._name}: line {line} is not UTF-8 text (byte {self._offset + at}); save the file as UTF-8"
            ) from None
        self._line += data.count(b"\n")
        self._offset += len(data)
        return data


def _guarded(read: Any, size: int, name: str) -> bytes:
    try:
        return read(size)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"{name}: not a readable gzip file ({exc}); the file may be cut short") from None
    except OSError as exc:
        raise DataError(f"{name}: cannot read it ({exc.strerror or exc})") from None


def _read_at_least(stream: Any, n: int, name: str) -> bytes:
    """Up to n bytes (fewer only at the end): pipes may hand over less per read."""
    parts, got = [], 0
    while got < n:
        data = _guarded(stream.read, n - got, name)
        if not data:
            break
        parts.append(data)
        got += len(data)
    return b"".join(parts)


def _open(source: str | Path, stdin: IO[bytes] | None, name: str) -> tuple[Any, IO[bytes] | None]:
    """(stream, file to close) for a path or '-'."""
    if str(source) == "-":
        return (stdin if stdin is not None else sys.stdin.buffer), None
    path = Path(source)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not a CSV file")
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise DataError(f"{path}: cannot read it ({exc.strerror})") from None
    return fh, fh


_BLANK_LINES = re.compile(rb"(?:[ \t]*\r?\n)*")


def _head(stream: Any, name: str) -> tuple[bytes, Any, int, bool]:
    """The start of the (decompressed) input: (head bytes, the rest, blank lines skipped, whole input read)."""
    magic = _read_at_least(stream, 2, name)
    if magic == b"\x1f\x8b":
        stream = gzip.GzipFile(fileobj=_Chain(magic, stream), mode="rb")  # type: ignore[arg-type]
        magic = b""
    head = magic + _read_at_least(stream, SNIFF_BYTES, name)
    at_end = len(head) < SNIFF_BYTES
    if head.startswith(UTF8_BOM):
        head = head[len(UTF8_BOM) :]
    elif head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise DataError(f"{name}: the file is UTF-16 text; save it as UTF-8")
    skipped = 0
    while True:
        blank = _BLANK_LINES.match(head)
        if blank and blank.end():
            skipped += head[: blank.end()].count(b"\n")
            head = head[blank.end() :]
        if at_end or (head.strip() and b"\n" in head) or len(head) > MAX_HEADER_BYTES:
            break
        more = _read_at_least(stream, SNIFF_BYTES, name)
        at_end = len(more) < SNIFF_BYTES
        head += more
    return head, stream, skipped, at_end


def _sniff(lines: list[str], name: str) -> str:
    """The delimiter that splits every sample line into the header's number of fields (more than one)."""
    if csv.field_size_limit() < MAX_HEADER_BYTES:
        csv.field_size_limit(MAX_HEADER_BYTES)  # the sample may hold one very long cell or header
    fits = []
    for sep in DELIMITERS:
        try:
            counts = [len(row) for row in csv.reader(lines, delimiter=sep) if row]
        except csv.Error:
            continue
        if counts and counts[0] > 1 and all(c == counts[0] for c in counts):
            fits.append(sep)
    if len(fits) > 1 and "," in fits:
        # A ';' or tab file whose header also holds commas: the cells decide (decimal commas are not fields).
        header_fits = [s for s in fits if s != "," and lines[0].count(s) > lines[0].count(",")]
        if header_fits:
            fits = header_fits
    if len(fits) > 1:
        shown = " and ".join(repr(s) for s in fits)
        raise DataError(
            f"{name}: cannot tell the delimiter: {shown} both split every line alike; use one delimiter only"
        )
    if fits:
        return fits[0]
    # Ragged or single-column: the delimiter that the header uses most, so pandas can name the bad line.
    best = max(DELIMITERS, key=lambda s: lines[0].count(s) if lines else 0)
    return best if lines and lines[0].count(best) else ","


def _header(line: str, sep: str, name: str) -> list[str]:
    fields = next(csv.reader([line], delimiter=sep, skipinitialspace=True), [])
    names = [f.strip() or f"Unnamed: {i}" for i, f in enumerate(fields)]
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise DataError(f"{name}: duplicated column name {n!r}; rename one of them")
        seen.add(n)
    return names


_PANDAS_LINE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_PANDAS_QUOTE = re.compile(r"EOF inside string starting at row (\d+)")


def _parser_message(exc: Exception, skipped: int) -> str:
    text = " ".join(str(exc).split())
    found = _PANDAS_LINE.search(text)
    if found:
        want, line, saw = (int(g) for g in found.groups())
        return f"line {line + skipped} has {saw} fields, the header has {want}; quote cells that hold the delimiter"
    quote = _PANDAS_QUOTE.search(text)
    if quote:
        return f"the quote opened on line {int(quote.group(1)) + 1 + skipped} is never closed; fix the quoting"
    text = text.replace("Error tokenizing data. ", "")
    return f"not a valid CSV ({text[:160]})"


def read_csv(
    source: str | Path, stdin: IO[bytes] | None = None, *, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Read a CSV (path, .csv.gz or '-') into a DataFrame of raw cells, streamed.

    columns: read only these when the header has them all (less memory for wide files).
    attrs: source (a name for messages); lines (present when the header is not line 1 or blank lines were
    dropped: the file line of row 0, or of each row, see `line_of`).
    """
    name = "<stdin>" if str(source) == "-" else str(source)
    stream, to_close = _open(source, stdin, name)
    try:
        head, rest, skipped, at_end = _head(stream, name)
        if not head.strip():
            raise DataError(f"{name}: the file is empty; it needs a header line and data rows")
        sample = head.decode("utf-8", errors="replace").splitlines()
        if not at_end and len(sample) > 1:
            sample = sample[:-1]  # the last line may be cut
        sample = [s for s in sample[:50] if s.strip()]
        sep = _sniff(sample, name)
        names = _header(sample[0], sep, name)
        usecols = None
        if columns is not None and all(c in names for c in columns):
            usecols = sorted({names.index(c) for c in columns})
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pandas' dtype warnings: the cells are checked after
                frame = pd.read_csv(
                    _Checked(head, rest, name, first_line=skipped + 1, offset=0),  # type: ignore[arg-type]
                    sep=sep, skipinitialspace=True, encoding="utf-8", skip_blank_lines=False, usecols=usecols,
                    index_col=False,
                )  # fmt: skip
        except pd.errors.EmptyDataError:
            raise DataError(f"{name}: the file is empty; it needs a header line and data rows") from None
        except pd.errors.ParserError as exc:
            raise DataError(f"{name}: {_parser_message(exc, skipped)}") from None
        except UnicodeDecodeError as exc:  # only where pandas decodes bytes our check has not seen yet
            raise DataError(f"{name}: not UTF-8 text ({exc.reason}); save the file as UTF-8") from None
    finally:
        if to_close is not None:
            to_close.close()
    if len(frame.columns) == len(names):
        frame.columns = pd.Index(names)
    elif usecols is not None and len(frame.columns) == len(usecols):
        frame.columns = pd.Index([names[i] for i in usecols])
    first = skipped + 2
    blank = frame.isna().all(axis=1).to_numpy()
    lines: Any = first if skipped else None
    if blank.any():
        kept = np.flatnonzero(~blank)
        if len(kept) and kept[-1] + 1 != len(kept):  # blank lines inside the data shift the line numbers
            lines = kept + first
        frame = frame.iloc[kept].reset_index(drop=True)
    if frame.empty:
        raise DataError(f"{name}: the file has a header but no data rows")
    frame.attrs["source"] = name
    if lines is not None:
        frame.attrs["lines"] = lines
    return frame


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
                fmt = guess_datetime_format(value, dayfirst=dayfirst)
                if not fmt or fmt in found or not re.search("%[Yy]", fmt) or not re.search("%[mbB]", fmt):
                    continue
                if fmt.startswith(("%Y", "%y")) and "%d" in fmt and "%m" in fmt and fmt.index("%d") < fmt.index("%m"):
                    continue  # year-day-month: no one writes that
                found.append(fmt)
    if not found:  # month and year alone, which pandas does not guess
        for fmt in MONTH_FORMATS:
            if pd.to_datetime(pd.Series(sample), format=fmt, errors="coerce").notna().all():
                found.append(fmt)
    return found


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
    sample = [str(v) for v in text[present].iloc[:20]]
    head = text[present].iloc[:20]
    parsed: pd.DatetimeIndex | None = None
    if pd.to_datetime(head, format="ISO8601", errors="coerce", utc=True).notna().mean() > 0.5:
        parsed = _iso(text, name, column, lines)
        if parsed.notna().sum() <= count / 2:
            parsed = None
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
