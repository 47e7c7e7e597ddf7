"""lstmcast.checkpoint.export: ONNX and TorchScript graphs that take raw history and reproduce `lstmcast predict`.

Each exported file is run (onnxruntime, torch.jit) on held-out windows of a real series, its inputs built here
from the CSV by hand, and compared with `pipeline.predict_run` on the data up to each origin.
"""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
import torch
from clitools import run_main

from lstmcast.checkpoint import format as ckpt_io
from lstmcast.checkpoint.export import METADATA_FILE, OPSET, export, graph_inputs
from lstmcast.config import DataConfig, ModelConfig, RunConfig, TrainConfig, WindowConfig
from lstmcast.pipeline.runs import predict_run, train_run
from lstmcast.prep.features import calendar_features, future_times

RTOL = 1e-4


@dataclass
class Case:
    """A trained run and the CSV it came from: which columns are the targets and covariates."""

    run_dir: Path
    csv: Path
    targets: list[str]
    observed: list[str]
    ahead: list[str]

    @property
    def ckpt(self) -> ckpt_io.Checkpoint:
        return ckpt_io.load(self.run_dir)


def _train(tmp: Path, csv: Path, data: DataConfig, window: WindowConfig, **model: object) -> Path:
    cfg = RunConfig(
        data=data, window=window, model=ModelConfig(hidden_size=8, **model),  # type: ignore[arg-type]
        train=TrainConfig(epochs=2, batch_size=32, patience=5, seed=0, device="cpu", combine="off"),
    )  # fmt: skip
    return train_run(csv, cfg, out=tmp / "run").run_dir


@pytest.fixture(scope="module")
def air(tiny_run_dir: Path, air_csv: Path) -> Case:
    """The shared tiny run (airpassengers, monthly: the year cycle as calendar features)."""
    return Case(tiny_run_dir, air_csv, ["value"], [], [])


@pytest.fixture(scope="module")
def air_plain(tmp_path_factory: pytest.TempPathFactory, air_csv: Path) -> Case:
    """Target only (no calendar), minmax scaling, no window normalisation, a bidirectional GRU."""
    window = WindowConfig(lookback=24, horizon=12, val_size=12, scaler="minmax", norm="none", calendar="off")
    run = _train(tmp_path_factory.mktemp("plain"), air_csv, DataConfig(), window, cell="gru", bidirectional=True)
    return Case(run, air_csv, ["value"], [], [])


@pytest.fixture(scope="module")
def hyndsight(tmp_path_factory: pytest.TempPathFactory, datasets: Path) -> Case:
    """Daily page views: the week cycle as calendar features, for the window and the horizon."""
    csv = datasets / "hyndsight.csv"
    run = _train(tmp_path_factory.mktemp("hynd"), csv, DataConfig(), WindowConfig(lookback=28, horizon=7, val_size=28))
    return Case(run, csv, ["value"], [], [])


@pytest.fixture(scope="module")
def elec(tmp_path_factory: pytest.TempPathFactory, datasets: Path) -> Case:
    """Daily demand with an observed covariate (temperature) and one known ahead (workday), plus the calendar."""
    csv = datasets / "elecdaily.csv"
    data = DataConfig(target="demand", covariates=("temperature",), future_covariates=("workday",))
    run = _train(tmp_path_factory.mktemp("elec"), csv, data, WindowConfig(lookback=28, horizon=7, val_size=28))
    return Case(run, csv, ["demand"], ["temperature"], ["workday"])


@pytest.fixture(scope="module")
def visnights(tmp_path_factory: pytest.TempPathFactory, datasets: Path) -> Case:
    """A wide panel of three quarterly series, each with its own scalers. Without window normalisation, so that the
    forecast depends on which series' scalers the `series` input picks (with it, affine scalers cancel out)."""
    csv = datasets / "visnights.csv"
    targets = ["NSWMetro", "QLDMetro", "VICWstCo"]
    window = WindowConfig(lookback=8, horizon=4, val_size=8, norm="none")
    run = _train(tmp_path_factory.mktemp("vis"), csv, DataConfig(target=",".join(targets)), window)
    return Case(run, csv, targets, [], [])


def raw_inputs(case: Case, origins: list[int]) -> tuple[dict[str, np.ndarray], list[tuple[str, int]]]:
    """The graph's inputs, built from the CSV by hand, for a forecast from each origin (row count) of each
    target: history, features (covariates in original units, then calendar sin/cos), future, series."""
    ckpt = case.ckpt
    layout, lookback, horizon = ckpt.layout, ckpt.config.window.lookback, ckpt.config.window.horizon
    df = pd.read_csv(case.csv)
    times = pd.DatetimeIndex(pd.to_datetime(df["timestamp"]))
    cal = calendar_features(times, layout.cycles)  # (N, 2 * cycles)
    cov = df[case.observed + case.ahead].to_numpy("float64")  # (N, n_cov)
    ahead = df[case.ahead].to_numpy("float64")
    hist, feats, futs, rows, keys = [], [], [], [], []
    for target in case.targets:
        for n in origins:
            hist.append(df[target].to_numpy("float64")[n - lookback : n])
            feats.append(np.concatenate([cov[n - lookback : n], cal[n - lookback : n]], axis=1))
            horizon_cal = calendar_features(
                future_times(times[n - 1].isoformat(), ckpt.schema["freq"], horizon), layout.cycles
            )
            known = ahead[n : n + horizon] if case.ahead else np.empty((horizon, 0))
            futs.append(np.concatenate([known, horizon_cal], axis=1))
            rows.append(ckpt.ids.index(target) if len(ckpt.ids) > 1 else 0)
            keys.append((target, n))
    arrays = {
        "history": np.stack(hist),
        "features": np.stack(feats),
        "future": np.stack(futs),
        "series": np.array(rows),
    }
    names = ["history"] + (["features"] if layout.channels > 1 else []) + (["future"] if layout.known else [])
    names += ["series"] if len(ckpt.ids) > 1 else []
    return {k: np.ascontiguousarray(arrays[k]) for k in names}, keys


def predicted(case: Case, origins: list[int], tmp_path: Path) -> np.ndarray:
    """`lstmcast predict` (predict_run) on the data up to each origin: (targets x origins, H)."""
    df = pd.read_csv(case.csv)
    horizon = int(case.ckpt.config.window.horizon or 0)
    out: dict[tuple[str, int], np.ndarray] = {}
    for n in origins:
        prefix = df.iloc[: n + (horizon if case.ahead else 0)].copy()
        prefix.loc[prefix.index[n:], case.targets] = np.nan  # the horizon's rows: known-ahead covariates only
        path = tmp_path / f"upto{n}.csv"
        prefix.to_csv(path, index=False)
        frame = predict_run(case.run_dir, path)
        for target in case.targets:
            part = frame if "id" not in frame else frame[frame["id"] == target]
            out[(target, n)] = part["forecast"].to_numpy()
    return np.stack([out[(t, n)] for t in case.targets for n in origins])


def run_onnx(path: Path, inputs: dict[str, np.ndarray]) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["forecast"], inputs)[0]


def run_torchscript(path: Path, inputs: dict[str, np.ndarray]) -> np.ndarray:
    module = torch.jit.load(str(path))
    with torch.no_grad():
        return module(*(torch.from_numpy(a) for a in inputs.values())).numpy()


CASES = ["air", "air_plain", "hyndsight", "elec", "visnights"]


@pytest.mark.parametrize("name", CASES)
def test_both_formats_match_predict_on_held_out_windows(
    name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    case: Case = request.getfixturevalue(name)
    ckpt = case.ckpt
    n_rows = len(pd.read_csv(case.csv))
    horizon = int(ckpt.config.window.horizon or 0)
    last = n_rows - (horizon if case.ahead else 0)  # with covariates known ahead, the horizon's rows must exist
    origins = [last - horizon, last - horizon // 2, last - 1, last]  # forecasts of held-out rows (and after)
    inputs, _ = raw_inputs(case, origins)
    want = predicted(case, origins, tmp_path)
    assert want.shape == (len(case.targets) * len(origins), horizon)
    for fmt, runner in (("onnx", run_onnx), ("torchscript", run_torchscript)):
        result = export(ckpt, fmt, tmp_path / f"model.{fmt}")
        assert result.verified and [p.name for p in result.inputs] == list(inputs)
        got = runner(result.path, inputs)
        assert got.dtype == np.float64 and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=RTOL, err_msg=f"{name} {fmt}")


def test_graph_inputs_from_series_reproduce_the_stored_forecast(visnights: Case, tmp_path: Path) -> None:
    ckpt = visnights.ckpt
    inputs = graph_inputs(ckpt, ckpt.stored, list(range(len(ckpt.ids))))
    assert inputs["series"].tolist() == [0, 1, 2] and inputs["history"].shape == (3, 8)
    frame = predict_run(visnights.run_dir)
    want = np.stack([frame[frame["id"] == sid]["forecast"].to_numpy() for sid in ckpt.ids])
    path = export(ckpt, "onnx", tmp_path / "vis.onnx").path
    np.testing.assert_allclose(run_onnx(path, inputs), want, rtol=RTOL)
    swapped = dict(inputs, series=inputs["series"][::-1].copy())  # another series' scalers: another forecast
    assert not np.allclose(run_onnx(path, swapped), want, rtol=RTOL)


def test_onnx_file_is_a_checked_model_with_an_lstm_and_its_contract(air: Case, tmp_path: Path) -> None:
    path = export(air.ckpt, "onnx", tmp_path / "air.onnx").path
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert any(op.domain in ("", "ai.onnx") and op.version >= OPSET for op in proto.opset_import)
    assert "LSTM" in {node.op_type for node in proto.graph.node}
    assert [i.name for i in proto.graph.input] == ["history", "features", "future"]
    assert [o.name for o in proto.graph.output] == ["forecast"]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["lookback"] == "24" and meta["horizon"] == "12" and json.loads(meta["calendar"]) == ["year"]
    batch = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param == "batch"  # any batch size, not the one traced with


def test_torchscript_file_carries_its_contract(visnights: Case, tmp_path: Path) -> None:
    path = export(visnights.ckpt, "torchscript", tmp_path / "vis.pt").path
    files = {METADATA_FILE: ""}
    torch.jit.load(str(path), _extra_files=files)
    meta = json.loads(files[METADATA_FILE])
    assert json.loads(meta["ids"]) == visnights.targets
    assert json.loads(meta["inputs"]) == [
        "history (batch, 8) float64", "features (batch, 8, 2) float64", "future (batch, 4, 2) float64",
        "series (batch) int64",
    ]  # fmt: skip


def test_export_leaves_the_checkpoint_model_trainable(air: Case, tmp_path: Path) -> None:
    ckpt = air.ckpt
    export(ckpt, "torchscript", tmp_path / "m.pt")
    assert all(p.requires_grad for p in ckpt.model.parameters())


# --- the command ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_cli_export_writes_the_file_and_lists_its_contract(
    capsys: pytest.CaptureFixture[str], air: Case, tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / f"air.{fmt}"
    code, stdout, err = run_main(capsys, "export", "--model", air.run_dir, "--format", fmt, "-o", out)
    assert code == 0, err
    assert stdout == ""  # stdout is for data only
    assert out.is_file() and not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert "input  history (batch, 24) float64" in err
    assert "input  features (batch, 24, 2) float64" in err
    assert "input  future (batch, 12, 2) float64" in err
    assert "output forecast (batch, 12) float64" in err
    assert "\x1b[" not in err


def test_cli_export_without_onnx_says_what_to_install(
    capsys: pytest.CaptureFixture[str], air: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    code, stdout, err = run_main(capsys, "export", "-m", air.run_dir, "-f", "onnx", "-o", tmp_path / "m.onnx")
    assert code == 2 and stdout == ""
    assert "pip install lstmcast[export]" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "m.onnx").exists()


def test_cli_export_errors_exit_codes(capsys: pytest.CaptureFixture[str], air: Case, tmp_path: Path) -> None:
    code, _, err = run_main(capsys, "export", "-m", tmp_path / "nothing", "-f", "onnx", "-o", tmp_path / "m.onnx")
    assert code == 4 and "no such model" in err
    code, _, err = run_main(capsys, "export", "-m", air.run_dir, "-f", "onnx", "-o", tmp_path / "no" / "m.onnx")
    assert code == 2 and "does not exist" in err
    code, _, err = run_main(capsys, "export", "-m", air.run_dir, "-f", "tflite", "-o", tmp_path / "m.x")
    assert code == 2 and "--format" in err
    code, _, err = run_main(capsys, "export", "-m", air.run_dir, "-f", "onnx")
    assert code == 2 and "--out" in err


def test_export_never_leaves_a_partial_file(air: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lstmcast.checkpoint import format as writer_mod  # export writes through checkpoint.format.write_atomic

    target = tmp_path / "m.pt"
    target.write_bytes(b"old")

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer_mod.os, "fsync", broken)
    with pytest.raises(OSError):
        export(air.ckpt, "torchscript", target)
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_exported_torchscript_loads_from_bytes(air: Case, tmp_path: Path) -> None:
    path = export(air.ckpt, "torchscript", tmp_path / "m.pt").path
    module = torch.jit.load(io.BytesIO(path.read_bytes()))
    history = torch.linspace(300.0, 400.0, 24, dtype=torch.float64).expand(5, 24)
    out = module(history, torch.zeros(5, 24, 2, dtype=torch.float64), torch.zeros(5, 12, 2, dtype=torch.float64))
    assert out.shape == (5, 12) and torch.isfinite(out).all()


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN:UserWarning")
def test_lstm_with_projections_exports_as_torchscript_only(air: Case, tmp_path: Path, seed: int) -> None:
    from dataclasses import replace

    from lstmcast.errors import ConfigError
    from lstmcast.forecasting.forecast import forecast
    from lstmcast.nn.model import LSTMRegressor

    ckpt = air.ckpt
    cfg = replace(ckpt.config, model=replace(ckpt.config.model, hidden_size=8, proj_size=3))
    ckpt.config = cfg
    ckpt.model = LSTMRegressor(cfg.model, ckpt.layout.channels, 12, ckpt.layout.known).eval()  # random weights
    with pytest.raises(ConfigError, match="--format torchscript"):
        export(ckpt, "onnx", tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
    path = export(ckpt, "torchscript", tmp_path / "m.pt").path
    inputs = graph_inputs(ckpt, ckpt.stored, [0])
    np.testing.assert_allclose(run_torchscript(path, inputs)[0], forecast(ckpt)["forecast"].to_numpy(), rtol=RTOL)
