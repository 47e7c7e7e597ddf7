"""Untrusted model files: code in a pickle never runs, and every damaged, foreign or hostile file is refused with
one line and exit code 4 (never a traceback, never a huge allocation, never a hang).

HOSTILE is the catalogue of distinct bad files (counted in the README's reliability section).
"""

from __future__ import annotations

import copy
import io
import os
import pickle
import pickletools
import signal
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from clitools import run_main
from payloads import OpensAFile, RunsAShell

from lstmcast.checkpoint import format as ckpt_io
from lstmcast.errors import CheckpointError

# --- payloads that would run code ---------------------------------------------------------------------------------


class EvalsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({str(self.marker)!r}, 'w')",))


# --- building bad files -------------------------------------------------------------------------------------------


def rezip(data: bytes, change: Callable[[str, bytes], bytes | None], compression: int = zipfile.ZIP_STORED) -> bytes:
    """A copy of a torch zip archive with entries changed (None drops an entry)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as dst:
        for info in src.infolist():
            new = change(info.filename, src.read(info.filename))
            if new is not None:
                dst.writestr(info.filename, new)
    return out.getvalue()


def declared_size(numel: int) -> bytes:
    """A torch file whose one tensor (77 floats stored) declares `numel` elements in its pickle."""
    buf = io.BytesIO()
    torch.save({"format": ckpt_io.FORMAT, "w": torch.ones(77)}, buf)

    def patch(name: str, data: bytes) -> bytes:
        if not name.endswith("data.pkl"):
            return data
        spots = [pos for op, arg, pos in pickletools.genops(data) if op.name == "BININT1" and arg == 77]
        for pos in sorted(spots, reverse=True):  # the storage's element count and the tensor's size
            data = data[:pos] + b"\x8a\x08" + struct.pack("<q", numel) + data[pos + 2 :]
        return data

    return rezip(buf.getvalue(), patch)


def saved(raw: object) -> bytes:
    buf = io.BytesIO()
    torch.save(raw, buf)
    return buf.getvalue()


def edit(payload: dict, change: Callable[[dict], None]) -> bytes:
    raw = copy.deepcopy(payload)
    change(raw)
    return saved(raw)


def head_weight(raw: dict) -> str:
    return next(k for k in raw["state_dict"] if k.startswith("head.weight"))


def set_weight(raw: dict, value: torch.Tensor) -> None:
    raw["state_dict"][head_weight(raw)] = value


def nest(raw: dict) -> None:
    deep: list = []
    for _ in range(60):
        deep = [deep, deep]  # shared references: 2**60 paths, 60 objects
    raw["info"] = {"deep": deep}


Builder = Callable[[bytes, dict], bytes]

# name -> (build(good file bytes, good payload) -> bad file bytes, what the one-line error says)
# fmt: off
HOSTILE: dict[str, tuple[Builder, str]] = {
    "empty file": (lambda good, p: b"", "an empty file"),
    "text file": (lambda good, p: b"timestamp,value\n2020-01-01,1\n", "not a PyTorch zip archive"),
    "random bytes": (lambda good, p: bytes((i * 97 + 13) % 256 for i in range(4096)), "not a PyTorch zip archive"),
    "truncated to the header": (lambda good, p: good[:30], "damaged or truncated archive"),
    "truncated by half": (lambda good, p: good[: len(good) // 2], "damaged or truncated archive"),
    "one byte short": (lambda good, p: good[:-1], "not a readable lstmcast checkpoint"),
    "legacy (non-zip) pickle": (lambda good, p: pickle.dumps({"format": ckpt_io.FORMAT}), "not a PyTorch zip archive"),
    "zip of other files": (lambda good, p: _zip({"notes.txt": b"hi"}), "layout torch.save writes"),
    "zip without data.pkl": (lambda good, p: rezip(good, lambda n, d: None if n.endswith("data.pkl") else d), "layout torch.save writes"),
    "zip with two roots": (lambda good, p: _two_roots(good), "layout torch.save writes"),
    "garbage data.pkl": (lambda good, p: rezip(good, lambda n, d: b"\x80\x02garbage" if n.endswith("data.pkl") else d), "not a readable lstmcast checkpoint"),
    "missing tensor entry": (lambda good, p: rezip(good, lambda n, d: None if "/data/0" in n else d), "not a readable lstmcast checkpoint"),
    "compressed entries (zip bomb)": (lambda good, p: rezip(good, lambda n, d: d, zipfile.ZIP_DEFLATED), "compressed entries"),
    "tensor declaring 10^12 elements": (lambda good, p: declared_size(10**12), "not a readable lstmcast checkpoint"),
    "tensor declaring 2^62 elements": (lambda good, p: declared_size(2**62), "not a readable lstmcast checkpoint"),
    "foreign torch file": (lambda good, p: saved({"weight": torch.ones(3), "epoch": 4}), "not an lstmcast checkpoint"),
    "bare tensor": (lambda good, p: saved(torch.zeros(2)), "not an lstmcast checkpoint"),
    "missing keys": (lambda good, p: edit(p, lambda r: r.pop("state_dict")), "missing state_dict"),
    "newer format version": (lambda good, p: edit(p, lambda r: r.update(format_version=ckpt_io.FORMAT_VERSION + 1)), "upgrade lstmcast"),
    "format version 0": (lambda good, p: edit(p, lambda r: r.update(format_version=0)), "unknown checkpoint format version"),
    "format version as text": (lambda good, p: edit(p, lambda r: r.update(format_version="1")), "unknown checkpoint format version"),
    "NaN weights": (lambda good, p: edit(p, lambda r: r["state_dict"][head_weight(r)].fill_(float("nan"))), "NaN or infinite"),
    "infinite weights": (lambda good, p: edit(p, lambda r: r["state_dict"][head_weight(r)].fill_(float("inf"))), "NaN or infinite"),
    "wrong-shape weights": (lambda good, p: edit(p, lambda r: r["state_dict"].update({"head.bias": torch.zeros(5)})), "has shape (5,)"),
    "weights of another config": (lambda good, p: edit(p, lambda r: r["config"]["model"].update(num_layers=2)), "do not match"),
    "config for a huge network": (lambda good, p: edit(p, lambda r: r["config"]["model"].update(hidden_size=10**7)), "needs (40000000,"),
    "integer weights": (lambda good, p: edit(p, lambda r: set_weight(r, r["state_dict"][head_weight(r)].int())), "not floating point"),
    "meta-device weights": (lambda good, p: edit(p, lambda r: set_weight(r, torch.empty(2, 2, device="meta"))), "dense real-valued"),
    "sparse weights": (lambda good, p: edit(p, lambda r: set_weight(r, r["state_dict"][head_weight(r)].to_sparse())), "dense real-valued"),
    "complex history": (lambda good, p: edit(p, lambda r: r.update(history=r["history"].to(torch.complex128))), "dense real-valued"),
    "NaN history": (lambda good, p: edit(p, lambda r: r["history"].fill_(float("nan"))), "finite values"),
    "invalid stored config": (lambda good, p: edit(p, lambda r: r["config"]["model"].update(cell="transformer")), "malformed checkpoint"),
    "nesting bomb": (lambda good, p: edit(p, nest), "nested too deeply"),
}
# fmt: on


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return out.getvalue()


def _two_roots(good: bytes) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(good))
    entries = {i.filename: src.read(i.filename) for i in src.infolist()}
    entries["other/data.pkl"] = b"\x80\x02}."
    return _zip(entries)


@pytest.fixture(scope="module")
def good(tiny_run_dir: Path) -> tuple[bytes, dict]:
    path = tiny_run_dir / "model.pt"
    return path.read_bytes(), torch.load(path, map_location="cpu", weights_only=True)


def test_case_count_for_the_readme() -> None:
    """The README quotes this count (with the code-running payloads below); change both together."""
    assert len(HOSTILE) == 33


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_file_is_refused_with_one_line(name: str, good: tuple[bytes, dict], tmp_path: Path) -> None:
    build, needle = HOSTILE[name]
    path = tmp_path / "model.pt"
    path.write_bytes(build(*good))
    with pytest.raises(CheckpointError) as err:
        ckpt_io.load(path)
    msg = str(err.value)
    assert needle in msg, msg
    assert "\n" not in msg and "\x1b" not in msg and len(msg) < 500


@pytest.mark.parametrize("name", list(HOSTILE))
def test_predict_exits_4_with_one_line(
    name: str, good: tuple[bytes, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str], cli_state: None
) -> None:
    build, needle = HOSTILE[name]
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "model.pt").write_bytes(build(*good))
    code, out, err = run_main(capsys, "predict", "--model", run_dir)
    assert code == 4, err
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstmcast: error: ") and needle in lines[0], err
    assert "Traceback" not in err


PAYLOADS = [OpensAFile, RunsAShell, EvalsCode]


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.__name__)
@pytest.mark.parametrize("where", ["top level", "inside config", "as a weight", "legacy format"])
def test_code_in_a_pickle_never_runs(tmp_path: Path, payload: type, where: str) -> None:
    marker = tmp_path / "pwned"
    evil = payload(marker)
    path = tmp_path / "evil.pt"
    if where == "top level":
        torch.save(evil, path)
    elif where == "inside config":
        torch.save({"format": ckpt_io.FORMAT, "format_version": 1, "config": evil}, path)
    elif where == "as a weight":
        torch.save({"format": ckpt_io.FORMAT, "format_version": 1, "state_dict": {"head.weight": evil}}, path)
    else:
        path.write_bytes(pickle.dumps({"format": ckpt_io.FORMAT, "config": evil}, protocol=2))
    assert not marker.exists()
    with pytest.raises(CheckpointError) as err:
        ckpt_io.load(path)
    assert not marker.exists()
    msg = str(err.value)
    assert "\n" not in msg
    assert ("refused" in msg) if where != "legacy format" else ("not a PyTorch zip archive" in msg)


def test_a_fifo_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "model.pt"
    os.mkfifo(fifo)

    def hung(signum: int, frame: object) -> None:
        raise TimeoutError("loading a FIFO blocked")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(5)
    try:
        with pytest.raises(CheckpointError, match="not a regular file"):
            ckpt_io.load(fifo)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_file_too_large_to_be_a_model_is_not_read(tmp_path: Path) -> None:
    big = tmp_path / "model.pt"
    with big.open("wb") as fh:
        fh.write(b"PK\x03\x04")
        fh.truncate(ckpt_io.MAX_FILE_BYTES + 1)  # sparse: no disk space used
    with pytest.raises(CheckpointError, match="far larger than an lstmcast model"):
        ckpt_io.load(big)


def test_the_good_file_still_loads(good: tuple[bytes, dict], tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(good[0])
    assert ckpt_io.load(path).config.window.lookback == 24
