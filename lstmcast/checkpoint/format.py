"""Plain-data checkpoints: one file, tensors and primitives only, written atomically, loaded with weights_only.

About 370 lines, on purpose in one module: this is the trust boundary for untrusted files (the zip and pickle
checks before torch.load, the plain-data walk, the meta-device shape check, the signal-holding atomic write), and a
reviewer should read the writer and every check the loader makes in one sitting."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import torch

from lstmcast import __version__
from lstmcast.config import ResolvedConfig, RunConfig
from lstmcast.errors import CheckpointError, LstmcastError
from lstmcast.files import output_target, regular_input
from lstmcast.io.data import Series
from lstmcast.nn.model import LSTMRegressor
from lstmcast.nn.theta import Combination
from lstmcast.prep.features import Layout
from lstmcast.prep.scaling import PanelScaling, Scaler

FORMAT = "lstmcast-checkpoint"
FORMAT_VERSION = 1
REQUIRED = ("format", "format_version", "config", "scaler", "layout", "schema", "series", "history", "state_dict")
MAX_FILE_BYTES = 4 * 1024**3  # far beyond any model this tool trains; a bigger file is not one of ours


@dataclass
class Checkpoint:
    """A loaded (or about to be saved) model with everything needed to forecast from it.

    stored:  the last `lookback` observations of each training series (with their covariates), as Series.
    schema:  target, time_col, freq, source, first_time, split_time, last_time, n_rows (the whole data).
    scaling: each series' fitted scalers; layout: the input channels.
    """

    config: ResolvedConfig  # the settings the model was trained with, every size fixed
    scaling: PanelScaling
    layout: Layout
    schema: dict[str, Any]
    stored: list[Series]
    model: LSTMRegressor
    n_rows: list[int] = field(default_factory=list)
    calibration: np.ndarray | None = None  # (99, H) conformal error quantiles, normalised units (intervals.py)
    metrics: dict[str, float] = field(default_factory=dict)
    losses: dict[str, list[float]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    asked: RunConfig | None = None  # the settings as the user gave them (None: a file written before they were kept)
    combination: Combination | None = None  # the LSTM's weight against Theta (None: the LSTM alone)

    @property
    def weight(self) -> float:
        """The LSTM's share of the forecast (1: the LSTM alone)."""
        return 1.0 if self.combination is None else self.combination.weight

    @property
    def ids(self) -> list[str | None]:
        return [s.id for s in self.stored]

    def n_rows_of(self, sid: str | None) -> int:
        return self.n_rows[self.ids.index(sid)] if self.n_rows else len(self.stored[0])

    @property
    def scaler(self) -> Scaler:
        """The first (for a lone series, the only) series' target scaler."""
        return self.scaling.series(0)

    @property
    def history(self) -> np.ndarray:
        """The first series' stored observations (original units)."""
        return self.stored[0].values

    def to_payload(
        self, state: dict[str, torch.Tensor] | None = None, train_state: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The dict written to disk: tensors and primitives only. `state` overrides the model's weights;
        `train_state` (last.pt only) is what resuming needs (train.fit's on_state)."""
        weights = state if state is not None else self.model.state_dict()
        lookback = self.config.window.lookback
        n_cov = len(self.layout.covariates)
        cov = np.zeros((len(self.stored), lookback, n_cov))
        for i, s in enumerate(self.stored):
            if n_cov and s.covariates is not None:
                cov[i] = _edge_tail(s.covariates, lookback)
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "lstmcast_version": __version__,
            "torch_version": str(torch.__version__),
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "config": self.config.to_dict(),
            "asked": None if self.asked is None else self.asked.to_dict(),
            "scaler": self.scaling.to_dict(),
            "layout": self.layout.to_dict(),
            "schema": dict(self.schema),
            "series": {
                "ids": [s.id for s in self.stored],
                "last_time": [s.last_time for s in self.stored],
                "n_rows": [int(n) for n in (self.n_rows or [len(s) for s in self.stored])],
            },
            # a series shorter than the lookback (padded windows) is stored padded as the forecast pads it
            "history": torch.as_tensor(np.stack([_edge_tail(s.values, lookback) for s in self.stored]).astype("float64")),
            "history_cov": torch.as_tensor(cov),
            "state_dict": {k: v.detach().cpu().clone() for k, v in weights.items()},
            "calibration": None if self.calibration is None else torch.as_tensor(np.asarray(self.calibration)),
            "metrics": {k: float(v) for k, v in self.metrics.items()},
            "losses": {k: [float(x) for x in v] for k, v in self.losses.items()},
            "info": dict(self.info),
            "combine": None if self.combination is None else self.combination.to_dict(),
        } | ({} if train_state is None else {"train_state": train_state})


def _edge_tail(values: np.ndarray, rows: int) -> np.ndarray:
    """The last `rows` rows, a shorter array preceded by copies of its first row. Shapes: (N, ...) -> (rows, ...)."""
    tail = values[-rows:]
    return np.concatenate([np.repeat(tail[:1], rows - len(tail), axis=0), tail]) if len(tail) < rows else tail


def save(
    ckpt: Checkpoint,
    path: str | Path,
    state: dict[str, torch.Tensor] | None = None,
    train_state: dict[str, Any] | None = None,
) -> Path:
    """Write atomically (see write_atomic)."""
    return write_atomic(path, lambda fh: torch.save(ckpt.to_payload(state, train_state), fh))


def write_atomic(path: str | Path, write: Callable[[BinaryIO], object]) -> Path:
    """Write a file atomically: `write` fills a temporary file in the same directory, which is flushed to disk and
    renamed over `path`, so a reader (or a crash) never sees a half-written file."""
    path = output_target(path, "")  # never rename over a device, FIFO or directory; write through a symlink
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with _interrupts_after(), os.fdopen(fd, "wb") as raw:
            fh = _Recording(raw)
            try:
                write(fh)  # type: ignore[arg-type]
            except RuntimeError:
                if fh.error is not None:  # torch's C++ writer hides the OSError (ENOSPC...) behind its own message
                    raise fh.error from None
                raise
            fh.flush()
            os.fsync(fh.fileno())
            os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return path
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
    return path


class _Recording:
    """A binary file that remembers the OSError of a failed write, for the caller to raise instead of the
    RuntimeError torch.save makes of it ("[enforce fail at inline_container.cc] unexpected pos")."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            return self._fh.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


@contextlib.contextmanager
def _interrupts_after() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block is done, then deliver them to their own handlers. An interrupt raised
    inside torch.save's C++ writer would come out as a RuntimeError instead of stopping training cleanly."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    kinds = (signal.SIGINT, signal.SIGTERM)
    handlers = {kind: signal.getsignal(kind) for kind in kinds}
    for kind in kinds:
        signal.signal(kind, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        for kind, handler in handlers.items():
            signal.signal(kind, handler)
        for signum in dict.fromkeys(held):  # each kind once, in arrival order
            handler = handlers[signal.Signals(signum)]
            if callable(handler):
                handler(signum, None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(signum)


def resolve_path(model: str | Path) -> Path:
    """A run directory means its model.pt (or last.pt when training never saved a best model)."""
    p = Path(model)
    if p.is_dir():
        for name in ("model.pt", "last.pt"):
            if os.path.lexists(p / name):  # there in any form: it must be a checkpoint, never skipped silently
                regular_input(
                    p / name,
                    CheckpointError,
                    "it must be the checkpoint training wrote (train again, or remove it to use last.pt)",
                )
                return p / name
        if (p / "summary.json").is_file():
            raise CheckpointError(f"{p}: no model.pt or last.pt: that run saved no model (see its summary.json)")
        raise CheckpointError(f"{p}: no model.pt or last.pt in this directory; is it a run directory?")
    if not os.path.lexists(p):
        raise CheckpointError(f"{p}: no such model file or run directory")
    regular_input(p, CheckpointError, "give a .pt file or a run directory")
    return p


def load(model: str | Path) -> Checkpoint:
    """Load and validate a checkpoint. Never unpickles objects: weights_only=True admits plain data only."""
    return load_resumable(model)[0]


def load_resumable(model: str | Path) -> tuple[Checkpoint, dict[str, Any] | None]:
    """A checkpoint and its resume state (`train_state`, in last.pt; None when it has none), read once."""
    path = resolve_path(model)
    check_archive(path)
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt, foreign and malicious files
        text = str(exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        if "GLOBAL" in text or "add_safe_globals" in text:  # the safe unpickler met a class or function
            raise CheckpointError(
                f"{path}: refused: the file holds Python objects, not plain data (it may run code); "
                "only load models from sources you trust"
            ) from None
        if "Weights only load failed" in text:  # bytes the safe unpickler cannot parse; torch's advice misleads
            first = "not a PyTorch file, or a damaged one"
        raise CheckpointError(f"{path}: not a readable lstmcast checkpoint ({first[:160]})") from None
    state = raw.get("train_state") if isinstance(raw, dict) else None
    return from_payload(raw, path), state if isinstance(state, dict) else None


def check_archive(path: Path) -> None:
    """Refuse, before torch reads a byte of it, a file that is not the plain zip archive torch.save writes.

    Legacy and foreign formats are refused, and so are compressed entries: a small file must not unpack to
    gigabytes. Entry sizes then bound what loading can allocate (torch checks each tensor against its entry).
    """
    unreadable = f"{path}: not a readable lstmcast checkpoint"
    if not path.is_file():
        raise CheckpointError(f"{path}: not a regular file; give a .pt file or a run directory")
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read it ({exc.strerror})") from None
    if size > MAX_FILE_BYTES:
        raise CheckpointError(f"{path}: {size / 1024**3:.1f} GiB is far larger than an lstmcast model; not loading it")
    if magic != b"PK\x03\x04":
        raise CheckpointError(f"{unreadable} ({'an empty file' if size == 0 else 'not a PyTorch zip archive'})")
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise CheckpointError(f"{unreadable} (a damaged or truncated archive: {str(exc)[:80]})") from None
    if any(e.compress_type != zipfile.ZIP_STORED for e in entries) or sum(e.file_size for e in entries) > size:
        raise CheckpointError(f"{unreadable} (compressed entries: not written by torch.save)")
    roots = {e.filename.split("/", 1)[0] for e in entries}
    if len(roots) != 1 or not any(e.filename.count("/") == 1 and e.filename.endswith("/data.pkl") for e in entries):
        raise CheckpointError(f"{unreadable} (a zip archive without the layout torch.save writes)")


def _check_plain(raw: Any, path: str | Path) -> None:
    """Every tensor must be a dense CPU tensor of real numbers, and nesting shallow (walked once per object)."""
    seen: set[int] = set()
    todo: list[tuple[Any, int]] = [(raw, 0)]
    while todo:
        value, depth = todo.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if depth > 16:
            raise CheckpointError(f"{path}: malformed checkpoint (nested too deeply)")
        if isinstance(value, torch.Tensor):
            if value.layout != torch.strided or value.device.type != "cpu" or value.is_complex() or value.is_quantized:
                raise CheckpointError(
                    f"{path}: malformed checkpoint (a {value.layout} {value.dtype} tensor on {value.device.type}; "
                    "lstmcast writes dense real-valued tensors only)"
                )
        elif isinstance(value, dict):
            todo.extend((v, depth + 1) for v in (*value.keys(), *value.values()))
        elif isinstance(value, (list, tuple, set)):
            todo.extend((v, depth + 1) for v in value)


def from_payload(raw: Any, path: str | Path = "<checkpoint>") -> Checkpoint:
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an lstmcast checkpoint (no '{FORMAT}' header)")
    _check_plain(raw, path)
    missing = [k for k in REQUIRED if k not in raw]
    if missing:
        raise CheckpointError(f"{path}: incomplete checkpoint, missing {', '.join(missing)}")
    version = raw["format_version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{path}: unknown checkpoint format version {str(version)[:40]!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {version} is newer than this lstmcast ({__version__}) reads "
            f"(format {FORMAT_VERSION}); upgrade lstmcast"
        )
    try:
        cfg = ResolvedConfig.from_dict(raw["config"])
        asked = None if raw.get("asked") is None else RunConfig.from_dict(raw["asked"])
        scaling = PanelScaling.from_dict(raw["scaler"])
        layout = Layout.from_dict(raw["layout"])
        schema = dict(raw["schema"])
        history, history_cov = raw["history"], raw.get("history_cov")
        if not isinstance(history, torch.Tensor) or not isinstance(history_cov, torch.Tensor):
            raise TypeError("history is not a tensor")
        series_info = dict(raw["series"])
        ids, last_times, n_rows = list(series_info["ids"]), list(series_info["last_time"]), list(series_info["n_rows"])
        with torch.device("meta"):  # shapes only: a hostile config must not make us allocate a huge network
            net = LSTMRegressor(cfg.model, layout.channels, cfg.window.horizon, layout.known, layout.known_ahead)
        state = raw["state_dict"]
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise TypeError("weights are not a mapping of tensors")
    except CheckpointError:
        raise
    except (LstmcastError, KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: malformed checkpoint ({str(exc)[:160]})") from None
    expected = net.state_dict()
    if set(state) != set(expected):
        if layout.known_ahead and not any(k.startswith("ahead_net.") for k in state):
            raise CheckpointError(
                f"{path}: this model was saved by an older lstmcast, whose future covariates entered the network "
                "differently; train it again with this version"
            )
        raise CheckpointError(f"{path}: the weights do not match the stored model configuration")
    for key, tensor in state.items():
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise CheckpointError(
                f"{path}: weight {key} has shape {tuple(tensor.shape)}, the stored configuration needs "
                f"{tuple(expected[key].shape)}"
            )
        if not tensor.is_floating_point():
            raise CheckpointError(f"{path}: weight {key} holds {tensor.dtype} values, not floating point")
        if not torch.isfinite(tensor).all():
            raise CheckpointError(f"{path}: weight {key} holds NaN or infinite values")
    # The shapes checked out: take the file's tensors as the weights (no allocation beyond what the file holds;
    # assign=True also avoids to_empty(), whose import of torch.fx/sympy costs half a second per predict).
    net.load_state_dict({k: v.to(torch.float32) for k, v in state.items()}, assign=True)
    net.eval()
    hist = history.detach().cpu().numpy().astype("float64")
    hist_cov = history_cov.detach().cpu().numpy().astype("float64")
    lookback, count = cfg.window.lookback, len(ids)
    shapes_ok = hist.shape == (count, lookback) and hist_cov.shape == (count, lookback, len(layout.covariates))
    if not shapes_ok or not (np.isfinite(hist).all() and np.isfinite(hist_cov).all()):
        raise CheckpointError(f"{path}: stored history must be {count} x {lookback} finite values")
    if not (len(scaling) == len(last_times) == len(n_rows) == count) or count == 0:
        raise CheckpointError(f"{path}: the stored series, scalers and histories disagree in number")
    try:
        stored = [_stored_series(schema, layout, sid, hist[i], hist_cov[i], last_times[i]) for i, sid in enumerate(ids)]
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: malformed stored series ({exc})") from None
    info = {k: raw.get(k) for k in ("lstmcast_version", "torch_version", "created", "format_version")}
    try:
        info.update(raw.get("info", {}) or {})
        metrics, losses = dict(raw.get("metrics", {}) or {}), dict(raw.get("losses", {}) or {})
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: malformed checkpoint ({exc})") from None
    if info.get("stop_reason") is not None and info.get("best_epoch") == 0:  # an older lstmcast saved these
        raise CheckpointError(
            f"{path}: holds a network that never completed an epoch of training (stopped: {info['stop_reason']}); "
            "train again"
        )
    calibration = raw.get("calibration")
    if calibration is not None:
        horizon = cfg.window.horizon
        if not isinstance(calibration, torch.Tensor) or tuple(calibration.shape) != (99, horizon):
            raise CheckpointError(f"{path}: the interval calibration must be a 99 x {horizon} tensor")
        calibration = calibration.double().numpy()
        if not np.isfinite(calibration).all() or (calibration < 0).any():
            raise CheckpointError(f"{path}: the interval calibration holds negative, NaN or infinite values")
    try:
        combine = raw.get("combine")
        combination = None if combine is None else Combination.from_dict(dict(combine), count)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: malformed combination with Theta ({str(exc)[:120]})") from None
    return Checkpoint(
        cfg, scaling, layout, schema, stored, net, [int(n) for n in n_rows], calibration, metrics, losses, info, asked,
        combination,
    )


def _stored_series(
    schema: dict[str, Any], layout: Layout, sid: Any, values: np.ndarray, cov: np.ndarray, last: Any
) -> Series:
    """Rebuild one stored series tail (its timestamps from the frequency and its last timestamp)."""
    freq = schema.get("freq")
    index = None
    if last is not None and freq is not None:
        index = pd.date_range(end=pd.Timestamp(str(last)), periods=len(values), freq=str(freq))
    return Series(
        values, index, None if freq is None else str(freq), str(schema.get("target")), schema.get("time_col"),
        str(schema.get("source", "<checkpoint>")), id=None if sid is None else str(sid),
        covariates=cov if layout.covariates else None, covariate_names=layout.covariates,
        known_ahead=layout.known_ahead,
    )  # fmt: skip
