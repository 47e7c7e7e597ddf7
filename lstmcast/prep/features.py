"""Input channels: the scaled target, covariates and calendar features, laid out the same way everywhere.

Channel order: target, observed covariates, known-ahead covariates, calendar (sin, cos per cycle). The last
`Layout.known` channels are known in advance, so the model also gets them for the horizon steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lstmcast import defaults
from lstmcast.errors import DataError
from lstmcast.io.data import Series, format_times, future_times
from lstmcast.prep.scaling import PanelScaling

CYCLES = {"day": 86400.0, "week": 7 * 86400.0, "year": 365.2425 * 86400.0}


def step_seconds(freq: str | None) -> float | None:
    """The (average) length of one step of a pandas frequency, in seconds."""
    if freq is None:
        return None
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
        start = pd.Timestamp("2001-01-01")
        return float(((start + 12 * offset) - start).total_seconds()) / 12
    except (ValueError, TypeError):
        return None


def calendar_cycles(freq: str | None, n_rows: int | None = None) -> list[str]:
    """Calendar cycles worth encoding: each at least two steps long, and (given the length) seen at least twice
    in the data, so that a forecast never meets a phase of the cycle the model saw only once or never."""
    step = step_seconds(freq)
    if not step:
        return []
    span = step * n_rows if n_rows is not None else float("inf")
    return [
        name
        for name, length in CYCLES.items()
        if defaults.CYCLE_MIN_STEPS * step <= length and defaults.CYCLE_MIN_REPEATS * length <= span
    ]


def calendar_features(index: pd.DatetimeIndex, cycles: list[str] | tuple[str, ...]) -> np.ndarray:
    """Position within each cycle as sin and cos. Shapes: (N,) timestamps -> (N, 2 * len(cycles)) float32."""
    if not cycles:
        return np.empty((len(index), 0), dtype="float32")
    if index.tz is not None:
        index = index.tz_localize(None)
    seconds = index.asi8 / 1e9  # since the epoch
    cols = []
    for name in cycles:
        if name == "year":
            phase = (index.dayofyear.to_numpy() - 1 + index.hour.to_numpy() / 24) / 365.2425
        else:
            phase = np.mod(seconds, CYCLES[name]) / CYCLES[name]
        cols += [np.sin(2 * np.pi * phase), np.cos(2 * np.pi * phase)]
    return np.stack(cols, axis=1).astype("float32")


@dataclass(frozen=True)
class Layout:
    """Which channels a model reads. Stored in the checkpoint."""

    covariates: tuple[str, ...] = ()
    known_ahead: int = 0
    cycles: tuple[str, ...] = ()

    @property
    def channels(self) -> int:
        return 1 + len(self.covariates) + 2 * len(self.cycles)

    @property
    def known(self) -> int:
        """Channels known in advance: the known-ahead covariates and the calendar."""
        return self.known_ahead + 2 * len(self.cycles)

    @property
    def observed(self) -> tuple[str, ...]:
        return self.covariates[: len(self.covariates) - self.known_ahead]

    @property
    def ahead(self) -> tuple[str, ...]:
        return self.covariates[len(self.covariates) - self.known_ahead :]

    def to_dict(self) -> dict[str, object]:
        return {"covariates": list(self.covariates), "known_ahead": self.known_ahead, "cycles": list(self.cycles)}

    @classmethod
    def from_dict(cls, raw: dict) -> Layout:
        layout = cls(tuple(map(str, raw["covariates"])), int(raw["known_ahead"]), tuple(map(str, raw["cycles"])))
        if not 0 <= layout.known_ahead <= len(layout.covariates) or not set(layout.cycles) <= set(CYCLES):
            raise ValueError("inconsistent channel layout")
        return layout


def channels(series: Series, scaling: PanelScaling, i: int, layout: Layout) -> np.ndarray:
    """All input channels of series i, scaled with its own scalers. Shapes: (N,) -> (N, layout.channels)."""
    cols = [scaling.series(i).transform(series.values).reshape(-1, 1)]
    if layout.covariates:
        if series.covariates is None or series.covariates.shape[1] != len(layout.covariates):
            raise DataError(f"{series.source}: the series lacks the covariate columns {', '.join(layout.covariates)}")
        cols.append(scaling.transform_cov(i, series.covariates))
    if layout.cycles and series.index is not None:
        cols.append(calendar_features(series.index, layout.cycles))
    return np.concatenate(cols, axis=1).astype("float32")


def known_future(series: Series, scaling: PanelScaling, i: int, layout: Layout, steps: int) -> np.ndarray | None:
    """The known channels of the `steps` points after the end of a series. Shapes: -> (steps, layout.known)."""
    if not layout.known:
        return None
    cols = []
    if layout.known_ahead:
        have = 0 if series.future is None else len(series.future)
        if have < steps:
            needed = _describe_steps(series, have, steps)
            name = f"series {series.id!r}: " if series.id is not None else ""
            raise DataError(
                f"{series.source}: {name}the forecast needs future values of {', '.join(layout.ahead)} for {needed}; "
                "add those rows to the data with the target left empty"
            )
        assert series.future is not None
        full = np.zeros((steps, len(layout.covariates)))
        full[:, -layout.known_ahead :] = series.future[:steps]
        cols.append(scaling.transform_cov(i, full)[:, -layout.known_ahead :])
    if layout.cycles and series.last_time is not None and series.freq is not None:
        cols.append(calendar_features(future_times(series.last_time, series.freq, steps), layout.cycles))
    return np.concatenate(cols, axis=1).astype("float32")


def _describe_steps(series: Series, have: int, steps: int) -> str:
    if series.last_time is None or series.freq is None:
        return f"{steps - have} more step(s) after row {len(series) + have}"
    stamps = format_times(future_times(series.last_time, series.freq, steps)[have:])
    return f"{len(stamps)} timestamp(s) {stamps[0]}" + (f" .. {stamps[-1]}" if len(stamps) > 1 else "")
