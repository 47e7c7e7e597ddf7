"""Rolling-origin evaluation of lstmcast against the naive, seasonal-naive and drift baselines, per series and
overall (geometric mean across series of MASE relative to seasonal naive)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from lstmcast.checkpoint.format import Checkpoint
from lstmcast.config import RunConfig
from lstmcast.errors import ConfigError, DataError
from lstmcast.evaluation.metrics import (
    beats,
    coverage,
    drift,
    mean_scores,
    msis,
    naive,
    point_metrics,
    seasonal_naive,
    seasonal_naive_bands,
)
from lstmcast.forecasting.forecast import Bands, check_compatible, forecast_series
from lstmcast.forecasting.intervals import clip_at_zero, never_negative
from lstmcast.io.data import Series, season_length
from lstmcast.training.fitting import check_panel, fit_series

BASELINES: dict[str, Callable[[np.ndarray, int, int], np.ndarray]] = {
    "naive": lambda h, n, m: naive(h, n),
    "seasonal naive": seasonal_naive,
    "drift": lambda h, n, m: drift(h, n),
}
METRICS = ("mae", "rmse", "mape", "smape", "mase")
# the heads of the series -> (S, H) forecasts and their intervals {level: (lo, hi)}
Forecaster = Callable[[list[Series]], tuple[np.ndarray, Bands]]


@dataclass
class Fold:
    """One origin of one series: every model's forecasts of the `horizon` points after it (original units)."""

    series: str | None
    fold: int
    origin: int  # position of the first forecast point
    times: list
    actual: np.ndarray
    forecasts: dict[str, np.ndarray]
    scores: dict[str, dict[str, float]]
    cutoff: str | int | None = None  # the time of the last observation before the origin (what the forecast saw)


def level_tag(level: float) -> str:
    """How a level names its scores in records: 80.0 -> 'coverage_80', 'msis_80' (and 'lo_80', 'hi_80')."""
    return f"{level:g}"


@dataclass
class BacktestResult:
    panel: list[Series]
    config: RunConfig
    season: int
    folds: list[Fold]
    levels: tuple[float, ...] = ()  # the interval levels scored (in %)

    @property
    def series(self) -> Series:
        return self.panel[0]

    @property
    def models(self) -> list[str]:
        return list(self.folds[0].scores) if self.folds else []

    @property
    def ids(self) -> list[str | None]:
        return list(dict.fromkeys(f.series for f in self.folds))

    def per_series(self) -> dict[str | None, dict[str, dict[str, float]]]:
        """For each series and model, each metric's mean over that series' folds."""
        out = {}
        for sid in self.ids:
            folds = [f for f in self.folds if f.series == sid]
            out[sid] = {m: mean_scores([f.scores[m] for f in folds]) for m in self.models}
        return out

    def overall(self) -> dict[str, dict[str, float]]:
        """Per model: metrics averaged over series, `rel_mase` the geometric mean over series of MASE relative
        to seasonal naive, and `skill` = 1 - rel_mase."""
        per = self.per_series()
        out = {}
        for m in self.models:
            row = mean_scores([per[sid][m] for sid in per])
            row["mape_skipped"] = float(sum(f.scores[m]["mape_skipped"] for f in self.folds))
            ratios = [per[sid][m]["mase"] / per[sid]["seasonal naive"]["mase"] for sid in per]
            row["rel_mase"] = _gmean(ratios)
            row["skill"] = 1 - row["rel_mase"]
            out[m] = row
        return out

    def relative_mase(self) -> dict[str | None, dict[str, float]]:
        """Per series and model: MASE relative to seasonal naive's on that series."""
        per = self.per_series()
        return {sid: {m: per[sid][m]["mase"] / per[sid]["seasonal naive"]["mase"] for m in self.models} for sid in per}

    def interval_scores(self) -> dict[str, dict[float, tuple[float, float]]]:
        """Per model with intervals (lstmcast, seasonal naive): {level: (coverage, MSIS)}, averaged as overall()."""
        overall = self.overall()
        return {
            name: {
                lv: (overall[name][f"coverage_{level_tag(lv)}"], overall[name][f"msis_{level_tag(lv)}"])
                for lv in sorted(set(self.levels))
            }
            for name in ("lstmcast", "seasonal naive")
        }

    def beats_seasonal_naive(self) -> bool | None:
        """Whether lstmcast's MASE is lower than seasonal naive's (the geometric mean over series of the ratio
        below 1, i.e. skill > 0); None when it is not a number."""
        rel = self.overall()["lstmcast"]["rel_mase"]
        return beats(rel, 1.0)

    def records(self) -> list[dict]:
        """Long table: a row per series, fold and model; then each series' mean ('all' folds) for panels; then
        the overall rows (series 'all', fold 'all')."""
        rows = []
        for f in self.folds:
            origin = f.times[0] if f.times else f.origin
            for model, s in f.scores.items():
                rows.append({"series": f.series or "", "fold": f.fold, "origin": origin, "model": model, **s})
        if len(self.ids) > 1:
            for sid, models in self.per_series().items():
                for model, s in models.items():
                    rows.append({"series": sid, "fold": "all", "origin": "", "model": model, **s})
        for model, s in self.overall().items():
            rows.append(
                {"series": "all" if len(self.ids) > 1 else "", "fold": "all", "origin": "", "model": model, **s}
            )
        return rows


    def forecast_records(self) -> list[dict]:
        """The forecasts themselves, one row per series, fold and forecast point: `id` (panels), `fold`, `cutoff`
        (the last time the forecast saw), `timestamp`, `actual`, `forecast` (lstmcast), its `lo_P`/`hi_P` bounds,
        then each baseline's forecast (statsforecast's cross_validation layout)."""
        rows = []
        panel = len(self.ids) > 1
        tags = [level_tag(lv) for lv in sorted(set(self.levels))]
        bounds = [f"{side}_{tag}" for tag in tags for side in ("lo", "hi")]
        for f in self.folds:
            for i, t in enumerate(f.times):
                row: dict = {"id": f.series} if panel else {}
                row |= {"fold": f.fold, "cutoff": f.cutoff, "timestamp": t, "actual": float(f.actual[i])}
                row["forecast"] = float(f.forecasts["lstmcast"][i])
                row |= {k: float(f.forecasts[k][i]) for k in bounds if k in f.forecasts}
                row |= {name.replace(" ", "_"): float(f.forecasts[name][i]) for name in BASELINES}
                rows.append(row)
        return rows


def _gmean(values: Sequence[float]) -> float:
    good = [v for v in values if v > 0 and math.isfinite(v)]
    return math.exp(sum(math.log(v) for v in good) / len(good)) if good else float("nan")


def _time(series: Series, pos: int) -> str | int:
    return pos if series.index is None else str(series.index[pos].isoformat())


def check_season(season: int | None, starts: list[list[int | None]]) -> None:
    """A --season the user gave must fit in the history before every origin: seasonal naive and the MASE scale
    would otherwise fall back to lag 1 (metrics.seasonal_naive_scale) while the report still says `season`."""
    shortest = min((o for fold in starts for o in fold if o is not None), default=None)
    if season is not None and shortest is not None and season >= shortest:
        raise ConfigError(
            f"--season {season} needs more than {season} rows before each forecast origin; the shortest history "
            f"has {shortest}. Give a shorter --season"
        )


def origins(n_rows: int, folds: int, step: int, horizon: int) -> list[int]:
    """The K origins: the last K x step points, stepping by `step`, each followed by a full horizon."""
    last = n_rows - horizon
    return [last - step * (folds - 1 - k) for k in range(folds)]


def score_folds(
    panel: list[Series],
    starts: list[list[int | None]],
    horizon: int,
    season: int,
    forecaster: Forecaster,
    on_fold: Callable[[int, int], None] | None = None,
    levels: Sequence[float] = (),
    clip: bool = True,
) -> list[Fold]:
    """For each fold k, forecast every series from its origin starts[k][i] (None: not in this fold); score the
    points and, for each level, the intervals of lstmcast and of seasonal naive (coverage and MSIS). With `clip`,
    the intervals of a series never negative before the origin are clipped at zero (intervals.clip_at_zero)."""
    results = []
    for k, fold_starts in enumerate(starts, start=1):
        if on_fold is not None:
            on_fold(k, len(starts))
        members = [(s, o) for s, o in zip(panel, fold_starts) if o is not None]
        if not members:
            continue
        preds, bands = forecaster([s.head(o) for s, o in members])  # (S, H), {level: ((S, H), (S, H))}
        for j, (s, origin) in enumerate(members):
            past, actual = s.values[:origin], s.values[origin : origin + horizon]
            forecasts = {"lstmcast": preds[j]} | {name: fn(past, horizon, season) for name, fn in BASELINES.items()}
            scores = {name: point_metrics(actual, p, past, season) for name, p in forecasts.items()}
            nonnegative = clip and never_negative(past)
            for level in levels:
                tag = level_tag(level)
                own = (bands[level][0][j], bands[level][1][j])
                for name, (lo, hi) in (
                    ("lstmcast", own),
                    ("seasonal naive", seasonal_naive_bands(past, horizon, season, level)),
                ):
                    lo, hi = clip_at_zero(lo, hi, nonnegative)
                    scores[name][f"coverage_{tag}"] = coverage(actual, lo, hi)
                    scores[name][f"msis_{tag}"] = msis(actual, lo, hi, level, past, season)
                    if name == "lstmcast":
                        forecasts[f"lo_{tag}"], forecasts[f"hi_{tag}"] = lo, hi
                for name in ("naive", "drift"):
                    scores[name][f"coverage_{tag}"] = scores[name][f"msis_{tag}"] = float("nan")
            times = [_time(s, i) for i in range(origin, origin + horizon)]
            results.append(Fold(s.id, k, origin, times, actual, forecasts, scores, _time(s, origin - 1)))
    return results


def backtest(
    panel: Series | list[Series],
    cfg: RunConfig,
    *,
    folds: int = 3,
    step: int | None = None,
    season: int | None = None,
    ensemble: int | None = None,
    on_fold: Callable[[int, int], None] | None = None,
    report: Callable[[str], None] | None = None,
    levels: Sequence[float] = (),
    clip: bool = True,
    local: bool = False,
) -> BacktestResult:
    """Train on everything before each origin (scalers fitted there only) and forecast the next horizon.

    In a panel each series' origins count back from its own end; one global model is trained per fold (or,
    with `local`, one model per series, for comparison).
    """
    series = [panel] if isinstance(panel, Series) else list(panel)
    check_panel(series)
    if folds < 1:
        raise ConfigError(f"--folds {folds} is out of range: it must be >= 1")
    m = season or season_length(series[0].freq)
    horizon = cfg.window.horizon or max(1, m)
    step = step or horizon
    cfg = replace(cfg, window=replace(cfg.window, horizon=horizon))
    longest = max(len(s) for s in series)
    if longest - horizon - step * (folds - 1) <= 0:  # the first origin, without listing --folds 1e9 origins
        raise ConfigError(
            f"--folds {folds} x --step {step} + horizon {horizon} is longer than the series ({longest} rows)"
        )
    starts = [
        [o if o > 0 else None for o in col] for col in zip(*(origins(len(s), folds, step, horizon) for s in series))
    ]
    check_season(season, starts)

    def train_and_forecast(pasts: list[Series]) -> tuple[np.ndarray, Bands]:
        if local and len(pasts) > 1:
            parts = [train_and_forecast([p]) for p in pasts]
            merged = {
                lv: (np.concatenate([b[lv][0] for _, b in parts]), np.concatenate([b[lv][1] for _, b in parts]))
                for lv in levels
            }
            return np.concatenate([v for v, _ in parts]), merged
        fitted = fit_series(pasts, cfg, ensemble=ensemble, report=report)
        kept = {s.id for s in fitted.prep.panel}
        rows = [i for i, s in enumerate(pasts) if s.id in kept]
        values, bands = fitted.forecast_bands([pasts[i] for i in rows], horizon, levels)
        out = np.full((len(pasts), horizon), np.nan)
        out[rows] = values
        full = {}
        for level, (lo, hi) in bands.items():
            lo_all, hi_all = np.full_like(out, np.nan), np.full_like(out, np.nan)
            lo_all[rows], hi_all[rows] = lo, hi
            full[level] = (lo_all, hi_all)
        return _fill_skipped(out, full, pasts, horizon, m)

    folds_ = score_folds(series, starts, horizon, m, train_and_forecast, on_fold, levels, clip)
    return BacktestResult(series, cfg, m, folds_, tuple(levels))


def _fill_skipped(
    out: np.ndarray, bands: Bands, pasts: list[Series], horizon: int, season: int
) -> tuple[np.ndarray, Bands]:
    """Series too short to train on get the seasonal-naive forecast and intervals (and are scored as such)."""
    for i, s in enumerate(pasts):
        if np.isnan(out[i]).any():
            out[i] = seasonal_naive(s.values, horizon, season)
            for level, (lo, hi) in bands.items():
                lo[i], hi[i] = seasonal_naive_bands(s.values, horizon, season, level)
    return out, bands


def evaluate(
    panel: Series | list[Series],
    ckpt: Checkpoint,
    *,
    horizon: int | None = None,
    step: int | None = None,
    season: int | None = None,
    levels: Sequence[float] = (),
    clip: bool = True,
) -> BacktestResult:
    """Score a trained model on the part of each series after its training data, rolling the origin forward.

    The model is not retrained: each origin forecasts from the data before it.
    """
    series = [panel] if isinstance(panel, Series) else list(panel)
    check_compatible(ckpt, series)
    m = season or season_length(series[0].freq)
    horizon = horizon or ckpt.config.window.horizon
    step = step or horizon
    lookback = ckpt.config.window.lookback
    per_series = []
    for s in series:
        stored = ckpt.stored[ckpt.ids.index(s.id)]
        last = stored.last_time
        if last is not None and s.index is not None:
            first, where = int(s.index.searchsorted(pd.Timestamp(last), side="right")), f"after {last}"
        else:
            first = ckpt.n_rows_of(s.id)
            where = f"after row {first}"
        if len(s) - first < horizon:
            raise DataError(
                f"{s.source}: to evaluate, the data needs at least {horizon} rows {where} (the end of the model's "
                f"training data); it has {max(0, len(s) - first)}"
            )
        if first < lookback:
            raise DataError(f"{s.source}: the data must also hold the {lookback} rows up to {where}")
        per_series.append(list(range(first, len(s) - horizon + 1, step)))
    count = max(len(p) for p in per_series)
    starts = [[p[k] if k < len(p) else None for p in per_series] for k in range(count)]
    check_season(season, starts)

    def from_checkpoint(pasts: list[Series]) -> tuple[np.ndarray, Bands]:
        return forecast_series(ckpt, pasts, horizon, levels)

    return BacktestResult(
        series, ckpt.config, m, score_folds(series, starts, horizon, m, from_checkpoint, None, levels, clip), tuple(levels)
    )
