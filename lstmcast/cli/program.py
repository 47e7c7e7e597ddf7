"""The Typer app and the console entry point `main`: run the app, map every failure to an exit status (exits).

Heavy libraries (torch, pandas, scikit-learn) are imported inside the commands so `--help` answers at once.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from lstmcast import __version__
from lstmcast.cli import state
from lstmcast.cli.exits import ExitStatus, _handle, _install_signal_handlers, _quiet_exit, _reader_gone

app = typer.Typer(
    name="lstmcast",
    help="Forecast a time series from a CSV with an LSTM. Data goes to stdout, everything else to stderr.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: wraps to any width (rich's panels crush the help column at 80)
    context_settings={"help_option_names": ["-h", "--help"]},
)


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
        state.session.debug = True


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and map every failure to one line on stderr and an exit code."""
    _install_signal_handlers()
    state.session.exiting = False
    state.session.argv = list(argv if argv is not None else sys.argv[1:])
    if "--debug" in state.session.argv:
        state.session.debug = True
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
