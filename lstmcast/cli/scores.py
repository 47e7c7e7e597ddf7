"""`lstmcast backtest` and `lstmcast evaluate`: score tables on stderr, records on stdout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from lstmcast.cli import heap
from lstmcast.cli.options import (
    ClipZeroOpt,
    ConfigOpt,
    DataArg,
    Fill,
    FillOpt,
    LevelOpt,
    ModelOpt,
    ReportFormat,
    ReportFormatOpt,
    SeasonOpt,
    StepOpt,
    TargetOpt,
    TimeOpt,
    _resolved_config,
    check_header,
    with_model_options,
)
from lstmcast.cli.output import _console, _note, _show_scores, _stdin
from lstmcast.cli.program import app


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
    clip_zero: ClipZeroOpt = True,
    format: ReportFormatOpt = ReportFormat.table,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Directory for backtest.csv (scores), forecasts.csv (every fold's forecasts) and backtest.png.")
    ] = None,
    config: ConfigOpt = None,
    opts: dict[str, Any] | None = None,
) -> None:
    """Rolling-origin evaluation: train before each of K origins, forecast the next horizon, compare baselines."""
    assert opts is not None
    console = _console()
    quiet = opts["quiet"]
    report = None if quiet else (lambda msg: _note(console, msg))
    cfg = _resolved_config(ctx, opts, config)
    check_header(data, cfg)
    with heap.imports():
        from lstmcast.pipeline import runs as pipeline

    result = pipeline.backtest_run(
        data, cfg, folds=folds, step=step, season=season, ensemble=ensemble, levels=level, local=local, out=out,
        stdin=_stdin(), report=report, clip=clip_zero,
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
    clip_zero: ClipZeroOpt = True,
    format: ReportFormatOpt = ReportFormat.table,
    target: TargetOpt = None,
    time_col: TimeOpt = None,
    fill: FillOpt = Fill.interpolate,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No table.")] = False,
) -> None:
    """Score a trained model on the part of DATA after its training data, against the baselines."""
    check_header(data, target=target, time_col=time_col)
    with heap.imports():
        from lstmcast.pipeline import runs as pipeline

    console = _console()
    result = pipeline.evaluate_run(
        model, data, horizon=horizon, step=step, season=season, levels=level, target=target, time_col=time_col, fill=fill.value,
        stdin=_stdin(), report=None if quiet else (lambda msg: _note(console, msg)), clip=clip_zero,
    )  # fmt: skip
    title = f"Evaluation of {model} on {result.series.source}: {len(result.folds)} origins after the training data"
    _show_scores(result, format, quiet, title)
