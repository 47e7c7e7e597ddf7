"""lstmcast: time-series forecasting with an LSTM, as a library and a command-line tool.

The public API is imported lazily so that `import lstmcast` (and `lstmcast --help`) stays fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API = {
    "Forecaster": "lstmcast.pipeline.forecaster",
    "load_series": "lstmcast.io.data",
    "Series": "lstmcast.io.data",
    "RunConfig": "lstmcast.config",
    "DataConfig": "lstmcast.config",
    "WindowConfig": "lstmcast.config",
    "ModelConfig": "lstmcast.config",
    "TrainConfig": "lstmcast.config",
    "ResolvedConfig": "lstmcast.config",
    "LSTMRegressor": "lstmcast.nn.model",
    "fit": "lstmcast.training.loop",
    "train_model": "lstmcast.training.run",
    "fit_series": "lstmcast.training.fitting",
    "train_run": "lstmcast.pipeline.runs",
    "predict_run": "lstmcast.pipeline.runs",
    "forecast": "lstmcast.forecasting.forecast",
    "load_checkpoint": "lstmcast.checkpoint.format",
    "LstmcastError": "lstmcast.errors",
    "DataError": "lstmcast.errors",
    "ConfigError": "lstmcast.errors",
    "CheckpointError": "lstmcast.errors",
}
_ALIASES = {"load_checkpoint": "load"}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'lstmcast' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(_API[name])
    return getattr(module, _ALIASES.get(name, name))
