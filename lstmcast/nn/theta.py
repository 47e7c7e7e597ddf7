"""The standard Theta method (Assimakopoulos and Nikolopoulos 2000, in the form of Hyndman and Billah 2003): the
statistical partner model that the LSTM's forecasts are combined with (forecasting.combine chooses the weight).

Simple exponential smoothing of the (seasonally adjusted) series plus half the slope of its linear trend, with the
classical decomposition when the lag-m autocorrelation is significant at 90 %, as in the M3 competition's Theta.
Fitted state is plain floats, so a checkpoint can store it; numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALPHAS = np.linspace(0.05, 1.0, 20)  # the smoothing parameters searched (least squares of one-step errors)


def seasonal_indices(values: np.ndarray, season: int, multiplicative: bool) -> np.ndarray | None:
    """Classical decomposition's seasonal indices by position mod `season` (mean 1, or 0 when additive), when the
    series has at least three seasons and its lag-`season` autocorrelation passes the 90 % test; else None.
    Shapes: values (N,) -> (season,)."""
    n = len(values)
    if season <= 1 or n < 3 * season:
        return None
    x = values - values.mean()
    denom = float(np.sum(x * x))
    if denom <= 0:
        return None
    acf = np.array([np.sum(x[k:] * x[:-k]) / denom for k in range(1, season + 1)])
    limit = 1.645 * np.sqrt((1 + 2 * np.sum(acf[:-1] ** 2)) / n)
    if abs(acf[-1]) <= limit:
        return None
    weights = np.r_[0.5, np.ones(season - 1), 0.5] / season if season % 2 == 0 else np.ones(season) / season
    trend = np.convolve(values, weights, mode="valid")  # centred moving average
    start = (len(weights) - 1) // 2
    centre = values[start : start + len(trend)]
    ratio = centre / trend if multiplicative else centre - trend
    position = np.arange(start, start + len(trend)) % season
    idx = np.array([ratio[position == k].mean() for k in range(season)])
    if multiplicative:
        if not np.isfinite(idx).all() or (idx <= 0).any():
            return None
        return idx / idx.mean()
    return idx - idx.mean()


@dataclass(frozen=True)
class Theta:
    """A fitted Theta forecaster of one series: the last smoothed level, alpha, half the trend slope, the length it
    was fitted on, and the seasonal indices (empty when none) with how they apply."""

    level: float
    alpha: float
    drift: float
    n: int
    season: tuple[float, ...] = ()
    multiplicative: bool = True

    @classmethod
    def fit(cls, values: np.ndarray, season: int) -> Theta:
        """Fit on a series' values (at least two; NaN-free). Shapes: values (N,)."""
        y = np.asarray(values, dtype="float64")
        n = len(y)
        multiplicative = bool((y > 0).all())
        idx = seasonal_indices(y, season, multiplicative)
        if idx is not None:
            phase = idx[np.arange(n) % season]
            y = y / phase if multiplicative else y - phase
        slope = float(np.polyfit(np.arange(n), y, 1)[0]) if n > 1 else 0.0
        level, alpha = _ses(y)
        return cls(
            float(level), float(alpha), slope / 2, n, () if idx is None else tuple(map(float, idx)), multiplicative
        )

    def forecast(self, steps: int) -> np.ndarray:
        """The next `steps` values after the fitted series. Shapes: -> (steps,)."""
        a, h = self.alpha, np.arange(1, steps + 1)
        out = self.level + self.drift * ((h - 1) + 1 / a - (1 - a) ** self.n / a)
        if self.season:
            m = len(self.season)
            phase = np.asarray(self.season)[np.arange(self.n, self.n + steps) % m]
            out = out * phase if self.multiplicative else out + phase
        return out

    def to_dict(self) -> dict[str, object]:
        return {
            "level": self.level, "alpha": self.alpha, "drift": self.drift, "n": self.n,
            "season": list(self.season), "multiplicative": self.multiplicative,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, raw: dict) -> Theta:
        made = cls(
            float(raw["level"]), float(raw["alpha"]), float(raw["drift"]), int(raw["n"]),
            tuple(float(v) for v in raw["season"]), bool(raw["multiplicative"]),
        )  # fmt: skip
        values = (made.level, made.alpha, made.drift, *made.season)
        if not (np.isfinite(values).all() and 0 < made.alpha <= 1 and made.n >= 1):
            raise ValueError("the stored Theta state holds invalid values")
        return made


def _ses(y: np.ndarray) -> tuple[float, float]:
    """Simple exponential smoothing for every alpha of ALPHAS at once; returns the last level and the alpha with
    the least squared one-step error (the level starts at the first value)."""
    level = np.full(len(ALPHAS), y[0])
    sse = np.zeros(len(ALPHAS))
    for v in y[1:]:
        err = v - level
        sse += err * err
        level = level + ALPHAS * err
    best = int(np.argmin(sse))
    return float(level[best]), float(ALPHAS[best])


@dataclass(frozen=True)
class Combination:
    """The LSTM's share `weight` of the forecast and each series' Theta fitted on its whole training data."""

    weight: float
    thetas: tuple[Theta, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {"weight": self.weight, "theta": [t.to_dict() for t in self.thetas]}

    @classmethod
    def from_dict(cls, raw: dict, count: int) -> Combination:
        weight = float(raw["weight"])
        thetas = tuple(Theta.from_dict(t) for t in raw["theta"])
        if not 0.0 <= weight <= 1.0 or (weight < 1.0 and len(thetas) != count):
            raise ValueError("the stored combination does not match the stored series")
        return cls(weight, thetas)


def blend(weight: float, lstm: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """The combined forecast w * lstm + (1 - w) * theta (any matching shapes); w is the LSTM's share."""
    return lstm if weight >= 1.0 else weight * lstm + (1 - weight) * theta


def blend_bands(
    weight: float, lstm: np.ndarray, bands: dict[float, tuple[np.ndarray, np.ndarray]], theta: np.ndarray
) -> tuple[np.ndarray, dict[float, tuple[np.ndarray, np.ndarray]]]:
    """The combined forecast and the LSTM's intervals moved with it (their widths stay the LSTM's conformal ones).
    Shapes: (S, P) each."""
    if weight >= 1.0:
        return lstm, bands
    combined = blend(weight, lstm, theta)
    shift = combined - lstm
    return combined, {level: (lo + shift, hi + shift) for level, (lo, hi) in bands.items()}
