"""Config files (read, write, merge with flags, reproduce a run) and resuming a run from its last.pt."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from clitools import run_main

from lstmcast import cli, configfile
from lstmcast.cli import options as cli_options
from lstmcast.config import ModelConfig, RunConfig, TrainConfig, WindowConfig
from lstmcast.errors import ConfigError
from lstmcast.pipeline import runs as pipeline

# A real series, a tiny network, sizes explicit and patience beyond the epochs: nothing stops early.
SMALL = ["--lookback", "24", "--horizon", "12", "--val-size", "12", "--hidden", "8", "--batch-size", "16",
         "--patience", "50", "--device", "cpu", "--threads", "1", "--quiet"]  # fmt: skip


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory, air_csv: Path) -> Path:
    """4 epochs in one run (module-scoped; never written into)."""
    out = tmp_path_factory.mktemp("full") / "run"
    try:
        cli.main(["train", str(air_csv), "--out", str(out), "--epochs", "4", *SMALL])
    except SystemExit as exc:
        assert not exc.code
    return out


# --- config files ---------------------------------------------------------------------------------------------


def test_config_round_trip_file_to_config_to_file(tmp_path: Path) -> None:
    cfg = RunConfig(
        window=WindowConfig(lookback=24, horizon=6, val_size=12, scaler="minmax"),
        model=ModelConfig(cell="gru", hidden_size=8, num_layers=2, dropout=0.25, bidirectional=True),
        train=TrainConfig(epochs=3, batch_size=16, lr=1e-05, patience=7, seed=3, threads=1, amp=False),
    )
    cfg = cfg.replace(data=cfg.data.__class__(target='a "quoted" name', covariates=("x", "y")))
    first = configfile.write(cfg, tmp_path / "a.toml")
    back = configfile.read(first)
    assert back == cfg
    second = configfile.write(back, tmp_path / "b.toml")
    assert first.read_text() == second.read_text()


def test_every_train_option_maps_to_a_config_field() -> None:
    import inspect

    options = set(inspect.signature(cli_options._model_options).parameters) - {"quiet"}
    assert all(configfile.field_of(o) is not None for o in options), [o for o in options if not configfile.field_of(o)]
    assert configfile.field_of("hidden") == ("model", "hidden_size")
    assert configfile.field_of("val_size") == ("window", "val_size")


def test_run_directory_holds_the_resolved_config(full_run: Path) -> None:
    cfg = configfile.read(full_run / "config.toml")
    assert cfg.window.lookback == 24 and cfg.train.epochs == 4 and cfg.model.hidden_size == 8
    assert cfg.data.target == "value"  # resolved from the data
    assert cfg == RunConfig.from_dict(torch.load(full_run / "last.pt", weights_only=True)["config"])


def test_reproduce_a_run_from_its_config_toml(capsys, full_run: Path, air_csv: Path, tmp_path: Path) -> None:
    code, out, err = run_main(
        capsys, "train", air_csv, "--config", full_run / "config.toml", "--out", tmp_path / "again", "-q"
    )
    assert code == 0, err
    assert_same_weights(full_run / "last.pt", tmp_path / "again" / "last.pt")
    assert_same_weights(full_run / "model.pt", tmp_path / "again" / "model.pt")
    assert (tmp_path / "again" / "config.toml").read_text() == (full_run / "config.toml").read_text()


def test_flags_given_override_the_file_and_defaults_do_not(capsys, air_csv: Path, tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(
        '[model]\nhidden_size = 4\n[train]\nepochs = 2\nbatch_size = 16\nlr = 0.01\nthreads = 1\ndevice = "cpu"\n'
        "[window]\nlookback = 24\nhorizon = 12\n"
    )
    code, _, err = run_main(
        capsys, "train", air_csv, "--config", tmp_path / "c.toml", "--epochs", "1", "--out", tmp_path / "r", "-q"
    )
    assert code == 0, err
    cfg = configfile.read(tmp_path / "r" / "config.toml")
    assert cfg.train.epochs == 1  # the flag
    assert cfg.model.hidden_size == 4 and cfg.train.lr == 0.01  # the file (not --hidden's or --lr's defaults)
    assert cfg.train.batch_size == 16 and cfg.window.lookback == 24


def test_merge_sets_only_the_given_options() -> None:
    base = RunConfig(model=ModelConfig(hidden_size=16, num_layers=2))
    merged = configfile.merge(base, {"layers": 3, "covariates": "a,b", "quiet": True})
    assert merged.model == ModelConfig(hidden_size=16, num_layers=3)
    assert merged.data.covariates == ("a", "b")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[model]\nhiden_size = 8\n", "unknown key 'hiden_size' in [model]; did you mean 'hidden_size'?"),
        ("[trian]\nepochs = 8\n", "unknown section [trian]; did you mean [train]?"),
        ("[model]\nhidden_size = '8'\n", "[model] hidden_size = '8': expected int"),
        ("[model\n", "not valid TOML"),
        ("[model]\nhidden_size = 0\n", "--hidden 0 is out of range"),
        ("[run]\nprojekt = 'x'\n", "unknown key 'projekt' in [run]; did you mean 'project'?"),
        ("[run]\nquiet = 1\n", "[run] quiet = 1: expected bool"),
        ("[rn]\nquiet = true\n", "unknown section [rn]; did you mean [run]?"),
        # the same bounds as the flags (config.RANGES), and no NaN, infinity or integer beyond 64 bits
        ("[model]\ndropout = 0.995\n", "--dropout 0.995 is out of range: it must be in [0.0, 0.99]"),
        ("[train]\nlr = 20.0\n", "--lr 20.0 is out of range: it must be in [1e-08, 10.0]"),
        ("[train]\nlr = nan\n", "--lr nan is not a finite number"),
        ("[train]\nclip = inf\n", "--clip inf is not a finite number"),
        ("[train]\nepochs = 99999999999999999999999\n", "--epochs 99999999999999999999999 is too large"),
        ("[run]\nnproc = 2000\n", "[run] nproc 2000 is out of range: it must be in [1, 1024]"),
    ],
)
def test_bad_config_files_are_usage_errors_naming_the_file(
    capsys, air_csv: Path, tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    code, out, err = run_main(capsys, "train", air_csv, "--config", path, "--out", tmp_path / "r", "-q")
    assert code == 2
    assert out == ""
    assert str(path) in err and message in err
    assert not (tmp_path / "r").exists()


def test_run_section_places_and_quiets_the_run_and_flags_win(capsys, air_csv: Path, tmp_path: Path) -> None:
    """[run] supplies train's options that are not model configuration: --project, --name, --out, --quiet."""
    (tmp_path / "c.toml").write_text(
        f"[run]\nproject = {str(tmp_path / 'proj')!r}\nname = 'nightly'\nquiet = true\n"
        "[train]\nepochs = 1\n[model]\nhidden_size = 4\n"
    )
    code, out, err = run_main(capsys, "train", air_csv, "--config", tmp_path / "c.toml", *SMALL[:-1])
    assert code == 0, err
    assert out == "" and err == ""  # quiet from the file
    assert (tmp_path / "proj" / "nightly" / "model.pt").is_file()
    assert configfile.read(tmp_path / "proj" / "nightly" / "config.toml").model.hidden_size == 8  # the flag won
    assert "[run]" not in (tmp_path / "proj" / "nightly" / "config.toml").read_text()
    code, _, err = run_main(capsys, "train", air_csv, "--config", tmp_path / "c.toml", "--out", tmp_path / "here")
    assert code == 0, err
    assert (tmp_path / "here" / "model.pt").is_file()  # --out over the file's project and name
    assert [p.name for p in (tmp_path / "proj").iterdir()] == ["nightly"]


def test_backtest_reads_a_config_file_like_train(capsys, datasets: Path, tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(
        "[window]\nlookback = 24\nhorizon = 12\nval_size = 12\n[model]\nhidden_size = 4\n"
        "[train]\nepochs = 2\nbatch_size = 16\nthreads = 1\n"
    )
    data = datasets / "airpassengers.csv"
    args = ["--folds", "2", "--format", "json", "-q"]
    code, from_file, err = run_main(capsys, "backtest", data, "--config", tmp_path / "c.toml", *args)
    assert code == 0, err
    flags = ["--lookback", "24", "--horizon", "12", "--val-size", "12", "--hidden", "4", "--epochs", "2",
             "--batch-size", "16", "--threads", "1"]  # fmt: skip
    code, from_flags, err = run_main(capsys, "backtest", data, *flags, *args)
    assert code == 0, err
    assert from_file == from_flags and '"model":"lstmcast"' in from_file
    code, other, _ = run_main(capsys, "backtest", data, "--config", tmp_path / "c.toml", "--hidden", "8", *args)
    assert code == 0 and other != from_file  # a flag over the file changes the model


def test_read_names_unknown_keys_in_library_use(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text("[train]\nepoch = 3\n")
    with pytest.raises(ConfigError, match=r"did you mean 'epochs'"):
        configfile.read(path)


# --- resume ---------------------------------------------------------------------------------------------------


def test_two_epochs_then_resume_to_four_equals_four_in_one_run(
    capsys, full_run: Path, air_csv: Path, tmp_path: Path
) -> None:
    run = tmp_path / "half"
    code, _, err = run_main(capsys, "train", air_csv, "--out", run, "--epochs", "2", *SMALL)
    assert code == 0, err
    state = torch.load(run / "last.pt", weights_only=True)["train_state"]
    assert state["epoch"] == 2 and "train_state" not in torch.load(run / "model.pt", weights_only=True)
    code, _, err = run_main(capsys, "train", air_csv, "--resume", run, "--epochs", "4", "-q")
    assert code == 0, err
    assert_same_weights(full_run / "last.pt", run / "last.pt")
    assert_same_weights(full_run / "model.pt", run / "model.pt")
    fit_rows = [r for r in (run / "metrics.csv").read_text().splitlines()[1:] if r.endswith(",fit")]
    assert len(fit_rows) == 4  # four epochs of the first fit (the refit's rows follow, phase refit)
    assert configfile.read(run / "config.toml").train.epochs == 4


def test_resume_an_interrupted_run_goes_on_to_its_planned_epochs(
    capsys, full_run: Path, air_csv: Path, tmp_path: Path
) -> None:
    cfg = configfile.read(full_run / "config.toml")

    def stop_at_two(log, model, improved) -> None:
        if log.epoch == 2:
            raise KeyboardInterrupt

    run = pipeline.train_run(air_csv, cfg, out=tmp_path / "cut", on_epoch_end=stop_at_two)
    assert run.result.stop_reason == "interrupted" and run.result.epochs_run == 2
    code, _, err = run_main(capsys, "train", air_csv, "--resume", tmp_path / "cut", "-q")
    assert code == 0, err
    assert_same_weights(full_run / "last.pt", tmp_path / "cut" / "last.pt")


def test_resume_extends_and_then_has_nothing_to_do(capsys, full_run: Path, air_csv: Path, tmp_path: Path) -> None:
    run = tmp_path / "short"
    assert run_main(capsys, "train", air_csv, "--out", run, "--epochs", "2", *SMALL)[0] == 0
    code, _, err = run_main(capsys, "train", air_csv, "--resume", run, "--epochs", "3", "-q")
    assert code == 0, err
    assert torch.load(run / "last.pt", weights_only=True)["train_state"]["epoch"] == 3
    fit_rows = [r for r in (run / "metrics.csv").read_text().splitlines()[1:] if r.endswith(",fit")]
    assert fit_rows[-1].startswith("3,")
    code, out, err = run_main(capsys, "train", air_csv, "--resume", run, "--epochs", "3")
    assert code == 0 and out == ""
    assert "nothing to do" in err and "above 3" in err


def test_resume_refuses_other_options_and_other_data(
    capsys, full_run: Path, air_csv: Path, write_csv, tmp_path: Path
) -> None:
    code, _, err = run_main(capsys, "train", air_csv, "--resume", full_run, "--epochs", "5", "--hidden", "4")
    assert code == 2 and "--hidden cannot change it" in err
    code, _, err = run_main(capsys, "train", air_csv, "--resume", tmp_path, "--epochs", "5")
    assert code == 4 and "no last.pt" in err
    shorter = write_csv("".join(air_csv.read_text().splitlines(keepends=True)[:-12]))
    code, _, err = run_main(capsys, "train", shorter, "--resume", full_run, "--epochs", "5", "-q")
    assert code == 3 and "--resume needs the same DATA" in err
