"""What kind of file a path is, checked before it is opened: user paths may name devices, FIFOs, directories,
symlink loops or names that climb out of their directory.

Stage modules call these before reading or writing; each raises the caller's error type (DataError for data,
CheckpointError for models, ConfigError for a flag's value) with one line that names the path and what would work.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from lstmcast.errors import ConfigError, LstmcastError


def kind_of(mode: int) -> str:
    """A file type in words, for messages."""
    for test, word in (
        (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link"),
    ):  # fmt: skip
        if test(mode):
            return word
    return "not a regular file"


def regular_input(path: Path, error: type[LstmcastError], advice: str) -> os.stat_result:
    """The stat of `path` when it is (or links to) a regular file; else `error` naming what it is instead.

    A symlink loop, a dangling link, a device or a FIFO is refused without being opened (opening a FIFO with no
    writer would hang, reading /dev/zero would never end)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise error(f"{path}: a symbolic link to a file that does not exist; {advice}") from None
        raise error(f"{path}: no such file; {advice}") from None
    except OSError as exc:  # ELOOP (a symlink loop), ENAMETOOLONG, EACCES on a parent...
        raise error(f"{path}: cannot read it ({exc.strerror}); {advice}") from None
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{path}: {kind_of(st.st_mode)}, not a regular file; {advice}")
    return st


def output_target(path: str | Path, flag: str) -> Path:
    """Where a file written for `flag` goes: `path` itself, or the file a symlink at `path` points to (written
    through, never replacing the link). Refuses a target that exists and is not a regular file (a device such as
    /dev/full, a FIFO, a directory): an atomic rename would replace it, a plain write could hang or vanish."""
    path = Path(path)
    where = f"{flag} {path}" if flag else str(path)
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        st = os.stat(target)
    except FileNotFoundError:
        if not target.parent.is_dir():
            raise ConfigError(f"{where}: the directory {target.parent} does not exist; create it first") from None
        return target
    except OSError as exc:
        raise ConfigError(f"{where}: cannot write there ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"{where}: {kind_of(st.st_mode)}, not a regular file; give a file path to write")
    return target


def not_an_input(target: str | Path, inputs: list[str | Path], flag: str) -> None:
    """Refuse to write `target` when it is one of the files this command reads (`export -o RUN/model.pt` replaced
    the model it exported; `backtest data/backtest.csv --out data` its own data) or a run's checkpoint."""
    target = Path(target)
    if not target.exists():
        return
    for source in inputs:
        try:
            same = str(source) != "-" and os.path.samefile(target, source)
        except OSError:
            same = False
        if same:
            raise ConfigError(f"{flag} {target}: that is the file this command reads; write to another file")
    run_files = target.name in ("model.pt", "last.pt") and (target.parent / "summary.json").is_file()
    if run_files:
        raise ConfigError(f"{flag} {target}: that is a run's checkpoint; write to another file")


def check_name(name: str, flag: str = "--name") -> str:
    """A run name is one path component: no separators, not '.' or '..', nothing absolute, no control characters
    (a newline in a directory name would break every one-line message that names it)."""
    seps = {"/", "\\", os.sep, *([os.altsep] if os.altsep else [])}
    control = any(ord(c) < 32 or ord(c) == 127 for c in name)
    if not name.strip() or name in (".", "..") or any(s in name for s in seps) or control:
        raise ConfigError(
            f"{flag} {name!r}: a run name is a single directory name: not '.' or '..', without '/', '\\' or "
            "control characters; put the parent directory in --project"
        )
    return name
