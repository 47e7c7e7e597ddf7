"""The start of a CSV input without pandas: bytes in (a path, .csv.gz or stdin), the delimiter and the column names.

csvio reads the whole file with pandas from here; the CLI checks the columns a command names against the header
(pipeline.precheck) before torch and pandas are imported, so a wrong column name fails at once.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import gzip
import os
import re
import stat
import sys
import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from lstmcast.errors import DataError
from lstmcast.files import kind_of

SNIFF_BYTES = 64 * 1024  # the delimiter and header are read from this much of the start
MAX_HEADER_BYTES = 16 * 1024 * 1024
DELIMITERS = (",", ";", "\t", "|")
UTF8_BOM = b"\xef\xbb\xbf"


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


def stdin_stream(stdin: IO[bytes] | None) -> IO[bytes]:
    """`stdin`, or the process's standard input; a DataError when it was closed (started with <&-)."""
    if stdin is not None:
        return stdin
    if sys.stdin is None:
        raise DataError("<stdin>: standard input is closed; give DATA as a file, or pipe the data in")
    return sys.stdin.buffer


def _open(source: str | Path, stdin: IO[bytes] | None, name: str) -> tuple[Any, IO[bytes] | None]:
    """(stream, file to close) for a path or '-'."""
    if str(source) == "-":
        return stdin_stream(stdin), None
    path = Path(source)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:  # a symlink loop, a name too long...
        raise DataError(f"{path}: cannot read it ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise DataError(f"{path}: is a directory, not a CSV file")
    if stat.S_ISFIFO(st.st_mode):
        fh = _open_pipe(path)
        return fh, fh
    if not stat.S_ISREG(st.st_mode):  # /dev/zero would never end, a terminal would wait for typing
        raise DataError(f"{path}: {kind_of(st.st_mode)}, not a CSV file; to stream data, pipe it to - (stdin)")
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise DataError(f"{path}: cannot read it ({exc.strerror})") from None
    return fh, fh


PIPE_WAIT_S = 2.0  # how long a FIFO may take to get its writer (a `cat data > fifo &` started just before)


def _open_pipe(path: Path) -> Any:
    """Open a FIFO (or a shell's <(command)) for reading without hanging when nothing writes to it.

    The open does not block (O_NONBLOCK); a FIFO with no writer reads as end-of-file, one with a writer and no data
    yet as EAGAIN. A FIFO still without a writer after PIPE_WAIT_S is refused; then reads block as usual."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise DataError(f"{path}: cannot read it ({exc.strerror})") from None
    first, deadline = b"", time.monotonic() + PIPE_WAIT_S
    try:
        while True:
            try:
                first = os.read(fd, 65536)
            except BlockingIOError:  # a writer is there, its data is not yet: reads may block from now on
                break
            if first:
                break
            if time.monotonic() > deadline:  # still end-of-file: no writer has opened it
                raise DataError(
                    f"{path}: a FIFO (named pipe) that nothing writes to; start the writer first, or pipe the data "
                    "to - (stdin)"
                )
            time.sleep(0.02)
        os.set_blocking(fd, True)
    except BaseException as exc:
        os.close(fd)
        if isinstance(exc, OSError):
            raise DataError(f"{path}: cannot read it ({exc.strerror})") from None
        raise
    return _Prefixed(first, os.fdopen(fd, "rb"))


class _Prefixed:
    """A binary stream: bytes already read, then the rest of a file (closed with it)."""

    def __init__(self, head: bytes, fh: IO[bytes]) -> None:
        self._chain, self._fh = _Chain(head, fh), fh

    def read(self, size: int = -1) -> bytes:
        return self._chain.read(size)

    def close(self) -> None:
        self._fh.close()


_BLANK_LINES = re.compile(rb"(?:[ \t]*\r?\n)*")


def _head(stream: Any, name: str) -> tuple[bytes, Any, int, bool]:
    """The start of the (decompressed) input: (head bytes, the rest, blank lines skipped, whole input read)."""
    magic = _read_at_least(stream, 2, name)
    if magic == b"\x1f\x8b":
        stream = gzip.GzipFile(fileobj=_Chain(magic, stream), mode="rb")  # type: ignore[call-overload]
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


PARQUET_SUFFIXES = (".parquet", ".pq")
PARQUET_MAGIC = b"PAR1"


def is_parquet(source: str | Path) -> bool:
    """A path named *.parquet or *.pq, or a file that starts with Parquet's magic bytes (never standard input)."""
    if str(source) == "-":
        return False
    path = Path(source)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return True
    try:  # only a regular file is peeked at: opening a FIFO blocks until a writer comes, and its bytes go
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with path.open("rb") as fh:
            return fh.read(4) == PARQUET_MAGIC
    except OSError:
        return False


def read_header(source: str | Path) -> list[str] | None:
    """The column names of a CSV file (plain or gzip), reading only its start; None for standard input or when
    the start cannot be read as a header (the full reader then says why)."""
    if str(source) == "-" or is_parquet(source):
        return None
    try:  # only a regular file: a FIFO's bytes, once read here, would be gone for the real reader
        if not stat.S_ISREG(os.stat(source).st_mode):
            return None
    except OSError:
        return None
    name = str(source)
    try:
        stream, to_close = _open(source, None, name)
    except DataError:
        return None
    try:
        head, _, _, at_end = _head(stream, name)
        sample = re.split(r"\r\n|\r|\n", head.decode("utf-8", errors="replace"))
        if not at_end and len(sample) > 1:
            sample = sample[:-1]
        sample = [line for line in sample[:50] if line.strip()]
        return _header(sample[0], _sniff(sample, name), name) if sample else None
    except (DataError, csv.Error, UnicodeError):
        return None
    finally:
        if to_close is not None:
            to_close.close()


def did_you_mean(wanted: str, names: Sequence[str], flag: str) -> str:
    """' (did you mean --target co2?)' for a name that differs in case or by a typo from one of `names`."""
    by_case = [n for n in names if n.lower() == wanted.lower()]
    close = by_case or difflib.get_close_matches(wanted, names, n=1, cutoff=0.75)
    return f" (did you mean {flag} {close[0]}?)" if close else ""
