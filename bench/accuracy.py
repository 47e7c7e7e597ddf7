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
TUTORIAL = "--scaler minmax --norm none --calendar off --loss mse"
VISNIGHTS = "NSWMetro,NSWNthCo,NSWSthCo,NSWSthIn,NSWNthIn,QLDMetro,QLDCntrl,QLDNthCo,SAUMetro,SAUCoast,SAUInner,VICMetro,VICWstCo,VICEstCo,VICInner,WAUMetro,WAUCoast,WAUInner,OTHMetro,OTHNoMet"
# name, file, extra arguments, horizon, season: panels (global model vs one model per series) and covariates
PANELS = [
    ("aus_accommodation global", "aus_accommodation", "--id-col state --target takings", 4, 4),
    ("aus_accommodation local", "aus_accommodation", "--id-col state --target takings --local", 4, 4),
    ("visnights global", "visnights", f"--target {VISNIGHTS}", 4, 4),
    ("visnights local", "visnights", f"--target {VISNIGHTS} --local", 4, 4),
    ("elecdaily", "elecdaily", "--target demand", 14, 7),
    ("elecdaily + covariates", "elecdaily", "--target demand --future-covariates workday,temperature", 14, 7),
]


def run_one(name: str, horizon: int, season: int, extra: str, threads: int, levels: bool = True) -> dict:
    cmd = [
        sys.executable, "-m", "lstmcast", "backtest", str(DATASETS / f"{name}.csv"),
        *(["--level", "80", "--level", "95"] if levels else []),
        "--horizon", str(horizon), "--season", str(season), "--folds", "3",
        "--format", "json", "--quiet", "--threads", str(threads), *shlex.split(extra),
    ]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"name": name, "error": proc.stderr.strip()[-300:], "seconds": seconds}
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    overall = {r["model"]: r for r in rows if r["fold"] == "all" and r["series"] in ("", "all")}
    out = {"name": name, "seconds": seconds, "mase": {m: r["mase"] for m, r in overall.items()}}
    out["rel"] = {m: r["rel_mase"] for m, r in overall.items()}
    out["intervals"] = {
        m: {k: r.get(k) for k in ("coverage_80", "coverage_95", "msis_80", "msis_95")} for m, r in overall.items()
    }
    # per fold and series, for coverage pooled over every origin
    out["cover"] = [
        (r.get("coverage_80"), r.get("coverage_95")) for r in rows if r["fold"] != "all" and r["model"] == "lstmcast"
    ]
    return out


def gmean(values: list[float]) -> float:
    good = [v for v in values if v > 0 and math.isfinite(v)]
    return math.exp(sum(math.log(v) for v in good) / len(good)) if good else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", action="append", default=[], help="NAME=EXTRA CLI ARGS (repeatable)")
    ap.add_argument("--no-tutorial", action="store_true", help="skip the tutorial-recipe row")
    ap.add_argument("--only", default="", help="comma-separated series names")
    ap.add_argument("--no-panels", action="store_true", help="skip the panel and covariate rows")
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
    panels = [] if args.no_panels else [p for p in PANELS if not args.only or p[1] in args.only.split(",")]
    threads = max(1, (os.cpu_count() or 2) // args.jobs)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = {
            job: pool.submit(run_one, job[1][0], job[1][1], job[1][2], variants[job[0]], threads) for job in jobs
        }
        pfutures = {p[0]: pool.submit(run_one, p[1], p[3], p[4], p[2], threads) for p in panels}
        results = {}
        for job, f in futures.items():
            results[job] = r = f.result()
            rel = r["mase"]["lstmcast"] / r["mase"]["seasonal naive"] if "mase" in r else float("nan")
            print(f"  done {job[0]:<22} {job[1][0]:<14} relative MASE {rel:.3f}  {r['seconds']:.0f} s", file=sys.stderr)
        presults = {name: f.result() for name, f in pfutures.items()}
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
    default = next(iter(variants))
    cover = [c for (v, _), r in results.items() if v == default and "cover" in r for c in r["cover"]]
    cover += [c for r in presults.values() if "cover" in r for c in r["cover"]]
    if cover:
        c80 = sum(c[0] for c in cover if c[0] is not None) / len(cover)
        c95 = sum(c[1] for c in cover if c[1] is not None) / len(cover)
        msis = {}
        for model in ("lstmcast", "seasonal naive"):
            vals = [r["intervals"][model][k] for (v, _), r in results.items() if v == default and "intervals" in r for k in ("msis_80", "msis_95")]
            msis[model] = (sum(vals[0::2]) / max(1, len(vals[0::2])), sum(vals[1::2]) / max(1, len(vals[1::2])))
        print(f"\nIntervals over {len(cover)} series x origins: coverage 80% -> {c80:.1%}, 95% -> {c95:.1%}")
        print(f"mean MSIS (single series) 80% / 95%: lstmcast {msis['lstmcast'][0]:.2f} / {msis['lstmcast'][1]:.2f}, "
              f"seasonal naive {msis['seasonal naive'][0]:.2f} / {msis['seasonal naive'][1]:.2f}")
    if presults:
        print(f"\n{'panel / covariates':<28}{'H':>4}{'naive':>9}{'lstmcast':>10}   (geometric mean over series of MASE / MASE(seasonal naive))")
        for name, r in presults.items():
            h = next(p[3] for p in panels if p[0] == name)
            if "rel" not in r:
                print(f"{name:<28}{h:>4}  failed: {r.get('error')}")
                continue
            print(f"{name:<28}{h:>4}{r['rel']['naive']:>9.3f}{r['rel']['lstmcast']:>10.3f}   {r['seconds']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({f"{k[0]}|{k[1][0]}": v for k, v in results.items()}, indent=1))


if __name__ == "__main__":
    main()
