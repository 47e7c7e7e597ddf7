"""The state of one CLI invocation: what `main` learnt from argv and signals, read by the error mapping."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


@dataclass
class Session:
    debug: bool = False  # --debug or LSTMCAST_DEBUG: tracebacks on errors
    argv: list[str] = field(default_factory=list)  # the arguments main was given (train --nproc re-runs them)
    exiting: bool = False  # an error is being reported: a SIGTERM now must not interrupt it
    terminated: bool = False  # the KeyboardInterrupt came from SIGTERM (exit 143, not 130)


session = Session(debug=bool(os.environ.get("LSTMCAST_DEBUG")))
