"""Training progress for humans: a rich bar on a terminal, plain lines every few seconds in a log."""

from __future__ import annotations

import math
import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from lstmcast.ui.console import note


class TrainingProgress:
    """Progress over epochs with train and validation loss, the best validation so far, the patience count and an
    ETA; the refit (training on every window) is its own phase. Use as a context manager.

    On a terminal: a rich bar. Otherwise (a log, a pipe, CI): one plain line every `every` seconds (and at the
    first and last epoch of each phase), so a redirected stderr still shows progress."""

    def __init__(
        self, console: Console, epochs: int | None = None, enabled: bool = True, *, live: bool | None = None,
        every: float = 5.0,
    ) -> None:  # fmt: skip
        self.enabled = enabled
        self.console = console
        self.live = console.is_terminal if live is None else live
        self.every = every
        self.phase = "fit"
        self._reset(epochs)
        self.progress = Progress(
            TextColumn("[bold]{task.fields[phase]}"),
            MofNCompleteColumn(),
            BarColumn(),
            TextColumn("train {task.fields[train]}  val {task.fields[val]}  best {task.fields[best]}  "
                       "patience {task.fields[bad]}"),  # fmt: skip
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
            disable=not (enabled and self.live),
        )
        self.task = self.progress.add_task(
            "train", total=epochs, phase="epoch", train="-", val="-", best="-", bad="-"
        )

    def _reset(self, epochs: int | None) -> None:
        self.total = epochs
        self.best: tuple[float, int] | None = None  # (validation loss, epoch)
        self.bad = 0
        self.seconds = 0.0
        self.done = 0
        self.last_line = -math.inf

    def __enter__(self) -> TrainingProgress:
        self.started = False  # the bar appears with the first epoch, not while data loads
        return self

    def __exit__(self, *exc: object) -> None:
        if self.started:
            self.progress.stop()

    def start_phase(self, name: str, epochs: int) -> None:
        """A new phase (the refit): its own bar or lines, its own count of epochs."""
        self.phase = name
        self._reset(epochs)
        if self.enabled and self.live:
            self.task = self.progress.add_task(name, total=epochs, phase=name, train="-", val="-", best="-", bad="-")

    def update(
        self, epoch: int, train_loss: float, val_loss: float, total: int | None = None, *, improved: bool = False,
        patience: int = 0, seconds: float = 0.0,
    ) -> None:  # fmt: skip
        """One epoch ended: `improved` whether it is the best so far, `patience` the early-stopping patience."""
        if not self.enabled:
            return
        total = total or self.total
        self.total = total
        if improved and math.isfinite(val_loss):
            self.best, self.bad = (val_loss, epoch), 0
        elif self.best is not None:
            self.bad += 1
        self.seconds += seconds
        self.done += 1
        best = "-" if self.best is None else f"{self.best[0]:.4f} (epoch {self.best[1]})"
        bad = f"{self.bad}/{patience}" if patience and self.phase == "fit" else "-"
        if self.live:
            if not self.started:
                self.progress.start()
                self.started = True
            val = "-" if math.isnan(val_loss) else f"{val_loss:.4f}"
            self.progress.update(
                self.task, completed=epoch, total=total, train=f"{train_loss:.4f}", val=val, best=best, bad=bad
            )
            return
        now = time.monotonic()
        last = total is not None and epoch >= total
        if self.done > 1 and not last and now - self.last_line < self.every:
            return
        self.last_line = now
        parts = [f"{self.phase} epoch {epoch}" + (f"/{total}" if total else ""), f"train {train_loss:.4f}"]
        if not math.isnan(val_loss):
            parts.append(f"val {val_loss:.4f}")
        if self.best is not None and self.phase == "fit":
            parts += [f"best {best}", f"patience {bad}"]
        if total and self.done and not last and self.seconds > 0:  # no time spent: nothing left to wait for
            eta = self.seconds / self.done * (total - epoch)
            parts.append(f"ETA {'<= ' if self.phase == 'fit' else ''}{_duration(eta)}")
        note(self.console, "  ".join(parts))


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
