"""Pickled objects that would run code when unpickled: stand-ins for what a hostile model file carries."""

from __future__ import annotations

import os
from pathlib import Path


class OpensAFile:
    """Unpickling this runs open(marker, 'w'): it stands for any code a hostile file could run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


class RunsAShell:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))
