"""The Typer app: parse options, build the config, call the pipeline, print, map errors to exit codes.

Heavy libraries (torch, pandas, scikit-learn) are imported inside the commands so `--help` answers at once.
"""

from __future__ import annotations

import os
import signal
import sys
from enum import Enum, IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional

import typer

from lstmcast import __version__
from lstmcast.errors import CheckpointError, ConfigError, DataError, LstmcastError

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console


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


class Cell(str, Enum):
    lstm = "lstm"
    gru = "gru"
    rnn = "rnn"


class Loss(str, Enum):
    mse = "mse"
    huber = "huber"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


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
    Optional[str], typer.Argument(help="Recent data to forecast from (file or -); default: the stored history.")
]
ModelOpt = Annotated[Path, typer.Option("--model", "-m", help="Run directory or .pt checkpoint file.")]
TargetOpt = Annotated[Optional[str], typer.Option(help="Column to forecast (default: the only numeric column).")]
TimeOpt = Annotated[Optional[str], typer.Option("--time-col", help="Time column (default: the one date column).")]
FillOpt = Annotated[Fill, typer.Option(help="What to do with missing values.")]


@app.command()
def train(
    data: DataArg,
    target: TargetOpt = None,
    time_col: TimeOpt = None,
    fill: FillOpt = Fill.interpolate,
    lookback: Annotated[Optional[int], typer.Option(min=1, help="Input steps per window (default: from the season).")] = None,
    horizon: Annotated[Optional[int], typer.Option(min=1, help="Steps to forecast (default: one season).")] = None,
    val_size: Annotated[Optional[int], typer.Option(min=1, help="Last points held out for validation (default: from the horizon).")] = None,
    scaler: Annotated[ScalerName, typer.Option(help="Scaler fitted on the training part.")] = ScalerName.standard,
    norm: Annotated[Norm, typer.Option(help="Normalise each window by its own level and spread.")] = Norm.window,
    cell: Annotated[Cell, typer.Option(help="Recurrent cell.")] = Cell.lstm,
    hidden: Annotated[int, typer.Option(min=1, help="Hidden units per layer.")] = 64,
    layers: Annotated[int, typer.Option(min=1, help="Stacked recurrent layers.")] = 1,
    dropout: Annotated[float, typer.Option(min=0.0, max=0.99, help="Dropout between layers, in [0, 1).")] = 0.0,
    bidirectional: Annotated[bool, typer.Option(help="Read the window in both directions.")] = False,
    proj_size: Annotated[int, typer.Option(min=0, help="LSTM projection size (0: none).")] = 0,
    epochs: Annotated[int, typer.Option(min=1, help="Most epochs to train.")] = 60,
    batch_size: Annotated[int, typer.Option(min=1, help="Windows per batch.")] = 64,
    lr: Annotated[float, typer.Option(min=1e-8, max=10.0, help="Adam learning rate.")] = 3e-3,
    loss: Annotated[Loss, typer.Option(help="Training loss.")] = Loss.mse,
    patience: Annotated[int, typer.Option(min=1, help="Epochs without validation gain before stopping.")] = 10,
    clip: Annotated[float, typer.Option(min=0.0, help="Gradient-norm clipping (0: off).")] = 1.0,
    seed: Annotated[int, typer.Option(min=0, help="Random seed: same seed and data give the same model on CPU.")] = 0,
    device: Annotated[Device, typer.Option(help="auto picks cuda, then mps, then cpu.")] = Device.auto,
    threads: Annotated[Optional[int], typer.Option(min=1, help="CPU threads for torch.")] = None,
    steps_per_epoch: Annotated[Optional[int], typer.Option(min=1, help="Cap each epoch at N batches.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run directory to create (must be new or empty).")] = None,
    name: Annotated[str, typer.Option(help="Run name under --project (runs/NAME, NAME2, ...).")] = "train",
    project: Annotated[Path, typer.Option(help="Parent directory of run directories.")] = Path("runs"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or tables.")] = False,
) -> None:
    """Train a model on DATA and write a run directory (model.pt, last.pt, metrics.csv, figures, summary.json)."""
    from lstmcast.config import DataConfig, ModelConfig, RunConfig, TrainConfig, WindowConfig

    cfg = RunConfig(
        DataConfig(target=target, time_col=time_col, fill=fill.value),
        WindowConfig(lookback, horizon, val_size, scaler.value, norm.value),
        ModelConfig(cell.value, hidden, layers, dropout, bidirectional, proj_size),
        TrainConfig(
            epochs, batch_size, lr, loss.value, patience, clip, seed, device.value, threads, steps_per_epoch
        ),
    )
    _run_training(data, cfg, out=out, project=project, name=name, quiet=quiet)


def _run_training(data: str, cfg: Any, *, out: Path | None, project: Path, name: str, quiet: bool) -> None:
    from lstmcast import pipeline, render

    console = _console()
    report = None if quiet else (lambda msg: console.print(msg, highlight=False))
    with render.TrainingProgress(console, cfg.train.epochs, enabled=not quiet) as bar:
        run = pipeline.train_run(
            data, cfg, out=out, project=project, name=name, stdin=sys.stdin.buffer, report=report,
            on_epoch_end=lambda log, model, improved: bar.update(log.epoch, log.train_loss, log.val_loss),
        )  # fmt: skip
    res = run.result
    if not quiet:
        if res.stop_reason == "early_stop":
            console.print(f"early stop at epoch {res.epochs_run}; best epoch {res.best_epoch} restored")
        render.metrics_table(
            console, "Validation (original units)", run.val_metrics, ["mae", "rmse", "mape", "mase"]
        )
        ours, snaive = run.val_metrics["lstmcast"]["mase"], run.val_metrics["seasonal naive"]["mase"]
        if ours == ours and snaive == snaive and ours >= snaive:
            console.print(
                f"[yellow]warning:[/] on validation the model (MASE {ours:.3f}) does not beat repeating the last "
                f"season (MASE {snaive:.3f}); try more data, a longer --lookback or more --epochs"
            )
        console.print(f"saved run to [bold]{run.run_dir}[/] (model.pt, last.pt, metrics.csv, loss.png, forecast.png, summary.json)")
    if res.stop_reason == "non_finite":
        raise DataError(
            f"training stopped: the loss became NaN or infinite at epoch {res.epochs_run}; the best model so far is "
            f"in {run.run_dir}/model.pt. Try a smaller --lr or --scaler standard"
        )
    if res.stop_reason == "interrupted":
        console.print(f"interrupted: saved {run.run_dir}/last.pt and the best model so far")
        raise _Interrupted()


class _Interrupted(Exception):
    pass


@app.command()
def predict(
    model: ModelOpt,
    data: OptDataArg = None,
    horizon: Annotated[Optional[int], typer.Option(min=1, help="Steps to forecast (default: the trained horizon).")] = None,
    format: Annotated[OutFormat, typer.Option("--format", "-f", help="csv, or json (one object per line).")] = OutFormat.csv,
    target: TargetOpt = None,
    time_col: TimeOpt = None,
    fill: FillOpt = Fill.interpolate,
) -> None:
    """Forecast the steps after the model's stored history, or after DATA (file or -). Writes to stdout."""
    from lstmcast import pipeline

    console = _console()
    frame = pipeline.predict_run(
        model, data, horizon=horizon, target=target, time_col=time_col, fill=fill.value,
        stdin=sys.stdin.buffer, report=lambda msg: console.print(msg, highlight=False),
    )  # fmt: skip
    _write_frame(frame, format)


def _write_frame(frame: pd.DataFrame, fmt: OutFormat) -> None:
    if fmt is OutFormat.json:
        text = frame.to_json(orient="records", lines=True, double_precision=10)
    else:
        text = frame.to_csv(index=False, float_format="%.10g", lineterminator="\n")
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def _on_sigterm(signum: int, frame: Any) -> None:
    _state["terminated"] = True
    raise KeyboardInterrupt


def _fail(status: ExitStatus, message: str) -> NoReturn:
    first = message.strip().splitlines()[0] if message.strip() else status.name.lower()
    try:
        sys.stderr.write(f"lstmcast: error: {first}\n")
        sys.stderr.flush()
    except (BrokenPipeError, OSError):
        pass
    raise SystemExit(int(status))


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and map every failure to one line on stderr and an exit code."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    if "--debug" in (argv if argv is not None else sys.argv[1:]):
        _state["debug"] = True
    try:
        app(args=argv, standalone_mode=False)
    except SystemExit:
        raise
    except BrokenPipeError:
        # The reader went away (e.g. `| head -1`): stop quietly, as cat does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise SystemExit(0) from None
    except BaseException as exc:  # noqa: BLE001 - the single place where errors become exit codes
        _handle(exc)


def _handle(exc: BaseException) -> NoReturn:
    import click

    if _state.get("debug") and not isinstance(exc, (click.exceptions.Exit,)):
        import traceback

        traceback.print_exception(exc)
    if isinstance(exc, click.exceptions.Exit):
        raise SystemExit(exc.exit_code)
    if isinstance(exc, click.exceptions.Abort) or isinstance(exc, (KeyboardInterrupt, _Interrupted)):
        status = ExitStatus.TERMINATED if _state.get("terminated") else ExitStatus.INTERRUPTED
        _fail(status, "terminated" if status is ExitStatus.TERMINATED else "interrupted")
    if isinstance(exc, click.exceptions.ClickException):
        exc.show()
        raise SystemExit(exc.exit_code)
    if isinstance(exc, ConfigError):
        _fail(ExitStatus.USAGE, str(exc))
    if isinstance(exc, DataError):
        _fail(ExitStatus.DATA, str(exc))
    if isinstance(exc, CheckpointError):
        _fail(ExitStatus.CHECKPOINT, str(exc))
    if isinstance(exc, LstmcastError):
        _fail(ExitStatus.INTERNAL, str(exc))
    if isinstance(exc, MemoryError):
        _fail(ExitStatus.INTERNAL, "out of memory; try a smaller --batch-size or --lookback")
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        _fail(ExitStatus.INTERNAL, f"{exc.strerror or exc}{where}")
    _fail(ExitStatus.INTERNAL, f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)")
