"""Exit statuses and the one mapping from errors to them: one line on stderr, a traceback only with --debug."""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import signal
import sys
from enum import IntEnum
from typing import Any, NoReturn

from lstmcast.cli import state
from lstmcast.errors import CheckpointError, ConfigError, DataError, LstmcastError, MainRankFailed


class ExitStatus(IntEnum):
    OK = 0
    INTERNAL = 1
    USAGE = 2
    DATA = 3
    CHECKPOINT = 4
    INTERRUPTED = 130
    TERMINATED = 143


class _Interrupted(Exception):
    pass


def _on_sigterm(signum: int, frame: Any) -> None:
    if state.session.exiting:  # already on the way out with an error line of its own
        return
    state.session.terminated = True
    raise KeyboardInterrupt


def _fail(status: ExitStatus, message: str) -> NoReturn:
    first = message.strip().splitlines()[0] if message.strip() else status.name.lower()
    rank = os.environ.get("RANK", "0")
    if rank != "0" and not first.startswith(f"rank {rank}:"):  # a worker of a distributed job says which
        first = f"rank {rank}: {first}"
    try:
        if sys.stderr is not None:  # None when started with stderr closed (2>&-): the exit code still tells
            sys.stderr.write(f"lstmcast: error: {first}\n")
            sys.stderr.flush()
    except (BrokenPipeError, OSError):
        pass
    raise SystemExit(int(status))


def _install_signal_handlers() -> None:
    """SIGTERM stops like Ctrl-C (training saves last.pt and the best model), then exits 143."""
    with contextlib.suppress(ValueError):  # not the main thread (an embedding program): leave its signals alone
        signal.signal(signal.SIGTERM, _on_sigterm)


def _reader_gone(exc: BaseException | None) -> bool:
    """A write to stdout failed because the reader went away (e.g. `| head -1`), maybe wrapped by click."""
    while exc is not None:
        if isinstance(exc, BrokenPipeError) or (isinstance(exc, OSError) and exc.errno == errno.EPIPE):
            return True
        exc = exc.__context__
    return False


def _quiet_exit() -> NoReturn:
    """Stop quietly with status 0, as a filter does when its reader has what it wanted."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's last flush cannot fail and print
    except (OSError, ValueError, AttributeError):
        pass
    raise SystemExit(0) from None


def _valid_range(param: Any) -> str:
    """'; valid: 1 or more' for an option with a declared range (what click's own message may leave out)."""
    lo, hi = getattr(param, "min", None), getattr(param, "max", None)
    if lo is None and hi is None:
        return ""
    if lo is not None and hi is not None:
        return f"; valid: {lo} to {hi}"
    return f"; valid: {lo} or more" if lo is not None else f"; valid: {hi} or less"


def _click_types(name: str) -> tuple[type, ...]:
    """The exception class `name` from click and from Typer's bundled copy of it (recent Typer vendors click)."""
    found = []
    for module in ("typer.exceptions", "typer._click.exceptions", "click.exceptions"):
        try:
            cls = getattr(importlib.import_module(module), name, None)
        except (ImportError, MemoryError):  # MemoryError: reporting an out-of-memory error must not fail itself
            continue
        if isinstance(cls, type):
            found.append(cls)
    return tuple(found)


def _status_of(kind: type[LstmcastError]) -> ExitStatus:
    """The exit status of a core error type: usage 2, data 3, checkpoint 4, anything else 1."""
    for base, status in ((ConfigError, ExitStatus.USAGE), (DataError, ExitStatus.DATA),
                         (CheckpointError, ExitStatus.CHECKPOINT)):  # fmt: skip
        if issubclass(kind, base):
            return status
    return ExitStatus.INTERNAL


def _handle(exc: BaseException) -> NoReturn:
    state.session.exiting = True  # a SIGTERM now (a launcher stopping every rank after one failed) must not interrupt
    exit_types, abort_types = _click_types("Exit"), _click_types("Abort")
    if state.session.debug and not isinstance(exc, exit_types):
        import traceback

        traceback.print_exception(exc)
    if isinstance(exc, exit_types):
        raise SystemExit(getattr(exc, "exit_code", 0))
    if isinstance(exc, abort_types) and isinstance(exc.__cause__, EOFError):  # click's reading of EOFError
        _fail(ExitStatus.INTERNAL, f"the input ended unexpectedly ({exc.__cause__ or 'EOFError'})")
    if isinstance(exc, MainRankFailed):  # rank 0 has said why the job stopped; its status is the job's
        raise SystemExit(int(_status_of(exc.kind)))
    if isinstance(exc, (*abort_types, KeyboardInterrupt, _Interrupted)):
        status = ExitStatus.TERMINATED if state.session.terminated else ExitStatus.INTERRUPTED
        if os.environ.get("RANK", "0") != "0":  # a worker of a stopped distributed job: rank 0 speaks for it
            raise SystemExit(int(status))
        _fail(status, "terminated" if status is ExitStatus.TERMINATED else "interrupted")
    if isinstance(exc, _click_types("NoArgsIsHelpError")):
        raise SystemExit(int(ExitStatus.USAGE))  # the help was printed already
    if isinstance(exc, _click_types("UsageError")):
        command = getattr(getattr(exc, "ctx", None), "command_path", "lstmcast")
        message = f"{exc.format_message()}{_valid_range(getattr(exc, 'param', None))}"  # type: ignore[attr-defined]
        _fail(ExitStatus.USAGE, f"{message} (see '{command} --help')")
    if isinstance(exc, _click_types("ClickException")):
        _fail(ExitStatus.USAGE, exc.format_message())  # type: ignore[attr-defined]
    if isinstance(exc, LstmcastError):
        _fail(_status_of(type(exc)), str(exc))
    if isinstance(exc, MemoryError):
        _fail(ExitStatus.INTERNAL, "out of memory; try a smaller --batch-size or --lookback")
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            _fail(ExitStatus.INTERNAL, f"no space left on the device{where}; free some space (files already "
                                       "saved are complete: writes go to a temporary file first)")  # fmt: skip
        _fail(ExitStatus.INTERNAL, f"{exc.strerror or exc}{where}")
    _fail(ExitStatus.INTERNAL, f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)")
