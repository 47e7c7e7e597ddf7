"""Helpers shared by the tests that drive the command line in-process or as a real process."""

from __future__ import annotations

import os

import pytest

from lstmcast import cli


def process_env() -> dict[str, str]:
    """The environment for `python -m lstmcast`: one torch thread, as in-process (see conftest)."""
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def run_main(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    """Run cli.main (which maps errors to exit codes) in-process: (exit code, stdout, stderr)."""
    code = 0
    try:
        cli.main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(err: str) -> str:
    """Exactly one line on stderr, the error line, and no traceback; returns it."""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("lstmcast: error: ")
    return lines[0]
