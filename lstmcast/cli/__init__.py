"""The command-line interface: the Typer app (program), shared options (options), one module per command group
(train, predict, scores, model), output (output) and the exit statuses (exits). Nothing imports this package.

Importing it registers every command on `app`, in the order `--help` lists them.
"""

# isort: off
from lstmcast.cli.program import app, main
from lstmcast.cli import train  # noqa: F401 - registers `train`
from lstmcast.cli import predict  # noqa: F401 - registers `predict`
from lstmcast.cli import scores  # noqa: F401 - registers `backtest` and `evaluate`
from lstmcast.cli import model  # noqa: F401 - registers `inspect` and `export`
# isort: on

__all__ = ["app", "main"]
