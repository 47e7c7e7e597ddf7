"""The console entry point (`lstmcast`, `python -m lstmcast`). It imports nothing heavy itself, so that a Ctrl-C
that comes while the command-line modules still import (the first few tenths of a second) ends as any other
interruption does: one line on stderr and exit code 130, not a KeyboardInterrupt traceback."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from lstmcast.cli import heap
        from lstmcast.cli import main as cli_main
    except KeyboardInterrupt:
        _interrupted()
    heap.for_this_process()
    try:
        cli_main()
    except KeyboardInterrupt:  # a second Ctrl-C while the first was being reported
        _interrupted()
    finally:
        heap.leaving()


def _interrupted() -> None:
    try:
        if sys.stderr is not None:
            sys.stderr.write("lstmcast: error: interrupted\n")
            sys.stderr.flush()
    except OSError:
        pass
    raise SystemExit(130) from None
