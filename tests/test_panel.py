"""Panels: long and wide CSVs, covariates and future rows, windows that never straddle two series, per-series
scalers, short series, and training and forecasting a panel through the command line."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from clitools import assert_one_error_line, run_main
from hypothesis import given
from hypothesis import strategies as st

from lstmcast import cli
from lstmcast.config import DataConfig, ModelConfig, ResolvedWindow, RunConfig, TrainConfig, WindowConfig
from lstmcast.errors import ConfigError, DataError
from lstmcast.io.panel import load_panel
from lstmcast.prep.windows import make_panel_windows
from lstmcast.training.fitting import prepare

DATASETS = Path(__file__).resolve().parent / "data"
AUS = DATASETS / "aus_accommodation.csv"
VIS = DATASETS / "visnights.csv"
ELEC = DATASETS / "elecdaily.csv"
STATES = [
    "Australian Capital Territory", "New South Wales", "Northern Territory", "Queensland", "South Australia",
    "Tasmania", "Victoria", "Western Australia",
]  # fmt: skip
AUS_DATA = DataConfig(target="takings", id_col="state")
# Quarterly, 74 rows per state: small explicit sizes (need 8 + 4 + 4 = 16 rows).
PANEL_ARGS = ["--id-col", "state", "--target", "takings", "--lookback", "8", "--horizon", "4", "--val-size", "4",
              "--hidden", "8", "--epochs", "2", "--batch-size", "64", "--device", "cpu", "--threads", "1", "--quiet"]  # fmt: skip
# --combine off: these tests follow the covariates through the network, which Theta would dilute
ELEC_ARGS = ["--target", "demand", "--future-covariates", "workday,temperature", "--lookback", "14", "--horizon", "7",
             "--val-size", "7", "--hidden", "8", "--epochs", "2", "--batch-size", "64", "--device", "cpu",
             "--threads", "1", "--combine", "off", "--quiet"]  # fmt: skip
JAN_2015 = [f"2015-01-0{d}" for d in range(1, 8)]


def panel_config(lookback: int = 8, horizon: int = 4, val_size: int = 4, data: DataConfig = AUS_DATA) -> RunConfig:
    return RunConfig(
        data=data,
        window=WindowConfig(lookback=lookback, horizon=horizon, val_size=val_size),
        model=ModelConfig(hidden_size=8),
        train=TrainConfig(epochs=2, batch_size=64, patience=5, seed=0, device="cpu"),
    )


def train_quietly(*args: object) -> None:
    try:
        cli.main([str(a) for a in args])
    except SystemExit as exc:
        assert not exc.code, f"training failed with exit {exc.code}"


@pytest.fixture(scope="module")
def aus_frame() -> pd.DataFrame:
    return pd.read_csv(AUS)


@pytest.fixture(scope="module")
def panel_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny global model trained on the 8 states of aus_accommodation (long format)."""
    out = tmp_path_factory.mktemp("panel") / "run"
    train_quietly("train", AUS, "--out", out, *PANEL_ARGS)
    return out


@pytest.fixture(scope="module")
def elec_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model of daily demand with workday and temperature known ahead."""
    out = tmp_path_factory.mktemp("elec") / "run"
    train_quietly("train", ELEC, "--out", out, *ELEC_ARGS)
    return out


def parse_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# --- loading ------------------------------------------------------------------------------------------------


def test_long_panel_has_one_series_per_id(aus_frame: pd.DataFrame):
    notes: list[str] = []
    panel = load_panel(AUS, AUS_DATA, report=notes.append)
    assert [s.id for s in panel] == STATES
    for s in panel:
        assert len(s) == 74
        assert s.target == "takings"
        assert s.index is not None and str(s.index[0].date()) == "1998-01-01"
        expected = aus_frame.loc[aus_frame["state"] == s.id, "takings"].to_numpy()
        np.testing.assert_allclose(s.values, expected)
    assert len({s.freq for s in panel}) == 1
    assert any("8 series" in n and "'state'" in n for n in notes)


def test_long_panel_covariates_are_arrays_with_names(aus_frame: pd.DataFrame):
    cfg = DataConfig(target="takings", id_col="state", covariates="occupancy,cpi")
    panel = load_panel(AUS, cfg)
    assert len(panel) == 8
    for s in panel:
        assert s.covariate_names == ("occupancy", "cpi")
        assert s.covariates is not None and s.covariates.shape == (74, 2)
        part = aus_frame[aus_frame["state"] == s.id]
        np.testing.assert_allclose(s.covariates, part[["occupancy", "cpi"]].to_numpy())
        assert s.known_ahead == 0 and s.future is None


def test_wide_panel_has_one_series_per_target_column():
    frame = pd.read_csv(VIS)
    targets = ["NSWMetro", "NSWNthCo", "QLDMetro"]
    panel = load_panel(VIS, DataConfig(target=",".join(targets)))
    assert [s.id for s in panel] == targets
    for s in panel:
        assert len(s) == len(frame) == 76
        assert s.target == s.id
        np.testing.assert_allclose(s.values, frame[s.id].to_numpy())


def test_trailing_rows_with_empty_target_become_the_future(tmp_path: Path):
    text = ELEC.read_text().rstrip("\n") + "\n2015-01-01,,0,27.5\n2015-01-02,,1,30.0\n2015-01-03,,1,22.25\n"
    path = tmp_path / "elec_future.csv"
    path.write_text(text)
    (s,) = load_panel(path, DataConfig(target="demand", future_covariates="workday,temperature"))
    assert len(s) == 365
    assert s.last_time is not None and s.last_time.startswith("2014-12-31")
    assert s.known_ahead == 2
    assert s.covariates is not None and s.covariates.shape == (365, 2)
    assert s.future is not None
    np.testing.assert_array_equal(s.future, [[0.0, 27.5], [1.0, 30.0], [1.0, 22.25]])
    assert np.isfinite(s.values).all()


# --- windows ------------------------------------------------------------------------------------------------


@given(
    lengths=st.lists(st.integers(min_value=12, max_value=40), min_size=1, max_size=5),
    lookback=st.integers(min_value=1, max_value=6),
    horizon=st.integers(min_value=1, max_value=3),
)
def test_panel_windows_never_straddle_two_series(lengths, lookback, horizon):
    val = 3
    parts = [
        np.stack([np.arange(n, dtype="float32") + 1000 * i, np.full(n, i, "float32")], axis=1)
        for i, n in enumerate(lengths)
    ]
    n_trains = [n - val for n in lengths]
    cfg = ResolvedWindow(lookback=lookback, horizon=horizon, val_size=val)
    w = make_panel_windows(parts, cfg, n_trains)
    offsets = w.offsets.numpy()
    np.testing.assert_array_equal(offsets, np.concatenate([[0], np.cumsum(lengths)]))
    width = lookback + horizon
    for part_name, starts in (("train", w.train_starts), ("val", w.val_starts)):
        first = w.series_of(starts)
        last = w.series_of(starts + width - 1)
        assert torch.equal(first, last), f"a {part_name} window straddles two series"
        for start, sid in zip(starts.tolist(), first.tolist()):
            assert offsets[sid] <= start and start + width <= offsets[sid + 1]
    # training targets stay inside each series' training part; validation targets reach past it
    sid = w.series_of(w.train_starts).numpy()
    assert (w.train_starts.numpy() + width - offsets[sid] <= np.array(n_trains)[sid]).all()
    vsid = w.series_of(w.val_starts).numpy()
    assert (w.val_starts.numpy() + width - offsets[vsid] > np.array(n_trains)[vsid]).all()
    # each series contributes n_train - width + 1 training windows
    counts = np.bincount(sid, minlength=len(lengths))
    np.testing.assert_array_equal(counts, [n - val - width + 1 for n in lengths])
    # contents: channel 1 names the series of every step of every window
    x, _, y = w.gather(w.train_starts)
    assert (x[:, :, 1] == torch.as_tensor(sid, dtype=torch.float32)[:, None]).all()
    assert (y // 1000 == torch.as_tensor(sid, dtype=torch.float32)[:, None]).all()


def test_series_of_maps_positions_to_series():
    parts = [np.zeros((5, 1)), np.zeros((7, 1)), np.zeros((6, 1))]
    w = make_panel_windows(parts, ResolvedWindow(lookback=2, horizon=1, val_size=1), [4, 6, 5])
    positions = torch.arange(18)
    expected = torch.tensor([0] * 5 + [1] * 7 + [2] * 6)
    assert torch.equal(w.series_of(positions), expected)


# --- per-series scaling and short series ---------------------------------------------------------------------


@pytest.mark.parametrize("scaler", ["standard", "mase"])
def test_each_series_is_scaled_on_its_own_training_part(scaler: str):
    panel = load_panel(AUS, AUS_DATA)
    cfg = panel_config()
    prep = prepare(panel, cfg.replace(window=replace(cfg.window, scaler=scaler)))
    assert prep.n_trains == [70] * 8
    for i, s in enumerate(panel):
        train = s.values[:70]
        assert prep.scaling.offset[i] == pytest.approx(train.mean())
        spread = train.std() if scaler == "standard" else np.abs(train[4:] - train[:-4]).mean()
        assert prep.scaling.scale[i] == pytest.approx(spread)
        # the validation rows play no part
        assert prep.scaling.offset[i] != pytest.approx(s.values.mean())
    assert len(set(np.round(prep.scaling.offset, 6))) == 8


def _write_long(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_a_series_too_short_is_skipped_and_reported(tmp_path: Path, aus_frame: pd.DataFrame):
    short = "Tasmania"
    part = aus_frame[aus_frame["state"] == short].head(10)
    frame = pd.concat([aus_frame[aus_frame["state"] != short], part])
    path = _write_long(tmp_path / "short.csv", frame)
    notes: list[str] = []
    prep = prepare(load_panel(path, AUS_DATA), panel_config(), report=notes.append)
    assert short not in prep.ids
    assert len(prep.ids) == 7
    assert any("skipped 1 of 8 series shorter than 16 rows" in n for n in notes), notes


def test_all_series_too_short_is_an_error_naming_the_sizes():
    panel = load_panel(AUS, AUS_DATA)
    with pytest.raises(ConfigError, match="all 8 series are too short") as info:
        prepare(panel, panel_config(lookback=80))
    assert "--lookback" in str(info.value)


def test_series_of_different_frequencies_are_a_data_error(tmp_path: Path):
    monthly = pd.date_range("2000-01-01", periods=30, freq="MS")
    quarterly = pd.date_range("2000-01-01", periods=30, freq="QS")
    frame = pd.DataFrame(
        {
            "timestamp": [t.strftime("%Y-%m-%d") for t in (*monthly, *quarterly)],
            "id": ["m"] * 30 + ["q"] * 30,
            "value": np.arange(60, dtype="float64"),
        }
    )
    path = _write_long(tmp_path / "mixed.csv", frame)
    panel = load_panel(path, DataConfig(target="value", id_col="id"))
    assert {s.freq for s in panel} == {panel[0].freq, panel[1].freq} and panel[0].freq != panel[1].freq
    with pytest.raises(DataError, match="different frequencies"):
        prepare(panel, panel_config(lookback=4, horizon=2, val_size=2, data=DataConfig(target="value", id_col="id")))


def test_train_on_mixed_frequencies_exits_3(capsys, tmp_path: Path):
    rows = ["timestamp,id,value"]
    rows += [f"{t:%Y-%m-%d},m,{i}" for i, t in enumerate(pd.date_range("2000-01-01", periods=30, freq="MS"))]
    rows += [f"{t:%Y-%m-%d},q,{i}" for i, t in enumerate(pd.date_range("2000-01-01", periods=30, freq="QS"))]
    path = tmp_path / "mixed.csv"
    path.write_text("\n".join(rows) + "\n")
    code, stdout, err = run_main(capsys, "train", path, "--id-col", "id", "--out", tmp_path / "run", "--lookback", "4",
                                 "--horizon", "2", "--val-size", "2", "--hidden", "8", "--epochs", "2", "--quiet")  # fmt: skip
    assert code == 3
    assert stdout == ""
    assert "different frequencies" in err


# --- training and forecasting a panel through the CLI ----------------------------------------------------------


def test_predict_panel_writes_every_id_with_horizon_rows(capsys, panel_run: Path):
    code, stdout, err = run_main(capsys, "predict", "-m", panel_run)
    assert code == 0, err
    assert stdout.splitlines()[0] == "id,timestamp,forecast"
    rows = parse_csv(stdout)
    assert len(rows) == 8 * 4
    by_id: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_id.setdefault(r["id"], []).append(r)
    assert list(by_id) == STATES
    for sid, part in by_id.items():
        assert [r["timestamp"] for r in part] == ["2016-07-01", "2016-10-01", "2017-01-01", "2017-04-01"], sid
        assert all(np.isfinite(float(r["forecast"])) for r in part)


def test_predict_panel_id_selects_series(capsys, panel_run: Path):
    code, stdout, err = run_main(capsys, "predict", "-m", panel_run, "--id", "Victoria", "--id", "Tasmania")
    assert code == 0, err
    rows = parse_csv(stdout)
    assert len(rows) == 2 * 4
    assert {r["id"] for r in rows} == {"Victoria", "Tasmania"}
    code, full, _ = run_main(capsys, "predict", "-m", panel_run)
    victoria = [r["forecast"] for r in parse_csv(full) if r["id"] == "Victoria"]
    assert [r["forecast"] for r in rows if r["id"] == "Victoria"] == victoria


def test_predict_panel_unknown_id_exits_3(capsys, panel_run: Path):
    code, stdout, err = run_main(capsys, "predict", "-m", panel_run, "--id", "Atlantis")
    assert code == 3
    assert stdout == ""
    assert "Atlantis" in err


def test_predict_needs_the_future_covariate_rows(capsys, elec_run: Path):
    for args in ((), (ELEC,)):  # the stored history, and the training file: neither has rows after 2014-12-31
        code, stdout, err = run_main(capsys, "predict", "-m", elec_run, *args)
        assert code == 3, err
        assert stdout == ""
        assert "workday" in err and "temperature" in err
        assert "2015-01-01 .. 2015-01-07" in err


def test_predict_with_future_covariate_rows(capsys, elec_run: Path, tmp_path: Path):
    future = "".join(f"{d},,{int(i not in (3, 4))},{24 + i}\n" for i, d in enumerate(JAN_2015))
    path = tmp_path / "elec_future.csv"
    path.write_text(ELEC.read_text().rstrip("\n") + "\n" + future)
    code, stdout, err = run_main(capsys, "predict", "-m", elec_run, path)
    assert code == 0, err
    rows = parse_csv(stdout)
    assert [r["timestamp"] for r in rows] == JAN_2015
    assert all(np.isfinite(float(r["forecast"])) for r in rows)
    # the known-ahead inputs reach the forecast: other temperatures give another forecast
    hot = "".join(f"{d},,{int(i not in (3, 4))},{40 + i}\n" for i, d in enumerate(JAN_2015))
    path.write_text(ELEC.read_text().rstrip("\n") + "\n" + hot)
    code, other, err = run_main(capsys, "predict", "-m", elec_run, path)
    assert code == 0, err
    assert [r["forecast"] for r in parse_csv(other)] != [r["forecast"] for r in rows]


def test_a_future_covariate_model_of_the_older_layout_is_refused_with_a_reason(
    capsys, elec_run: Path, tmp_path: Path
) -> None:
    """Before the shared per-step network, the head read future covariates flattened: such a file (no ahead_net
    weights, a wider head) gets one line saying to retrain, not a generic mismatch."""
    raw = torch.load(elec_run / "model.pt", weights_only=True)
    state = {k: v for k, v in raw["state_dict"].items() if not k.startswith("ahead_net.")}
    head = state["head.weight"]  # (H, hidden + H x calendar channels)
    state["head.weight"] = torch.zeros(head.shape[0], head.shape[1] + 7 * 2)  # + H x 2 future covariates
    raw["state_dict"] = state
    torch.save(raw, tmp_path / "old.pt")
    code, out, err = run_main(capsys, "predict", "-m", tmp_path / "old.pt")
    assert code == 4 and out == ""
    assert "saved by an older lstmcast" in assert_one_error_line(err) and "train it again" in err


def test_train_reports_each_series_validation_in_a_table_summary_json_and_json_lines(capsys, tmp_path: Path) -> None:
    import json

    run = tmp_path / "run"
    code, out, err = run_main(
        capsys, "train", Path(__file__).resolve().parent / "data" / "visnights.csv", "--target",
        "NSWMetro,NSWNthCo,NSWSthCo", "--out", run, "--lookback", "8", "--hidden", "8", "--epochs", "1",
        "--device", "cpu", "--combine", "off", "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in records] == ["NSWMetro", "NSWNthCo", "NSWSthCo"]
    for r in records:
        assert r["rel_mase"] == pytest.approx(r["mase"] / r["snaive_mase"])
    assert "Validation per series (3 series; rel. MASE" in err
    summary = json.loads((run / "summary.json").read_text())
    assert [r["id"] for r in summary["validation_per_series"]] == ["NSWMetro", "NSWNthCo", "NSWSthCo"]
    assert summary["validation_per_series"][0]["mase"] == pytest.approx(records[0]["mase"])
