"""Fitted scaling state: one affine scaler per series for the target and for each covariate column.

Fitted on each series' training part only; plain floats and arrays so that a checkpoint can store them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lstmcast.errors import ConfigError


def mase_scale(values: np.ndarray, season: int) -> float:
    """The MASE denominator: the mean absolute change over one season (one step when the series is shorter than
    two seasons); |mean| or 1 when that is zero (a flat or one-point series). Shapes: (N,) -> scalar."""
    y = np.asarray(values, dtype="float64")
    m = season if len(y) > 2 * season else 1
    diffs = np.abs(y[m:] - y[:-m]) if len(y) > m else np.empty(0)
    scale = float(diffs.mean()) if len(diffs) else 0.0
    if scale > 0:
        return scale
    return float(abs(y.mean())) if len(y) and y.mean() != 0 else 1.0


def _nonzero(scale: float, level: float) -> float:
    """1 for a spread that is zero up to rounding (10 ulps of the level), as scikit-learn's scalers treat a
    constant column; the spread otherwise."""
    return scale if scale > 10 * np.finfo("float64").eps * max(1.0, abs(level)) else 1.0


@dataclass(frozen=True)
class Scaler:
    """Fitted affine scaling z = (x - offset) / scale. Plain floats so a checkpoint can store it."""

    kind: str
    offset: float
    scale: float

    @classmethod
    def fit(cls, kind: str, train_values: np.ndarray, season: int = 1) -> Scaler:
        """Fit on the training part only (`season` is for mase). standard and minmax are scikit-learn's
        StandardScaler and MinMaxScaler (population spread; a constant column keeps scale 1), written out in numpy:
        importing scikit-learn cost 0.75 s of every training process for one mean and one spread (a test checks
        both against scikit-learn)."""
        x = np.asarray(train_values, dtype="float64").reshape(-1)
        if kind == "none":
            return cls("none", 0.0, 1.0)
        if kind == "mase":
            return cls("mase", float(x.mean()), mase_scale(x, season))
        if kind == "minmax":
            low = float(x.min())
            return cls("minmax", low, _nonzero(float(x.max()) - low, low))
        if kind == "standard":
            mean = float(x.mean())
            return cls("standard", mean, _nonzero(float(np.sqrt(np.mean((x - mean) ** 2))), mean))
        raise ConfigError(f"--scaler {kind!r} is not one of standard, minmax, mase, none")

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype="float64") - self.offset) / self.scale

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return np.asarray(z, dtype="float64") * self.scale + self.offset

    def to_dict(self) -> dict[str, float | str]:
        return {"kind": self.kind, "offset": self.offset, "scale": self.scale}

    @classmethod
    def from_dict(cls, raw: dict) -> Scaler:
        return cls(str(raw["kind"]), float(raw["offset"]), float(raw["scale"]))


@dataclass(frozen=True)
class PanelScaling:
    """Per-series scaling of a panel. Shapes: offset, scale (S,); cov_offset, cov_scale (S, C)."""

    kind: str
    offset: np.ndarray
    scale: np.ndarray
    cov_offset: np.ndarray
    cov_scale: np.ndarray

    @classmethod
    def fit(
        cls, kind: str, targets: list[np.ndarray], covariates: list[np.ndarray | None], season: int = 1
    ) -> PanelScaling:
        """Fit one scaler per series on its training part; covariates are always standardised."""
        scalers = [Scaler.fit(kind, t, season) for t in targets]
        n_cov = next((c.shape[1] for c in covariates if c is not None), 0)
        cov_offset = np.zeros((len(targets), n_cov))
        cov_scale = np.ones((len(targets), n_cov))
        for i, cov in enumerate(covariates):
            if cov is not None and n_cov:
                cov_offset[i] = cov.mean(axis=0)
                spread = cov.std(axis=0)
                cov_scale[i] = np.where(spread > 1e-12, spread, 1.0)
        return cls(
            kind,
            np.array([s.offset for s in scalers], dtype="float64"),
            np.array([s.scale for s in scalers], dtype="float64"),
            cov_offset,
            cov_scale,
        )

    def __len__(self) -> int:
        return len(self.offset)

    def series(self, i: int) -> Scaler:
        """The target scaler of series i."""
        return Scaler(self.kind, float(self.offset[i]), float(self.scale[i]))

    def transform_cov(self, i: int, cov: np.ndarray) -> np.ndarray:
        return (np.asarray(cov, dtype="float64") - self.cov_offset[i]) / self.cov_scale[i]

    def inverse_rows(self, rows: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Undo the target scaling of forecasts z (B, H) whose series are `rows` (B,)."""
        rows = np.asarray(rows, dtype="int64")
        return np.asarray(z, dtype="float64") * self.scale[rows, None] + self.offset[rows, None]

    def to_dict(self) -> dict[str, object]:
        import torch

        return {
            "kind": self.kind,
            "offset": torch.as_tensor(self.offset),
            "scale": torch.as_tensor(self.scale),
            "cov_offset": torch.as_tensor(self.cov_offset),
            "cov_scale": torch.as_tensor(self.cov_scale),
        }

    @classmethod
    def from_dict(cls, raw: dict) -> PanelScaling:
        def arr(key: str, ndim: int) -> np.ndarray:
            value = raw[key]
            out = np.asarray(value.numpy() if hasattr(value, "numpy") else value, dtype="float64")
            if out.ndim != ndim:
                raise ValueError(f"scaler {key} must have {ndim} dimension(s)")
            return out

        made = cls(str(raw["kind"]), arr("offset", 1), arr("scale", 1), arr("cov_offset", 2), arr("cov_scale", 2))
        finite = all(np.isfinite(a).all() for a in (made.offset, made.scale, made.cov_offset, made.cov_scale))
        if not finite or (made.scale == 0).any() or (made.cov_scale == 0).any():
            raise ValueError("the stored scaler holds zero, NaN or infinite values")
        if not (len(made.scale) == len(made.cov_offset) == len(made.cov_scale)):
            raise ValueError("the stored scaler's parts disagree in length")
        return made
