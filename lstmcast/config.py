"""One frozen, nested run configuration, as asked (RunConfig) and resolved (ResolvedConfig): validated when built,
stored in checkpoints as a plain dict. Choices and ranges: choices.py; data-sized defaults: defaults.py."""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any, TypeVar

from lstmcast import defaults
from lstmcast.choices import (
    MAX_INT,
    RANGES,
    Calendar,
    Cell,
    Combine,
    Device,
    Fill,
    Loss,
    Norm,
    Padding,
    Refit,
    ScalerName,
    Schedule,
)
from lstmcast.errors import ConfigError


def _names(value: str | tuple[str, ...] | list[str]) -> list[str]:
    """Column names from 'a,b,c' or a sequence, stripped, empty ones dropped."""
    parts = value.split(",") if isinstance(value, str) else list(value)
    return [str(p).strip() for p in parts if str(p).strip()]


def _check_choice(name: str, value: str, choices: type[Enum]) -> None:
    if value not in {c.value for c in choices}:
        raise ConfigError(f"{name} {value!r} is not one of {', '.join(c.value for c in choices)}")


def _plain_choice(section: object, *names: str) -> None:
    """Store Enum members (what the CLI passes) as their plain string values: configs stay plain data."""
    for name in names:
        value = getattr(section, name)
        if isinstance(value, Enum):
            object.__setattr__(section, name, value.value)


def check_range(name: str, value: float | None, key: str) -> None:
    """`value` within RANGES[key], the bounds a user may give (flags, config files); see _check_number too."""
    if value is None:
        return
    _check_number(name, value)
    rng = RANGES[key]
    if value < rng.lo or (rng.hi is not None and value > rng.hi):
        raise ConfigError(f"{name} {value} is out of range: it must be {rng.describe()}")


def _check_number(name: str, value: float) -> None:
    """NaN, infinities and whole numbers beyond 64 bits are never settings."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{name} {value} is not a finite number")
    if isinstance(value, int) and abs(value) > MAX_INT:
        raise ConfigError(f"{name} {value} is too large: it must fit in a 64-bit integer")


def _check_valid(name: str, value: float | None, lo: float, hi: float | None = None, *, open_hi: bool = False) -> None:
    """What the core cannot run without (wider than RANGES where a user's bound is a guard, not a limit)."""
    if value is None:
        return
    _check_number(name, value)
    too_high = hi is not None and (value >= hi if open_hi else value > hi)
    if value < lo or too_high:
        bound = f">= {lo}" if hi is None else f"in [{lo}, {hi}{')' if open_hi else ']'}"
        raise ConfigError(f"{name} {value} is out of range: it must be {bound}")


@dataclass(frozen=True)
class DataConfig:
    """How to read the CSV: which columns and what to do with missing values."""

    target: str | None = None  # several comma-separated columns: a wide panel, one series per column
    time_col: str | None = None
    fill: str = "interpolate"
    id_col: str | None = None  # long panel: the column naming each row's series
    covariates: tuple[str, ...] = ()  # observed inputs, known up to the forecast origin
    future_covariates: tuple[str, ...] = ()  # inputs known for the forecast horizon too

    def __post_init__(self) -> None:
        _plain_choice(self, "fill")
        _check_choice("--fill", self.fill, Fill)
        for key in ("covariates", "future_covariates"):
            value = getattr(self, key)
            object.__setattr__(self, key, tuple(_names(value)))
        for flag, names in (("--target", self.targets), ("--covariates", self.covariates),
                            ("--future-covariates", self.future_covariates)):  # fmt: skip
            twice = sorted({n for n in names if list(names).count(n) > 1})
            if twice:  # two series (or inputs) of one column would print duplicate (id, timestamp) rows
                raise ConfigError(f"{flag} names column {twice[0]!r} twice; list each column once")
        both = set(self.covariates) & set(self.future_covariates)
        if both:
            raise ConfigError(f"column {sorted(both)[0]!r} is in both --covariates and --future-covariates")
        roles = [c for c in (*self.covariates, *self.future_covariates) if c in (self.time_col, self.id_col)]
        if roles or (self.target and set(self.targets) & {*self.covariates, *self.future_covariates}):
            raise ConfigError("a covariate column cannot also be the target, time or id column")

    @property
    def targets(self) -> list[str]:
        return _names(self.target or "")


@dataclass(frozen=True)
class WindowConfig:
    """How the series becomes training windows, as asked. `None` sizes are resolved from the data into a
    ResolvedWindow (resolve_window)."""

    lookback: int | None = None
    horizon: int | None = None
    val_size: int | None = None
    scaler: str = "auto"  # auto: mase with --norm last, else standard (defaults.scaling_for)
    norm: str = "auto"  # auto: last for seasons of up to 4 steps, else window (defaults.scaling_for)
    calendar: str = "auto"
    # Short series: windows may start before a series does, the missing steps filled with its first values, so
    # that a series shorter than lookback + horizon still trains and forecasts. auto: when some series would
    # otherwise be too short (defaults.needs_padding).
    padding: str = "auto"
    season: int | None = None  # the season length m; None: from the frequency (12 monthly, 4 quarterly, ...)

    def __post_init__(self) -> None:
        _plain_choice(self, "scaler", "norm", "calendar", "padding")
        _check_choice("--calendar", self.calendar, Calendar)
        _check_choice("--padding", self.padding, Padding)
        _check_valid("--season", self.season, 1)
        _check_valid("--lookback", self.lookback, 1)
        _check_valid("--horizon", self.horizon, 1)
        _check_valid("--val-size", self.val_size, 1)
        _check_choice("--scaler", self.scaler, ScalerName)
        _check_choice("--norm", self.norm, Norm)


@dataclass(frozen=True)
class ModelConfig:
    """The network: names follow torch.nn.LSTM."""

    cell: str = "lstm"
    hidden_size: int = 64
    num_layers: int = 1
    dropout: float = 0.0
    bidirectional: bool = False
    proj_size: int = 0

    @property
    def units(self) -> int:
        """Hidden units in all: hidden_size x layers x directions (what the thread rules look at)."""
        return self.hidden_size * self.num_layers * (2 if self.bidirectional else 1)

    def __post_init__(self) -> None:
        _plain_choice(self, "cell")
        _check_choice("--cell", self.cell, Cell)
        _check_valid("--hidden", self.hidden_size, 1)
        _check_valid("--layers", self.num_layers, 1)
        _check_valid("--dropout", self.dropout, 0.0, 1.0, open_hi=True)
        _check_valid("--proj-size", self.proj_size, 0)
        if self.proj_size and self.cell != "lstm":
            raise ConfigError(f"--proj-size works with --cell lstm only, not {self.cell}")
        if self.proj_size >= self.hidden_size:
            raise ConfigError(
                f"--proj-size {self.proj_size} must be smaller than --hidden {self.hidden_size} (or 0 for none)"
            )


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation loop, as asked. `None` sizes are resolved from the number of training windows into a
    ResolvedTrain (resolve_train)."""

    epochs: int | None = None
    batch_size: int | None = None
    lr: float = 3e-3
    loss: str = "mae"  # MASE is an absolute-error score; L1 also shrugs off holiday dips and spikes
    schedule: str = "constant"
    patience: int | None = None
    clip: float = 1.0
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    steps_per_epoch: int | None = None
    amp: bool = False  # mixed precision: float16 with loss scaling on CUDA, bfloat16 on CPU
    # After early stopping, train the final model afresh on every window (the validation part too) for the best
    # epoch count, so that the most recent data shapes the weights too. auto: when the data is short (see
    # defaults.refits), where the validation part is much of what there is to learn from.
    refit: str = "auto"
    # Combine the LSTM's forecasts with the Theta method's by a weight chosen on the validation windows
    # (forecasting.combine); off: the LSTM alone.
    combine: str = "auto"

    def __post_init__(self) -> None:
        _plain_choice(self, "loss", "schedule", "device", "refit", "combine")
        _check_valid("--epochs", self.epochs, 1)
        _check_valid("--batch-size", self.batch_size, 1)
        _check_number("--lr", self.lr)
        if not self.lr > 0:
            raise ConfigError(f"--lr {self.lr} is out of range: it must be > 0")
        _check_choice("--loss", self.loss, Loss)
        _check_choice("--schedule", self.schedule, Schedule)
        _check_valid("--patience", self.patience, 1)
        _check_valid("--clip", self.clip, 0.0)
        _check_valid("--seed", self.seed, 0)
        _check_choice("--device", self.device, Device)
        _check_valid("--threads", self.threads, 1)
        _check_valid("--steps-per-epoch", self.steps_per_epoch, 1)
        _check_choice("--refit", self.refit, Refit)
        _check_choice("--combine", self.combine, Combine)


C = TypeVar("C", bound="RunConfig")


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run; `to_dict`/`from_dict` round-trip through plain data."""

    data: DataConfig = field(default_factory=DataConfig)
    window: WindowConfig = field(default_factory=WindowConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {f.name: dataclasses.asdict(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls: type[C], raw: dict[str, Any]) -> C:
        if not isinstance(raw, dict):
            raise ConfigError("a configuration must be a mapping of sections")
        parts: dict[str, Any] = {}
        sections = cls.section_types()
        for f in fields(cls):
            section_cls = sections[f.name]
            section = raw.get(f.name, {})
            if not isinstance(section, dict):
                raise ConfigError(f"configuration section [{f.name}] must be a mapping")
            valid = [g.name for g in fields(section_cls)]
            for key in section:
                if key not in valid:
                    close = difflib.get_close_matches(key, valid, n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(valid)}"
                    raise ConfigError(f"unknown key {key!r} in [{f.name}]{hint}")
            try:
                parts[f.name] = section_cls(**section)
            except TypeError as exc:
                raise ConfigError(f"bad configuration section [{f.name}]: {exc}") from None
        unknown = set(raw) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"unknown configuration section(s): {', '.join(sorted(unknown))}")
        return cls(**parts)

    @classmethod
    def section_types(cls) -> dict[str, type]:
        return {"data": DataConfig, "window": WindowConfig, "model": ModelConfig, "train": TrainConfig}

    def replace(self, **sections: Any) -> RunConfig:
        return dataclasses.replace(self, **sections)


# --- resolved settings: every size a number -----------------------------------------------------------------------
# The asked settings (above) may leave sizes open (None); resolving fills them from the data by the rules in
# defaults.py, once, into these types. Code after the resolve step takes only these, so a size is always an int.


def _whole(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number once resolved, not {value!r}")


@dataclass(frozen=True, kw_only=True)
class ResolvedWindow(WindowConfig):
    """WindowConfig with its sizes fixed: what windowing, the network, forecasts and checkpoints read."""

    lookback: int
    horizon: int
    val_size: int
    scaler: str = "standard"  # never auto once resolved (checkpoints before auto existed hold these)
    norm: str = "window"
    padding: str = "off"  # on or off once resolved (checkpoints before padding existed read as off)
    season: int = 1  # the season length of the scaler, the norm and the Theta partner (older checkpoints: unused)

    def __post_init__(self) -> None:
        for name in ("lookback", "horizon", "val_size", "season"):
            _whole(f"--{name.replace('_', '-')}", getattr(self, name))
        if self.padding not in ("on", "off"):
            raise ConfigError(f"a resolved padding is on or off, not {self.padding!r}")
        if "auto" in (self.norm, self.scaler):
            raise ConfigError("a resolved --norm and --scaler are never auto")
        super().__post_init__()

    @property
    def pad(self) -> int:
        """Rows of padding before each series: windows may start with as few as MIN_HISTORY real steps."""
        return max(0, self.lookback - defaults.MIN_HISTORY) if self.padding == "on" else 0


@dataclass(frozen=True, kw_only=True)
class ResolvedTrain(TrainConfig):
    """TrainConfig with its sizes fixed: what the training loop reads."""

    epochs: int
    batch_size: int
    patience: int

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "patience"):
            _whole(f"--{name.replace('_', '-')}", getattr(self, name))
        super().__post_init__()


@dataclass(frozen=True, kw_only=True)
class ResolvedConfig(RunConfig):
    """A run's settings with every size fixed (resolve): what training, checkpoints and forecasts read.

    Stored in checkpoints under "config" (format 1 stored the same); the settings as asked go beside it."""

    window: ResolvedWindow
    train: ResolvedTrain

    @classmethod
    def section_types(cls) -> dict[str, type]:
        return super().section_types() | {"window": ResolvedWindow, "train": ResolvedTrain}


def _fields_of(section: Any) -> dict[str, Any]:
    return {f.name: getattr(section, f.name) for f in fields(section)}


def resolve_window(asked: WindowConfig, n_rows: int, season: int, shortest: int | None = None) -> ResolvedWindow:
    """Fix the window sizes left open (defaults.window_sizes) for series of `n_rows` rows (typically) and season
    `season`, and whether windows are padded (--padding auto: when the `shortest` series needs it)."""
    season = asked.season or season
    sizes = (asked.lookback, asked.horizon, asked.val_size)
    lookback, horizon, val_size = defaults.window_sizes(n_rows, season, *sizes)
    # auto pads only a lookback the user left open: a --lookback given is kept as a contract
    padded = asked.padding == "on" or (
        asked.padding == "auto"
        and asked.lookback is None
        and shortest is not None
        and defaults.needs_padding(shortest, lookback, horizon, val_size)
    )
    if padded:
        lookback, horizon, val_size = defaults.window_sizes(n_rows, season, *sizes, padded=True)
    scaler, norm = defaults.scaling_for(season, asked.scaler, asked.norm)
    fixed: dict[str, Any] = {"lookback": lookback, "horizon": horizon, "val_size": val_size, "season": max(1, season)}
    fixed |= {"scaler": scaler, "norm": norm, "padding": "on" if padded else "off"}
    return ResolvedWindow(**(_fields_of(asked) | fixed))


def resolve_train(asked: TrainConfig, n_windows: int, n_series: int = 1) -> ResolvedTrain:
    """Fix batch size, epochs and patience left open (defaults.training_sizes) for `n_windows` training windows
    of `n_series` series."""
    batch, epochs, patience = defaults.training_sizes(
        n_windows, asked.batch_size, asked.epochs, asked.patience, asked.steps_per_epoch, n_series
    )
    return ResolvedTrain(**(_fields_of(asked) | {"batch_size": batch, "epochs": epochs, "patience": patience}))


def resolve(
    asked: RunConfig, window: ResolvedWindow, n_windows: int, data: DataConfig | None = None, n_series: int = 1
) -> ResolvedConfig:
    """The asked settings with the resolved window sizes and the training sizes for `n_windows` training windows
    of `n_series` series."""
    return ResolvedConfig(
        data=asked.data if data is None else data,
        window=window,
        model=asked.model,
        train=resolve_train(asked.train, n_windows, n_series),
    )
