"""M3 competition benchmark (issue 13): lstmcast with default settings against statsforecast, one origin per series.

Protocol: the competition's own holdout. Each subset's history (../shared/datasets/m3/X.csv) is forecast H steps
ahead and scored against X_future.csv: yearly H=6 (m=1), quarterly H=8 (m=4), monthly H=18 (m=12), other H=8 (m=1).
Per subset: sMAPE (M3 definition, mean over series of mean 200 |y - f| / (|y| + |f|)), MASE (in-sample scale: the
seasonal naive with the subset's season m, lag 1 when m=1) and relative MASE, the geometric mean over series of
MASE / MASE(seasonal naive forecast), plus the wall time of fit + predict for each method.

lstmcast runs through its CLI as a user would: `lstmcast train X.csv --id-col id --target value --horizon H
--seed S --out RUN -q`, then `lstmcast predict -m RUN` (CSV on stdout), once per seed. `other` has no dates (an
integer `step` column, which lstmcast's --time-col rejects), so it runs without a time column: rows in file order.
Series lstmcast does not forecast are counted and listed; the comparison table scores every method on the series
lstmcast forecast (with every seed), and a second table scores the reference methods on all series.

Reference methods: statsforecast's AutoETS, AutoTheta, SeasonalNaive and Naive (season_length = m, n_jobs=1, an
integer time index with freq=1), one method at a time so each gets its own wall time. statsforecast pins pandas < 3,
so it can live in a separate interpreter (--stats-python; `make bench-m3` builds .venv/bench from the `bench` extra).
Its forecasts are kept in OUT/stats/ and reused, marked "cached", by later runs with --skip-stats.

    make bench-m3                                          # all subsets, seeds 0,1,2, statsforecast side by side
    python bench/m3.py --subsets yearly,other --seeds 0 --skip-stats
    python bench/m3.py --skip-stats --lstmcast-args "--hidden 32" --out bench/out/m3-h32
    python bench/m3.py --lstmcast "env PYTHONPATH=/elsewhere python -m lstmcast"

Torch threads are whatever the environment says (OMP_NUM_THREADS is passed through as is).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO.parent / "shared" / "datasets"
# subset: horizon, season (from the datasets README)
SUBSETS = {"yearly": (6, 1), "quarterly": (8, 4), "monthly": (18, 12), "other": (8, 1)}
STATS_METHODS = ("AutoETS", "AutoTheta", "SeasonalNaive", "Naive")
REFERENCES = ("AutoETS", "AutoTheta")  # the ones lstmcast is measured against


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- data and scores -----------------------------------------------------------------------------------------------


def read_long(path: Path) -> dict[str, np.ndarray]:
    """id -> values in file order (the files are sorted by time within each series)."""
    frame = pd.read_csv(path, dtype={"id": str})
    return {str(k): g["value"].to_numpy(dtype=float) for k, g in frame.groupby("id", sort=False)}


def seasonal_naive(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    m = season if len(history) >= season else 1
    last = history[-m:]
    return np.array([last[i % m] for i in range(horizon)])


def mase_scale(history: np.ndarray, season: int) -> float:
    m = season if len(history) > season else 1
    return float(np.mean(np.abs(history[m:] - history[:-m]))) if len(history) > m else float("nan")


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    denom = np.abs(actual) + np.abs(forecast)
    terms = np.where(denom > 0, 200.0 * np.abs(actual - forecast) / np.where(denom > 0, denom, 1.0), 0.0)
    return float(np.mean(terms))


def gmean(values: list[float]) -> tuple[float, int]:
    """Geometric mean of the positive finite values, and how many were left out."""
    good = [v for v in values if v > 0 and math.isfinite(v)]
    value = math.exp(sum(math.log(v) for v in good) / len(good)) if good else float("nan")
    return value, len(values) - len(good)


def score(
    ids: list[str],
    forecasts: dict[str, np.ndarray],
    history: dict[str, np.ndarray],
    future: dict[str, np.ndarray],
    season: int,
) -> dict[str, Any]:
    """sMAPE, MASE and relative MASE (geometric mean of MASE / MASE(seasonal naive)) over `ids`."""
    smapes, mases, rels = [], [], []
    for i in ids:
        y, f, h = future[i], forecasts[i], history[i]
        mae = float(np.mean(np.abs(y - f)))
        snaive_mae = float(np.mean(np.abs(y - seasonal_naive(h, len(y), season))))
        smapes.append(smape(y, f))
        mases.append(mae / mase_scale(h, season))
        rels.append(mae / snaive_mae if snaive_mae > 0 else float("nan"))
    rel, dropped = gmean(rels)
    finite_mase = [v for v in mases if math.isfinite(v)]
    return {
        "series": len(ids),
        "smape": float(np.mean(smapes)) if smapes else float("nan"),
        "mase": float(np.mean(finite_mase)) if finite_mase else float("nan"),
        "rel_mase": rel,
        "rel_mase_left_out": dropped,  # series with a zero or undefined ratio (exact forecast, flat holdout)
        "_per_series": (rels, smapes),  # for the pooled M3 row; not written out
    }


def pooled(scores: list[dict[str, Any]]) -> dict[str, Any]:
    """One score over the series of several subsets (relative MASE and sMAPE; MASE scales differ by subset)."""
    rels = [v for s in scores for v in s["_per_series"][0]]
    smapes = [v for s in scores for v in s["_per_series"][1]]
    return {
        "series": len(rels),
        "smape": float(np.mean(smapes)),
        "rel_mase": gmean(rels)[0],
        "_per_series": (rels, smapes),
    }


def public(obj: Any) -> Any:
    """The report without the private (underscore) keys."""
    if isinstance(obj, dict):
        return {k: public(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, list):
        return [public(v) for v in obj]
    return obj


# --- statsforecast (may run in another interpreter) ----------------------------------------------------------------


def stats_worker(spec: dict[str, Any]) -> None:
    """Forecast one subset with each statsforecast method; write OUT csv (id, step, one column per method)."""
    import statsforecast
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, AutoTheta, Naive, SeasonalNaive

    m, h = spec["season"], spec["horizon"]
    frame = pd.read_csv(spec["history"], dtype={"id": str})
    df = pd.DataFrame(
        {"unique_id": frame["id"], "ds": frame.groupby("id", sort=False).cumcount(), "y": frame["value"].astype(float)}
    )
    makers = {
        "AutoETS": lambda: AutoETS(season_length=m),
        "AutoTheta": lambda: AutoTheta(season_length=m),
        "SeasonalNaive": lambda: SeasonalNaive(season_length=m),
        "Naive": lambda: Naive(),
    }
    out: pd.DataFrame | None = None
    seconds, errors = {}, {}
    for name in spec["methods"]:
        t0 = time.perf_counter()
        try:
            fc = StatsForecast(models=[makers[name]()], freq=1, n_jobs=1).forecast(df=df, h=h)
        except Exception as e:  # one method failing must not lose the others
            errors[name] = f"{type(e).__name__}: {e}"[:500]
            continue
        seconds[name] = time.perf_counter() - t0
        if "unique_id" not in fc.columns:
            fc = fc.reset_index()  # statsforecast < 2 keeps the id in the index
        fc = fc.rename(columns={"unique_id": "id"})
        fc["step"] = fc.groupby("id", sort=False).cumcount()
        fc = fc[["id", "step", name]]
        out = fc if out is None else out.merge(fc, on=["id", "step"], how="outer")
    if out is not None:
        out.to_csv(spec["out"], index=False)
    print(json.dumps({"seconds": seconds, "errors": errors, "version": statsforecast.__version__}))


def run_stats(subset: str, args: argparse.Namespace, stats_dir: Path) -> dict[str, Any]:
    horizon, season = SUBSETS[subset]
    spec = {
        "history": str(args.datasets / "m3" / f"{subset}.csv"),
        "horizon": horizon,
        "season": season,
        "methods": list(STATS_METHODS),
        "out": str(stats_dir / f"{subset}.csv"),
    }
    t0 = time.perf_counter()
    proc = subprocess.run(
        [args.stats_python, str(Path(__file__).resolve()), "--stats-worker", json.dumps(spec)],
        capture_output=True,
        text=True,
    )
    (stats_dir / f"{subset}.log").write_text(proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(
            f"statsforecast failed on {subset} (log: {stats_dir / f'{subset}.log'}):\n{proc.stderr[-2000:]}"
        )
    meta = json.loads(proc.stdout.strip().splitlines()[-1])
    meta.update(subset=subset, wall=time.perf_counter() - t0, commit=git_stamp(), when=now())
    (stats_dir / f"{subset}.json").write_text(json.dumps(meta, indent=1))
    return meta


def read_stats(subset: str, stats_dir: Path, horizon: int) -> dict[str, dict[str, np.ndarray]]:
    frame = pd.read_csv(stats_dir / f"{subset}.csv", dtype={"id": str}).sort_values(["id", "step"])
    out: dict[str, dict[str, np.ndarray]] = {}
    for method in [c for c in frame.columns if c not in ("id", "step")]:
        out[method] = {
            str(k): g[method].to_numpy(dtype=float)
            for k, g in frame.groupby("id", sort=False)
            if len(g) == horizon and g[method].notna().all()
        }
    return out


# --- lstmcast through its CLI --------------------------------------------------------------------------------------


def run_lstmcast(subset: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    horizon, _ = SUBSETS[subset]
    run_dir = args.out / "runs" / f"{subset}-seed{seed}"
    if run_dir.exists():
        subprocess.run(["rm", "-rf", str(run_dir)], check=True)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    data = args.datasets / "m3" / f"{subset}.csv"
    train = [*args.lstmcast, "train", str(data), "--id-col", "id", "--target", "value", "--horizon", str(horizon),
             "--seed", str(seed), "--out", str(run_dir), "-q", *shlex.split(args.lstmcast_args)]  # fmt: skip
    predict = [*args.lstmcast, "predict", "-m", str(run_dir)]
    # cwd: the output folder, so `python -m lstmcast` imports what the command says, not ./lstmcast by accident
    t0 = time.perf_counter()
    tp = subprocess.run(train, capture_output=True, text=True, cwd=args.out)
    t_train = time.perf_counter() - t0
    result: dict[str, Any] = {"seed": seed, "train_cmd": shlex.join(train), "train_seconds": t_train}
    if tp.returncode != 0:
        result.update(error=f"train exit {tp.returncode}: {tp.stderr.strip()[-1000:]}", seconds=t_train)
        return result
    t1 = time.perf_counter()
    pp = subprocess.run(predict, capture_output=True, text=True, cwd=args.out)
    result.update(predict_seconds=time.perf_counter() - t1, seconds=time.perf_counter() - t0)
    result["stderr"] = (tp.stderr + pp.stderr).strip()[-2000:]
    if pp.returncode != 0:
        result["error"] = f"predict exit {pp.returncode}: {pp.stderr.strip()[-1000:]}"
        return result
    path = args.out / "forecasts" / f"lstmcast-{subset}-seed{seed}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(pp.stdout)
    result["forecast_csv"] = str(path)
    return result


def read_lstmcast(path: Path, future_steps: dict[str, list[str]]) -> tuple[dict[str, np.ndarray], dict[str, str], int]:
    """id -> forecast, id -> why it is unusable, and how many series' time stamps differ from the holdout's."""
    frame = pd.read_csv(path, dtype=str)
    id_col = "id" if "id" in frame.columns else frame.columns[0]
    fc_col = "forecast" if "forecast" in frame.columns else frame.columns[-1]
    time_col = next((c for c in frame.columns if c not in (id_col, fc_col)), None)
    good, bad, shifted = {}, {}, 0
    for k, g in frame.groupby(id_col, sort=False):
        values = pd.to_numeric(g[fc_col], errors="coerce").to_numpy(dtype=float)
        expected = future_steps.get(str(k))
        if expected is None:
            continue
        if len(values) < len(expected) or not np.isfinite(values[: len(expected)]).all():
            bad[str(k)] = f"{len(values)} values, {int(np.isfinite(values).sum())} finite"
            continue
        good[str(k)] = values[: len(expected)]
        if time_col is not None and not same_times(list(g[time_col])[: len(expected)], expected):
            shifted += 1
    return good, bad, shifted


def same_times(got: list[str], expected: list[str]) -> bool:
    if [str(g).strip() for g in got] == [str(e).strip() for e in expected]:
        return True
    try:  # the same instants written differently (e.g. with a time of day)
        parsed = [pd.to_datetime(pd.Series(v, dtype=str), format="ISO8601") for v in (got, expected)]
    except (ValueError, TypeError):
        return False
    return bool((parsed[0] == parsed[1]).all())


# --- report --------------------------------------------------------------------------------------------------------


def git_stamp() -> str:
    def git(*a: str) -> str:
        return subprocess.run(["git", *a], capture_output=True, text=True, cwd=REPO).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def now() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def markdown(report: dict[str, Any]) -> str:
    seeds = report["seeds"]
    lines = [
        f"M3 competition holdout, one origin per series; commit {report['commit']}, {report['when']}",
        f"command: `{report['command']}`",
        f"lstmcast: `{report['lstmcast']}`" + (f" + `{report['lstmcast_args']}`" if report["lstmcast_args"] else ""),
        f"statsforecast {report.get('statsforecast_version') or '-'}"
        + (" (cached results of an earlier run: " + report["stats_cached"] + ")" if report.get("stats_cached") else ""),
        "",
        "Relative MASE: geometric mean over series of MASE / MASE(seasonal naive); sMAPE as in M3. Every method is "
        "scored on the series lstmcast forecast (with every seed). lstmcast: median of seeds "
        f"{','.join(map(str, seeds))} (spread = max - min); seconds: fit + predict wall time (lstmcast: median).",
        "",
        "| subset (H) | series forecast | lstmcast rel. MASE (spread) | AutoETS | AutoTheta | sNaive "
        "| lstmcast sMAPE | AutoETS sMAPE | AutoTheta sMAPE | sNaive sMAPE | lstmcast s | AutoETS s | AutoTheta s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = list(report["subsets"].items()) + ([("M3, pooled", report["pooled"])] if "pooled" in report else [])
    for name, s in rows:
        c, ls = s["common"], s["lstmcast_summary"]
        secs = s["stats_seconds"]
        label = name if s["horizon"] == "-" else f"{name} ({s['horizon']})"
        lines.append(
            f"| {label} | {s['forecast']:,} of {s['total']:,} "
            f"| {fmt(ls.get('rel_mase'))} ({fmt(ls.get('rel_mase_spread'))}) "
            + "".join(f"| {fmt(c.get(m, {}).get('rel_mase'))} " for m in (*REFERENCES, "sNaive"))
            + f"| {fmt(ls.get('smape'), 2)} "
            + "".join(f"| {fmt(c.get(m, {}).get('smape'), 2)} " for m in (*REFERENCES, "sNaive"))
            + f"| {fmt(ls.get('seconds'), 0)} "
            + "".join(f"| {fmt(secs.get(m), 0)} " for m in REFERENCES)
            + "|"
        )
    lines += ["", "Per seed (lstmcast on the series it forecast with that seed):", "",
              "| subset | seed | series forecast | rel. MASE | sMAPE | MASE | train s | predict s |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for name, s in report["subsets"].items():
        for r in s["lstmcast"]:
            if "scores" not in r:
                lines.append(
                    f"| {name} | {r['seed']} | 0 of {s['total']:,} | error: {r.get('error', '')[:80]} | | | | |"
                )
                continue
            sc = r["scores"]
            lines.append(
                f"| {name} | {r['seed']} | {sc['series']:,} of {s['total']:,} | {fmt(sc['rel_mase'])} "
                f"| {fmt(sc['smape'], 2)} | {fmt(sc['mase'])} | {fmt(r['train_seconds'], 0)} "
                f"| {fmt(r.get('predict_seconds'), 0)} |"
            )
    methods = ["sNaive", *STATS_METHODS]
    lines += ["", "Reference methods on all series (rel. MASE / sMAPE / MASE):", "",
              "| subset | series | " + " | ".join(methods) + " |",
              "|---|---:|" + "---:|" * len(methods)]  # fmt: skip
    for name, s in rows:
        cells = []
        for m in methods:
            a = s["all"].get(m)
            cells.append(f"{fmt(a['rel_mase'])} / {fmt(a['smape'], 2)} / {fmt(a.get('mase'))}" if a else "-")
        lines.append(f"| {name} | {s['total']:,} | " + " | ".join(cells) + " |")
    missing = [f"{n}: {len(s['missing'])} (history lengths {s['missing_lengths']})"
               for n, s in report["subsets"].items() if s["missing"]]  # fmt: skip
    if missing:
        lines += ["", f"Series lstmcast did not forecast (with some seed): {'; '.join(missing)}; ids in missing/."]
    return "\n".join(lines) + "\n"


def pooled_row(report: dict[str, Any]) -> dict[str, Any]:
    """Every selected subset together: the comparison set of each, all series for the references."""
    subsets = list(report["subsets"].values())
    row: dict[str, Any] = {"horizon": "-", "total": sum(s["total"] for s in subsets)}
    row["forecast"] = sum(s["forecast"] for s in subsets)
    row["common"] = {m: pooled([s["common"][m] for s in subsets]) for m in subsets[0]["common"] if all(m in s["common"] for s in subsets)}  # fmt: skip
    row["all"] = {m: pooled([s["all"][m] for s in subsets]) for m in subsets[0]["all"] if all(m in s["all"] for s in subsets)}  # fmt: skip
    secs = [s["stats_seconds"] for s in subsets]
    row["stats_seconds"] = {m: sum(x[m] for x in secs) for m in REFERENCES if all(m in x for x in secs)}
    per_seed = []
    for seed in report["seeds"]:
        runs = [next((r for r in s["lstmcast"] if r["seed"] == seed and "scores_common" in r), None) for s in subsets]
        if all(runs):
            per_seed.append((pooled([r["scores_common"] for r in runs]), sum(r["seconds"] for r in runs)))
    row["lstmcast"] = []
    row["lstmcast_summary"] = {}
    if per_seed:
        rels = [p["rel_mase"] for p, _ in per_seed]
        row["lstmcast_summary"] = {
            "rel_mase": statistics.median(rels), "rel_mase_spread": max(rels) - min(rels),
            "smape": statistics.median(p["smape"] for p, _ in per_seed),
            "seconds": statistics.median(t for _, t in per_seed),
        }  # fmt: skip
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", type=Path, default=DATASETS, help="folder holding m3/ (default: %(default)s)")
    ap.add_argument("--subsets", default=",".join(SUBSETS), help="comma-separated: yearly,quarterly,monthly,other")
    ap.add_argument("--seeds", default="0", help="comma-separated lstmcast seeds, e.g. 0,1,2")
    ap.add_argument("--skip-stats", action="store_true", help="no statsforecast; reuse OUT/stats/ from a full run")
    ap.add_argument("--stats-python", help="interpreter with statsforecast (default: this one, else .venv/bench)")
    ap.add_argument("--lstmcast", default=None, help="command that runs lstmcast (default: this python -m lstmcast)")
    ap.add_argument("--lstmcast-args", default="", help='extra `lstmcast train` options, e.g. "--hidden 32"')
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "m3", help="output folder")
    ap.add_argument("--stats-worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stats_worker:
        stats_worker(json.loads(args.stats_worker))
        return

    command = shlex.join(["python", *sys.argv])
    subsets = [s.strip() for s in args.subsets.split(",") if s.strip()]
    unknown = [s for s in subsets if s not in SUBSETS]
    if unknown:
        ap.error(f"unknown subsets {unknown}; choose from {list(SUBSETS)}")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    args.lstmcast = shlex.split(args.lstmcast) if args.lstmcast else [sys.executable, "-m", "lstmcast"]
    args.out = args.out.resolve()
    args.datasets = args.datasets.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    stats_dir = args.out / "stats"
    stats_dir.mkdir(exist_ok=True)
    if not args.skip_stats and not args.stats_python:
        try:
            import statsforecast  # noqa: F401

            args.stats_python = sys.executable
        except ImportError:
            bench_python = REPO / ".venv" / "bench" / "bin" / "python"
            if not bench_python.exists():
                ap.error("statsforecast is not installed here: `make bench-m3`, pip install '.[bench]', "
                         "--stats-python PY or --skip-stats")  # fmt: skip
            args.stats_python = str(bench_python)

    report: dict[str, Any] = {
        "commit": git_stamp(), "when": now(), "command": command, "lstmcast": shlex.join(args.lstmcast),
        "lstmcast_args": args.lstmcast_args, "seeds": seeds, "datasets": str(args.datasets),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "subsets": {},
    }  # fmt: skip
    cached = []
    t_start = time.perf_counter()
    for subset in subsets:
        horizon, season = SUBSETS[subset]
        history = read_long(args.datasets / "m3" / f"{subset}.csv")
        future = read_long(args.datasets / "m3" / f"{subset}_future.csv")
        fut_frame = pd.read_csv(args.datasets / "m3" / f"{subset}_future.csv", dtype=str)
        fut_times = {str(k): list(g.iloc[:, 1]) for k, g in fut_frame.groupby("id", sort=False)}
        ids = [i for i in history if i in future and len(future[i]) == horizon]
        log(f"{subset}: {len(ids)} series, H={horizon}, m={season}")

        # reference methods
        stats_meta: dict[str, Any] = {}
        if not args.skip_stats:
            log(f"  statsforecast {', '.join(STATS_METHODS)} ...")
            stats_meta = run_stats(subset, args, stats_dir)
            log("  " + ", ".join(f"{m} {s:.0f} s" for m, s in stats_meta["seconds"].items())
                + (f"; errors: {stats_meta['errors']}" if stats_meta["errors"] else ""))  # fmt: skip
        elif (stats_dir / f"{subset}.json").exists():
            stats_meta = json.loads((stats_dir / f"{subset}.json").read_text())
            stats_meta["cached"] = True
            cached.append(f"{subset}: {stats_meta.get('commit')}, {stats_meta.get('when')}")
            log(f"  statsforecast: cached results from {stats_meta.get('when')}")
        else:
            log("  statsforecast: skipped, nothing cached in " + str(stats_dir))
        methods: dict[str, dict[str, np.ndarray]] = {"sNaive": {i: seasonal_naive(history[i], horizon, season) for i in ids}}  # fmt: skip
        if stats_meta:
            methods.update(read_stats(subset, stats_dir, horizon))
            report["statsforecast_version"] = stats_meta.get("version")

        # lstmcast, once per seed
        runs = []
        for seed in seeds:
            log(f"  lstmcast seed {seed} ...")
            r = run_lstmcast(subset, seed, args)
            if "forecast_csv" in r:
                good, bad, shifted = read_lstmcast(Path(r["forecast_csv"]), fut_times)
                r["forecast_ids"] = sorted(good)
                r["unusable"] = bad
                r["times_differ"] = shifted
                r["scores"] = score(sorted(good), good, history, future, season)
                r["_forecasts"] = good
                log(f"    {len(good)} of {len(ids)} series, relative MASE {r['scores']['rel_mase']:.3f}, "
                    f"sMAPE {r['scores']['smape']:.2f}, {r['seconds']:.0f} s"
                    + (f"; {shifted} series' timestamps differ from the holdout's" if shifted else ""))  # fmt: skip
            else:
                log(f"    failed: {r.get('error')}")
            runs.append(r)

        # the series every (working) seed forecast: the comparison set
        sets = [set(r["forecast_ids"]) for r in runs if "forecast_ids" in r]  # a failed seed is reported apart
        common = sorted(set.intersection(*sets)) if sets else []
        missing = sorted(set(ids) - set(common))
        lengths = [len(history[i]) for i in missing]
        entry: dict[str, Any] = {
            "horizon": horizon, "season": season, "total": len(ids), "forecast": len(common),
            "seed_sets_differ": len({frozenset(s) for s in sets}) > 1,
            "missing": missing, "missing_lengths": f"{min(lengths)}-{max(lengths)}" if lengths else "",
            "forecast_lengths": (lambda v: f"{min(v)}-{max(v)}" if v else "")([len(history[i]) for i in common]),
            "stats_seconds": stats_meta.get("seconds", {}), "stats_errors": stats_meta.get("errors", {}),
            "stats_cached": bool(stats_meta.get("cached")),
            "all": {m: score(ids, f, history, future, season) for m, f in methods.items() if all(i in f for i in ids)},
            "common": {m: score(common, f, history, future, season) for m, f in methods.items() if all(i in f for i in common)},
        }  # fmt: skip
        per_seed = []
        for r in runs:
            if "_forecasts" in r:
                r["scores_common"] = score(common, r.pop("_forecasts"), history, future, season)
                per_seed.append(r)
        summary: dict[str, Any] = {}
        if per_seed:
            rels = [r["scores_common"]["rel_mase"] for r in per_seed]
            summary = {
                "rel_mase": statistics.median(rels), "rel_mase_spread": max(rels) - min(rels),
                "rel_mase_per_seed": {r["seed"]: r["scores_common"]["rel_mase"] for r in per_seed},
                "smape": statistics.median(r["scores_common"]["smape"] for r in per_seed),
                "mase": statistics.median(r["scores_common"]["mase"] for r in per_seed),
                "seconds": statistics.median(r["seconds"] for r in per_seed),
            }  # fmt: skip
        entry["lstmcast_summary"] = summary
        entry["lstmcast"] = runs
        report["subsets"][subset] = entry
        (args.out / "missing").mkdir(exist_ok=True)
        (args.out / "missing" / f"{subset}.txt").write_text("".join(f"{i},{len(history[i])}\n" for i in missing))
        if missing:
            log(f"  lstmcast did not forecast {len(missing)} of {len(ids)} series (history lengths "
                f"{entry['missing_lengths']}; forecast ones {entry['forecast_lengths']}): {', '.join(missing[:8])}"
                + (" ..." if len(missing) > 8 else ""))  # fmt: skip

    if len(subsets) > 1:
        report["pooled"] = pooled_row(report)
    report["stats_cached"] = "; ".join(cached)
    report["wall_seconds"] = time.perf_counter() - t_start
    (args.out / "results.json").write_text(json.dumps(public(report), indent=1, default=float))
    table = markdown(report)
    (args.out / "results.md").write_text(table)
    print(table)
    log(f"wrote {args.out / 'results.json'}, {args.out / 'results.md'}; run dirs in {args.out / 'runs'}")


if __name__ == "__main__":
    main()
