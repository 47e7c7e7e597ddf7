"""Combining the LSTM with the Theta method, by a weight chosen on held-out validation forecasts.

A global network trained on many short series learns their common dynamics; on series where that does not
beat a per-series statistical fit, the forecast leans toward it. The weight is the LSTM's share,
forecast = w * lstm + (1 - w) * theta, one per run (per-series weights from a handful of validation points are
noise), chosen from WEIGHTS by the geometric mean over series of each candidate's validation MAE relative to
seasonal naive's (the accuracy measure of the M3/M4 literature, scale-free so that every series counts alike).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lstmcast.forecasting.baselines import seasonal_naive_at
from lstmcast.forecasting.forecast import forecast_windows
from lstmcast.nn.model import LSTMRegressor
from lstmcast.nn.theta import Theta, blend
from lstmcast.prep.scaling import PanelScaling
from lstmcast.prep.windows import Windows

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)  # the LSTM's share
MAX_ORIGINS = 4  # validation origins per series whose Theta forecasts are fitted (one horizon apart, the last)


@dataclass(frozen=True)
class Choice:
    """The weight chosen and each candidate's validation score (geometric mean relative MAE; lower is better)."""

    weight: float
    scores: dict[float, float]
    lstm_beats_snaive: list[bool | None]  # per series: the LSTM alone beat seasonal naive on validation (None: no
    # validation window, a series too short to hold one out)

    def summary(self, ids: Sequence[str | None]) -> dict[str, object]:
        """Plain data for summary.json: the weight, each candidate's score, and per series whether the LSTM alone
        beat seasonal naive on its validation windows."""
        return {
            "weight": self.weight,
            "chosen_on": "validation windows (held out from the first fit)",
            "scores": {f"{w:g}": s for w, s in sorted(self.scores.items())},
            "per_series": [{"id": sid, "lstm_beats_snaive": b} for sid, b in zip(ids, self.lstm_beats_snaive)],
        }

    def describe(self) -> str:
        """One line for the log: the weight, what it was chosen on, and how often the LSTM alone beat the baseline."""
        judged = [b for b in self.lstm_beats_snaive if b is not None]
        beats = f"the LSTM alone beat seasonal naive on {sum(judged)} of {len(judged)} validated series"
        if not self.scores:
            return f"forecasts from the LSTM alone (no validation windows to weigh Theta on); {beats}"
        tried = ", ".join(f"{w:g}: {s:.3f}" for w, s in sorted(self.scores.items()))
        return (
            f"combined with Theta, LSTM weight {self.weight:g}, chosen on the validation windows (geometric mean "
            f"MAE relative to seasonal naive by weight: {tried}); {beats}"
        )


@dataclass(frozen=True)
class SeriesHoldout:
    """One series' validation forecasts from some origins. Shapes: origins (W,), lstm/snaive/actual (W, H)."""

    values: np.ndarray  # the whole series (origins index into it)
    origins: np.ndarray
    lstm: np.ndarray
    snaive: np.ndarray
    actual: np.ndarray


def spaced_origins(origins: np.ndarray, horizon: int) -> np.ndarray:
    """Indices of at most MAX_ORIGINS origins one horizon apart, back from the last: they cover the validation
    part instead of a few adjacent steps (on half-hourly data the last four origins span two hours)."""
    if not len(origins):
        return np.arange(0)
    last = origins.max()
    picked = np.flatnonzero((last - origins) % horizon == 0)
    return picked[np.argsort(origins[picked])][-MAX_ORIGINS:]


def theta_at(values: np.ndarray, origins: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Theta forecasts of `horizon` steps fitted on the values before each origin. Shapes: -> (W, H)."""
    if not len(origins):
        return np.empty((0, horizon))
    return np.stack([Theta.fit(values[:o], season).forecast(horizon) for o in origins])


def choose(holdouts: Sequence[SeriesHoldout], season: int) -> Choice:
    """The LSTM's share among WEIGHTS with the lowest geometric mean, over series, of validation MAE relative to
    seasonal naive (series where seasonal naive is exact are left out). Ties go to the larger LSTM share."""
    ratios: dict[float, list[float]] = {w: [] for w in WEIGHTS}
    beats: list[bool | None] = []
    for h in holdouts:
        keep = spaced_origins(h.origins, h.actual.shape[1])
        if not len(keep):
            beats.append(None)
            continue
        lstm, actual, origins = h.lstm[keep], h.actual[keep], h.origins[keep]
        base = float(np.abs(actual - h.snaive[keep]).mean())
        beats.append(float(np.abs(actual - lstm).mean()) < base)
        if base <= 0 or min(origins) < 2:
            continue
        theta = theta_at(h.values, origins, actual.shape[1], season)
        for w in WEIGHTS:
            err = float(np.abs(actual - blend(w, lstm, theta)).mean())
            ratios[w].append(max(err, 1e-12) / base)
    if not ratios[1.0]:  # nothing to decide on: the LSTM alone
        return Choice(1.0, {}, beats)
    scores = {w: float(np.exp(np.mean(np.log(r)))) for w, r in ratios.items()}
    best = min(scores.values())
    weight = max(w for w, s in scores.items() if s <= best)
    return Choice(weight, scores, beats)


def choose_on_windows(
    model: LSTMRegressor, scaling: PanelScaling, windows: Windows, panel_values: Sequence[np.ndarray], norm: str,
    season: int,
) -> Choice:  # fmt: skip
    """`choose` on the model's forecasts of the validation windows (a model that never saw them)."""
    starts = windows.val_starts
    preds, _ = forecast_windows(model, scaling, windows, starts, norm)  # (W, H) original units
    rows, origins = windows.origins(starts)
    steps = np.arange(windows.horizon)
    holdouts = []
    for k, values in enumerate(panel_values):
        sel = rows == k
        own = origins[sel]
        actual = values[own[:, None] + steps[None, :]]
        snaive = seasonal_naive_at(values, own, windows.horizon, season)
        holdouts.append(SeriesHoldout(values, own, preds[sel], snaive, actual))
    return choose(holdouts, season)
