"""Could early stopping stop sooner on short series? Validation curves of default single-series trainings.

A default run on a short series spends its last `patience` epochs (a fifth of the epochs: 80 of 400) confirming
that the validation loss no longer improves; on airpassengers that is half of the first fit. This script trains
short series alone with the defaults and no early stopping (patience = epochs), records each epoch's validation
loss, and replays early stopping on the recorded curves for smaller patiences: training is deterministic and its
epochs do not depend on the patience (constant rate), so the replay is what a run with that patience would choose.
It reports how often the chosen best epoch changes and by how much the validation loss at the chosen epoch rises.

Series: airpassengers and hyndsight from ../shared/datasets, and 10 series of each M3 subset trained alone (every
tenth id; the M3 horizons), seeds 0, 1, 2; the series too short for a single-series default are skipped.

    python bench/patience.py                 # about 3 minutes on two cores
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
M3_HORIZONS = {"yearly": 6, "quarterly": 8, "monthly": 18, "other": 8}
PATIENCES = (10, 20, 30, 40, 50, 60)


def series_files(folder: Path) -> list[tuple[str, int | None]]:
    import pandas as pd

    files: list[tuple[str, int | None]] = []
    for subset, horizon in M3_HORIZONS.items():
        frame = pd.read_csv(DATASETS / "m3" / f"{subset}.csv")
        ids = sorted(frame["id"].unique())
        for sid in ids[:: max(1, len(ids) // 10)][:10]:
            path = folder / f"{subset}-{sid}.csv"
            frame[frame["id"] == sid].drop(columns="id").to_csv(path, index=False)
            files.append((str(path), horizon))
    return files + [(str(DATASETS / f"{name}.csv"), None) for name in ("airpassengers", "hyndsight")]


def curve(job: tuple[str, int | None, int]) -> dict[str, Any]:
    """One training without early stopping: its validation loss per epoch and the default patience."""
    path, horizon, seed = job
    import torch

    torch.set_num_threads(1)
    from lstmcast.config import DataConfig, RunConfig, TrainConfig, WindowConfig
    from lstmcast.errors import LstmcastError
    from lstmcast.io.data import load_series
    from lstmcast.training.fitting import prepare
    from lstmcast.training.loop import fit

    cfg = RunConfig(window=WindowConfig(horizon=horizon), train=TrainConfig(seed=seed))
    try:
        prep = prepare(load_series(path, DataConfig(target="value")), cfg)
    except LstmcastError as exc:
        return {"path": path, "seed": seed, "skipped": str(exc).split(":")[-1].strip()[:80]}
    rc = prep.config
    endless = replace(rc, train=replace(rc.train, patience=rc.train.epochs + 1, refit="off"))
    history = fit(prep.windows, endless).history
    return {"path": path, "seed": seed, "epochs": rc.train.epochs, "patience": rc.train.patience,
            "val": [h.val_loss for h in history]}  # fmt: skip


def stops(val: list[float], patience: int) -> tuple[int, int]:
    """(best epoch, last epoch) of early stopping with `patience` on a recorded validation curve (loop.fit's rule)."""
    best, best_epoch, bad = math.inf, 0, 0
    for epoch, v in enumerate(val, 1):
        if v < best:
            best, best_epoch, bad = v, epoch, 0
        else:
            bad += 1
            if bad >= patience:
                return best_epoch, epoch
    return best_epoch, len(val)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, help="also write the curves here")
    args = ap.parse_args()
    if not (DATASETS / "m3").is_dir():
        print(f"needs {DATASETS}/m3 (the shared datasets)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [(p, h, seed) for p, h in series_files(Path(tmp)) for seed in (0, 1, 2)]
        with mp.get_context("spawn").Pool(2) as pool:
            runs = pool.map(curve, jobs)
    if args.json:
        args.json.write_text(json.dumps(runs))
    done = [r for r in runs if "val" in r]
    print(f"{len(done)} trainings ({len(runs) - len(done)} skipped: too short for a single-series default); "
          f"default patience {sorted({r['patience'] for r in done})}")  # fmt: skip
    print("\n| patience | same best epoch as the default | epochs of the first fit, of the default's | val loss at the "
          "chosen epoch where it differs (median / max rise) |\n|---:|---:|---:|---:|")  # fmt: skip
    for patience in PATIENCES:
        same, rises, epochs, default_epochs = 0, [], 0, 0
        for r in done:
            base_best, base_stop = stops(r["val"], r["patience"])
            best, stop = stops(r["val"], min(patience, r["patience"]))
            epochs, default_epochs = epochs + stop, default_epochs + base_stop
            if best == base_best:
                same += 1
            else:
                rises.append(r["val"][best - 1] / r["val"][base_best - 1] - 1)
        rise = f"+{100 * sorted(rises)[len(rises) // 2]:.0f} % / +{100 * max(rises):.0f} %" if rises else "-"
        print(f"| {patience} | {same} of {len(done)} | {epochs / default_epochs:.2f} | {rise} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
