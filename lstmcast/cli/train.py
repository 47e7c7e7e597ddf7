"""`lstmcast train`: a new run, a resumed run, or a distributed job of N local processes."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from lstmcast.cli import heap, state
from lstmcast.cli.exits import _Interrupted
from lstmcast.cli.options import (
    ConfigOpt,
    DataArg,
    OutFormat,
    ReportFormat,
    _given,
    _resolved_config,
    _value,
    check_header,
    limits,
    with_model_options,
)
from lstmcast.cli.output import _console, _note, _stdin, _write_frame, pd_frame
from lstmcast.cli.program import app
from lstmcast.errors import ConfigError, DataError


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
            **limits("nproc"),
            help="Train in N local processes with DistributedDataParallel (started as torchrun does; "
            "--batch-size is the global batch).",
        ),
    ] = 1,
    format: Annotated[
        ReportFormat,
        typer.Option("--format", "-f", help="table: the validation tables on stderr only; csv or json: also each "
                     "series' validation scores on stdout."),
    ] = ReportFormat.table,
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
    check_header(data, cfg)
    out = Path(run["out"]) if "out" in run else out
    _run_training(
        data, cfg, out=out, project=Path(run.get("project", project)), name=run.get("name", name), quiet=quiet,
        format=format,
    )


def _launch(data: str, nproc: int) -> NoReturn:
    """`train --nproc N`: run this same command line (without --nproc) as N workers of one distributed job."""
    from lstmcast.pipeline import jobs

    if jobs.in_distributed_job():
        raise ConfigError("--nproc: this is already a process of a distributed job (torchrun); drop --nproc")
    if data == "-":
        raise ConfigError("--nproc: every process reads DATA; give a file, not - (standard input)")
    argv: list[str] = state.session.argv or sys.argv[1:]
    args, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            args.append(arg)
    raise SystemExit(jobs.launch(nproc, args))


RESUME_OPTIONS = ("epochs", "patience", "threads", "device", "quiet")  # what --resume lets a user change


def _resume(data: str, run_dir: Path, given: dict[str, Any], ctx: typer.Context, *, quiet: bool) -> None:
    """Go on training run_dir from its last.pt with the run's own configuration."""
    from lstmcast.pipeline import jobs

    own = [n for n in ("out", "name", "project", "config") if _given(ctx, n)]
    fixed = sorted(n for n in (*given, *own) if n not in RESUME_OPTIONS)
    if fixed:
        raise ConfigError(
            f"--resume goes on with the run's own configuration and directory; --{fixed[0].replace('_', '-')} "
            "cannot change it (only --epochs, --patience, --threads and --device can)"
        )
    point = jobs.load_point(
        run_dir, epochs=given.get("epochs"), patience=given.get("patience"), threads=given.get("threads"),
        device=given.get("device"),
    )  # fmt: skip
    if point.nothing_to_do is not None:
        if not quiet:
            _note(_console(), point.nothing_to_do)
        return
    _run_training(data, point.config, out=None, project=Path("runs"), name="train", quiet=quiet, resume=point)


def _run_training(
    data: str, cfg: Any, *, out: Path | None, project: Path, name: str, quiet: bool, resume: Any = None,
    format: ReportFormat = ReportFormat.table,
) -> None:
    from rich.markup import escape

    with heap.imports():
        from lstmcast.pipeline import jobs
        from lstmcast.pipeline import runs as pipeline
        from lstmcast.ui import render

    main_rank = jobs.is_main_process()
    quiet = quiet or not main_rank  # the ranks > 0 of a distributed job train silently
    console = _console()
    report = None if quiet else (lambda msg: _note(console, msg))
    with render.TrainingProgress(console, cfg.train.epochs, enabled=not quiet) as bar:

        def show(log: Any, model: Any, improved: bool) -> None:
            if log.phase != bar.phase:
                bar.start_phase(log.phase, log.epochs)
            bar.update(
                log.epoch, log.train_loss, log.val_loss, log.epochs, improved=improved, patience=log.patience,
                seconds=log.seconds,
            )  # fmt: skip

        run = pipeline.train_run(
            data, cfg, out=out, project=project, name=name, stdin=_stdin(), report=report, resume=resume,
            on_epoch_end=show, on_refit_epoch=show,
        )  # fmt: skip
    res = run.result
    if not main_rank:
        if run.interrupted or run.refit_interrupted:
            raise _Interrupted()  # rank 0 says where the run is saved
        if not run.diverged:
            return
    held = f"{run.run_dir} holds {', '.join(run.files)}"  # what is really there, never a list learnt by heart
    if not run.trained:  # no epoch ended with a finite loss: no model file was written
        if run.interrupted:
            if not quiet:
                _note(console, f"interrupted before the first epoch ended: no model was saved ({held}); run the "
                               "training again")  # fmt: skip
            raise _Interrupted()
        raise DataError(
            f"training stopped: the loss became NaN or infinite in epoch {res.epochs_run}, before any epoch ended with "
            f"a finite loss, so no model was saved ({held}). Rescale the data (--scaler standard, --norm window) or "
            "try a smaller --lr"
        )
    if not quiet:
        if run.stopped_early:
            kept = "the final model refitted on all the data for that many epochs" if run.refitted else "restored"
            _note(console, f"early stop at epoch {res.epochs_run}; best epoch {res.best_epoch}, {kept}")
        shown = {(run.baseline if k == "seasonal naive" else k): v for k, v in run.val_metrics.items()}
        render.metrics_table(console, run.validation_scope(), shown, ["mae", "rmse", "mape", "mase"])
        if len(run.series_scores) > 1:
            render.series_validation_table(console, run.series_scores)
        ours, snaive = run.val_metrics["lstmcast"]["mase"], run.val_metrics["seasonal naive"]["mase"]
        if run.beats_seasonal_naive() is False:
            _note(
                console,
                f"[yellow]warning:[/] on validation the model (MASE {ours:.3f}) does not beat {run.baseline}, "
                f"repeating the last {'value' if run.baseline == 'naive' else 'season'} (MASE {snaive:.3f}); try "
                "more data, a longer --lookback or more --epochs",
                markup=True,
            )
        _note(
            console, f"saved run to [bold]{escape(str(run.run_dir))}[/] ({escape(', '.join(run.files))})", markup=True
        )
    if format is not ReportFormat.table and main_rank:
        _write_frame(pd_frame(run.series_scores), OutFormat(format.value))
    if run.diverged:
        raise DataError(
            f"training stopped: the loss became NaN or infinite in epoch {res.epochs_run}; {run.run_dir}/model.pt "
            f"holds the best model (epoch {res.best_epoch}) and last.pt the last epoch with a finite loss. Try a "
            "smaller --lr or --scaler standard"
        )
    if run.interrupted:
        _note(
            console,
            f"interrupted: saved {run.run_dir}/last.pt and the best model so far; go on with "
            f"`lstmcast train DATA --resume {run.run_dir}`",
        )
        raise _Interrupted()
    if run.refit_interrupted:
        _note(
            console,
            f"interrupted during the final refit: {run.run_dir}/model.pt holds the model of the first fit "
            "(trained without the validation part)",
        )
        raise _Interrupted()
