"""The entry points a user calls: train, predict, evaluate, backtest, inspect and export runs; each chains the
stages (files: pipeline.rundir, pipeline.artifacts)."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import torch

from lstmcast import configfile, defaults
from lstmcast.checkpoint import format as ckpt_io
from lstmcast.checkpoint.export import Exported, export
from lstmcast.checkpoint.format import Checkpoint
from lstmcast.config import RunConfig
from lstmcast.errors import ConfigError
from lstmcast.evaluation.backtest import BacktestResult, backtest, evaluate
from lstmcast.evaluation.metrics import beats
from lstmcast.evaluation.validation import combined_validation, series_scores, validate
from lstmcast.files import not_an_input, output_target
from lstmcast.forecasting.forecast import forecast
from lstmcast.io.data import season_length
from lstmcast.nn.model import LSTMRegressor
from lstmcast.nn.theta import Combination, Theta
from lstmcast.pipeline import artifacts, inspection, rundir
from lstmcast.pipeline.inspection import GateReport
from lstmcast.pipeline.setup import describe_setup
from lstmcast.pipeline.sources import Source, load_for_model, read_panel, user_names
from lstmcast.training import distributed
from lstmcast.training.fitting import prepare
from lstmcast.training.loop import (
    EpochCallback,
    EpochLog,
    StopReason,
    TrainResult,
    build_model,
    check_training,
    kept_result,
    resolve_device,
    training_threads,
)
from lstmcast.training.resume import ResumePoint, check_same_data
from lstmcast.training.run import Holdout, train_model
from lstmcast.ui import render
from lstmcast.ui.gateplot import gates_figure

Report = Callable[[str], None]


@dataclass
class TrainRun:
    run_dir: Path
    checkpoint: Checkpoint | None  # None on the ranks > 0 of a distributed run (rank 0 writes the run)
    result: TrainResult
    val_metrics: dict[str, dict[str, float]]
    refit: TrainResult | None = None  # the final model's training on every window (loop.refit), if any
    series_scores: list[dict[str, Any]] = field(default_factory=list)  # validation.series_scores, one per series
    season: int = 0  # the season length the baseline repeats (1: it repeats the last value)

    @property
    def baseline(self) -> str:
        """What the baseline is called: seasonal naive repeats the last season, which with a season of 1 (yearly
        data, no known frequency) is the last value: naive."""
        return baseline_name(self.season)

    @property
    def trained(self) -> bool:
        """Whether an epoch ended with a finite loss, so that model.pt exists (else no model file was written)."""
        return self.result.best_epoch > 0

    @property
    def files(self) -> list[str]:
        """The files the run directory holds now."""
        return artifacts.run_files(self.run_dir)

    @property
    def refitted(self) -> bool:
        """Whether the saved model is the refit (loop.kept_result)."""
        return self.refit is not None and kept_result(self.result, self.refit) is self.refit

    def validation_scope(self) -> str:
        """What the validation scores were measured on, and why they flatter the model (the table's title)."""
        if self.checkpoint is None:
            return "Validation"
        window, series = self.checkpoint.config.window, len(self.checkpoint.ids)
        where = f"the last {window.val_size} rows of " + ("the series" if series == 1 else f"each of {series} series")
        chosen = "early stopping" + (" and the Theta weight" if self.checkpoint.combination is not None else "")
        return f"Validation on {where} (original units; held out from fitting but used for {chosen}: optimistic)"

    @property
    def stopped_early(self) -> bool:
        return self.result.stop_reason is StopReason.early_stop

    @property
    def diverged(self) -> bool:
        """The loss became NaN or infinite: the saved model is the best one before that."""
        return self.result.stop_reason is StopReason.non_finite

    @property
    def interrupted(self) -> bool:
        return self.result.stop_reason is StopReason.interrupted

    @property
    def refit_interrupted(self) -> bool:
        """Ctrl-C during the final refit: the saved model is the first fit."""
        return self.refit is not None and self.refit.stop_reason is StopReason.interrupted

    def beats_seasonal_naive(self) -> bool | None:
        """Whether the model's validation MASE is below seasonal naive's; None when either is not a number."""
        return beats(self.val_metrics["lstmcast"]["mase"], self.val_metrics["seasonal naive"]["mase"])


def baseline_name(season: int) -> str:
    """Seasonal naive with a season of 1 repeats the last value: naive."""
    return "naive" if season == 1 else "seasonal naive"


def train_run(
    source: Source,
    cfg: RunConfig,
    *,
    out: Path | None = None,
    project: Path = Path("runs"),
    name: str = "train",
    stdin: IO[bytes] | None = None,
    report: Report | None = None,
    on_epoch_end: EpochCallback | None = None,
    resume: ResumePoint | None = None,
    on_refit_epoch: EpochCallback | None = None,
) -> TrainRun:
    """Load, window, train and write a run directory (model.pt, last.pt, metrics.csv, figures, summary.json,
    config.toml: the resolved configuration). With `resume` (resume.load_point, whose config `cfg` should be),
    go on training in that run directory from its last.pt; `source` must be the run's data. `report` hears the
    resolved set-up first (setup.describe_setup); on_refit_epoch: each epoch of the final refit, if one runs.

    In a distributed job (torchrun, or `train --nproc`: see distributed.py) every rank loads and windows the
    data and trains its shard; rank 0 alone creates the run directory and writes every file."""
    check_training(cfg.train)
    if distributed.env_group().active and isinstance(source, (str, Path)) and str(source) == "-":
        raise ConfigError("a distributed run reads DATA in every process: give a file, not - (standard input)")
    group = distributed.setup(resolve_device(cfg.train.device))
    try:
        run = _train(source, cfg, out, project, name, stdin, report, on_epoch_end, resume, group, on_refit_epoch)
        if not (run.interrupted or run.refit_interrupted):
            # not after Ctrl-C or SIGTERM: each rank stopped wherever it was, maybe inside an exchange that its peer
            # never joins, and a barrier there would wait for the launcher's SIGKILL (rank 0 then says nothing)
            distributed.finished()
        return run
    finally:
        distributed.teardown()


def _with_weights(model: LSTMRegressor, weights: dict[str, torch.Tensor]) -> LSTMRegressor:
    """A copy of `model` holding `weights` (the best epoch's, to save while training goes on)."""
    twin = copy.deepcopy(model)
    twin.load_state_dict(weights)
    return twin


def _train(
    source: Source, cfg: RunConfig, out: Path | None, project: Path, name: str, stdin: IO[bytes] | None,
    report: Report | None, on_epoch_end: EpochCallback | None, resume: ResumePoint | None, group: distributed.Group,
    on_refit_epoch: EpochCallback | None = None,
) -> TrainRun:  # fmt: skip
    panel = read_panel(source, cfg.data, stdin=stdin, report=report)
    prep = prepare(panel, cfg, report)
    cfg, windows = prep.config, prep.windows
    if report is not None and group.is_main:
        device = distributed.train_device(resolve_device(cfg.train.device), group)
        threads = training_threads(cfg, device) or torch.get_num_threads()
        report(describe_setup(
            cfg, series=len(prep.panel), windows=len(windows.train_starts), device=device.type, threads=threads,
            freq=prep.panel[0].freq,
        ))  # fmt: skip
    lookback, horizon = cfg.window.lookback, cfg.window.horizon
    # The network's size, and that this machine can hold it, before a run directory exists:
    del_model = build_model(cfg, prep.input_size, prep.layout.known, prep.layout.known_ahead, torch.device("cpu"))
    del del_model
    if resume is not None:
        check_same_data(resume, prep.panel, str(source))
        run_dir = resume.run_dir
    else:
        run_dir = distributed.share(lambda: rundir.make_run_dir(out, project, name))
    if not group.is_main:  # the other ranks train their shards; rank 0 writes everything
        trained = train_model(windows, cfg, resume=None if resume is None else resume.state, calibrated=False)
        return TrainRun(run_dir, None, trained.first, {}, trained.refit)
    configfile.write(cfg, run_dir / "config.toml")

    schema = artifacts.schema(prep)
    stored = [s.tail(lookback) for s in prep.panel]
    n_rows = [len(s) for s in prep.panel]
    with torch.device("meta"):  # a placeholder: each epoch's save puts the trained network in its place
        model0 = LSTMRegressor(cfg.model, prep.input_size, horizon, prep.layout.known, prep.layout.known_ahead)
    base = Checkpoint(cfg, prep.scaling, prep.layout, schema, stored, model0, n_rows, asked=prep.asked)

    pending: dict[str, Any] = {}  # the resume state of the epoch just ended (fit's on_state comes first)
    saved_at, best_unsaved = -math.inf, False

    def save_each_epoch(log: EpochLog, model: LSTMRegressor, improved: bool) -> None:
        """last.pt after the first epoch, then at most every CHECKPOINT_SECONDS (the final save follows the fit);
        model.pt with it when a better epoch came since the last save (its weights from the resume state)."""
        nonlocal saved_at, best_unsaved
        state = pending.pop("state", None)
        best_unsaved = best_unsaved or improved
        if time.monotonic() - saved_at >= defaults.CHECKPOINT_SECONDS:
            if best_unsaved and (improved or state is not None):
                base.model = model if improved else _with_weights(model, state["best_state"])
                ckpt_io.save(base, run_dir / "model.pt")
                best_unsaved = False
            if state is not None:  # none for an epoch whose loss was not finite: last.pt keeps the epoch before
                base.model = model
                ckpt_io.save(base, run_dir / "last.pt", train_state=state)
            saved_at = time.monotonic()
        if on_epoch_end is not None:
            on_epoch_end(log, model, improved)

    season = season_length(prep.panel[0].freq)
    scored: dict[str, Any] = {}

    def validate_first_fit(first: TrainResult, table: np.ndarray | None) -> None:
        """Score the first fit on the validation part it held out (before the refit trains on it)."""
        scored["metrics"], scored["per_series"] = validate(
            first.model, prep.scaling, windows, prep.panel, prep.n_trains, cfg.window.norm, season, table,
            artifacts.FIGURE_LEVELS,
        )  # fmt: skip

    trained = train_model(
        windows, cfg, on_epoch_end=save_each_epoch, on_state=lambda state: pending.update(state=state),
        resume=None if resume is None else resume.state, after_fit=validate_first_fit, report=report,
        holdout=Holdout([s.values for s in prep.panel], prep.scaling), on_refit_epoch=on_refit_epoch,
    )  # fmt: skip
    result, again, kept, table = trained.first, trained.refit, trained.kept, trained.table
    if result.best_epoch == 0:  # no epoch ended with a finite loss (Ctrl-C or NaN in the first): nothing to keep
        return _untrained_run(run_dir, prep, result, n_rows)
    val_metrics, per_series = scored["metrics"], scored["per_series"]
    combination = None
    if trained.combination is not None:
        combination = Combination(trained.weight, tuple(Theta.fit(s.values, season) for s in prep.panel))
        val_metrics, per_series = combined_validation(val_metrics, per_series, trained.weight, season)
        if report is not None:
            report(trained.combination.describe())
    scores_by_series = series_scores(per_series, season)
    history = result.history
    losses = {
        "epoch": [float(h.epoch) for h in history],
        "train_loss": [h.train_loss for h in history],
        "val_loss": [h.val_loss for h in history],
    }
    info = {
        "stop_reason": result.stop_reason.value, "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
        "refit_epochs": kept.epochs_run if trained.refitted else 0,
    }  # fmt: skip
    metrics = {f"val_{k}": v for k, v in val_metrics["lstmcast"].items()} | {
        f"val_snaive_{k}": v for k, v in val_metrics["seasonal naive"].items()
    }
    final = Checkpoint(
        cfg, prep.scaling, prep.layout, schema, stored, kept.model, n_rows, table, metrics, losses, info,
        asked=prep.asked, combination=combination,
    )  # fmt: skip
    ckpt_io.save(final, run_dir / "model.pt")
    if result.stop_reason != "non_finite":  # else last.pt stays the last epoch whose loss was finite
        ckpt_io.save(final, run_dir / "last.pt", state=result.last_state, train_state=result.train_state)
    refit_history = [] if again is None else again.history
    artifacts.write_metrics_csv(run_dir / "metrics.csv", history, refit_history)
    if history:
        render.loss_figure(
            run_dir / "loss.png", [h.epoch for h in history], [h.train_loss for h in history],
            [h.val_loss for h in history], result.best_epoch, [h.train_loss for h in refit_history],
        )  # fmt: skip
    artifacts.forecast_figure(run_dir / "forecast.png", per_series, horizon)
    summary = {
        "run_dir": str(run_dir),
        "source": schema["source"],
        "series": len(prep.panel),
        "rows": sum(n_rows),
        "train_rows": sum(prep.n_trains),
        "season": season,
        "config": cfg.to_dict(),
        "layout": prep.layout.to_dict(),
        "validation": val_metrics,  # "seasonal naive": with season 1 that is naive (the last value repeated)
        "baseline": baseline_name(season),
        "validation_per_series": scores_by_series,
        "combination": None if trained.combination is None else trained.combination.summary(prep.ids),
        **info,
    }
    artifacts.write_summary(run_dir, summary)
    return TrainRun(run_dir, final, result, val_metrics, again, scores_by_series, season)


def _untrained_run(run_dir: Path, prep: Any, result: TrainResult, n_rows: list[int]) -> TrainRun:
    """A run in which no epoch ended with a finite loss: no model file is written (an untrained network must never
    be forecast from), only the configuration, the loss history and a summary that says why."""
    artifacts.write_metrics_csv(run_dir / "metrics.csv", result.history)
    summary = {
        "run_dir": str(run_dir), "source": prep.panel[0].source, "series": len(prep.panel), "rows": sum(n_rows),
        "config": prep.config.to_dict(), "stop_reason": result.stop_reason, "best_epoch": 0,
        "epochs_run": result.epochs_run, "refit_epochs": 0,
    }  # fmt: skip
    artifacts.write_summary(run_dir, summary)
    return TrainRun(run_dir, None, result, {})


def evaluate_run(
    model: str | Path,
    source: Source,
    *,
    horizon: int | None = None,
    step: int | None = None,
    season: int | None = None,
    levels: list[float] | None = None,
    target: str | None = None,
    time_col: str | None = None,
    fill: str = "interpolate",
    stdin: IO[bytes] | None = None,
    report: Report | None = None,
    clip: bool = True,
) -> BacktestResult:
    """Score a checkpoint on the data after its training data (no retraining). `clip`: intervals of series never
    negative before each origin are clipped at zero."""
    ckpt = _load(model, report)
    panel = load_for_model(ckpt, source, target, time_col, fill, stdin, report)
    return evaluate(panel, ckpt, horizon=horizon, step=step, season=season, levels=levels or (), clip=clip)


def predict_run(
    model: str | Path,
    source: Source | None = None,
    *,
    horizon: int | None = None,
    ids: list[str] | None = None,
    levels: list[float] | None = None,
    target: str | None = None,
    time_col: str | None = None,
    fill: str = "interpolate",
    stdin: IO[bytes] | None = None,
    report: Report | None = None,
    clip: bool = True,
    keep_names: bool = False,
    plot: Path | None = None,
) -> pd.DataFrame:
    """Forecast from a checkpoint: after its stored history, or after the data in `source`. `clip`: intervals of
    series never negative in the training data are clipped at zero. `keep_names`: the columns named as in the
    training data (time column, target, id column) instead of timestamp, forecast, id. `plot`: a PNG of the recent
    history, the forecast and its bands (artifacts.prediction_figure)."""
    ckpt = _load(model, report)
    panel = None
    if source is not None:
        panel = load_for_model(ckpt, source, target, time_col, fill, stdin, report)
    torch.set_num_threads(defaults.predict_threads(ckpt.config.model.units, torch.get_num_threads()))
    frame = forecast(ckpt, panel, horizon, report, ids, levels or (), clip=clip)
    if plot is not None:
        chosen = [s for s in (ckpt.stored if panel is None else panel) if not ids or s.id in set(ids)]
        n_rows = [len(s) if panel is not None else ckpt.n_rows_of(s.id) for s in chosen]
        artifacts.prediction_figure(rundir.writable_file(Path(plot), "--plot"), frame, chosen, n_rows,
                                    list(levels or ()), report)  # fmt: skip
    return user_names(frame, ckpt.schema) if keep_names else frame


def backtest_run(
    source: Source,
    cfg: RunConfig,
    *,
    folds: int = 3,
    step: int | None = None,
    season: int | None = None,
    ensemble: int | None = None,
    levels: list[float] | None = None,
    local: bool = False,
    out: Path | None = None,
    stdin: IO[bytes] | None = None,
    report: Report | None = None,
    clip: bool = True,
) -> BacktestResult:
    """Rolling-origin backtest of `cfg` on the data; with `out`, writes backtest.csv (scores), forecasts.csv (every
    fold's forecasts) and backtest.png there.
    `clip`: intervals of series never negative before each origin are clipped at zero."""
    panel = read_panel(source, cfg.data, stdin=stdin, report=report)
    if out is not None:
        try:
            Path(out).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--out {out}: cannot create the directory ({exc.strerror})") from None
        rundir.check_writable(Path(out))
        for name in ("backtest.csv", "backtest.png"):
            not_an_input(Path(out) / name, [source], "--out")

    def progress(k: int, n: int) -> None:
        if report is not None:
            report(f"fold {k}/{n}: training")

    result = backtest(
        panel, cfg, folds=folds, step=step, season=season, ensemble=ensemble, on_fold=progress, report=report,
        levels=levels or (), local=local, clip=clip,
    )  # fmt: skip
    if out is not None:
        artifacts.write_records(Path(out) / "backtest.csv", result.records())
        artifacts.write_records(Path(out) / "forecasts.csv", result.forecast_records())
        artifacts.backtest_figure(Path(out) / "backtest.png", result)
    return result


def inspect_run(
    model: str | Path,
    *,
    gates: bool = False,
    source: str | Path | None = None,
    out: Path | None = None,
    stdin: IO[bytes] | None = None,
    report: Report | None = None,
) -> tuple[dict[str, Any], GateReport | None, Path | None]:
    """The model card; with `gates`, the gate trace over the last window and gates.png (in `out`, default: the
    run directory)."""
    path = ckpt_io.resolve_path(model)
    ckpt = _load(model, report)
    card = inspection.model_card(ckpt) | {"file": str(path)}
    if not gates:
        return card, None, None
    series = None
    if source is not None:
        series = load_for_model(ckpt, source, None, None, "interpolate", stdin, report)[0]
    gate = inspection.gate_report(ckpt, series)
    where = Path(out) if out is not None else path.parent
    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # --out names a file (FileExistsError), or a place that cannot be written
        raise ConfigError(f"--out {where}: cannot create the directory ({exc.strerror})") from None
    if not where.is_dir():
        raise ConfigError(f"--out {where}: not a directory; give a directory for gates.png")
    title = f"{gate.kind.upper()} gates over the last {len(gate.inputs)} steps" + (
        f" of {gate.series}" if gate.series else ""
    )
    figure = gates_figure(where / "gates.png", gate.inputs, gate.panels, title)
    return card, gate, figure


def export_run(model: str | Path, fmt: str, out: str | Path, report: Report | None = None) -> Exported:
    """Write a checkpoint's forecaster as an ONNX or TorchScript graph that takes raw history (export.py)."""
    output_target(out, "-o")  # before the work: a device, FIFO or directory there is refused
    not_an_input(out, [ckpt_io.resolve_path(model)], "-o")  # never replace the model being exported
    return export(_load(model, report), fmt, out)


def _load(model: str | Path, report: Report | None) -> Checkpoint:
    """Load the checkpoint `model` names; a run directory without model.pt falls back to its last.pt, and says so."""
    path = ckpt_io.resolve_path(model)
    if path.name == "last.pt" and Path(model).is_dir() and report is not None:
        report(f"note: {model} has no model.pt; using {path} (the model after its last completed epoch)")
    return ckpt_io.load(path)
