"""The options and arguments commands share, the choices they offer, and the run configuration built from them."""

from __future__ import annotations

import functools
import inspect as pyinspect
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, get_type_hints

import typer

from lstmcast.choices import (
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

if TYPE_CHECKING:
    from lstmcast.config import RunConfig

__all__ = [
    "Calendar", "Cell", "Combine", "Device", "Fill", "Loss", "Norm", "Padding", "Refit", "ScalerName", "Schedule",
]  # fmt: skip


def limits(field: str) -> dict[str, float]:
    """typer's min/max for the option that sets `field`: config.RANGES, the one declaration of each range."""
    rng = RANGES[field]
    return {"min": rng.lo} if rng.hi is None else {"min": rng.lo, "max": rng.hi}


LevelOpt = Annotated[
    list[float] | None,
    typer.Option(
        "--level", min=1.0, max=99.0, help="Prediction interval level in % (repeatable), e.g. --level 80 --level 95."
    ),
]


ClipZeroOpt = Annotated[
    bool,
    typer.Option(
        "--clip-zero/--no-clip-zero",
        help="Clip the intervals of series never negative in the training data at zero.",
    ),
]


class OutFormat(str, Enum):
    csv = "csv"
    json = "json"


DataArg = Annotated[
    str, typer.Argument(help="CSV file (.csv or .csv.gz), Parquet file (.parquet), or - to read standard input.")
]
OptDataArg = Annotated[
    str | None, typer.Argument(help="Recent data to forecast from (file or -); default: the stored history.")
]
ModelOpt = Annotated[Path, typer.Option("--model", "-m", help="Run directory or .pt checkpoint file.")]
TargetOpt = Annotated[
    str | None,
    typer.Option(help="Column to forecast (default: the only numeric column); a,b,c: one series per column."),
]
TimeOpt = Annotated[str | None, typer.Option("--time-col", help="Time column (default: the one date column).")]
FillOpt = Annotated[Fill, typer.Option(help="What to do with missing values.")]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        exists=True,
        dir_okay=False,
        help="TOML run configuration (e.g. a run's config.toml); options given on the command line override it.",
    ),
]


def _model_options(
    target: TargetOpt = None,
    time_col: TimeOpt = None,
    fill: FillOpt = Fill.interpolate,
    id_col: Annotated[
        str | None, typer.Option("--id-col", help="Long panel: the column naming each row's series.")
    ] = None,
    covariates: Annotated[
        str | None, typer.Option(help="Observed input columns, comma-separated (known up to the forecast origin).")
    ] = None,
    future_covariates: Annotated[
        str | None,
        typer.Option(help="Input columns known ahead, comma-separated (predict data must hold the horizon's rows)."),
    ] = None,
    lookback: Annotated[
        int | None, typer.Option(**limits("lookback"), help="Input steps per window (default: from the season).")
    ] = None,
    horizon: Annotated[int | None, typer.Option(**limits("horizon"), help="Steps to forecast (default: one season).")] = None,
    val_size: Annotated[
        int | None, typer.Option(**limits("val_size"), help="Last points held out for validation (default: from the horizon).")
    ] = None,
    scaler: Annotated[
        ScalerName,
        typer.Option(help="Scaler fitted on the training part; auto: mase with --norm last, else standard."),
    ] = ScalerName.auto,
    norm: Annotated[
        Norm,
        typer.Option(
            help="Each window relative to its own mean and spread (window) or its last value (last); auto: last "
            "for seasons of up to 4 steps, else window."
        ),
    ] = Norm.auto,
    calendar: Annotated[
        Calendar, typer.Option(help="Calendar features (hour of day, day of week, time of year as sin/cos) as inputs.")
    ] = Calendar.auto,
    padding: Annotated[
        Padding,
        typer.Option(
            help="Let windows start before a series does (its first value repeated), so short series train and "
            "forecast; auto: when some series is shorter than lookback + horizon + validation and --lookback is not given."
        ),
    ] = Padding.auto,
    cell: Annotated[Cell, typer.Option(help="Recurrent cell.")] = Cell.lstm,
    hidden: Annotated[int, typer.Option(**limits("hidden_size"), help="Hidden units per layer.")] = 64,
    layers: Annotated[int, typer.Option(**limits("num_layers"), help="Stacked recurrent layers.")] = 1,
    dropout: Annotated[float, typer.Option(**limits("dropout"), help="Dropout between layers, in [0, 1).")] = 0.0,
    bidirectional: Annotated[bool, typer.Option(help="Read the window in both directions.")] = False,
    proj_size: Annotated[int, typer.Option(**limits("proj_size"), help="LSTM projection size (0: none).")] = 0,
    epochs: Annotated[
        int | None, typer.Option(**limits("epochs"), help="Most epochs to train (default: from the series' length).")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(**limits("batch_size"), help="Windows per batch (default: from the series' length).")
    ] = None,
    lr: Annotated[float, typer.Option(**limits("lr"), help="Adam learning rate.")] = 3e-3,
    loss: Annotated[Loss, typer.Option(help="Training loss.")] = Loss.mae,
    schedule: Annotated[Schedule, typer.Option(help="Learning-rate schedule.")] = Schedule.constant,
    patience: Annotated[
        int | None, typer.Option(**limits("patience"), help="Epochs without validation gain before stopping (default: from --epochs).")
    ] = None,
    clip: Annotated[float, typer.Option(**limits("clip"), help="Gradient-norm clipping (0: off).")] = 1.0,
    seed: Annotated[int, typer.Option(**limits("seed"), help="Random seed: same seed and data give the same model on CPU.")] = 0,
    device: Annotated[Device, typer.Option(help="auto picks cuda, then mps, then cpu.")] = Device.auto,
    threads: Annotated[int | None, typer.Option(**limits("threads"), help="CPU threads for torch.")] = None,
    steps_per_epoch: Annotated[int | None, typer.Option(**limits("steps_per_epoch"), help="Cap each epoch at N batches.")] = None,
    amp: Annotated[bool, typer.Option(help="Mixed precision (float16 on CUDA, bfloat16 on CPU).")] = False,
    refit: Annotated[
        Refit,
        typer.Option(
            help="After early stopping, retrain on all the data (validation part too) for the best epoch count; "
            "auto: when there are fewer than 1,000 training windows."
        ),
    ] = Refit.auto,
    combine: Annotated[
        Combine,
        typer.Option(
            help="Combine the LSTM with the Theta method by a weight chosen on the validation windows; off: the "
            "LSTM alone."
        ),
    ] = Combine.auto,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or tables.")] = False,
) -> None:
    """The options shared by every command that trains (train, backtest): see `_config`."""


def with_model_options(fn: Callable[..., None]) -> Callable[..., None]:
    """Give a command the training options of `_model_options`; it receives them as one dict `opts`."""
    shared = pyinspect.signature(_model_options).parameters
    own = [p for p in pyinspect.signature(fn).parameters.values() if p.name != "opts"]

    @functools.wraps(fn)
    def wrapper(**kwargs: Any) -> None:
        opts = {name: kwargs.pop(name) for name in shared}
        fn(opts=opts, **kwargs)

    hints = {**get_type_hints(fn, include_extras=True), **get_type_hints(_model_options, include_extras=True)}
    hints.pop("opts", None)
    params = [p.replace(annotation=hints[p.name]) for p in (*own, *shared.values())]
    wrapper.__signature__ = pyinspect.Signature(params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = hints
    return wrapper


def _value(x: Any) -> Any:
    return x.value if isinstance(x, Enum) else x


def _config(opts: dict[str, Any]) -> RunConfig:
    """Build the frozen run configuration from the shared options."""
    from lstmcast.config import DataConfig, ModelConfig, RunConfig, TrainConfig, WindowConfig

    o = {k: _value(v) for k, v in opts.items()}
    return RunConfig(
        DataConfig(
            target=o["target"], time_col=o["time_col"], fill=o["fill"], id_col=o["id_col"],
            covariates=o["covariates"] or (), future_covariates=o["future_covariates"] or (),
        ),
        WindowConfig(
            lookback=o["lookback"], horizon=o["horizon"], val_size=o["val_size"], scaler=o["scaler"], norm=o["norm"],
            calendar=o["calendar"], padding=o["padding"],
        ),
        ModelConfig(
            cell=o["cell"], hidden_size=o["hidden"], num_layers=o["layers"], dropout=o["dropout"],
            bidirectional=o["bidirectional"], proj_size=o["proj_size"],
        ),
        TrainConfig(
            epochs=o["epochs"], batch_size=o["batch_size"], lr=o["lr"], loss=o["loss"], schedule=o["schedule"],
            patience=o["patience"], clip=o["clip"], seed=o["seed"], device=o["device"], threads=o["threads"],
            steps_per_epoch=o["steps_per_epoch"], amp=o["amp"], refit=o["refit"], combine=o["combine"],
        ),
    )  # fmt: skip


def _resolved_config(ctx: typer.Context, opts: dict[str, Any], config: Path | None) -> RunConfig:
    """The options as a run configuration: the --config file's, with the options given on the command line over
    it; without a file, every option's value (given or default)."""
    if config is None:
        return _config(opts)
    from lstmcast import configfile

    return configfile.merge(configfile.read(config), {n: _value(opts[n]) for n in opts if _given(ctx, n)})


def check_header(data: str | None, cfg: RunConfig | None = None, **columns: str | None) -> None:
    """The columns a command names, checked against the CSV header before torch and pandas load (precheck)."""
    if data is None:
        return
    from lstmcast.pipeline import precheck

    if cfg is not None:
        d = cfg.data
        precheck.check_columns(
            data, target=d.target, time_col=d.time_col, id_col=d.id_col, covariates=d.covariates,
            future_covariates=d.future_covariates,
        )  # fmt: skip
    else:
        precheck.check_columns(data, target=columns.get("target"), time_col=columns.get("time_col"))


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether the user gave option `name` (on the command line or through the environment), not its default."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


class ReportFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


# the scoring options of backtest and evaluate
StepOpt = Annotated[int | None, typer.Option(min=1, help="Points between origins (default: the horizon).")]
SeasonOpt = Annotated[int | None, typer.Option(min=1, help="Season length for seasonal naive and MASE.")]
ReportFormatOpt = Annotated[
    ReportFormat, typer.Option("--format", "-f", help="table (stderr only), csv or json on stdout.")
]


class InspectFormat(str, Enum):
    card = "card"
    json = "json"


class ExportFormat(str, Enum):
    onnx = "onnx"
    torchscript = "torchscript"
