"""lstmcast.io.data: reading real CSV files and stdin, choosing columns, regular spacing, gaps and bad cells."""

from __future__ import annotations

import gzip
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstmcast.config import DataConfig
from lstmcast.errors import DataError
from lstmcast.io.data import load_series, season_length


def from_text(text: str, **cfg: object):
    """Load a series from CSV text through the stdin path, collecting the reports."""
    notes: list[str] = []
    series = load_series("-", DataConfig(**cfg), stdin=io.BytesIO(text.encode()), report=notes.append)
    return series, notes


def csv_text(rows: list[tuple[str, object]], header: str = "timestamp,value") -> str:
    return header + "\n" + "".join(f"{t},{v}\n" for t, v in rows) if rows else header + "\n"


def days(n: int, start: str = "2020-01-01") -> list[str]:
    return [d.strftime("%Y-%m-%d") for d in pd.date_range(start, periods=n, freq="D")]


def daily(values: list[object], start: str = "2020-01-01") -> list[tuple[str, object]]:
    """(date, value) rows on consecutive days."""
    return list(zip(days(len(values), start), values, strict=True))


# --- real files --------------------------------------------------------------------------------------------


def test_airpassengers_is_monthly_with_known_values(datasets: Path) -> None:
    s = load_series(datasets / "airpassengers.csv")
    assert len(s) == 144
    assert s.freq == "MS"
    assert (s.target, s.time_col) == ("value", "timestamp")
    assert s.filled == 0
    assert s.values[:3].tolist() == [112.0, 118.0, 132.0]
    assert s.values[-1] == 432.0
    assert s.index[0] == pd.Timestamp("1949-01-01") and s.index[-1] == pd.Timestamp("1960-12-01")
    assert s.values.dtype == np.float64


def test_sample_data_copy_matches_shared(datasets: Path, air_csv: Path) -> None:
    assert np.array_equal(load_series(air_csv).values, load_series(datasets / "airpassengers.csv").values)


def test_co2_weekly_saturdays(datasets: Path) -> None:
    s = load_series(datasets / "co2_weekly.csv")
    assert len(s) == 2284
    assert s.freq == "W-SAT"
    assert (s.index.dayofweek == 5).all()
    assert season_length(s.freq) == 52


def test_jfk_hourly(datasets: Path) -> None:
    s = load_series(datasets / "jfk_temp.csv")
    assert len(s) == 8730
    assert s.freq == "h"
    assert s.index[0] == pd.Timestamp("2013-01-01T06:00:00")
    assert ((s.index[1:] - s.index[:-1]) == pd.Timedelta(hours=1)).all()
    assert season_length(s.freq) == 24


def test_gzip_file_reads_like_the_plain_one(datasets: Path, tmp_path: Path) -> None:
    plain = datasets / "hyndsight.csv"
    gz = tmp_path / "hyndsight.csv.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    a, b = load_series(plain), load_series(gz)
    assert len(b) == 365 and b.freq == "D"
    assert np.array_equal(a.values, b.values)
    assert a.index.equals(b.index)


def test_stdin_plain_and_gzip(datasets: Path) -> None:
    raw = (datasets / "airpassengers.csv").read_bytes()
    s = load_series("-", stdin=io.BytesIO(raw))
    z = load_series("-", stdin=io.BytesIO(gzip.compress(raw)))
    assert s.source == "<stdin>"
    assert len(s) == 144 and s.freq == "MS"
    assert np.array_equal(s.values, z.values)


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_series(tmp_path / "nope.csv")


# --- columns -------------------------------------------------------------------------------------------------


def test_time_column_by_name_and_by_detection() -> None:
    text = "when,value\n" + "".join(f"{d},{i}\n" for i, d in enumerate(days(5)))
    named, _ = from_text(text, time_col="when")
    detected, _ = from_text(text)
    assert named.time_col == detected.time_col == "when"
    assert detected.freq == "D"
    # The date column need not come first.
    swapped = "value,stamp\n" + "".join(f"{i},{d}\n" for i, d in enumerate(days(5)))
    s, _ = from_text(swapped)
    assert (s.time_col, s.target) == ("stamp", "value")
    assert s.values.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_named_time_column_that_holds_no_dates() -> None:
    with pytest.raises(DataError, match=r"'label' \(--time-col\) does not hold dates"):
        from_text("label,value\na,1\nb,2\nc,3\n", time_col="label", target="value")


def test_unknown_column_lists_the_columns() -> None:
    with pytest.raises(DataError, match="no column 'sales' for --target; the columns are timestamp, value"):
        from_text(csv_text(daily(list(range(4)))), target="sales")


def test_no_time_column_gives_positions() -> None:
    s, _ = from_text("value\n3\n1\n2\n")
    assert s.index is None and s.freq is None and s.time_col is None
    assert s.values.tolist() == [3.0, 1.0, 2.0]  # no sorting without a time column
    assert s.last_time is None


def test_target_detected_when_one_numeric_column() -> None:
    s, _ = from_text("timestamp,city,sales\n" + "".join(f"{d},Oslo,{i * 2}\n" for i, d in enumerate(days(4))))
    assert s.target == "sales"
    assert s.values.tolist() == [0.0, 2.0, 4.0, 6.0]


def test_several_numeric_columns_lists_candidates(air_csv: Path) -> None:
    elec = air_csv.parent / "elecdaily.csv"
    with pytest.raises(DataError) as err:
        load_series(elec)
    msg = str(err.value)
    assert "several numeric columns (demand, workday, temperature)" in msg
    assert "--target" in msg
    s = load_series(elec, DataConfig(target="temperature"))
    assert s.target == "temperature" and len(s) == 365 and s.freq == "D"
    assert s.values[0] == 26.0


# --- order, duplicates, spacing ------------------------------------------------------------------------------


def test_unsorted_rows_are_sorted() -> None:
    d = days(5)
    rows = [(d[3], 3), (d[0], 0), (d[4], 4), (d[1], 1), (d[2], 2)]
    s, _ = from_text(csv_text(rows))
    assert s.values.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert list(s.index) == [pd.Timestamp(x) for x in d]
    assert s.freq == "D"


def test_duplicate_timestamp_is_named() -> None:
    d = days(5)
    rows = [(d[0], 1), (d[1], 2), (d[1], 3), (d[2], 4), (d[3], 5)]
    with pytest.raises(DataError, match=r"duplicate timestamp 2020-01-02.*\(line 4\)"):
        from_text(csv_text(rows))


def test_duplicate_timestamp_line_is_the_file_line_when_unsorted() -> None:
    d = days(4)
    # Lines: 2 -> d3, 3 -> d1, 4 -> d0, 5 -> d1 again: the repeat is on file line 5.
    rows = [(d[3], 1), (d[1], 2), (d[0], 3), (d[1], 4)]
    with pytest.raises(DataError, match=r"duplicate timestamp 2020-01-02 .*\(line 5\)"):
        from_text(csv_text(rows))


def test_irregular_timestamps() -> None:
    stamps = [*days(6), "2020-01-07 05:00", *days(5, "2020-01-08")]
    with pytest.raises(DataError, match=r"irregular timestamps in column 'timestamp'.*2020-01-07 05:00"):
        from_text(csv_text([(t, i) for i, t in enumerate(stamps)]))


def test_irregular_monthly_stamp_is_named(datasets: Path) -> None:
    """A mid-month stamp in monthly data: the message names it, not some month with 28 days."""
    lines = (datasets / "airpassengers.csv").read_text().splitlines()
    assert lines[78].startswith("1955-06-01")
    lines[78] = lines[78].replace("1955-06-01", "1955-06-15")
    with pytest.raises(DataError) as err:
        from_text("\n".join(lines) + "\n")
    msg = str(err.value)
    assert "irregular timestamps" in msg
    assert "1955-06-15" in msg
    assert "line 79" in msg


def test_too_few_rows_to_infer_frequency() -> None:
    with pytest.raises(DataError, match="2 rows are too few"):
        from_text(csv_text(daily([1, 2])))


# --- gaps and missing values ---------------------------------------------------------------------------------


def test_missing_timestamps_are_inserted_filled_and_counted() -> None:
    d = days(20)
    rows = [(t, float(i)) for i, t in enumerate(d) if i not in (6, 12, 13)]
    s, notes = from_text(csv_text(rows))
    assert len(s) == 20
    assert s.freq == "D"
    assert s.filled == 3
    assert list(s.index) == [pd.Timestamp(t) for t in d]
    assert np.allclose(s.values, np.arange(20.0))  # linear in, linear out
    assert any("3 missing timestamp(s) at frequency D" in n for n in notes)
    assert any("filled 3 missing value(s)" in n and "interpolate" in n for n in notes)


def test_gaps_in_real_monthly_data(datasets: Path) -> None:
    lines = (datasets / "airpassengers.csv").read_text().splitlines()
    full = load_series(datasets / "airpassengers.csv").values
    kept = [line for i, line in enumerate(lines) if i - 1 not in (50, 51, 100)]
    s, _ = from_text("\n".join(kept) + "\n")
    assert len(s) == 144 and s.freq == "MS" and s.filled == 3
    a, b = full[49], full[52]
    assert s.values[50] == pytest.approx(a + (b - a) / 3)
    assert s.values[51] == pytest.approx(a + 2 * (b - a) / 3)
    assert s.values[100] == pytest.approx((full[99] + full[101]) / 2)
    keep = np.ones(144, bool)
    keep[[50, 51, 100]] = False
    assert np.array_equal(s.values[keep], full[keep])


EMPTY_CELLS = csv_text(daily(["", 4, "", "", 10, ""]))


def test_fill_interpolate_by_hand() -> None:
    s, notes = from_text(EMPTY_CELLS, fill="interpolate")
    # Leading and trailing gaps take the nearest value; inner ones lie on the line between neighbours.
    assert s.values.tolist() == [4.0, 4.0, 6.0, 8.0, 10.0, 10.0]
    assert s.filled == 4
    assert notes == ["<stdin>: filled 4 missing value(s) in 'value' (interpolate)"]


def test_fill_ffill_by_hand() -> None:
    s, _ = from_text(EMPTY_CELLS, fill="ffill")
    assert s.values.tolist() == [4.0, 4.0, 4.0, 4.0, 10.0, 10.0]
    assert s.filled == 4


def test_fill_error_refuses_missing_values() -> None:
    with pytest.raises(DataError, match="4 missing value\\(s\\), the first at position 1.*--fill"):
        from_text(EMPTY_CELLS, fill="error")


def test_fill_error_refuses_missing_timestamps() -> None:
    rows = [(t, i) for i, t in enumerate(days(12)) if i != 6]
    with pytest.raises(DataError, match="1 missing value\\(s\\), the first at position 7"):
        from_text(csv_text(rows), fill="error")


def test_nan_text_counts_as_missing() -> None:
    s, _ = from_text(csv_text(daily([1, "NaN", 3])))
    assert s.values.tolist() == [1.0, 2.0, 3.0] and s.filled == 1


def test_all_missing_is_an_error() -> None:
    with pytest.raises(DataError, match="no values at all"):
        from_text(csv_text(daily(["", "", ""])), target="value")


def test_fill_option_is_validated() -> None:
    from lstmcast.errors import ConfigError

    with pytest.raises(ConfigError, match="--fill 'zero'"):
        DataConfig(fill="zero")


# --- bad cells -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["inf", "-Infinity", "1e400"])
def test_infinite_cell_names_line_and_column(cell: str) -> None:
    rows = daily([1, 2, 3, cell, 5])
    with pytest.raises(DataError, match=r"^<stdin>: line 5, column 'value': infinite value"):
        from_text(csv_text(rows))


def test_non_numeric_cell_names_line_column_and_value() -> None:
    rows = daily([1, 2, "12x5", 4, 5])
    with pytest.raises(DataError, match=r"line 4, column 'value': '12x5' is not a number"):
        from_text(csv_text(rows))


def test_bad_date_names_line_and_column() -> None:
    rows = [*daily([1, 2, 3]), ("not-a-date", 4), *daily([5, 6], "2020-01-05")]
    with pytest.raises(DataError, match=r"line 5, column 'timestamp': 'not-a-date' is not a date"):
        from_text(csv_text(rows))


def test_huge_values_refused() -> None:
    with pytest.raises(DataError, match=r"line 3, column 'value': 1e\+31 is too large"):
        from_text(csv_text(daily([1, "1e31", 3])))


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("timestamp,value\n2020-01-01,1\n2020-01-02,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match="line 3 is not UTF-8"):
        load_series(path)


@pytest.mark.parametrize("text", ["", "   \n\n"])
def test_empty_file(write_csv, text: str) -> None:
    with pytest.raises(DataError, match="the file is empty"):
        load_series(write_csv(text))


def test_header_only(write_csv) -> None:
    with pytest.raises(DataError, match="a header but no data rows"):
        load_series(write_csv("timestamp,value\n"))


def test_errors_are_single_line_and_name_the_file(write_csv) -> None:
    path = write_csv(csv_text(daily([1, "x", 3, 4])))
    with pytest.raises(DataError) as err:
        load_series(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: ")
    assert "\n" not in msg


def test_semicolon_delimiter() -> None:
    s, _ = from_text("timestamp;value\n" + "".join(f"{d};{i}\n" for i, d in enumerate(days(4))))
    assert s.values.tolist() == [0.0, 1.0, 2.0, 3.0] and s.freq == "D"


# --- season length -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("freq", "season"),
    [("MS", 12), ("ME", 12), ("W-SAT", 52), ("W-SUN", 52), ("D", 7), ("h", 24), ("30min", 48), ("QS", 4),
     ("QS-OCT", 4), ("B", 5), ("2h", 12), ("YS", 1), (None, 1)],
)  # fmt: skip
def test_season_length(freq: str | None, season: int) -> None:
    assert season_length(freq) == season


def test_season_length_of_loaded_series(datasets: Path) -> None:
    found = {name: season_length(load_series(datasets / f"{name}.csv").freq) for name in ("hyndsight", "taylor")}
    assert found == {"hyndsight": 7, "taylor": 48}


def test_future_timestamps_continue_the_series(datasets: Path) -> None:
    from lstmcast.io.data import future_index

    s = load_series(datasets / "airpassengers.csv")
    assert future_index(s.last_time, s.freq, len(s), 3) == ["1961-01-01", "1961-02-01", "1961-03-01"]
    assert future_index(None, None, 10, 3) == [10, 11, 12]
    jfk = load_series(datasets / "jfk_temp.csv").tail(5)
    nxt = future_index(jfk.last_time, jfk.freq, 0, 2)
    assert [pd.Timestamp(t) for t in nxt] == [jfk.index[-1] + pd.Timedelta(hours=k) for k in (1, 2)]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:00:00", t) for t in nxt)
