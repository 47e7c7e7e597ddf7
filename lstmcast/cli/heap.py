"""Python's garbage collector in a console process: kept away from the million objects that torch and pandas
create on import and that live until the process ends.

Each full collection walks every object the collector tracks. Importing torch and pandas triggered four of them
(0.2 s), plotting one more (0.12 s), and the interpreter's exit walks them all again: 0.4-0.6 s of every `lstmcast
train` or `predict` went by between its last line and the end of the process. `imports()` switches the collector off
while a command's heavy modules load and then freezes what exists (gc.freeze: out of every later collection);
`leaving()` freezes again before the exit. Objects made afterwards are collected as usual.

Only a console process does this (`for_this_process`, called by entry.main): a program that runs the CLI in its own
process (the tests, an embedding application) keeps its collector as it was, since frozen objects are never freed.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

_console = False


def for_this_process() -> None:
    """This process is `lstmcast` itself and ends with the command."""
    global _console
    _console = True


@contextlib.contextmanager
def imports() -> Iterator[None]:
    """Around a command's imports of torch, pandas and lstmcast's pipeline."""
    if not _console:
        yield
        return
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def leaving() -> None:
    """Before the interpreter's exit: what exists now needs no last walk."""
    if _console:
        gc.freeze()
