"""Accuracy benchmark: `lstmcast backtest` with default settings on every shared series, against baselines.

Protocol (issue 3): 3 rolling origins, step = horizon, MASE scaled by the in-sample seasonal-naive error, horizon
and season as listed in ../shared/datasets/README.md. Prints a table of MASE per series and the geometric mean
over series of MASE(model) / MASE(seasonal naive). Each backtest runs as a real CLI subprocess, two at a time
(one torch thread each) on the two cores.

    python bench/accuracy.py                      # defaults, plus the tutorial recipe for comparison
    python bench/accuracy.py --variant "big=--hidden 128" --only airpassengers,hyndsight
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"

# file, horizon, season (from the datasets README)
SINGLE = [
    ("airpassengers", 12, 12),
    ("sunspot_month", 12, 12),
    ("co2_weekly", 13, 52),
    ("hyndsight", 14, 7),
    ("jfk_temp", 24, 24),
    ("taylor", 48, 48),
]
TUTORIAL = "--scaler minmax --norm none --calendar off"


def run_one(name: str, horizon: int, season: int, extra: str, threads: int) -> dict:
    cmd = [
        sys.executable, "-m", "lstmcast", "backtest", str(DATASETS / f"{name}.csv"),
        "--horizon", str(horizon), "--season", str(season), "--folds", "3",
        "--format", "json", "--quiet", "--threads", str(threads), *shlex.split(extra),
    ]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"name": name, "error": proc.stderr.strip()[-300:], "seconds": seconds}
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    overall = {r["model"]: r for r in rows if r["fold"] == "all"}
    return {"name": name, "seconds": seconds, "mase": {m: r["mase"] for m, r in overall.items()}}


def gmean(values: list[float]) -> float:
    good = [v for v in values if v > 0 and math.isfinite(v)]
    return math.exp(sum(math.log(v) for v in good) / len(good)) if good else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", action="append", default=[], help="NAME=EXTRA CLI ARGS (repeatable)")
    ap.add_argument("--no-tutorial", action="store_true", help="skip the tutorial-recipe row")
    ap.add_argument("--only", default="", help="comma-separated series names")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    args = ap.parse_args()

    variants = {"lstmcast (defaults)": ""}
    if not args.no_tutorial:
        variants["tutorial recipe"] = TUTORIAL
    for v in args.variant:
        name, _, extra = v.partition("=")
        variants[name] = extra
    series = [s for s in SINGLE if not args.only or s[0] in args.only.split(",")]
    jobs = [(vname, s) for vname in variants for s in series]
    threads = max(1, (os.cpu_count() or 2) // args.jobs)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = {
            job: pool.submit(run_one, job[1][0], job[1][1], job[1][2], variants[job[0]], threads) for job in jobs
        }
        results = {}
        for job, f in futures.items():
            results[job] = r = f.result()
            rel = r["mase"]["lstmcast"] / r["mase"]["seasonal naive"] if "mase" in r else float("nan")
            print(f"  done {job[0]:<22} {job[1][0]:<14} relative MASE {rel:.3f}  {r['seconds']:.0f} s", file=sys.stderr)
    total = time.perf_counter() - t0

    print(f"\nMASE, 3 rolling origins (step = horizon); relative = MASE / MASE(seasonal naive); wall {total:.0f} s\n")
    header = f"{'series':<16}{'H':>4}{'naive':>9}{'snaive':>9}"
    for vname in variants:
        header += f"{vname[:22]:>24}"
    print(header)
    rel: dict[str, list[float]] = {v: [] for v in variants}
    secs: dict[str, float] = {v: 0.0 for v in variants}
    for name, h, _ in series:
        base = next((results[(v, (name, h, _))] for v in variants if "mase" in results[(v, (name, h, _))]), None)
        if base is None:
            print(f"{name:<16}{h:>4}  failed: {results[(next(iter(variants)), (name, h, _))].get('error')}")
            continue
        line = f"{name:<16}{h:>4}{base['mase']['naive']:>9.3f}{base['mase']['seasonal naive']:>9.3f}"
        for vname in variants:
            r = results[(vname, (name, h, _))]
            secs[vname] += r["seconds"]
            if "mase" not in r:
                line += f"{'error':>24}"
                print(f"  {vname} on {name}: {r['error']}", file=sys.stderr)
                continue
            m, sn = r["mase"]["lstmcast"], r["mase"]["seasonal naive"]
            rel[vname].append(m / sn)
            line += f"{m:>10.3f} ({m / sn:>5.3f}) {'*' if m < sn else ' '}  "
        print(line)
    print(f"\n{'gmean relative MASE':<38}", end="")
    for vname in variants:
        print(f"{gmean(rel[vname]):>24.3f}", end="")
    print(f"\n{'seconds (sum of backtests)':<38}", end="")
    for vname in variants:
        print(f"{secs[vname]:>24.0f}", end="")
    print("\n\n* = beats seasonal naive on that series")
    if args.json:
        args.json.write_text(json.dumps({f"{k[0]}|{k[1][0]}": v for k, v in results.items()}, indent=1))


if __name__ == "__main__":
    main()
