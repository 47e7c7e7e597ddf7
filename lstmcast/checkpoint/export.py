"""Export a trained model as one self-contained graph (ONNX or TorchScript) that forecasts from raw history.

The graph holds each series' scalers, the window normalisation and their inverses, so its inputs and its output
are in the data's original units and need no lstmcast to use. Inputs (B windows, L = lookback, H = horizon):

  history   (B, L) float64  the last L observations of the target, original units
  features  (B, L, C-1)     only when the model reads more than the target: the covariates in original units
            float64         (observed ones first, then those known ahead, in the model's column order), then the
                            calendar sin/cos columns as `features.calendar_features` computes them
  future    (B, H, K)       only when the model knows the horizon in advance: the known-ahead covariates of the
            float64         H steps after the window (original units), then their calendar sin/cos columns
  series    (B,) int64      only for a model of several series: each row's series, its position in `ids`

Output: `forecast` (B, H) float64, the next H values in original units. A forecast beyond the trained horizon
(rolling forward) is not part of the graph. ONNX takes the inputs by name; a TorchScript module takes them
positionally, in the order above. Both files carry the contract (lookback, horizon, ids, columns) as metadata.
"""

from __future__ import annotations

import copy
import io
import json
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lstmcast import __version__
from lstmcast.checkpoint.format import Checkpoint, write_atomic
from lstmcast.errors import ConfigError, DataError, LstmcastError
from lstmcast.files import output_target
from lstmcast.io.data import Series, future_times
from lstmcast.nn.model import LSTMRegressor
from lstmcast.prep.features import Layout, calendar_features
from lstmcast.prep.scaling import PanelScaling
from lstmcast.prep.windows import normalise

FORMATS = ("onnx", "torchscript")
OPSET = 17
INSTALL_HINT = "pip install lstmcast[export]"
METADATA_FILE = "lstmcast.json"  # TorchScript: the contract as an extra file in the archive


@dataclass(frozen=True)
class Port:
    """One graph input or output: name, shape (dimension names or sizes) and dtype."""

    name: str
    shape: tuple[str | int, ...]
    dtype: str

    def describe(self) -> str:
        return f"{self.name} ({', '.join(map(str, self.shape))}) {self.dtype}"


@dataclass(frozen=True)
class Exported:
    path: Path
    format: str
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]
    verified: bool  # the written file was run and matched the model in memory


class ExportedForecaster(nn.Module):
    """The network wrapped with its scaling and window normalisation: raw windows in, raw forecasts out.

    Shapes: forward(*inputs) takes the tensors named in `input_names`, in that order (see the module docstring)
    -> (B, H) float64. Traceable: no branching on tensor values, only on the model's fixed layout.
    """

    model: LSTMRegressor
    offset: torch.Tensor  # (S,) buffers: each series' target scaler, and its covariates' (S, n_cov)
    scale: torch.Tensor
    cov_offset: torch.Tensor
    cov_scale: torch.Tensor

    def __init__(self, model: LSTMRegressor, scaling: PanelScaling, layout: Layout, norm: str, lookback: int) -> None:
        super().__init__()
        self.model = model.eval()
        self.norm = norm
        self.lookback = lookback
        self.horizon = model.horizon
        self.n_cov = len(layout.covariates)
        self.known_ahead = layout.known_ahead
        self.channels = layout.channels
        self.known = layout.known
        self.panel = len(scaling) > 1
        self.register_buffer("offset", torch.as_tensor(scaling.offset, dtype=torch.float64))  # (S,)
        self.register_buffer("scale", torch.as_tensor(scaling.scale, dtype=torch.float64))  # (S,)
        self.register_buffer("cov_offset", torch.as_tensor(scaling.cov_offset, dtype=torch.float64))  # (S, n_cov)
        self.register_buffer("cov_scale", torch.as_tensor(scaling.cov_scale, dtype=torch.float64))  # (S, n_cov)

    @property
    def input_names(self) -> list[str]:
        names = ["history"]
        if self.channels > 1:
            names.append("features")
        if self.known:
            names.append("future")
        if self.panel:
            names.append("series")
        return names

    def ports(self) -> tuple[tuple[Port, ...], tuple[Port, ...]]:
        """The graph's inputs and outputs with their shapes ("batch" is the one dynamic dimension)."""
        shapes: dict[str, tuple[str | int, ...]] = {
            "history": ("batch", self.lookback),
            "features": ("batch", self.lookback, self.channels - 1),
            "future": ("batch", self.horizon, self.known),
            "series": ("batch",),
        }
        inputs = tuple(Port(n, shapes[n], "int64" if n == "series" else "float64") for n in self.input_names)
        return inputs, (Port("forecast", ("batch", self.horizon), "float64"),)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        named = dict(zip(self.input_names, inputs))
        history = named["history"].to(torch.float64)  # (B, L)
        if self.panel:
            rows = named["series"].to(torch.int64)  # (B,)
            offset, scale = self.offset[rows].unsqueeze(1), self.scale[rows].unsqueeze(1)  # (B, 1)
            cov_offset, cov_scale = self.cov_offset[rows], self.cov_scale[rows]  # (B, n_cov)
        else:
            offset, scale = self.offset.reshape(1, 1), self.scale.reshape(1, 1)  # (1, 1)
            cov_offset, cov_scale = self.cov_offset, self.cov_scale  # (1, n_cov)
        # As forecast.py does: scale in float64, then the network's float32.
        parts = [((history - offset) / scale).to(torch.float32).unsqueeze(-1)]  # (B, L, 1)
        if self.channels > 1:
            feats = named["features"].to(torch.float64)  # (B, L, C-1)
            if self.n_cov:
                cov = (feats[:, :, : self.n_cov] - cov_offset.unsqueeze(1)) / cov_scale.unsqueeze(1)  # (B, L, n_cov)
                parts.append(cov.to(torch.float32))
            if self.channels - 1 > self.n_cov:
                parts.append(feats[:, :, self.n_cov :].to(torch.float32))  # (B, L, calendar)
        x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=2)  # (B, L, C)
        fut = None
        if self.known:
            given = named["future"].to(torch.float64)  # (B, H, K)
            fparts = []
            if self.known_ahead:
                ka = self.known_ahead
                ahead = (given[:, :, :ka] - cov_offset[:, -ka:].unsqueeze(1)) / cov_scale[:, -ka:].unsqueeze(1)
                fparts.append(ahead.to(torch.float32))  # (B, H, ka)
            if self.known > self.known_ahead:
                fparts.append(given[:, :, self.known_ahead :].to(torch.float32))  # (B, H, calendar)
            fut = fparts[0] if len(fparts) == 1 else torch.cat(fparts, dim=2)  # (B, H, K)
        xn, level, spread = normalise(x, self.norm)  # (B, L, C), (B, 1), (B, 1)
        z = self.model(xn, fut) * spread + level  # (B, H) scaled units
        return z.to(torch.float64) * scale + offset  # (B, H) original units


def wrap(ckpt: Checkpoint) -> ExportedForecaster:
    """The checkpoint's model with its scaling, ready to trace."""
    lookback = ckpt.config.window.lookback
    model = copy.deepcopy(ckpt.model).requires_grad_(False)  # inference only; the checkpoint's model untouched
    return ExportedForecaster(model, ckpt.scaling, ckpt.layout, ckpt.config.window.norm, lookback).eval()


def graph_inputs(ckpt: Checkpoint, panel: Sequence[Series], rows: Sequence[int]) -> dict[str, np.ndarray]:
    """The graph's inputs for a forecast after the end of each series (original units), by input name.

    `rows[k]` is series k's position in the model (`ckpt.ids`). Known-ahead covariates come from each series'
    `future` rows, as `lstmcast predict` reads them.
    """
    wrapper = wrap(ckpt)
    layout, lookback, horizon = ckpt.layout, wrapper.lookback, wrapper.horizon
    hist, feats, futs = [], [], []
    for s in panel:
        if len(s) < lookback:
            raise DataError(f"{s.source}: needs the last {lookback} observations; it has {len(s)}")
        tail = s.tail(lookback)
        hist.append(tail.values)
        cols: list[np.ndarray] = []
        if layout.covariates:
            if tail.covariates is None:
                raise DataError(f"{s.source}: the series lacks the covariate columns {', '.join(layout.covariates)}")
            cols.append(tail.covariates)
        if layout.cycles and tail.index is not None:
            cols.append(calendar_features(tail.index, layout.cycles))
        feats.append(np.concatenate(cols, axis=1) if cols else np.empty((lookback, 0)))
        fcols: list[np.ndarray] = []
        if layout.known_ahead:
            if s.future is None or len(s.future) < horizon:
                raise DataError(f"{s.source}: needs the future values of {', '.join(layout.ahead)} for {horizon} steps")
            fcols.append(s.future[:horizon])
        if layout.cycles and s.last_time is not None and s.freq is not None:
            fcols.append(calendar_features(future_times(s.last_time, s.freq, horizon), layout.cycles))
        futs.append(np.concatenate(fcols, axis=1) if fcols else np.empty((horizon, 0)))
    arrays = {
        "history": np.stack(hist).astype("float64"),
        "features": np.stack(feats).astype("float64"),
        "future": np.stack(futs).astype("float64"),
        "series": np.asarray(rows, dtype="int64"),
    }
    return {name: arrays[name] for name in wrapper.input_names}


def _example(wrapper: ExportedForecaster, ckpt: Checkpoint) -> dict[str, np.ndarray]:
    """Inputs to trace with: the stored history of (up to two of) the model's series, zeros for unknown futures."""
    n = min(2, len(ckpt.stored))
    stored = list(ckpt.stored[:n])
    if ckpt.layout.known_ahead:  # the checkpoint keeps no future covariates; any values trace the same graph
        stored = [_with_future(s, wrapper.horizon, ckpt.layout.known_ahead) for s in stored]
    return graph_inputs(ckpt, stored, list(range(n)))


def _with_future(s: Series, horizon: int, known_ahead: int) -> Series:
    return replace(s, future=np.zeros((horizon, known_ahead)))


def export(ckpt: Checkpoint, fmt: str, out: str | Path) -> Exported:
    """Write the checkpoint's forecaster to `out` (atomically) as ONNX or TorchScript, and check the file."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    if ckpt.weight < 1.0:
        raise ConfigError(
            f"this model blends the LSTM with the Theta method (LSTM weight {ckpt.weight:g}); an exported graph would "
            "hold the LSTM alone and forecast differently. Train with --combine off to export it"
        )
    out = output_target(out, "-o")  # a device, FIFO or directory is refused; a symlink is written through
    wrapper = wrap(ckpt)
    example = _example(wrapper, ckpt)
    args = tuple(torch.from_numpy(example[name]) for name in wrapper.input_names)
    inputs, outputs = wrapper.ports()
    meta = _metadata(ckpt, wrapper, inputs, outputs)
    # The written graph is run on a batch of another size than the one traced, and must match the model.
    check = tuple(torch.cat([a, a.flip(0), a]) for a in args)
    with torch.no_grad():
        expected = wrapper(*check).numpy()
    if fmt == "onnx":
        data, verified = _onnx_bytes(wrapper, args, meta, check, expected)
    else:
        data, verified = _torchscript_bytes(wrapper, args, meta, check, expected)
    write_atomic(out, lambda fh: fh.write(data))
    return Exported(out, fmt, inputs, outputs, verified)


def _metadata(
    ckpt: Checkpoint, wrapper: ExportedForecaster, inputs: tuple[Port, ...], outputs: tuple[Port, ...]
) -> dict[str, str]:
    return {
        "producer": f"lstmcast {__version__}",
        "lookback": str(wrapper.lookback),
        "horizon": str(wrapper.horizon),
        "ids": json.dumps(ckpt.ids),
        "covariates": json.dumps(list(ckpt.layout.covariates)),
        "known_ahead": str(ckpt.layout.known_ahead),
        "calendar": json.dumps(list(ckpt.layout.cycles)),
        "freq": str(ckpt.schema.get("freq")),
        "target": str(ckpt.schema.get("target")),
        "inputs": json.dumps([p.describe() for p in inputs]),
        "outputs": json.dumps([p.describe() for p in outputs]),
    }


@contextmanager
def _quiet_tracing() -> Iterator[None]:
    """Silence what tracing always says about nn.LSTM's own shape checks (constants for a fixed layout) and the
    legacy exporter's notices; the exported file is run and compared with the model instead."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings(
            "ignore", message=r".*legacy TorchScript-based ONNX export", category=DeprecationWarning
        )
        warnings.filterwarnings("ignore", message=r"The feature will be removed", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=r"Exporting a model to ONNX with a batch_size other than 1")
        yield


def _check_close(got: np.ndarray, expected: np.ndarray, what: str) -> None:
    if got.shape != expected.shape or not np.allclose(got, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max()):
        raise LstmcastError(f"the exported {what} graph does not reproduce the model's forecast; not writing it")


def _onnx_bytes(
    wrapper: ExportedForecaster,
    args: tuple[torch.Tensor, ...],
    meta: dict[str, str],
    check: tuple[torch.Tensor, ...],
    expected: np.ndarray,
) -> tuple[bytes, bool]:
    try:
        import onnx
    except ImportError:
        raise ConfigError(f"--format onnx needs the onnx package: {INSTALL_HINT}") from None
    if wrapper.model.cfg.proj_size:
        raise ConfigError("ONNX has no LSTM with projections (--proj-size); use --format torchscript")
    names = wrapper.input_names
    buf = io.BytesIO()
    with _quiet_tracing():
        torch.onnx.export(  # a file object is fine for the legacy exporter, whatever the stubs say
            wrapper, args, buf, dynamo=False, input_names=names, output_names=["forecast"], opset_version=OPSET,  # type: ignore[arg-type]
            dynamic_axes={name: {0: "batch"} for name in [*names, "forecast"]},
        )  # fmt: skip
    proto = onnx.load_from_string(buf.getvalue())
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.doc_string = "lstmcast forecaster: raw history in, forecast in original units out. " + meta["inputs"]
    onnx.checker.check_model(proto, full_check=True)
    data = proto.SerializeToString()
    try:
        import onnxruntime as ort
    except ImportError:
        return data, False
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    got = session.run(["forecast"], {name: a.numpy() for name, a in zip(names, check)})[0]
    _check_close(np.asarray(got), expected, "ONNX")
    return data, True


def _torchscript_bytes(
    wrapper: ExportedForecaster,
    args: tuple[torch.Tensor, ...],
    meta: dict[str, str],
    check: tuple[torch.Tensor, ...],
    expected: np.ndarray,
) -> tuple[bytes, bool]:
    with _quiet_tracing():
        traced = torch.jit.trace(wrapper, args, check_trace=False)
    buf = io.BytesIO()
    torch.jit.save(traced, buf, _extra_files={METADATA_FILE: json.dumps(meta)})
    data = buf.getvalue()
    loaded = torch.jit.load(io.BytesIO(data))
    with torch.no_grad():
        got = loaded(*check).numpy()
    _check_close(got, expected, "TorchScript")
    return data, True


def describe(result: Exported) -> list[str]:
    """Lines for people: what was written and the graph's contract."""
    lines = [f"wrote {result.path} ({result.format})"]
    lines += [f"input  {p.describe()}" for p in result.inputs]
    lines += [f"output {p.describe()}" for p in result.outputs]
    if not result.verified:
        lines.append("note: onnxruntime is not installed, so the file was checked but not run")
    return lines
