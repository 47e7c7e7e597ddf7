"""The one console for humans (stderr) and one-line notes on it."""

from __future__ import annotations

from rich.console import Console


def error_console() -> Console:
    """The one console for humans: stderr, no colour codes when redirected."""
    return Console(stderr=True)


def note(console: Console, message: str) -> None:
    """One line for humans; never wrapped, so a note stays one line in a log."""
    console.print(message, highlight=False, soft_wrap=True)
