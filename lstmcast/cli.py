"""The Typer app: parse options, build the config, call the pipeline, print, map errors to exit codes.

Heavy libraries (torch, pandas, scikit-learn) are imported inside the commands so `--help` answers at once.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import importlib
import inspect as pyinspect
import os
import signal
import sys
from collections.abc import Callable
from enum import Enum, IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, get_type_hints

import typer

from lstmcast import __version__
from lstmcast.errors import CheckpointError, ConfigError, DataError, LstmcastError, MainRankFailed

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

    from lstmcast.config import RunConfig


class ExitStatus(IntEnum):
    OK = 0
    INTERNAL = 1
    USAGE = 2
    DATA = 3
    CHECKPOINT = 4
    INTERRUPTED = 130
    TERMINATED = 143


class Fill(str, Enum):
    interpolate = "interpolate"
    ffill = "ffill"
    error = "error"


class ScalerName(str, Enum):
    standard = "standard"
    minmax = "minmax"
    none = "none"


class Norm(str, Enum):
    window = "window"
    none = "none"


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


LevelOpt = Annotated[
    list[float] | None,
    typer.Option(
        "--level", min=1.0, max=99.0, help="Prediction interval level in % (repeatable), e.g. --level 80 --level 95."
    ),
]


class OutFormat(str, Enum):
    csv = "csv"
    json = "json"


app = typer.Typer(
    name="lstmcast",
    help="Forecast a time series from a CSV with an LSTM. Data goes to stdout, everything else to stderr.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_state: dict[str, Any] = {"debug": bool(os.environ.get("LSTMCAST_DEBUG"))}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lstmcast {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback of an error.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    if debug:
        _state["debug"] = True


def _console() -> Console:
    from lstmcast.render import error_console

    return error_console()


DataArg = Annotated[str, typer.Argument(help="CSV file (.csv or .csv.gz), or - to read standard input.")]
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
        int | None, typer.Option(min=1, help="Input steps per window (default: from the season).")
    ] = None,
    horizon: Annotated[int | None, typer.Option(min=1, help="Steps to forecast (default: one season).")] = None,
    val_size: Annotated[
        int | None, typer.Option(min=1, help="Last points held out for validation (default: from the horizon).")
    ] = None,
    scaler: Annotated[ScalerName, typer.Option(help="Scaler fitted on the training part.")] = ScalerName.standard,
    norm: Annotated[Norm, typer.Option(help="Normalise each window by its own level and spread.")] = Norm.window,
    calendar: Annotated[
        Calendar, typer.Option(help="Calendar features (hour of day, day of week, time of year as sin/cos) as inputs.")
    ] = Calendar.auto,
    cell: Annotated[Cell, typer.Option(help="Recurrent cell.")] = Cell.lstm,
    hidden: Annotated[int, typer.Option(min=1, help="Hidden units per layer.")] = 64,
    layers: Annotated[int, typer.Option(min=1, help="Stacked recurrent layers.")] = 1,
    dropout: Annotated[float, typer.Option(min=0.0, max=0.99, help="Dropout between layers, in [0, 1).")] = 0.0,
    bidirectional: Annotated[bool, typer.Option(help="Read the window in both directions.")] = False,
    proj_size: Annotated[int, typer.Option(min=0, help="LSTM projection size (0: none).")] = 0,
    epochs: Annotated[
        int | None, typer.Option(min=1, help="Most epochs to train (default: from the series' length).")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Windows per batch (default: from the series' length).")
    ] = None,
    lr: Annotated[float, typer.Option(min=1e-8, max=10.0, help="Adam learning rate.")] = 3e-3,
    loss: Annotated[Loss, typer.Option(help="Training loss.")] = Loss.mae,
    schedule: Annotated[Schedule, typer.Option(help="Learning-rate schedule.")] = Schedule.constant,
    patience: Annotated[
        int | None, typer.Option(min=1, help="Epochs without validation gain before stopping (default: from --epochs).")
    ] = None,
    clip: Annotated[float, typer.Option(min=0.0, help="Gradient-norm clipping (0: off).")] = 1.0,
    seed: Annotated[int, typer.Option(min=0, help="Random seed: same seed and data give the same model on CPU.")] = 0,
    device: Annotated[Device, typer.Option(help="auto picks cuda, then mps, then cpu.")] = Device.auto,
    threads: Annotated[int | None, typer.Option(min=1, help="CPU threads for torch.")] = None,
    steps_per_epoch: Annotated[int | None, typer.Option(min=1, help="Cap each epoch at N batches.")] = None,
    amp: Annotated[bool, typer.Option(help="Mixed precision (float16 on CUDA, bfloat16 on CPU).")] = False,
    refit: Annotated[
        Refit,
        typer.Option(
            help="After early stopping, retrain on all the data (validation part too) for the best epoch count; "
            "auto: when there are fewer than 1,000 training windows."
        ),
    ] = Refit.auto,
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
            calendar=o["calendar"],
        ),
        ModelConfig(
            cell=o["cell"], hidden_size=o["hidden"], num_layers=o["layers"], dropout=o["dropout"],
            bidirectional=o["bidirectional"], proj_size=o["proj_size"],
        ),
        TrainConfig(
            epochs=o["epochs"], batch_size=o["batch_size"], lr=o["lr"], loss=o["loss"], schedule=o["schedule"],
            patience=o["patience"], clip=o["clip"], seed=o["seed"], device=o["device"], threads=o["threads"],
            steps_per_epoch=o["steps_per_epoch"], amp=o["amp"], refit=o["refit"],
        ),
    )  # fmt: skip


@app.command()
@with_model_options
def train(
    ctx: typer.Context,
    data: DataArg,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run directory to create (must be new or empty).")
    ] = None,
    name: Annotated[str, typer.Option(help="Run name under --project (runs/NAME, NAME2, ...).")] = "train",
    project: Annotated[Path, typer.Option(help="Parent directory of run directories.")] = Path("runs"),
    config: ConfigOpt = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume",
            exists=True,
            file_okay=False,
            help="Run directory to go on training from its last.pt, on the same DATA; --epochs N extends a finished run.",
        ),
    ] = None,
    nproc: Annotated[
        int,
        typer.Option(
            "--nproc",
            min=1,
            max=1024,
            help="Train in N local processes with DistributedDataParallel (started as torchrun does; "
            "--batch-size is the global batch).",
        ),
    ] = 1,
    opts: dict[str, Any] | None = None,
) -> None:
    """Train a model on DATA and write a run directory (model.pt, last.pt, metrics.csv, figures, summary.json,
    config.toml)."""
    assert opts is not None
    run: dict[str, Any] = {}  # the config file's [run] section, less what the command line gives
    if config is not None:
        from lstmcast import configfile

        run = {k: v for k, v in configfile.read_run(config).items() if not _given(ctx, k)}
    if _given(ctx, "nproc"):
        if nproc > 1:
            _launch(data, nproc)
    elif run.get("nproc", 1) > 1 and "WORLD_SIZE" not in os.environ:  # the workers it starts read the file too
        _launch(data, run["nproc"])
    quiet = run.get("quiet", opts["quiet"])
    if resume is not None:
        _resume(data, resume, {n: _value(opts[n]) for n in opts if _given(ctx, n)}, ctx, quiet=quiet)
        return
    cfg = _resolved_config(ctx, opts, config)
    out = Path(run["out"]) if "out" in run else out
    _run_training(
        data, cfg, out=out, project=Path(run.get("project", project)), name=run.get("name", name), quiet=quiet
    )


def _resolved_config(ctx: typer.Context, opts: dict[str, Any], config: Path | None) -> RunConfig:
    """The options as a run configuration: the --config file's, with the options given on the command line over
    it; without a file, every option's value (given or default)."""
    if config is None:
        return _config(opts)
    from lstmcast import configfile

    return configfile.merge(configfile.read(config), {n: _value(opts[n]) for n in opts if _given(ctx, n)})


def _launch(data: str, nproc: int) -> NoReturn:
    """`train --nproc N`: run this same command line (without --nproc) as N workers of one distributed job."""
    from lstmcast import distributed

    if distributed.env_group().active:
        raise ConfigError("--nproc: this is already a process of a distributed job (torchrun); drop --nproc")
    if data == "-":
        raise ConfigError("--nproc: every process reads DATA; give a file, not - (standard input)")
    argv: list[str] = _state.get("argv") or sys.argv[1:]
    args, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            args.append(arg)
    raise SystemExit(distributed.launch(nproc, args))


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether the user gave option `name` (on the command line or through the environment), not its default."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


RESUME_OPTIONS = ("epochs", "patience", "threads", "device", "quiet")  # what --resume lets a user change


def _resume(data: str, run_dir: Path, given: dict[str, Any], ctx: typer.Context, *, quiet: bool) -> None:
    """Go on training run_dir from its last.pt with the run's own configuration."""
    from lstmcast.resume import load_point

    own = [n for n in ("out", "name", "project", "config") if _given(ctx, n)]
    fixed = sorted(n for n in (*given, *own) if n not in RESUME_OPTIONS)
    if fixed:
        raise ConfigError(
            f"--resume goes on with the run's own configuration and directory; --{fixed[0].replace('_', '-')} "
            "cannot change it (only --epochs, --patience, --threads and --device can)"
        )
    point = load_point(
        run_dir, epochs=given.get("epochs"), patience=given.get("patience"), threads=given.get("threads"),
        device=given.get("device"),
    )  # fmt: skip
    if point.nothing_to_do is not None:
        if not quiet:
            _note(_console(), point.nothing_to_do)
        return
    _run_training(data, point.config, out=None, project=Path("runs"), name="train", quiet=quiet, resume=point)


def _run_training(
    data: str, cfg: Any, *, out: Path | None, project: Path, name: str, quiet: bool, resume: Any = None
) -> None:
    from lstmcast import distributed, pipeline, render

    main_rank = distributed.env_group().is_main
    quiet = quiet or not main_rank  # the ranks > 0 of a distributed job train silently
    console = _console()
    report = None if quiet else (lambda msg: _note(console, msg))
    with render.TrainingProgress(console, cfg.train.epochs, enabled=not quiet) as bar:
        run = pipeline.train_run(
            data, cfg, out=out, project=project, name=name, stdin=sys.stdin.buffer, report=report, resume=resume,
            on_epoch_end=lambda log, model, improved: bar.update(log.epoch, log.train_loss, log.val_loss, log.epochs),
        )  # fmt: skip
    res = run.result
    if not quiet:
        if res.stop_reason == "early_stop":
            kept = "the final model refitted on all the data for that many epochs" if run.refitted else "restored"
            _note(console, f"early stop at epoch {res.epochs_run}; best epoch {res.best_epoch}, {kept}")
        render.metrics_table(console, "Validation (original units)", run.val_metrics, ["mae", "rmse", "mape", "mase"])
        ours, snaive = run.val_metrics["lstmcast"]["mase"], run.val_metrics["seasonal naive"]["mase"]
        if ours == ours and snaive == snaive and ours >= snaive:
            _note(
                console,
                f"[yellow]warning:[/] on validation the model (MASE {ours:.3f}) does not beat repeating the last "
                f"season (MASE {snaive:.3f}); try more data, a longer --lookback or more --epochs",
            )
        _note(
            console,
            f"saved run to [bold]{run.run_dir}[/] (model.pt, last.pt, metrics.csv, loss.png, forecast.png, summary.json, "
            "config.toml)",
        )
    if res.stop_reason == "non_finite":
        raise DataError(
            f"training stopped: the loss became NaN or infinite at epoch {res.epochs_run}; the best model so far is "
            f"in {run.run_dir}/model.pt. Try a smaller --lr or --scaler standard"
        )
    if res.stop_reason == "interrupted":
        if not main_rank:
            raise _Interrupted()  # rank 0 says where the run is saved
        _note(
            console,
            f"interrupted: saved {run.run_dir}/last.pt and the best model so far; go on with "
            f"`lstmcast train DATA --resume {run.run_dir}`",
        )
        raise _Interrupted()
    if run.refit is not None and run.refit.stop_reason == "interrupted":
        if main_rank:
            _note(
                console,
                f"interrupted during the final refit: {run.run_dir}/model.pt holds the model of the first fit "
                "(trained without the validation part)",
            )
        raise _Interrupted()


class _Interrupted(Exception):
    pass


@app.command()
def predict(
    model: ModelOpt,
    data: OptDataArg = None,
    horizon: Annotated[
        int | None, typer.Option(min=1, help="Steps to forecast (default: the trained horizon).")
    ] = None,
    format: Annotated[
        OutFormat, typer.Option("--format", "-f", help="csv, or json (one object per line).")
    ] = OutFormat.csv,
    ids: Annotated[list[str] | None, typer.Option("--id", help="Forecast only this series (repeatable).")] = None,
    level: LevelOpt = None,
    target: TargetOpt = None,
    time_col: TimeOpt = None,
    fill: FillOpt = Fill.interpolate,
) -> None:
    """Forecast the steps after the model's stored history, or after DATA (file or -). Writes CSV to stdout:
    timestamp,forecast (id,timestamp,forecast for panels)."""
    from lstmcast import pipeline

    console = _console()
    frame = pipeline.predict_run(
        model, data, horizon=horizon, ids=ids, levels=level, target=target, time_col=time_col, fill=fill.value,
        stdin=sys.stdin.buffer, report=lambda msg: _note(console, msg),
    )  # fmt: skip
    _write_frame(frame, format)


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


@app.command()
@with_model_options
def backtest(
    ctx: typer.Context,
    data: DataArg,
    folds: Annotated[int, typer.Option(min=1, help="Number of rolling origins.")] = 3,
    step: StepOpt = None,
    season: SeasonOpt = None,
    ensemble: Annotated[int | None, typer.Option(min=1, help="Models per fold (seeds), median forecast.")] = None,
    local: Annotated[
        bool, typer.Option("--local", help="A panel: one model per series instead of one global model.")
    ] = False,
    level: LevelOpt = None,
    format: ReportFormatOpt = ReportFormat.table,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Directory for backtest.csv and backtest.png.")
    ] = None,
    config: ConfigOpt = None,
    opts: dict[str, Any] | None = None,
) -> None:
    """Rolling-origin evaluation: train before each of K origins, forecast the next horizon, compare baselines."""
    from lstmcast import pipeline

    assert opts is not None
    console = _console()
    quiet = opts["quiet"]
    report = None if quiet else (lambda msg: _note(console, msg))
    result = pipeline.backtest_run(
        data, _resolved_config(ctx, opts, config), folds=folds, step=step, season=season, ensemble=ensemble, levels=level, local=local, out=out,
        stdin=sys.stdin.buffer, report=report,
    )  # fmt: skip
    title = f"Backtest of {result.series.target}: {len(result.folds)} origins, horizon {len(result.folds[0].actual)}, season {result.season}"
    _show_scores(result, format, quiet, title)


@app.command()
def evaluate(
    model: ModelOpt,
    data: DataArg,
    horizon: Annotated[
        int | None, typer.Option(min=1, help="Steps per forecast (default: the trained horizon).")
    ] = None,
    step: StepOpt = None,
    season: SeasonOpt = None,
    level: LevelOpt = None,
    format: ReportFormatOpt = ReportFormat.table,
    target: TargetOpt = None,
    time_col: TimeOpt = None,
    fill: FillOpt = Fill.interpolate,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No table.")] = False,
) -> None:
    """Score a trained model on the part of DATA after its training data, against the baselines."""
    from lstmcast import pipeline

    console = _console()
    result = pipeline.evaluate_run(
        model, data, horizon=horizon, step=step, season=season, levels=level, target=target, time_col=time_col, fill=fill.value,
        stdin=sys.stdin.buffer, report=None if quiet else (lambda msg: _note(console, msg)),
    )  # fmt: skip
    title = f"Evaluation of {model} on {result.series.source}: {len(result.folds)} origins after the training data"
    _show_scores(result, format, quiet, title)


@app.command()
def inspect(
    model: ModelOpt,
    data: OptDataArg = None,
    gates: Annotated[
        bool, typer.Option("--gates", help="Recompute the gates over the last window (of DATA if given).")
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Directory for gates.png (default: the run directory).")
    ] = None,
    format: Annotated[InspectFormat, typer.Option("--format", "-f", help="card (stderr) or json (stdout).")] = None,  # type: ignore[assignment]
) -> None:
    """A model card: configuration, size, data and span, validation against seasonal naive, versions."""
    from lstmcast import pipeline, render

    console = _console()
    card, gate, figure = pipeline.inspect_run(
        model, gates=gates, source=data, out=out, stdin=sys.stdin.buffer, report=lambda msg: _note(console, msg)
    )
    if format is InspectFormat.json:
        import json

        payload = dict(card)
        if gate is not None:
            payload["gates"] = {
                "keep_gate": gate.keep,
                "keep_mean": gate.keep_mean,
                "retention": gate.retention,
                "figure": str(figure),
            }
        sys.stdout.write(json.dumps(_json_safe(payload), indent=2) + "\n")
        return
    render.model_card(console, card)
    if gate is not None:
        render.gate_summary(console, gate.kind, gate.keep, gate.keep_mean, gate.retention)
        _note(console, f"wrote {figure}")


class InspectFormat(str, Enum):
    card = "card"
    json = "json"


class ExportFormat(str, Enum):
    onnx = "onnx"
    torchscript = "torchscript"


@app.command()
def export(
    model: ModelOpt,
    format: Annotated[
        ExportFormat,
        typer.Option("--format", "-f", help='onnx (needs pip install "lstmcast\\[export]") or torchscript.'),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", dir_okay=False, help="File to write (replaced atomically).")],
) -> None:
    """Write the model as one graph that takes the last lookback raw observations (and features) and returns the
    forecast in original units; scaling and normalisation are inside. Inputs and outputs are listed on stderr."""
    from rich.markup import escape

    from lstmcast import pipeline
    from lstmcast.export import describe

    result = pipeline.export_run(model, format.value, out)
    console = _console()
    for line in describe(result):
        _note(console, escape(line))


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and value != value:
        return None
    return value


def _show_scores(result: Any, format: ReportFormat, quiet: bool, title: str) -> None:
    """The score table on stderr (unless quiet) and, as asked, the records as CSV or JSON lines on stdout."""
    from lstmcast import render

    overall = result.overall()
    if not quiet:
        console = _console()
        if len(result.ids) > 1:
            per = result.per_series()
            rel = {
                sid: {m: per[sid][m]["mase"] / per[sid]["seasonal naive"]["mase"] for m in result.models} for sid in per
            }
            render.series_table(console, "MASE relative to seasonal naive, per series", rel, result.models)
            per_fold: dict[str, list[float]] = {m: [] for m in result.models}
        else:
            per_fold = {m: [f.scores[m]["mase"] for f in result.folds] for m in result.models}
        render.backtest_table(console, title, overall, per_fold)
        levels = sorted({k.split("_", 1)[1] for k in overall["lstmcast"] if k.startswith("coverage_")}, key=float)
        if levels:
            render.interval_table(
                console, "Prediction intervals: coverage (nominal in the header) and MSIS", overall, levels
            )
        skipped = int(overall["lstmcast"]["mape_skipped"])
        if skipped:
            _note(console, f"note: MAPE skips {skipped} forecast point(s) whose actual value is zero")
        skill = overall["lstmcast"]["skill"]
        if skill == skill and skill <= 0:
            _note(console, "[yellow]warning:[/] lstmcast does not beat seasonal naive here (skill <= 0)")
    if format is not ReportFormat.table:
        _write_frame(pd_frame(result.records()), OutFormat(format.value))


def pd_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame.from_records(records)


def _write_frame(frame: pd.DataFrame, fmt: OutFormat) -> None:
    if fmt is OutFormat.json:
        text = frame.to_json(orient="records", lines=True, double_precision=10)
    else:
        text = frame.to_csv(index=False, float_format="%.10g", lineterminator="\n")
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def _on_sigterm(signum: int, frame: Any) -> None:
    if _state.get("exiting"):  # already on the way out with an error line of its own
        return
    _state["terminated"] = True
    raise KeyboardInterrupt


def _note(console: Console, message: str) -> None:
    from lstmcast.render import note

    note(console, message)


def _fail(status: ExitStatus, message: str) -> NoReturn:
    first = message.strip().splitlines()[0] if message.strip() else status.name.lower()
    rank = os.environ.get("RANK", "0")
    if rank != "0" and not first.startswith(f"rank {rank}:"):  # a worker of a distributed job says which
        first = f"rank {rank}: {first}"
    try:
        sys.stderr.write(f"lstmcast: error: {first}\n")
        sys.stderr.flush()
    except (BrokenPipeError, OSError):
        pass
    raise SystemExit(int(status))


def _install_signal_handlers() -> None:
    """SIGTERM stops like Ctrl-C (training saves last.pt and the best model), then exits 143."""
    with contextlib.suppress(ValueError):  # not the main thread (an embedding program): leave its signals alone
        signal.signal(signal.SIGTERM, _on_sigterm)


def _reader_gone(exc: BaseException | None) -> bool:
    """A write to stdout failed because the reader went away (e.g. `| head -1`), maybe wrapped by click."""
    while exc is not None:
        if isinstance(exc, BrokenPipeError) or (isinstance(exc, OSError) and exc.errno == errno.EPIPE):
            return True
        exc = exc.__context__
    return False


def _quiet_exit() -> NoReturn:
    """Stop quietly with status 0, as a filter does when its reader has what it wanted."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's last flush cannot fail and print
    except (OSError, ValueError, AttributeError):
        pass
    raise SystemExit(0) from None


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and map every failure to one line on stderr and an exit code."""
    _install_signal_handlers()
    _state["exiting"] = False
    _state["argv"] = list(argv if argv is not None else sys.argv[1:])
    if "--debug" in _state["argv"]:
        _state["debug"] = True
    try:
        code = app(args=argv, standalone_mode=False)
        if sys.stdout is not None:  # None when started with stdout closed
            sys.stdout.flush()
    except SystemExit as exc:
        if exc.code and _reader_gone(exc.__context__):  # click turns EPIPE into exit(1)
            _quiet_exit()
        raise
    except BaseException as exc:  # noqa: BLE001 - the single place where errors become exit codes
        if _reader_gone(exc):
            _quiet_exit()
        _handle(exc)
    if isinstance(code, int) and not isinstance(code, bool) and code:
        # Without standalone mode Typer returns exit codes instead of raising; Ctrl-C (and our SIGTERM, which
        # raises KeyboardInterrupt) comes back as 130 from outside training.
        if code == ExitStatus.INTERRUPTED:
            _handle(KeyboardInterrupt())
        raise SystemExit(code)


def _valid_range(param: Any) -> str:
    """'; valid: 1 or more' for an option with a declared range (what click's own message may leave out)."""
    lo, hi = getattr(param, "min", None), getattr(param, "max", None)
    if lo is None and hi is None:
        return ""
    if lo is not None and hi is not None:
        return f"; valid: {lo} to {hi}"
    return f"; valid: {lo} or more" if lo is not None else f"; valid: {hi} or less"


def _click_types(name: str) -> tuple[type, ...]:
    """The exception class `name` from click and from Typer's bundled copy of it (recent Typer vendors click)."""
    found = []
    for module in ("typer.exceptions", "typer._click.exceptions", "click.exceptions"):
        try:
            cls = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if isinstance(cls, type):
            found.append(cls)
    return tuple(found)


def _status_of(kind: type[LstmcastError]) -> ExitStatus:
    """The exit status of a core error type: usage 2, data 3, checkpoint 4, anything else 1."""
    for base, status in ((ConfigError, ExitStatus.USAGE), (DataError, ExitStatus.DATA),
                         (CheckpointError, ExitStatus.CHECKPOINT)):  # fmt: skip
        if issubclass(kind, base):
            return status
    return ExitStatus.INTERNAL


def _handle(exc: BaseException) -> NoReturn:
    _state["exiting"] = True  # a SIGTERM now (a launcher stopping every rank after one failed) must not interrupt
    exit_types, abort_types = _click_types("Exit"), _click_types("Abort")
    if _state.get("debug") and not isinstance(exc, exit_types):
        import traceback

        traceback.print_exception(exc)
    if isinstance(exc, exit_types):
        raise SystemExit(getattr(exc, "exit_code", 0))
    if isinstance(exc, abort_types) and isinstance(exc.__cause__, EOFError):  # click's reading of EOFError
        _fail(ExitStatus.INTERNAL, f"the input ended unexpectedly ({exc.__cause__ or 'EOFError'})")
    if isinstance(exc, MainRankFailed):  # rank 0 has said why the job stopped; its status is the job's
        raise SystemExit(int(_status_of(exc.kind)))
    if isinstance(exc, (*abort_types, KeyboardInterrupt, _Interrupted)):
        status = ExitStatus.TERMINATED if _state.get("terminated") else ExitStatus.INTERRUPTED
        if os.environ.get("RANK", "0") != "0":  # a worker of a stopped distributed job: rank 0 speaks for it
            raise SystemExit(int(status))
        _fail(status, "terminated" if status is ExitStatus.TERMINATED else "interrupted")
    if isinstance(exc, _click_types("NoArgsIsHelpError")):
        raise SystemExit(int(ExitStatus.USAGE))  # the help was printed already
    if isinstance(exc, _click_types("UsageError")):
        command = getattr(getattr(exc, "ctx", None), "command_path", "lstmcast")
        message = f"{exc.format_message()}{_valid_range(getattr(exc, 'param', None))}"  # type: ignore[attr-defined]
        _fail(ExitStatus.USAGE, f"{message} (see '{command} --help')")
    if isinstance(exc, _click_types("ClickException")):
        _fail(ExitStatus.USAGE, exc.format_message())  # type: ignore[attr-defined]
    if isinstance(exc, LstmcastError):
        _fail(_status_of(type(exc)), str(exc))
    if isinstance(exc, MemoryError):
        _fail(ExitStatus.INTERNAL, "out of memory; try a smaller --batch-size or --lookback")
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            _fail(ExitStatus.INTERNAL, f"no space left on the device{where}; free some space (files already "
                                       "saved are complete: writes go to a temporary file first)")  # fmt: skip
        _fail(ExitStatus.INTERNAL, f"{exc.strerror or exc}{where}")
    _fail(ExitStatus.INTERNAL, f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)")
