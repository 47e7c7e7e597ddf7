"""Run directories: a new, empty directory per run, claimed so two runs never share one, checked for writes and
free space before any training."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from lstmcast.errors import ConfigError
from lstmcast.files import check_name

RUN_MARK = ".lstmcast-run"  # created exclusively in a --out directory: two runs can never share one
MIN_FREE_BYTES = 8 * 1024 * 1024  # a small run's files; less free space than this fails before training


def make_run_dir(out: Path | None, project: Path = Path("runs"), name: str = "train") -> Path:
    """Create a new, empty run directory. Never reuses one: concurrent runs get distinct directories.

    Checks before any training that files can be written there and that the device has some space left.
    """
    if out is not None:
        out = Path(out)
        created = not out.exists()
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--out {out}: cannot create the directory ({exc.strerror})") from None
        try:
            claim(out)  # on failure it leaves no mark of its own (never remove another run's mark)
        except BaseException:
            if created:
                _remove_empty(out)
            raise
        try:
            check_writable(out)
        except BaseException:
            (out / RUN_MARK).unlink(missing_ok=True)
            if created:
                _remove_empty(out)
            raise
        return out
    check_name(name)  # a name is one directory under --project, never a way out of it
    try:
        project.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {project}/ ({exc.strerror}); use --out DIR") from None
    for i in range(1, 100000):
        candidate = project / (name if i == 1 else f"{name}{i}")
        try:
            candidate.mkdir()  # atomic: exactly one process wins each name
        except FileExistsError:
            continue
        except OSError as exc:
            raise ConfigError(f"cannot create {candidate} ({exc.strerror}); use --out DIR") from None
        try:
            check_writable(candidate)
        except BaseException:
            _remove_empty(candidate)
            raise
        return candidate
    raise ConfigError(f"{project}/ holds too many runs named {name}; choose --name or --out")


def claim(out: Path) -> None:
    """Take an empty --out directory for this run: an exclusive create, so exactly one of two runs wins it."""
    try:
        fd = os.open(out / RUN_MARK, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise ConfigError(
            f"--out {out}: another lstmcast run is using (or has used) this directory; choose a new one"
        ) from None
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write there ({exc.strerror})") from None
    try:
        os.write(fd, f"pid {os.getpid()}\n".encode())
    finally:
        os.close(fd)
    if any(p.name != RUN_MARK for p in out.iterdir()):
        (out / RUN_MARK).unlink(missing_ok=True)
        raise ConfigError(f"--out {out}: the directory is not empty; choose a new one so no run is overwritten")


def _remove_empty(path: Path) -> None:
    with contextlib.suppress(OSError):  # not empty (another run's mark) or gone: leave it
        path.rmdir()


def check_writable(path: Path) -> None:
    probe = path / f".write-test-{os.getpid()}"
    try:
        with probe.open("wb") as fh:
            fh.write(b"\0" * 4096)
            fh.flush()
            os.fsync(fh.fileno())
        probe.unlink()
    except OSError as exc:
        probe.unlink(missing_ok=True)
        raise ConfigError(f"{path}: cannot write there ({exc.strerror})") from None
    try:
        stats = os.statvfs(path)
    except (OSError, AttributeError):  # no statvfs (Windows): the probe above is all we can know
        return
    free = stats.f_bavail * stats.f_frsize
    if free < MIN_FREE_BYTES:
        raise ConfigError(
            f"{path}: only {free // 1024} KiB free on that device; a run needs at least "
            f"{MIN_FREE_BYTES // 2**20} MiB for its model files. Free some space or use --out elsewhere"
        )


FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


def writable_file(path: Path, flag: str, suffixes: tuple[str, ...] = FIGURE_SUFFIXES) -> Path:
    """A file a command is asked to write (e.g. `--plot FILE.png`): a known suffix, in a directory that exists."""
    if path.suffix.lower() not in suffixes:
        raise ConfigError(f"{flag} {path}: {path.suffix or 'no suffix'} is not one of {', '.join(suffixes)}")
    if path.is_dir():
        raise ConfigError(f"{flag} {path}: is a directory; give a file name ending in {suffixes[0]}")
    if not path.parent.is_dir():
        raise ConfigError(f"{flag} {path}: the directory {path.parent} does not exist")
    return path
