"""From a series to fitted models: resolve defaults, scale on the training part, window, train (one or more seeds)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from lstmcast.config import RunConfig
from lstmcast.data import Series, season_length
from lstmcast.errors import ConfigError, DataError
from lstmcast.forecast import forecast_after
from lstmcast.model import LSTMRegressor
from lstmcast.train import EpochCallback, TrainResult, default_training, fit
from lstmcast.windows import (
    Scaler,
    Windows,
    calendar_cycles,
    calendar_features,
    check_length,
    default_sizes,
    make_windows,
)


def resolve_config(cfg: RunConfig, series: Series) -> RunConfig:
    """Fill sizes the user left open from the series' season and length, then check the length suffices."""
    season = season_length(series.freq)
    window = default_sizes(len(series), season, cfg.window)
    given = (
        ("--lookback", cfg.window.lookback),
        ("--horizon", cfg.window.horizon),
        ("--val-size", cfg.window.val_size),
    )
    user_set = [flag for flag, value in given if value is not None]
    try:
        check_length(len(series), window, series.source)
    except DataError as exc:
        if user_set:  # the user's own sizes do not fit this data: a usage error that names them
            raise ConfigError(f"{exc} (set by {', '.join(user_set)})") from None
        raise
    return replace(
        cfg,
        window=window,
        data=replace(cfg.data, target=series.target, time_col=series.time_col),
    )


@dataclass
class Prepared:
    config: RunConfig
    scaler: Scaler
    windows: Windows
    n_train: int
    cycles: list[str]

    @property
    def input_size(self) -> int:
        return 1 + 2 * len(self.cycles)


def prepare(series: Series, cfg: RunConfig) -> Prepared:
    """Resolve the config, fit the scaler on the training part only and build the windows over the series."""
    cfg = resolve_config(cfg, series)
    n_train = len(series) - int(cfg.window.val_size or 0)
    scaler = Scaler.fit(cfg.window.scaler, series.values[:n_train])
    cycles = calendar_cycles(series.freq) if cfg.window.calendar == "auto" and series.index is not None else []
    features = calendar_features(series.index, cycles) if cycles and series.index is not None else None
    windows = make_windows(scaler.transform(series.values), cfg.window, n_train, features)
    cfg = replace(cfg, train=default_training(cfg.train, len(windows.train_starts)))
    return Prepared(cfg, scaler, windows, n_train, cycles)


@dataclass
class Fitted:
    prep: Prepared
    results: list[TrainResult]

    @property
    def config(self) -> RunConfig:
        return self.prep.config

    @property
    def models(self) -> list[LSTMRegressor]:
        return [r.model for r in self.results]

    def forecast(self, series: Series, steps: int) -> np.ndarray:
        """Median over the ensemble's members of their forecasts after the end of `series` (original units)."""
        w, p = self.config.window, self.prep
        preds = [
            forecast_after(m, p.scaler, w, p.cycles, series.values, series.last_time, series.freq, steps)
            for m in self.models
        ]
        return np.median(np.stack(preds), axis=0)


def fit_series(
    series: Series, cfg: RunConfig, *, ensemble: int | None = None, on_epoch_end: EpochCallback | None = None
) -> Fitted:
    """Train `ensemble` models (seeds seed, seed+1, ...) on one series."""
    prep = prepare(series, cfg)
    members = max(1, ensemble or 1)
    results = []
    for k in range(members):
        member_cfg = replace(prep.config, train=replace(prep.config.train, seed=prep.config.train.seed + k))
        callback = on_epoch_end if k == 0 else None
        results.append(fit(prep.windows, member_cfg, on_epoch_end=callback, input_size=prep.input_size))
    return Fitted(prep, results)
