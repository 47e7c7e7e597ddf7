"""The choices and numeric ranges of every setting, declared once: read by the dataclasses in config, by the
command-line options (cli.options) and by the config-file reader (configfile). No heavy imports: on --help's path."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Fill(str, Enum):
    interpolate = "interpolate"
    ffill = "ffill"
    error = "error"


class ScalerName(str, Enum):
    auto = "auto"
    standard = "standard"
    minmax = "minmax"
    mase = "mase"
    none = "none"


class Norm(str, Enum):
    auto = "auto"
    window = "window"
    last = "last"
    none = "none"


class Padding(str, Enum):
    auto = "auto"
    on = "on"
    off = "off"


class Combine(str, Enum):
    auto = "auto"
    off = "off"


class Calendar(str, Enum):
    auto = "auto"
    off = "off"


class Cell(str, Enum):
    lstm = "lstm"
    gru = "gru"
    rnn = "rnn"


class Loss(str, Enum):
    mse = "mse"
    mae = "mae"
    huber = "huber"


class Schedule(str, Enum):
    constant = "constant"
    plateau = "plateau"
    cosine = "cosine"


class Refit(str, Enum):
    auto = "auto"
    on = "on"
    off = "off"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


@dataclass(frozen=True)
class Range:
    """The values a user may give a numeric setting: [lo, hi] (hi None: no upper bound). Declared once here, read by
    the command-line options (cli.options: typer's min/max) and by the config-file reader (configfile), so a config
    file gets the same bounds as the flags. The dataclasses below check only what the core cannot run without
    (e.g. dropout in [0, 1), lr > 0), so library code may go beyond a user's bounds (a test diverging on purpose)."""

    lo: float
    hi: float | None = None

    def describe(self) -> str:
        return f">= {self.lo}" if self.hi is None else f"in [{self.lo}, {self.hi}]"


# field name -> its range (the flag is --field-name, except hidden_size -> --hidden, num_layers -> --layers: FLAGS)
RANGES: dict[str, Range] = {
    "lookback": Range(1),
    "horizon": Range(1),
    "val_size": Range(1),
    "season": Range(1, 10_000),
    "hidden_size": Range(1),
    # Deeper recurrent stacks do not train better and every layer adds to every time step: 1,000 layers of one
    # unit took more than 5 minutes for one epoch of a 144-row series (16 layers: 15 s).
    "num_layers": Range(1, 16),
    "dropout": Range(0.0, 0.99),  # [0, 1) in principle; 0.99 is as far as dropping inputs makes sense
    "proj_size": Range(0),
    "epochs": Range(1),
    "batch_size": Range(1),
    "lr": Range(1e-8, 10.0),
    "patience": Range(1),
    "clip": Range(0.0),
    "seed": Range(0, 2**32 - 1),  # NumPy's seed range; torch takes it as is
    # OpenMP allocates per thread: --threads 1000000000 aborted the process inside libgomp ("Out of memory
    # allocating 216000001344 bytes") before Python could say a word. 1024 runs.
    "threads": Range(1, 1024),
    "steps_per_epoch": Range(1),
    "nproc": Range(1, 1024),  # train --nproc, or nproc in a config file's [run] section
}
FLAGS = {"hidden_size": "--hidden", "num_layers": "--layers"}
# The most steps `predict --horizon` forecasts (recursively beyond the trained horizon): 100,000 steps of a series
# without timestamps already take minutes; dated forecasts must also end by 9999-12-31 (io.data.check_future).
MAX_FORECAST_STEPS = 100_000
MAX_INT = 2**63 - 1  # whole numbers beyond a 64-bit integer are refused everywhere (TOML allows any size)


def flag_of(field_name: str) -> str:
    """The command-line flag that sets `field_name`: --hidden for hidden_size, --val-size for val_size."""
    return FLAGS.get(field_name, "--" + field_name.replace("_", "-"))
