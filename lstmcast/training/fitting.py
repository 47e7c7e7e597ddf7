"""From one series or a panel to fitted models: resolve the settings, scale each series on its training part, build
the windows over all series, train one global model (or an ensemble of seeds) with run.train_model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from lstmcast import defaults
from lstmcast.config import ResolvedConfig, ResolvedWindow, RunConfig, WindowConfig, resolve, resolve_window
from lstmcast.errors import ConfigError, DataError
from lstmcast.forecasting.forecast import Bands, forecast_with_bands
from lstmcast.io.data import Series, season_length
from lstmcast.nn.model import LSTMRegressor
from lstmcast.nn.theta import Theta, blend_bands
from lstmcast.prep.features import Layout, calendar_cycles, channels
from lstmcast.prep.scaling import PanelScaling
from lstmcast.prep.windows import Windows, check_length, make_panel_windows, rows_needed
from lstmcast.training.loop import EpochCallback, TrainResult
from lstmcast.training.run import Holdout, train_members

Report = Callable[[str], None]


def check_panel(panel: list[Series]) -> None:
    """Every series of a panel must share one frequency."""
    freqs = {s.freq for s in panel}
    if len(freqs) > 1:
        by = {f: next(s.id for s in panel if s.freq == f) for f in freqs}
        detail = ", ".join(f"{f or 'none'} (e.g. {sid!r})" for f, sid in by.items())
        raise DataError(f"{panel[0].source}: the series have different frequencies: {detail}; resample them first")


def resolve_sizes(cfg: RunConfig, panel: list[Series]) -> ResolvedWindow:
    """Fix the window sizes the user left open from the season and the (median) series length, and whether the
    windows are padded (the shortest series decides)."""
    check_panel(panel)
    season = season_length(panel[0].freq)
    typical = int(np.median([len(s) for s in panel]))
    return resolve_window(cfg.window, typical, season, shortest=min(len(s) for s in panel))


def training_rows(n_rows: int, window: ResolvedWindow) -> int:
    """A series' training part: all but the validation part. With padding, a series too short to give up a
    validation part and keep one training window trains on every row instead (it is then not validated)."""
    n_train = n_rows - window.val_size
    if window.pad and n_train < defaults.MIN_HISTORY + window.horizon:
        return n_rows
    return n_train


def keep_long_enough(
    panel: list[Series], window: ResolvedWindow, report: Report | None = None, asked: WindowConfig | None = None
) -> list[Series]:
    """Drop series too short for one training window plus the validation part (an error when none is left)."""
    longest = max(panel, key=len)
    try:
        check_length(len(longest), window, longest.source)
    except DataError as exc:
        user = asked or window  # the sizes as the user gave them (None: a default)
        sizes = (("--lookback", user.lookback), ("--horizon", user.horizon), ("--val-size", user.val_size))
        given = [flag for flag, value in sizes if value is not None]
        what = "" if len(panel) == 1 else f"all {len(panel)} series are too short; the longest: "
        if given:  # the user's own sizes do not fit this data: a usage error that names them
            raise ConfigError(f"{what}{exc} (set by {', '.join(given)})") from None
        raise DataError(f"{what}{exc}") from None
    # with padding a series of a single row still gets a forecast (it trains nothing and is not validated)
    need = 1 if window.pad else rows_needed(window)
    kept = [s for s in panel if len(s) >= need]
    if len(kept) < len(panel) and report is not None:
        short = [str(s.id) for s in panel if len(s) < need]
        names = ", ".join(short[:8]) + (f" and {len(short) - 8} more" if len(short) > 8 else "")
        report(f"skipped {len(short)} of {len(panel)} series shorter than {need} rows ({names}): they get no model")
    return kept


@dataclass
class Prepared:
    config: ResolvedConfig
    panel: list[Series]
    scaling: PanelScaling
    windows: Windows
    n_trains: list[int]
    layout: Layout
    asked: RunConfig | None = None  # the settings as the user gave them (sizes may be None)

    @property
    def input_size(self) -> int:
        return self.layout.channels

    @property
    def ids(self) -> list[str | None]:
        return [s.id for s in self.panel]


def prepare(data: Series | list[Series], cfg: RunConfig, report: Report | None = None) -> Prepared:
    """Resolve the config, fit each series' scalers on its training part only and window every series."""
    panel = [data] if isinstance(data, Series) else list(data)
    window = resolve_sizes(cfg, panel)
    panel = keep_long_enough(panel, window, report, cfg.window)
    n_trains = [training_rows(len(s), window) for s in panel]
    longest = max(panel, key=len)
    cycles = (
        calendar_cycles(longest.freq, len(longest)) if window.calendar == "auto" and longest.index is not None else []
    )
    layout = Layout(tuple(longest.covariate_names), longest.known_ahead, tuple(cycles))
    scaling = PanelScaling.fit(
        window.scaler,
        [s.values[:n] for s, n in zip(panel, n_trains)],
        [None if s.covariates is None else s.covariates[:n] for s, n in zip(panel, n_trains)],
        window.season,
    )
    parts = [channels(s, scaling, i, layout) for i, s in enumerate(panel)]
    windows = make_panel_windows(parts, window, n_trains, known=layout.known, ahead=layout.known_ahead)
    first = panel[0]
    data_cfg = replace(cfg.data, target=cfg.data.target or first.target, time_col=first.time_col)
    resolved = resolve(cfg, window, len(windows.train_starts), data_cfg, len(panel))
    return Prepared(resolved, panel, scaling, windows, n_trains, layout, cfg)


@dataclass
class Fitted:
    prep: Prepared
    results: list[TrainResult]
    tables: list[np.ndarray]  # each member's interval calibration (intervals.calibrate)
    weights: list[float] = field(default_factory=list)  # each member's LSTM share against Theta (1: the LSTM alone)

    @property
    def config(self) -> ResolvedConfig:
        return self.prep.config

    @property
    def models(self) -> list[LSTMRegressor]:
        return [r.model for r in self.results]

    def forecast_bands(self, panel: list[Series], steps: int, levels: Sequence[float] = ()) -> tuple[np.ndarray, Bands]:
        """Forecasts (S, steps) and conformal intervals {level: (lo, hi)}: medians over the ensemble, each member
        blended with Theta fitted on each series by its weight (as `train` forecasts)."""
        w, p = self.config.window, self.prep
        rows = [p.ids.index(s.id) if s.id in p.ids else i for i, s in enumerate(panel)]
        weights = self.weights or [1.0] * len(self.models)
        partner = None
        if min(weights) < 1.0:
            partner = np.stack([Theta.fit(s.values, w.season).forecast(steps) for s in panel])  # (S, steps)
        runs = []
        for m, table, weight in zip(self.models, self.tables, weights):
            run = forecast_with_bands(m, p.scaling, p.layout, w, panel, rows, steps, table, levels)
            runs.append(run if partner is None else blend_bands(weight, run[0], run[1], partner))
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

    Each member is trained by run.train_model (run.train_members: side by side on a CPU's cores where that cannot
    change them): calibrated on its first fit, whose validation errors are held out; its refit on every window
    (see loop.refit), when it completes, is the model that forecasts."""
    prep = prepare(data, cfg, report)
    holdout = Holdout([s.values for s in prep.panel], prep.scaling)
    members = train_members(prep.windows, prep.config, max(1, ensemble or 1), holdout=holdout, on_epoch_end=on_epoch_end)
    tables = []
    for m in members:
        assert m.table is not None  # calibrated: train_model's default
        tables.append(m.table)
    return Fitted(prep, [m.kept for m in members], tables, [m.weight for m in members])
