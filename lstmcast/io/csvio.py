"""Reading CSV input strictly: a path, .csv.gz or stdin -> a DataFrame of raw cells (cells.py reads them).

Encodings, delimiters, blank lines and ragged rows either read right or raise a one-line DataError naming the
line. The input is streamed to pandas: no copy of the whole file is held as bytes or text.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from lstmcast.errors import DataError
from lstmcast.io.header import _Checked, _head, _header, _open, _sniff

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
        sample = re.split(r"\r\n|\r|\n", head.decode("utf-8", errors="replace"))  # CSV line ends only
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
