"""Resuming a run from its last.pt: the resume state, what is left to train, and a check that the data is the run's.

last.pt stores no data (only the last `lookback` rows), so a resumed run reads DATA again; it must be the data the
run was trained on (same series, rows and last timestamps), since the scalers and windows are rebuilt from it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lstmcast.checkpoint import format as ckpt_io
from lstmcast.config import RunConfig
from lstmcast.errors import CheckpointError, ConfigError, DataError
from lstmcast.files import regular_input
from lstmcast.io.data import Series

STATE_KEYS = ("epoch", "epochs", "best_val", "best_epoch", "bad_epochs", "optimizer", "best_state", "rng", "history")


@dataclass
class ResumePoint:
    run_dir: Path
    config: RunConfig  # the run's own, with the epochs (and patience, threads, device) asked for now
    state: dict[str, Any]  # train.fit's `resume`: the stored train_state plus the last epoch's "weights"
    done_epochs: int
    n_rows: list[int]
    last_times: list[Any]
    ids: list[str | None]
    nothing_to_do: str | None = None  # why training would not run (then do not train)


def load_point(
    run_dir: str | Path,
    *,
    epochs: int | None = None,
    patience: int | None = None,
    threads: int | None = None,
    device: str | None = None,
) -> ResumePoint:
    """Read run_dir/last.pt; `epochs` above the stored count extends a run (default: the planned epochs)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"--resume {run_dir}: not a run directory (give the directory that holds last.pt)")
    last = run_dir / "last.pt"
    if not os.path.lexists(last):
        if (run_dir / "summary.json").is_file():
            raise CheckpointError(f"--resume {run_dir}: no last.pt: that run saved no model (see its summary.json)")
        raise CheckpointError(f"--resume {run_dir}: no last.pt in this directory; is it a run directory?")
    regular_input(last, CheckpointError, "it must be the checkpoint training wrote")  # not a FIFO, device or loop
    ckpt, state = ckpt_io.load_resumable(last)
    if state is None:
        raise CheckpointError(
            f"{last}: no resume state in it (written by an older lstmcast, or the run stopped on a NaN loss "
            "or before its first epoch ended); train a new run instead"
        )
    missing = [k for k in STATE_KEYS if k not in state]
    if missing or not isinstance(state["history"], list) or not isinstance(state["best_state"], dict):
        raise CheckpointError(f"{last}: malformed resume state (missing {', '.join(missing) or 'nothing'})")
    if set(state["best_state"]) != set(ckpt.model.state_dict()):
        raise CheckpointError(f"{last}: the resume state's best weights do not match the model")
    done, bad = int(state["epoch"]), int(state["bad_epochs"])
    tc = ckpt.config.train
    new = replace(
        tc,
        epochs=epochs if epochs is not None else int(state["epochs"]),
        patience=patience if patience is not None else tc.patience,
        threads=threads if threads is not None else tc.threads,
        device=device if device is not None else tc.device,
    )
    cfg = replace(ckpt.config, train=new)
    why = None
    if new.epochs <= done:
        why = f"{run_dir} has trained {done} epochs already; nothing to do (pass --epochs above {done} to extend it)"
    elif bad >= new.patience:
        why = (
            f"{run_dir} stopped early at epoch {done} (no validation gain for {bad} epochs); nothing to do "
            f"(pass --patience above {bad} to train on)"
        )
    full = dict(state) | {"weights": ckpt.model.state_dict()}
    return ResumePoint(run_dir, cfg, full, done, list(ckpt.n_rows), [s.last_time for s in ckpt.stored], ckpt.ids, why)


def check_same_data(point: ResumePoint, panel: list[Series], source: str) -> None:
    """The data given again must be the run's: same series, row counts and last timestamps."""
    now = ([s.id for s in panel], [len(s) for s in panel], [s.last_time for s in panel])
    then = (point.ids, point.n_rows, point.last_times)
    if now != then:
        what = "series" if now[0] != then[0] else "rows" if now[1] != then[1] else "last timestamps"
        raise DataError(
            f"{source}: not the data run {point.run_dir} was trained on (its {what} differ: "
            f"{sum(then[1])} rows ending {then[2][0]} then, {sum(now[1])} ending {now[2][0]} now); "
            "--resume needs the same DATA"
        )
