"""Reading Parquet input (pyarrow) into the same DataFrame the CSV reader gives: one row per observation, the
columns by name; a stored pandas index (e.g. the dates) becomes a column again."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from lstmcast.errors import DataError
from lstmcast.io.header import is_parquet

__all__ = ["is_parquet", "read_parquet"]

def read_parquet(
    source: str | Path | io.BytesIO, *, columns: Sequence[str] | None = None, name: str | None = None
) -> pd.DataFrame:
    """Read a Parquet file (or its bytes, e.g. from standard input); `columns`: only these when the file has them
    all. Raises DataError naming the file."""
    path = source if isinstance(source, io.BytesIO) else Path(source)
    if isinstance(path, Path) and not path.exists():
        raise DataError(f"{path}: no such file")
    if isinstance(path, Path) and path.is_dir():
        raise DataError(f"{path}: is a directory, not a Parquet file")
    label = name or str(path)
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - a dependency; only a broken install lacks it
        raise DataError(f"{label}: reading Parquet needs pyarrow (pip install pyarrow)") from None
    try:
        names = pq.read_schema(path).names
        wanted = list(columns) if columns is not None and all(c in names for c in columns) else None
        frame = pq.read_table(path, columns=wanted).to_pandas()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"{label}: not a readable Parquet file ({str(exc).splitlines()[0][:160]})") from None
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()  # a DataFrame saved with its dates (or ids) as the index
    for c in frame.columns:
        if isinstance(frame[c].dtype, pd.CategoricalDtype):
            frame[c] = frame[c].astype(object)
    frame.columns = pd.Index([str(c) for c in frame.columns])
    if frame.empty:
        raise DataError(f"{label}: the file has no data rows")
    frame.attrs["source"] = label
    return frame
