"""`lstmcast predict`: forecasts as CSV or JSON lines on stdout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lstmcast.choices import MAX_FORECAST_STEPS
from lstmcast.cli import heap
from lstmcast.cli.options import (
    ClipZeroOpt,
    Fill,
    FillOpt,
    LevelOpt,
    ModelOpt,
    OptDataArg,
    OutFormat,
    TargetOpt,
    TimeOpt,
    check_header,
)
from lstmcast.cli.output import _console, _note, _stdin, _stdout, _write_frame
from lstmcast.cli.program import app


@app.command()
def predict(
    model: ModelOpt,
    data: OptDataArg = None,
    horizon: Annotated[
        int | None,
        typer.Option(min=1, max=MAX_FORECAST_STEPS, help="Steps to forecast (default: the trained horizon)."),
    ] = None,
    format: Annotated[
        OutFormat, typer.Option("--format", "-f", help="csv, or json (one object per line).")
    ] = OutFormat.csv,
    ids: Annotated[list[str] | None, typer.Option("--id", help="Forecast only this series (repeatable).")] = None,
    level: LevelOpt = None,
    target: TargetOpt = None,
    time_col: TimeOpt = None,
    fill: FillOpt = Fill.interpolate,
    clip_zero: ClipZeroOpt = True,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", dir_okay=False, help="Write the forecast to FILE (.csv, .parquet or .json "
                     "lines) instead of stdout."),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", dir_okay=False, help="Also draw FILE.png: the recent history, the forecast and its "
                     "--level bands (a grid for panels; --id picks series)."),
    ] = None,
    keep_names: Annotated[
        bool,
        typer.Option("--keep-names", help="Name the columns as in the training data (its time, target and id "
                     "columns) instead of timestamp, forecast, id."),
    ] = False,
) -> None:
    """Forecast the steps after the model's stored history, or after DATA (file or -). Writes CSV to stdout:
    timestamp,forecast (id,timestamp,forecast for panels)."""
    check_header(data, target=target, time_col=time_col)
    with heap.imports():
        from lstmcast.pipeline import runs as pipeline

    _stdout()  # before the work: with stdout closed the forecast has nowhere to go
    console = _console()
    frame = pipeline.predict_run(
        model, data, horizon=horizon, ids=ids, levels=level, target=target, time_col=time_col, fill=fill.value,
        stdin=_stdin(), report=lambda msg: _note(console, msg), clip=clip_zero,
        keep_names=keep_names, plot=plot,
    )  # fmt: skip
    if output is not None:
        from lstmcast.pipeline import artifacts

        artifacts.write_forecast(frame, output)
        _note(console, f"wrote {len(frame)} forecast rows to {output}")
    else:
        _write_frame(frame, format)
    if plot is not None:
        _note(console, f"wrote {plot}")
