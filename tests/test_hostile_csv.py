"""Hostile input, tried systematically: awkward CSV files read to the right values or fail with exit code 3 and
one line naming the line or column; out-of-range options fail with exit code 2 naming the valid range.

CASES is the catalogue of distinct awkward files (counted in the README's reliability section); the hypothesis
properties then vary dialects, corruptions and raw bytes around them.
"""

from __future__ import annotations

import gzip
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from clitools import assert_one_error_line, run_main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstmcast import cli
from lstmcast.config import DataConfig
from lstmcast.errors import DataError
from lstmcast.io.data import load_series

# --- helpers -----------------------------------------------------------------------------------------------------


def days(n: int, start: str = "2020-01-01") -> list[str]:
    return [d.strftime("%Y-%m-%d") for d in pd.date_range(start, periods=n, freq="D")]


def table(cells: list[object], stamps: list[str] | None = None, sep: str = ",", header: str = "timestamp,value") -> str:
    stamps = stamps if stamps is not None else days(len(cells))
    return header.replace(",", sep) + "\n" + "".join(f"{t}{sep}{v}\n" for t, v in zip(stamps, cells, strict=True))


def load_bytes(raw: bytes, **cfg: object):
    return load_series("-", DataConfig(**cfg), stdin=io.BytesIO(raw), report=lambda msg: None)


def one_line_error(exc: DataError) -> str:
    msg = str(exc)
    assert "\n" not in msg and "\r" not in msg, msg
    assert "Traceback" not in msg
    assert len(msg) < 400, msg  # long cells are shortened in messages
    return msg


SIX = [1, 2, 3, 4, 5, 6]


@dataclass
class Case:
    """One awkward input: it either reads to `values` (and `freq`, first stamp) or fails naming `needles`."""

    raw: bytes | str
    values: list[float] | None = None
    needles: tuple[str, ...] = ()
    freq: str | None = "D"
    first: str | None = "2020-01-01"
    cfg: dict = field(default_factory=dict)

    @property
    def data(self) -> bytes:
        return self.raw.encode() if isinstance(self.raw, str) else self.raw


def gz(text: str) -> bytes:
    return gzip.compress(text.encode())


# fmt: off
CASES: dict[str, Case] = {
    # empty and tiny
    "empty file": Case("", needles=("the file is empty",)),
    "only blank lines": Case("  \n\n\t\n", needles=("the file is empty",)),
    "header only": Case("timestamp,value\n", needles=("header but no data rows",)),
    "header only with BOM": Case(b"\xef\xbb\xbftimestamp,value\n", needles=("header but no data rows",)),
    "header then blank lines": Case("timestamp,value\n\n\n", needles=("header but no data rows",)),
    "one row": Case("timestamp,value\n2020-01-01,5\n", needles=("too few", "'timestamp'")),
    "one row without time": Case("value\n5\n", values=[5.0], freq=None, first=None),
    # encodings and line ends
    "UTF-8 BOM": Case(b"\xef\xbb\xbf" + table(SIX).encode(), values=SIX),
    "UTF-16": Case(table(SIX).encode("utf-16"), needles=("UTF-16", "save it as UTF-8")),
    "non-UTF-8 byte": Case(table(SIX).encode().replace(b"2020-01-04", b"2020-01-0\xe9"), needles=("line 5 is not UTF-8",)),
    "CRLF line ends": Case(table(SIX).replace("\n", "\r\n"), values=SIX),
    "CR line ends": Case(table(SIX).replace("\n", "\r"), values=SIX),
    "NUL byte in a cell": Case(table(SIX).replace(",3\n", ",3\x00\n"), needles=("line 4", "'value'", "not a number")),
    "gzip": Case(gz(table(SIX)), values=SIX),
    "truncated gzip": Case(gz(table(SIX * 300, days(1800)))[:300], needles=("not a readable gzip file",)),
    # delimiters and quoting
    "semicolon": Case(table(SIX, sep=";"), values=SIX),
    "tab": Case(table(SIX, sep="\t"), values=SIX),
    "pipe": Case(table(SIX, sep="|"), values=SIX),
    "two delimiters fit": Case("a;b,c\n2020-01-01;1,5\n2020-01-02;2,5\n", needles=("cannot tell the delimiter",)),
    "quoted numbers": Case(table([f'"{v}"' for v in SIX]), values=SIX),
    "doubly quoted numbers": Case(table([f'"""{v}"""' for v in SIX]), values=SIX),
    "single-quoted numbers": Case(table([f"'{v}'" for v in SIX]), values=SIX),
    "padded cells": Case("timestamp , value \n" + "".join(f"  {t} ,  {v}  \n" for t, v in zip(days(6), SIX)), values=SIX),
    "quoted header with delimiter": Case('timestamp,"sales, total"\n' + "".join(f"{t},{v}\n" for t, v in zip(days(6), SIX)), values=SIX),
    "text column with quoted delimiters": Case("timestamp,city,value\n" + "".join(f'{t},"Oslo, Norway",{v}\n' for t, v in zip(days(6), SIX)), values=SIX),
    "row with an extra field": Case("timestamp,value\n2020-01-01,1\n2020-01-02,2,3\n2020-01-03,3\n", needles=("line 3 has 3 fields",)),
    "unclosed quote": Case('timestamp,value\n2020-01-01,1\n2020-01-02,"2\n2020-01-03,3\n', needles=("line 3", "never closed")),
    "very long line": Case(table([1, 2, "9" * 100_000, 4, 5, 6]), needles=("line 4", "'value'", "...")),
    "very long header": Case("timestamp,value," + "x" * 200_000 + "\n" + "".join(f"{t},{v},\n" for t, v in zip(days(6), SIX)), values=SIX, cfg={"target": "value"}),
    "duplicated column names": Case("timestamp,value,value\n" + "".join(f"{t},{v},{v}\n" for t, v in zip(days(6), SIX)), needles=("duplicated column name 'value'",)),
    "column named like a pandas duplicate": Case("timestamp,value,value.1\n" + "".join(f"{t},{v},0\n" for t, v in zip(days(6), SIX)), values=SIX, cfg={"target": "value"}),
    "second header inside the data": Case(table([1, 2, "value", 4, 5, 6], days(3) + ["timestamp"] + days(2, "2020-01-05")), needles=("line 5", "'timestamp'", "not a date")),
    # blank lines
    "leading blank lines": Case("\n\n" + table(SIX), values=SIX),
    "blank lines inside": Case("timestamp,value\n2020-01-01,1\n\n2020-01-02,2\n2020-01-03,3\n\n\n", values=[1, 2, 3]),
    "blank lines shift the named line": Case("\n\ntimestamp,value\n2020-01-01,1\n\n2020-01-02,x\n2020-01-03,3\n", cfg={"target": "value"}, needles=("line 6", "'x'")),
    # numbers
    "decimal commas with ';'": Case(table(["1,5", "2,5", "3,25", "4", "5,5", "6,5"], sep=";"), values=[1.5, 2.5, 3.25, 4, 5.5, 6.5]),
    "decimal commas and dot thousands": Case(table(["1.234,5", "2,5", "3", "4", "5", "6"], sep=";"), values=[1234.5, 2.5, 3, 4, 5, 6]),
    "quoted decimal commas": Case(table(['"1,5"', '"2,5"', "3", "4", "5", "6"]), values=[1.5, 2.5, 3, 4, 5, 6]),
    "quoted thousands separators": Case(table(['"1,234"', '"12,345.5"', "3", "4", "5", "6"]), values=[1234, 12345.5, 3, 4, 5, 6]),
    "space thousands separators": Case(table(["1 234", "2 345,5", "3", "4", "5", "6"], sep=";"), values=[1234, 2345.5, 3, 4, 5, 6]),
    "thousands or decimal? (1,234)": Case(table(['"1,234"', '"2,345"', "3", "4", "5", "6"]), needles=("line 2", "'1,234' could be 1234 or 1.234")),
    "two number styles": Case(table(['"1,234.5"', '"2,5"', "3", "4", "5", "6"]), needles=("line 3", "decimal comma", "decimal point")),
    "dot in a decimal-comma column": Case(table(["1,5", "2.5", "3", "4", "5", "6"], sep=";"), needles=("line 3", "'2.5'", "ambiguous")),
    "text in the target": Case(table([1, 2, "abc", 4, 5, 6]), needles=("line 4", "'value'", "'abc' is not a number")),
    "units in the target": Case(table([1, 2, "3 kg", 4, 5, 6]), needles=("line 4", "not a number")),
    "percent signs": Case(table([1, 2, "3%", 4, 5, 6]), needles=("line 4", "not a number")),
    "a dash for missing": Case(table([1, 2, "-", 4, 5, 6]), needles=("line 4", "not a number")),
    "unicode minus": Case(table([1, 2, "\u22125", 4, 5, 6]), needles=("line 4", "not a number")),
    "missing-value spellings": Case(table([1, "NA", 3, "n/a", "NULL", 6]), values=SIX),
    "NaN with trailing space": Case(table([1, 2, '"NaN "', 4, 5, 6]), values=SIX),
    "all NaN target": Case(table([""] * 6), cfg={"target": "value"}, needles=("'value' has no values at all",)),
    "all NaN, target detected": Case(table(["nan"] * 6), needles=("no numeric column",)),
    "infinity": Case(table([1, 2, "inf", 4, 5, 6]), needles=("line 4", "'value'", "infinite")),
    "minus Infinity": Case(table([1, 2, "-Infinity", 4, 5, 6]), needles=("line 4", "infinite")),
    "1e300": Case(table([1, 2, "1e300", 4, 5, 6]), needles=("line 4", "too large")),
    "1e400 overflows": Case(table([1, 2, "1e400", 4, 5, 6]), needles=("line 4", "infinite")),
    "beyond int64": Case(table([1, 2, "99999999999999999999", 4, 5, 6]), values=[1, 2, 1e20, 4, 5, 6]),
    "signs and bare points": Case(table(["+1", "2.", ".5", "-0", "1e2", "0006"]), values=[1, 2, 0.5, 0, 100, 6]),
    "constant series": Case(table([7] * 6), values=[7] * 6),
    "negative values": Case(table([-v for v in SIX]), values=[-v for v in SIX]),
    "booleans": Case(table(["True", "False"] * 3), values=[1, 0] * 3),
    # timestamps
    "unparseable date": Case(table(SIX, days(3) + ["garbage"] + days(2, "2020-01-05")), needles=("line 5", "'timestamp'", "'garbage' is not a date")),
    "mixed date formats": Case(table(SIX, days(3) + ["01/04/2020"] + days(2, "2020-01-05")), needles=("line 5", "'01/04/2020'")),
    "day or month first?": Case(table(SIX, [f"01/{m:02d}/2020" for m in range(1, 7)]), needles=("'timestamp'", "YYYY-MM-DD")),
    "day first, told by a 13": Case(table(SIX, [f"{d:02d}/01/2020" for d in range(8, 14)]), values=SIX, first="2020-01-08"),
    "month names": Case(table(SIX, ["Jan 2020", "Feb 2020", "Mar 2020", "Apr 2020", "May 2020", "Jun 2020"]), values=SIX, freq="MS"),
    "empty timestamp": Case(table(SIX, days(2) + [""] + days(3, "2020-01-04")), needles=("line 4", "timestamp is empty")),
    "one UTC offset": Case(table(SIX, [f"2020-01-01T{h:02d}:00:00+01:00" for h in range(6)]), values=SIX, freq="h", first="2020-01-01T00:00:00+01:00"),
    "offsets across DST": Case(table(SIX, ["2020-03-29T00:00+01:00", "2020-03-29T01:00+01:00", "2020-03-29T03:00+02:00", "2020-03-29T04:00+02:00", "2020-03-29T05:00+02:00", "2020-03-29T06:00+02:00"]), values=SIX, freq="h", first="2020-03-28T23:00:00+00:00"),
    "Z suffix": Case(table(SIX, [f"2020-01-01T{h:02d}:00:00Z" for h in range(6)]), values=SIX, freq="h", first="2020-01-01T00:00:00+00:00"),
    "offsets and none mixed": Case(table(SIX, [f"2020-01-01T{h:02d}:00+01:00" for h in range(3)] + [f"2020-01-01T{h:02d}:00" for h in range(3, 6)]), needles=("line 5", "with and without a UTC offset")),
    "duplicate timestamps": Case(table(SIX, days(3) + days(1, "2020-01-03") + days(2, "2020-01-05")), needles=("duplicate timestamp 2020-01-03", "line 5")),
    "unsorted timestamps": Case(table(SIX, days(6)[::-1]), values=SIX[::-1]),
    "gaps": Case(table([v for i, v in enumerate(range(20)) if i not in (5, 11, 12)], [d for i, d in enumerate(days(20)) if i not in (5, 11, 12)]), values=list(range(20))),
    "a gap too long to fill": Case(table(list(range(8)), days(4) + days(4, "2021-01-01")), needles=("irregular timestamps",)),
    "irregular step": Case(table(list(range(12)), days(6) + ["2020-01-07 05:00"] + days(5, "2020-01-08")), needles=("irregular", "2020-01-07 05:00")),
}
# fmt: on


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_csv_case(name: str) -> None:
    case = CASES[name]
    if case.values is None:
        with pytest.raises(DataError) as err:
            load_bytes(case.data, **case.cfg)
        msg = one_line_error(err.value)
        assert msg.startswith("<stdin>: ")
        for needle in case.needles:
            assert needle in msg, (needle, msg)
        return
    s = load_bytes(case.data, **case.cfg)
    assert np.allclose(s.values, case.values, rtol=1e-12, atol=0), s.values
    assert np.isfinite(s.values).all()
    assert s.freq == case.freq
    if case.first is not None:
        assert s.index is not None and s.index[0] == pd.Timestamp(case.first)


def test_case_count_for_the_readme() -> None:
    """The README quotes this count; change both together."""
    assert len(CASES) == 76


def test_a_file_on_disk_reads_like_stdin(tmp_path: Path) -> None:
    for name in ("UTF-8 BOM", "decimal commas with ';'", "gzip", "leading blank lines"):
        path = tmp_path / ("data.csv.gz" if name == "gzip" else "data.csv")
        path.write_bytes(CASES[name].data)
        assert np.array_equal(load_series(path).values, load_bytes(CASES[name].data).values)


def test_only_the_named_columns_are_read() -> None:
    """With --target and --time-col, the other columns are not even read (less memory for wide files)."""
    from lstmcast.io.csvio import read_csv

    text = "junk,timestamp,other,value\n" + "".join(f"x{i},{t},{i},{i}\n" for i, t in enumerate(days(6)))
    frame = read_csv("-", io.BytesIO(text.encode()), columns=["timestamp", "value"])
    assert list(frame.columns) == ["timestamp", "value"]
    s = load_bytes(text.encode(), target="value", time_col="timestamp")
    assert s.values.tolist() == [0, 1, 2, 3, 4, 5]
    with pytest.raises(DataError, match="no column 'sales' for --target"):  # a missing name: read all, then say so
        load_bytes(text.encode(), target="sales", time_col="timestamp")


# --- properties --------------------------------------------------------------------------------------------------

FREQS = {"D": "%Y-%m-%d", "h": "%Y-%m-%dT%H:%M:%S", "MS": "%Y-%m-%d", "30min": "%Y-%m-%d %H:%M"}


def number_text(v: float, decimal_comma: bool, grouped: bool) -> str:
    """v written with 1 to 3 decimals, a decimal comma or point, and thousands grouped or not."""
    text = f"{v:.3f}".rstrip("0")
    text = text + "0" if text.endswith(".") else text
    whole, frac = text.split(".")
    sign = "-" if whole.startswith("-") else ""
    whole = whole.lstrip("-")
    if grouped and len(whole) > 3:
        groups = [whole[max(0, i - 3) : i] for i in range(len(whole), 0, -3)][::-1]
        whole = ("." if decimal_comma else ",").join(groups)
    return f"{sign}{whole}{',' if decimal_comma else '.'}{frac}"


@st.composite
def dialect_files(draw: st.DrawFn) -> tuple[bytes, np.ndarray, pd.DatetimeIndex, str]:
    n = draw(st.integers(3, 40))
    freq = draw(st.sampled_from(sorted(FREQS)))
    start = {"D": "2019-12-30", "MS": "2001-01-01"}.get(freq) or draw(
        st.sampled_from(["2020-02-28", "2021-03-27 22:00"])
    )
    stamps = pd.date_range(start, periods=n, freq=freq)
    values = np.round(np.array(draw(st.lists(st.floats(-1e6, 1e6), min_size=n, max_size=n))), 3)
    sep = draw(st.sampled_from([",", ";", "\t", "|"]))
    decimal_comma = sep != "," and draw(st.booleans())
    grouped = draw(st.booleans())
    quote_all = draw(st.booleans())
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    pad = draw(st.sampled_from(["", " ", "  "]))
    order = draw(st.permutations(range(n))) if draw(st.booleans()) else list(range(n))
    header = sep.join([f"{pad}timestamp", f"{pad}value"])
    rows = []
    for i in order:
        cell = number_text(float(values[i]), decimal_comma, grouped)
        needs_quotes = sep in cell or quote_all
        cell = f'"{cell}"' if needs_quotes else cell
        rows.append(f"{pad}{stamps[i].strftime(FREQS[freq])}{sep}{pad}{cell}")
    text = newline.join([header, *rows]) + newline + newline * draw(st.integers(0, 2))
    raw = text.encode()
    if draw(st.booleans()):
        raw = b"\xef\xbb\xbf" + raw
    if draw(st.booleans()):
        raw = gzip.compress(raw)
    return raw, values, stamps, freq


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dialect_files())
def test_any_dialect_reads_to_the_same_values(case: tuple[bytes, np.ndarray, pd.DatetimeIndex, str]) -> None:
    raw, values, stamps, freq = case
    s = load_bytes(raw)
    assert len(s) == len(values)
    assert np.allclose(s.values, values, rtol=0, atol=1e-9)
    assert s.index is not None and s.index.equals(stamps)
    assert s.freq == freq
    assert s.filled == 0


CORRUPTIONS = ["text", "bad date", "inf", "huge", "not utf-8", "empty stamp", "extra field", "duplicate stamp"]


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(6, 30),
    kind=st.sampled_from(CORRUPTIONS),
    at=st.floats(0, 1, exclude_max=True),
    sep=st.sampled_from([",", ";", "\t"]),
)
def test_one_bad_cell_is_named_by_its_line(n: int, kind: str, at: float, sep: str) -> None:
    stamps = days(n)
    cells = [str(i) for i in range(n)]
    row = 1 + int(at * (n - 1))  # never the first row: a duplicate copies the row before
    line = row + 2
    extra = ""
    if kind == "text":
        cells[row] = "n.a."
    elif kind == "bad date":
        stamps[row] = "31/31/2020"
    elif kind == "inf":
        cells[row] = "Inf"
    elif kind == "huge":
        cells[row] = "-7e88"
    elif kind == "empty stamp":
        stamps[row] = ""
    elif kind == "extra field":
        extra = f"{sep}9"
    elif kind == "duplicate stamp":
        stamps[row] = stamps[row - 1]
    lines = [f"timestamp{sep}value"] + [
        f"{t}{sep}{v}{extra if i == row else ''}" for i, (t, v) in enumerate(zip(stamps, cells, strict=True))
    ]
    raw = ("\n".join(lines) + "\n").encode()
    if kind == "not utf-8":
        raw = raw.replace(f"{stamps[row]}{sep}".encode(), f"{stamps[row]}{sep}\xff".encode("latin-1"), 1)
    with pytest.raises(DataError) as err:
        load_bytes(raw, target="value")
    msg = one_line_error(err.value)
    assert f"line {line}" in msg, msg


CSV_ALPHABET = st.sampled_from(
    list("0123456789")
    + [
        "-",
        ":",
        "T",
        " ",
        ",",
        ";",
        "\t",
        '"',
        "'",
        ".",
        "\n",
        "\r\n",
        "e",
        "E",
        "+",
        "nan",
        "inf",
        "2020-01-0",
        "timestamp",
        "value",
        "\ufeff",
        "\x00",
        "é",
        "Z",
        "/",
    ]  # fmt: skip
)


@settings(max_examples=150, deadline=None)
@given(
    header=st.sampled_from(["timestamp,value\n", "value\n", "timestamp;value\n", "", "a,b,c\n"]),
    body=st.lists(CSV_ALPHABET, max_size=120).map("".join),
    junk=st.binary(max_size=8),
)
def test_arbitrary_input_never_escapes_as_another_error(header: str, body: str, junk: bytes) -> None:
    """Whatever the bytes: a series of finite values, or one DataError line. Never another exception."""
    raw = header.encode() + body.encode() + junk
    try:
        s = load_bytes(raw)
    except DataError as exc:
        one_line_error(exc)
        return
    assert len(s) >= 1
    assert np.isfinite(s.values).all()


@settings(max_examples=20, deadline=None)
@given(st.lists(st.sampled_from(["1,5", "2,25", "1.234,5", "7", "1 234,5"]), min_size=3, max_size=12))
def test_decimal_commas_read_the_same_in_every_delimiter(cells: list[str]) -> None:
    expected = [float(c.replace(" ", "").replace(".", "").replace(",", ".")) for c in cells]
    stamps = days(len(cells))
    for sep in (";", "\t", "|"):
        assert load_bytes(table(cells, stamps, sep=sep).encode()).values.tolist() == expected
    quoted = load_bytes(table([f'"{c}"' for c in cells], stamps).encode())
    assert quoted.values.tolist() == expected


# --- end to end: exit codes and output ---------------------------------------------------------------------------


BAD_FOR_CLI = [n for n, c in CASES.items() if c.values is None]


@pytest.mark.parametrize("name", BAD_FOR_CLI)
def test_bad_files_exit_3_with_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(CASES[name].data)
    given = [x for k, v in CASES[name].cfg.items() for x in (f"--{k.replace('_', '-')}", v)]
    code, out, err = run_main(
        capsys, "train", path, *given, "--out", tmp_path / "run", "--hidden", "8", "--epochs", "2", "-q"
    )
    assert code == 3, err
    assert out == ""
    line = assert_one_error_line(err)
    for needle in CASES[name].needles:
        assert needle in line
    assert not (tmp_path / "run").exists()


def monthly_air(air_csv: Path) -> pd.DataFrame:
    return pd.read_csv(air_csv)


@pytest.mark.parametrize("dialect", ["bom-semicolon-decimal-comma", "tab-crlf-quoted", "utc-offsets", "shuffled-gz"])
def test_awkward_dialects_forecast_like_the_plain_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_run_dir: Path, air_csv: Path, dialect: str
) -> None:
    """The same data in another dialect gives the same forecast: never NaN, never silently different."""
    frame = monthly_air(air_csv)
    plain_code, plain, _ = run_main(capsys, "predict", "--model", tiny_run_dir, air_csv)
    assert plain_code == 0
    stamps, values = frame["timestamp"].tolist(), frame["value"].tolist()
    if dialect == "bom-semicolon-decimal-comma":
        raw = ("timestamp;value\n" + "".join(f"{t};{v},0\n" for t, v in zip(stamps, values))).encode("utf-8-sig")
    elif dialect == "tab-crlf-quoted":
        raw = ("timestamp\tvalue\r\n" + "".join(f'"{t}"\t"{v}"\r\n' for t, v in zip(stamps, values))).encode()
    elif dialect == "utc-offsets":
        raw = ("timestamp,value\n" + "".join(f"{t}T00:00:00+00:00,{v}\n" for t, v in zip(stamps, values))).encode()
    else:
        order = np.random.default_rng(0).permutation(len(stamps))
        raw = gzip.compress(("timestamp,value\n" + "".join(f"{stamps[i]},{values[i]}\n" for i in order)).encode())
    path = tmp_path / ("data.csv.gz" if dialect == "shuffled-gz" else "data.csv")
    path.write_bytes(raw)
    code, out, err = run_main(capsys, "predict", "--model", tiny_run_dir, path)
    assert code == 0, err
    got = pd.read_csv(io.StringIO(out))
    want = pd.read_csv(io.StringIO(plain))
    assert len(got) == len(want) == 12
    assert np.isfinite(got["forecast"]).all()
    assert np.allclose(got["forecast"], want["forecast"], rtol=1e-9)
    if dialect != "utc-offsets":
        assert got["timestamp"].tolist() == want["timestamp"].tolist()
    else:
        assert [pd.Timestamp(t).tz_localize(None) for t in got["timestamp"]] == [
            pd.Timestamp(t) for t in want["timestamp"]
        ]


def test_one_row_trains_to_exit_3(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    path.write_text("value\n5\n")
    code, out, err = run_main(capsys, "train", path, "--out", tmp_path / "run", "--quiet")
    assert code == 3 and out == ""
    assert_one_error_line(err)
    assert not (tmp_path / "run").exists()


# --- options out of range ----------------------------------------------------------------------------------------


def _range_cases() -> list[tuple[str, str, str, float, str]]:
    """(command, option, bad value, the bound it breaks, 'min'|'max') for every option with a declared range."""
    import typer

    group = typer.main.get_command(cli.app)
    found = []
    for name, command in sorted(group.commands.items()):  # type: ignore[attr-defined]
        for param in command.params:
            opt = next((o for o in param.opts if o.startswith("--")), None)
            lo, hi = getattr(param, "min", None), getattr(param, "max", None)
            if opt is None:
                continue
            if lo is not None:
                bad = lo - 1 if isinstance(lo, int) and not isinstance(lo, bool) else (lo - 1 if lo > 0 else -0.5)
                found.append((name, opt, str(bad), float(lo), "min"))
            if hi is not None:
                found.append((name, opt, str(hi + 1), float(hi), "max"))
    return found


RANGE_CASES = _range_cases()


def _required(command: str) -> list[str]:
    import typer

    group = typer.main.get_command(cli.app)
    args: list[str] = []
    for param in group.commands[command].params:  # type: ignore[attr-defined]
        if param.required and param.param_type_name == "argument":
            args.append("data.csv")
        elif param.required:
            args += [param.opts[0], "x"]
    return args


def test_every_command_declares_ranges() -> None:
    commands = {c for c, *_ in RANGE_CASES}
    assert {"train", "predict", "backtest", "evaluate"} <= commands
    options = {(c, o) for c, o, *_ in RANGE_CASES}
    for wanted in [("train", "--lookback"), ("train", "--horizon"), ("train", "--epochs"), ("train", "--dropout"),
                   ("predict", "--horizon"), ("backtest", "--folds"), ("evaluate", "--step")]:  # fmt: skip
        assert wanted in options


@pytest.mark.parametrize(("command", "option", "bad", "bound", "side"), RANGE_CASES)
def test_out_of_range_option_is_a_usage_error_naming_the_range(
    capsys: pytest.CaptureFixture[str], command: str, option: str, bad: str, bound: float, side: str
) -> None:
    code, out, err = run_main(capsys, command, *_required(command), option, bad)
    assert code == 2, err
    assert out == ""
    line = assert_one_error_line(err)
    assert option in line
    stated = re.findall(r"(?:than or equal to|valid:?|<=|>=)\s*(-?[\d.e+-]+)", line)
    assert any(math.isclose(float(x), bound) for x in stated), line


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--lookback", "0"], "--lookback"),
        (["--epochs", "-3"], "--epochs"),
        (["--dropout", "1.5"], "--dropout"),
        (["--horizon", "500"], "--horizon"),
        (["--val-size", "400"], "--val-size"),
    ],
)
def test_issue_examples_exit_2(
    capsys: pytest.CaptureFixture[str], air_csv: Path, tmp_path: Path, args: list[str], needle: str
) -> None:
    code, out, err = run_main(
        capsys, "train", air_csv, "--out", tmp_path / "run", "--hidden", "8", "--epochs", "2", "--quiet", *args
    )
    assert code == 2, err
    assert needle in assert_one_error_line(err)
    assert not (tmp_path / "run").exists()
