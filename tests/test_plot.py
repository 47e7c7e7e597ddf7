"""predict --plot: the recent history, the forecast and its bands; figures that work for a horizon of 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from clitools import run_main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DATASETS = Path(__file__).resolve().parent / "data"
TINY_ARGS = ["--lookback", "8", "--hidden", "8", "--epochs", "2", "--batch-size", "32", "--device", "cpu",
             "--threads", "1", "--combine", "off", "--quiet"]  # fmt: skip


def test_predict_plot_draws_a_png_and_still_writes_the_forecast(capsys, tiny_run_dir: Path, tmp_path: Path) -> None:
    png = tmp_path / "future.png"
    code, out, err = run_main(capsys, "predict", "-m", tiny_run_dir, "--level", "80", "--level", "95", "--plot", png)
    assert code == 0, err
    assert png.read_bytes()[:8] == PNG_MAGIC and f"wrote {png}" in err
    assert out.splitlines()[0] == "timestamp,forecast,lo_80,hi_80,lo_95,hi_95" and len(out.splitlines()) == 13


def test_predict_plot_of_one_step(capsys, tiny_run_dir: Path, tmp_path: Path) -> None:
    png = tmp_path / "one.png"
    code, _, err = run_main(capsys, "predict", "-m", tiny_run_dir, "--horizon", "1", "--level", "80", "--plot", png)
    assert code == 0, err
    assert png.read_bytes()[:8] == PNG_MAGIC


def test_predict_plot_with_a_bad_suffix_is_a_usage_error(capsys, tiny_run_dir: Path, tmp_path: Path) -> None:
    code, out, err = run_main(capsys, "predict", "-m", tiny_run_dir, "--plot", tmp_path / "f.txt")
    assert code == 2 and "--plot" in err and ".txt is not one of .png, .pdf, .svg" in err


@pytest.fixture(scope="module")
def panel_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny global model of three visnights regions, horizon 1 (every figure must still show it)."""
    out = tmp_path_factory.mktemp("plot") / "run"
    from lstmcast import cli

    cli.main(["train", str(DATASETS / "visnights.csv"), "--target", "NSWMetro,NSWNthCo,NSWSthCo", "--horizon", "1",
              "--out", str(out), *TINY_ARGS])  # fmt: skip
    return out


def test_a_panel_plot_picks_series_with_id_and_horizon_one_figures_are_drawn(
    capsys, panel_run: Path, tmp_path: Path
) -> None:
    assert (panel_run / "forecast.png").read_bytes()[:8] == PNG_MAGIC
    png = tmp_path / "grid.png"
    code, out, err = run_main(capsys, "predict", "-m", panel_run, "--level", "80", "--plot", png, "--id", "NSWNthCo")
    assert code == 0, err
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert {line.split(",")[0] for line in out.splitlines()[1:]} == {"NSWNthCo"}
    code, _, err = run_main(capsys, "predict", "-m", panel_run, "--plot", tmp_path / "all.png")
    assert code == 0, err


def test_predict_plot_after_given_data_draws_that_datas_recent_history(
    capsys, tiny_run_dir: Path, air_csv: Path, tmp_path: Path
) -> None:
    png = tmp_path / "given.png"
    code, out, err = run_main(capsys, "predict", "-m", tiny_run_dir, air_csv, "--plot", png, "-f", "json")
    assert code == 0, err
    assert png.read_bytes()[:8] == PNG_MAGIC and len(out.splitlines()) == 12
