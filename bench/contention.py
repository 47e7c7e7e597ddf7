"""Contention benchmark (issue 17): the same fixed training alone and next to one busy process per core.

A default run (the thread policy of defaults.train_threads) and `--threads N` (N = the cores, torch's own default)
each train airpassengers for a fixed 40 epochs (no refit, no combination: the same work every time) through the
CLI, first on a quiet machine, then while one pure-Python busy loop per core holds the CPUs. Rounds interleave the
two settings; the ratio contended / alone of each setting is the median over rounds. Run it on an otherwise idle
machine: the "alone" figures assume nothing else is running.

    python bench/contention.py            # 3 rounds
    python bench/contention.py --rounds 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "sample_data" / "airpassengers.csv"
FIXED = ["--epochs", "40", "--patience", "40", "--refit", "off", "--combine", "off", "--seed", "0", "-q"]


def train_seconds(extra: list[str]) -> float:
    """Wall time of one fixed training run through the CLI."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "lstmcast", "train", str(DATA), *FIXED, *extra, "--out", f"{tmp}/run"]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start


def busy(cores: int) -> list[subprocess.Popen[bytes]]:
    """One pure-Python busy loop per core (no threads of its own)."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    settings = {"default policy": [], f"--threads {cores}": ["--threads", str(cores)]}
    times: dict[str, dict[str, list[float]]] = {name: {"alone": [], "contended": []} for name in settings}
    for r in range(args.rounds):
        for name, extra in settings.items():
            times[name]["alone"].append(train_seconds(extra))
        loops = busy(cores)
        try:
            time.sleep(1.0)
            for name, extra in settings.items():
                times[name]["contended"].append(train_seconds(extra))
        finally:
            for p in loops:
                p.kill()
                p.wait()
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    print(f"Contention: airpassengers, 40 epochs, {cores} busy loops next to the run ({args.rounds} rounds, medians)")
    print()
    print("| setting | alone s | contended s | contended / alone |")
    print("|---|---:|---:|---:|")
    for name, t in times.items():
        alone, contended = statistics.median(t["alone"]), statistics.median(t["contended"])
        print(f"| {name} | {alone:.2f} | {contended:.2f} | {contended / alone:.2f} |")


if __name__ == "__main__":
    main()
