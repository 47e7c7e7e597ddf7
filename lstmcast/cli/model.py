"""`lstmcast inspect` (the model card, the gates) and `lstmcast export` (ONNX, TorchScript)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lstmcast.cli import heap
from lstmcast.cli.options import ExportFormat, InspectFormat, ModelOpt, OptDataArg
from lstmcast.cli.output import _console, _note, _stdin, _stdout
from lstmcast.cli.program import app


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
    with heap.imports():
        from lstmcast.pipeline import artifacts
        from lstmcast.pipeline import runs as pipeline
        from lstmcast.ui import render

    console = _console()
    card, gate, figure = pipeline.inspect_run(
        model, gates=gates, source=data, out=out, stdin=_stdin(), report=lambda msg: _note(console, msg)
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
        _stdout().write(json.dumps(artifacts.plain(payload), indent=2) + "\n")
        return
    render.model_card(console, card)
    if gate is not None:
        render.gate_summary(console, gate.kind, gate.keep, gate.keep_mean, gate.retention)
        _note(console, f"wrote {figure}")


@app.command()
def export(
    model: ModelOpt,
    format: Annotated[
        ExportFormat,
        typer.Option("--format", "-f", help='onnx (needs pip install "lstmcast[export]") or torchscript.'),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", dir_okay=False, help="File to write (replaced atomically).")],
) -> None:
    """Write the model as one graph that takes the last lookback raw observations (and features) and returns the
    forecast in original units; scaling and normalisation are inside. Inputs and outputs are listed on stderr."""
    with heap.imports():
        from lstmcast.pipeline import jobs
        from lstmcast.pipeline import runs as pipeline

    console = _console()
    result = pipeline.export_run(model, format.value, out, report=lambda msg: _note(console, msg))
    for line in jobs.describe_export(result):
        _note(console, line)
