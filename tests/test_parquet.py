"""io.parquetio: Parquet wherever a CSV is read; `predict -o FILE` (.csv, .parquet, .json) (issue 14, item 7)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from clitools import run_main

from lstmcast.config import DataConfig
from lstmcast.errors import DataError
from lstmcast.io.data import load_series
from lstmcast.io.panel import load_panel

DATASETS = Path(__file__).resolve().parent / "data"


@pytest.fixture
def air_parquet(air_csv: Path, tmp_path: Path) -> Path:
    frame = pd.read_csv(air_csv, parse_dates=["timestamp"])
    path = tmp_path / "air.parquet"
    frame.to_parquet(path, index=False)
    return path


def test_a_parquet_file_reads_like_the_csv(air_csv: Path, air_parquet: Path) -> None:
    a, b = load_series(air_csv), load_series(air_parquet)
    assert np.array_equal(a.values, b.values) and a.freq == b.freq == "MS"
    assert a.index is not None and b.index is not None and (a.index == b.index).all()
    assert (a.target, a.time_col) == (b.target, b.time_col) and b.source == str(air_parquet)


def test_a_frame_saved_with_its_dates_as_the_index_reads_too(air_csv: Path, tmp_path: Path) -> None:
    path = tmp_path / "indexed.pq"
    pd.read_csv(air_csv, parse_dates=["timestamp"]).set_index("timestamp").to_parquet(path)
    assert np.array_equal(load_series(path).values, load_series(air_csv).values)


def test_a_long_parquet_panel_with_a_categorical_id(tmp_path: Path) -> None:
    frame = pd.read_csv(DATASETS / "aus_accommodation.csv", parse_dates=["timestamp"])
    frame["state"] = frame["state"].astype("category")
    path = tmp_path / "aus.parquet"
    frame.to_parquet(path, index=False)
    panel = load_panel(path, DataConfig(target="takings", id_col="state"))
    csv_panel = load_panel(DATASETS / "aus_accommodation.csv", DataConfig(target="takings", id_col="state"))
    assert [s.id for s in panel] == [s.id for s in csv_panel]
    assert all(np.array_equal(a.values, b.values) for a, b in zip(panel, csv_panel))


def test_a_damaged_parquet_file_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1 not really parquet")
    with pytest.raises(DataError, match=r"bad\.parquet: not a readable Parquet file"):
        load_series(path)


def test_predict_reads_parquet_and_writes_csv_parquet_and_json(capsys, tiny_run_dir: Path, air_csv: Path,
                                                               air_parquet: Path, tmp_path: Path) -> None:  # fmt: skip
    code, from_csv, err = run_main(capsys, "predict", "-m", tiny_run_dir, air_csv, "--level", "80")
    assert code == 0, err
    code, from_parquet, err = run_main(capsys, "predict", "-m", tiny_run_dir, air_parquet, "--level", "80")
    assert code == 0, err
    assert from_parquet == from_csv
    expected = pd.read_csv(io.StringIO(from_csv))
    for name in ("f.csv", "f.parquet", "f.json"):
        code, out, err = run_main(capsys, "predict", "-m", tiny_run_dir, "--level", "80", "-o", tmp_path / name)
        assert code == 0, err
        assert out == "" and f"wrote 12 forecast rows to {tmp_path / name}" in err
    assert pd.read_csv(tmp_path / "f.csv").equals(expected)
    parquet = pd.read_parquet(tmp_path / "f.parquet")
    assert pd.api.types.is_datetime64_any_dtype(parquet["timestamp"])
    assert np.allclose(parquet["forecast"], expected["forecast"]) and list(parquet.columns) == list(expected.columns)
    lines = (tmp_path / "f.json").read_text().splitlines()
    assert len(lines) == 12 and json.loads(lines[0])["timestamp"] == expected["timestamp"][0]
    assert not list(tmp_path.glob(".*.tmp"))


def test_predict_output_with_an_unknown_suffix_is_a_usage_error(capsys, tiny_run_dir: Path, tmp_path: Path) -> None:
    code, out, err = run_main(capsys, "predict", "-m", tiny_run_dir, "-o", tmp_path / "f.xlsx")
    assert code == 2 and out == ""
    assert "-o " in err and ".xlsx is not one of .csv, .parquet, .json" in err


def test_predict_keep_names_uses_the_training_datas_column_names(capsys, tiny_run_dir: Path) -> None:
    code, out, err = run_main(capsys, "predict", "-m", tiny_run_dir, "--keep-names", "--level", "80")
    assert code == 0, err
    assert out.splitlines()[0] == "timestamp,value,lo_80,hi_80"  # airpassengers: timestamp,value


def test_user_names_rename_time_target_and_id_unless_they_clash() -> None:
    from lstmcast.pipeline.runs import user_names

    frame = pd.DataFrame({"id": ["a"], "timestamp": ["2020-01-01"], "forecast": [1.0], "lo_80": [0.5]})
    renamed = user_names(frame, {"time_col": "ds", "target": "y", "id_col": "unique_id"})
    assert list(renamed.columns) == ["unique_id", "ds", "y", "lo_80"]
    assert list(user_names(frame, {"time_col": "ds", "target": "lo_80"}).columns) == list(frame.columns)


def test_standard_input_may_carry_parquet_or_csv(air_csv: Path, air_parquet: Path) -> None:
    from_parquet = load_series("-", stdin=io.BytesIO(air_parquet.read_bytes()))
    from_csv = load_series("-", stdin=io.BytesIO(air_csv.read_bytes()))
    assert np.array_equal(from_parquet.values, from_csv.values) and from_parquet.source == "<stdin>"
    assert from_parquet.freq == from_csv.freq == "MS"
