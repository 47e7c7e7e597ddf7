"""A DataFrame-first library API over the same entry points the CLI calls (runs.train_run, predict_run,
backtest_run): no second implementation, so a Forecaster's run directory is an ordinary one that
`lstmcast predict -m DIR` reads, and `Forecaster.load` reads any run directory the CLI wrote.

    from lstmcast import Forecaster
    fc = Forecaster(horizon=12, epochs=50).fit(df)         # df: timestamp,value  or  unique_id,ds,y  or  id_col=...
    fc.predict(levels=[80, 95])                             # id, timestamp (datetime64), forecast, lo_80, hi_80, ...
    fc.save("runs/air"); Forecaster.load("runs/air").predict()
    fc.backtest(df, folds=3)                                # one row per fold and point: cutoff, timestamp, actual, ...
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from lstmcast import configfile
from lstmcast.config import RunConfig
from lstmcast.errors import ConfigError
from lstmcast.pipeline import runs
from lstmcast.pipeline.sources import Source

NIXTLA = ("unique_id", "ds", "y")  # statsforecast / neuralforecast's long format, detected by its column names


class Forecaster:
    """Train, forecast, save and backtest from pandas DataFrames (or files). Options are the `lstmcast train`
    options by their Python names (lookback, val_size, hidden, layers, epochs, batch_size, lr, seed, device, ...);
    data columns: target, time_col, id_col (a long panel), covariates, future_covariates."""

    def __init__(self, horizon: int | None = None, *, out: str | Path | None = None, **options: Any) -> None:
        unknown = sorted(k for k in options if configfile.field_of(k) is None)
        if unknown:
            raise ConfigError(f"Forecaster: unknown option {unknown[0]!r}; use the names of `lstmcast train --help`")
        self.options = {"horizon": horizon, **options} if horizon is not None else dict(options)
        self.out = None if out is None else Path(out)
        self.run_dir: Path | None = None
        self.run: runs.TrainRun | None = None

    def _config(self, data: Source) -> RunConfig:
        options = dict(self.options)
        if isinstance(data, pd.DataFrame) and set(NIXTLA) <= {str(c) for c in data.columns}:
            for key, column in zip(("id_col", "time_col", "target"), NIXTLA):
                options.setdefault(key, column)
        return configfile.merge(RunConfig(), options)

    def fit(self, data: Source) -> Forecaster:
        """Train on a DataFrame (one series; a long panel with id_col; unique_id/ds/y detected) or a file. Writes an
        ordinary run directory: `out`, or a temporary one until `save`."""
        out = self.out or Path(tempfile.mkdtemp(prefix="lstmcast-")) / "run"
        self.run = runs.train_run(data, self._config(data), out=out)
        self.run_dir = self.run.run_dir
        return self

    def _trained(self) -> Path:
        if self.run_dir is None:
            raise ConfigError("this Forecaster is not trained: call fit(df) or Forecaster.load(run_dir) first")
        return self.run_dir

    def predict(
        self, h: int | None = None, levels: Sequence[float] = (80, 95), data: Source | None = None,
        ids: Sequence[str] | None = None, clip: bool = True,
    ) -> pd.DataFrame:  # fmt: skip
        """The next `h` steps (default: the trained horizon) after the training data, or after `data`: a DataFrame
        of id (panels), timestamp (datetime64, or positions without a time column), forecast, lo_P and hi_P."""
        frame = runs.predict_run(
            self._trained(), data, horizon=h, levels=[float(lv) for lv in levels], ids=list(ids) if ids else None,
            clip=clip,
        )  # fmt: skip
        return _datetimes(frame, "timestamp")

    def backtest(
        self, data: Source, folds: int = 3, levels: Sequence[float] = (), step: int | None = None
    ) -> pd.DataFrame:
        """Rolling-origin backtest of these settings on `data` (a model trained before each origin): the forecasts,
        one row per series, fold and point (backtest.csv's forecasts.csv layout), cutoff and timestamp as datetimes."""
        result = runs.backtest_run(
            data, self._config(data), folds=folds, step=step, levels=[float(lv) for lv in levels]
        )
        return _datetimes(_datetimes(pd.DataFrame.from_records(result.forecast_records()), "timestamp"), "cutoff")

    def save(self, path: str | Path) -> Path:
        """Copy the run directory to `path` (new or empty); `lstmcast predict -m PATH` and `Forecaster.load` read it."""
        source, target = self._trained(), Path(path)
        if target.resolve() == source.resolve():
            return target
        if target.exists() and any(target.iterdir()):
            raise ConfigError(f"{target}: exists and is not empty; save to a new directory")
        shutil.copytree(source, target, dirs_exist_ok=True)
        self.run_dir = target
        return target

    @classmethod
    def load(cls, path: str | Path) -> Forecaster:
        """A Forecaster over a run directory (or its model.pt) written by fit/save or `lstmcast train`."""
        path = Path(path)
        run_dir = path.parent if path.is_file() else path
        if not (run_dir / "model.pt").is_file():
            raise ConfigError(f"{run_dir}: no model.pt; give a run directory written by lstmcast train or save")
        fc = cls()
        fc.run_dir = run_dir
        return fc


def _datetimes(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """ISO timestamps as datetime64 (positions, for data without a time column, stay integers)."""
    if column in frame and len(frame) and not pd.api.types.is_numeric_dtype(frame[column]):
        frame[column] = pd.to_datetime(frame[column], format="ISO8601")
    return frame
