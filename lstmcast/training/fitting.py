"""From one series or a panel to fitted models: resolve defaults, scale each series on its training part, build
the windows over all series, train one global model (or an ensemble of seeds)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from lstmcast.config import RunConfig, WindowConfig
from lstmcast.errors import ConfigError, DataError
from lstmcast.forecasting.forecast import Bands, forecast_with_bands
from lstmcast.forecasting.intervals import calibrate
from lstmcast.io.data import Series, season_length
from lstmcast.nn.model import LSTMRegressor
from lstmcast.prep.features import Layout, calendar_cycles, channels
from lstmcast.prep.scaling import PanelScaling
from lstmcast.prep.windows import Windows, check_length, default_sizes, make_panel_windows, rows_needed
from lstmcast.training.loop import EpochCallback, TrainResult, default_training, fit, kept_result, refit

Report = Callable[[str], None]


def check_panel(panel: list[Series]) -> None:
    """Every series of a panel must share one frequency."""
    freqs = {s.freq for s in panel}
    if len(freqs) > 1:
        by = {f: next(s.id for s in panel if s.freq == f) for f in freqs}
        detail = ", ".join(f"{f or 'none'} (e.g. {sid!r})" for f, sid in by.items())
        raise DataError(f"{panel[0].source}: the series have different frequencies: {detail}; resample them first")


def resolve_config(cfg: RunConfig, panel: list[Series]) -> RunConfig:
    """Fill sizes the user left open from the season and the (median) series length."""
    check_panel(panel)
    first = panel[0]
    season = season_length(first.freq)
    typical = int(np.median([len(s) for s in panel]))
    window = default_sizes(typical, season, cfg.window)
    return replace(
        cfg, window=window, data=replace(cfg.data, target=cfg.data.target or first.target, time_col=first.time_col)
    )


def keep_long_enough(
    panel: list[Series], cfg: RunConfig, report: Report | None = None, asked: WindowConfig | None = None
) -> list[Series]:
    """Drop series too short for one training window plus the validation part (an error when none is left)."""
    longest = max(panel, key=len)
    try:
        check_length(len(longest), cfg.window, longest.source)
    except DataError as exc:
        user = asked or cfg.window  # the sizes as the user gave them (None: a default)
        sizes = (("--lookback", user.lookback), ("--horizon", user.horizon), ("--val-size", user.val_size))
        given = [flag for flag, value in sizes if value is not None]
        what = "" if len(panel) == 1 else f"all {len(panel)} series are too short; the longest: "
        if given:  # the user's own sizes do not fit this data: a usage error that names them
            raise ConfigError(f"{what}{exc} (set by {', '.join(given)})") from None
        raise DataError(f"{what}{exc}") from None
    need = rows_needed(cfg.window)
    kept = [s for s in panel if len(s) >= need]
    if len(kept) < len(panel) and report is not None:
        report(f"skipped {len(panel) - len(kept)} of {len(panel)} series shorter than {need} rows")
    return kept


@dataclass
class Prepared:
    config: RunConfig
    panel: list[Series]
    scaling: PanelScaling
    windows: Windows
    n_trains: list[int]
    layout: Layout

    @property
    def input_size(self) -> int:
        return self.layout.channels

    @property
    def ids(self) -> list[str | None]:
        return [s.id for s in self.panel]


def prepare(data: Series | list[Series], cfg: RunConfig, report: Report | None = None) -> Prepared:
    """Resolve the config, fit each series' scalers on its training part only and window every series."""
    panel = [data] if isinstance(data, Series) else list(data)
    asked = cfg.window
    cfg = resolve_config(cfg, panel)
    panel = keep_long_enough(panel, cfg, report, asked)
    val = int(cfg.window.val_size or 0)
    n_trains = [len(s) - val for s in panel]
    longest = max(panel, key=len)
    cycles = (
        calendar_cycles(longest.freq, len(longest))
        if cfg.window.calendar == "auto" and longest.index is not None
        else []
    )
    layout = Layout(tuple(longest.covariate_names), longest.known_ahead, tuple(cycles))
    scaling = PanelScaling.fit(
        cfg.window.scaler,
        [s.values[:n] for s, n in zip(panel, n_trains)],
        [None if s.covariates is None else s.covariates[:n] for s, n in zip(panel, n_trains)],
    )
    parts = [channels(s, scaling, i, layout) for i, s in enumerate(panel)]
    windows = make_panel_windows(parts, cfg.window, n_trains, known=layout.known, ahead=layout.known_ahead)
    cfg = replace(cfg, train=default_training(cfg.train, len(windows.train_starts)))
    return Prepared(cfg, panel, scaling, windows, n_trains, layout)


@dataclass
class Fitted:
    prep: Prepared
    results: list[TrainResult]
    tables: list[np.ndarray]  # each member's interval calibration (intervals.calibrate)

    @property
    def config(self) -> RunConfig:
        return self.prep.config

    @property
    def models(self) -> list[LSTMRegressor]:
        return [r.model for r in self.results]

    def forecast(self, panel: Series | list[Series], steps: int) -> np.ndarray:
        """Median over the ensemble of forecasts after the end of each series (original units): (S, steps),
        or (steps,) for one Series. The series must be the prepared ones, in order (e.g. their heads)."""
        many = not isinstance(panel, Series)
        series = [panel] if isinstance(panel, Series) else list(panel)
        values, _ = self.forecast_bands(series, steps)
        return values if many else values[0]

    def forecast_bands(self, panel: list[Series], steps: int, levels: Sequence[float] = ()) -> tuple[np.ndarray, Bands]:
        """Forecasts (S, steps) and conformal intervals {level: (lo, hi)}: medians over the ensemble."""
        w, p = self.config.window, self.prep
        rows = [p.ids.index(s.id) if s.id in p.ids else i for i, s in enumerate(panel)]
        runs = [
            forecast_with_bands(m, p.scaling, p.layout, w, panel, rows, steps, table, levels)
            for m, table in zip(self.models, self.tables)
        ]
        values = np.median(np.stack([r[0] for r in runs]), axis=0)
        bands = {
            lv: (
                np.median(np.stack([r[1][lv][0] for r in runs]), axis=0),
                np.median(np.stack([r[1][lv][1] for r in runs]), axis=0),
            )
            for lv in levels
        }
        return values, bands


def fit_series(
    data: Series | list[Series],
    cfg: RunConfig,
    *,
    ensemble: int | None = None,
    on_epoch_end: EpochCallback | None = None,
    report: Report | None = None,
) -> Fitted:
    """Train `ensemble` global models (seeds seed, seed+1, ...) on one series or a panel.

    Each member is calibrated on its first fit, whose validation errors are held out; its refit on every window
    (see train.refit) is the model that forecasts."""
    prep = prepare(data, cfg, report)
    finals, tables = [], []
    for k in range(max(1, ensemble or 1)):
        member_cfg = replace(prep.config, train=replace(prep.config.train, seed=prep.config.train.seed + k))
        first = fit(prep.windows, member_cfg, on_epoch_end=on_epoch_end if k == 0 else None)
        tables.append(calibrate(first.model, prep.windows, prep.config.window.norm))
        finals.append(kept_result(first, refit(prep.windows, member_cfg, first)))
    return Fitted(prep, finals, tables)
