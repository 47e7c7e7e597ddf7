"""The one training sequence: fit -> calibrate -> (validate) -> refit -> keep.

Every path that trains a model goes through `train_model`: a training run (pipeline.runs), the backtest's folds and
the library's fit_series (fitting), whose ensembles go through `train_members`. The refit may train alongside the
first fit (training.alongside). New steps of the sequence (transforms, masking) belong here.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from lstmcast import defaults
from lstmcast.config import ResolvedConfig
from lstmcast.forecasting.combine import Choice, choose_on_windows
from lstmcast.forecasting.intervals import calibrate
from lstmcast.nn.model import LSTMRegressor
from lstmcast.prep.scaling import PanelScaling
from lstmcast.prep.windows import Windows
from lstmcast.training import alongside
from lstmcast.training.loop import (
    EpochCallback,
    Pace,
    StateCallback,
    TrainResult,
    fit,
    kept_result,
    refit,
    refit_windows,
    thread_policy,
)

# Called after the first fit is calibrated, before the refit: the first fit held the validation part out, so
# this is where it is scored (pipeline.runs validates here). Arguments: the first fit, its calibration table.
AfterFit = Callable[[TrainResult, "np.ndarray | None"], None]


@dataclass
class TrainedModel:
    """What train_model did: the first fit (early stopping on the validation windows), its interval calibration
    and the refit on every window, if one ran."""

    first: TrainResult
    table: np.ndarray | None  # intervals.calibrate of the first fit; None when not asked for
    refit: TrainResult | None = None
    combination: Choice | None = None  # the weight of the LSTM against Theta (--combine auto), chosen on the first fit

    @property
    def weight(self) -> float:
        """The LSTM's share of the forecast (1: the LSTM alone)."""
        return 1.0 if self.combination is None else self.combination.weight

    @property
    def kept(self) -> TrainResult:
        """The result whose model is kept (loop.kept_result: the refit when it ran to its end)."""
        return kept_result(self.first, self.refit)

    @property
    def model(self) -> LSTMRegressor:
        return self.kept.model

    @property
    def refitted(self) -> bool:
        """Whether the kept model is the refit."""
        return self.refit is not None and self.kept is self.refit


def train_model(
    windows: Windows,
    cfg: ResolvedConfig,
    *,
    on_epoch_end: EpochCallback | None = None,
    on_state: StateCallback | None = None,
    resume: dict[str, Any] | None = None,
    calibrated: bool = True,
    after_fit: AfterFit | None = None,
    report: Callable[[str], None] | None = None,
    holdout: Holdout | None = None,
    on_refit_epoch: EpochCallback | None = None,
    refit_alongside: bool | None = None,
    pace: Pace | None = None,
) -> TrainedModel:
    """Fit with early stopping on the validation windows, calibrate the intervals on that fit (its validation
    errors are held out), let `after_fit` score it, refit on every window (loop.refit decides whether), keep one.

    on_epoch_end, on_state, resume: for the first fit (see loop.fit); on_refit_epoch: each epoch of the refit
    (its logs have phase "refit"). calibrated=False
    skips the calibration (the ranks > 0 of a distributed run, which write nothing). holdout: the series behind
    the windows, for --combine auto (forecasting.combine), which weighs the first fit against Theta on the
    validation windows. refit_alongside: train the refit in a second thread while the first fit runs
    (training.alongside; None: where alongside.applies). pace: for both trainings (loop.Pace; run.train_members
    calls its members off with it).
    """
    with thread_policy(cfg):  # the calibration and validation forecasts too: two threads spin on a busy machine
        every = refit_windows(windows, cfg)
        wanted = alongside.applies(cfg) if refit_alongside is None else refit_alongside
        companion = None
        try:
            if every is not None and wanted:
                companion = alongside.start(every, cfg)
            if companion is not None and resume is not None:
                companion.allow(int(resume["best_epoch"]))
            follow = on_epoch_end if companion is None else companion.follow(on_epoch_end)
            first = fit(windows, cfg, on_epoch_end=follow, on_state=on_state, resume=resume, pace=pace)
            table = calibrate(first.model, windows, cfg.window.norm) if calibrated else None
            if after_fit is not None:
                after_fit(first, table)
            choice = None
            usable = first.stop_reason not in ("interrupted", "non_finite") and len(windows.val_starts) > 0
            if defaults.combines(cfg.train.combine, cfg.window.season) and holdout is not None and usable:
                choice = choose_on_windows(
                    first.model, holdout.scaling, windows, holdout.values, cfg.window.norm, cfg.window.season
                )
            finish = None if companion is None else companion.finish
            again = refit(windows, cfg, first, report, on_refit_epoch, finish, pace)
        finally:
            if companion is not None:
                companion.cancel()
        return TrainedModel(first, table, again, choice)


@dataclass(frozen=True)
class Holdout:
    """The series behind a set of windows (original units, in order) and their scaling: what --combine needs."""

    values: list[np.ndarray]
    scaling: PanelScaling


def train_members(
    windows: Windows, cfg: ResolvedConfig, count: int, *, holdout: Holdout | None = None,
    on_epoch_end: EpochCallback | None = None, side_by_side: bool | None = None,
) -> list[TrainedModel]:  # fmt: skip
    """An ensemble: train_model for the seeds seed, seed + 1, ..., seed + count - 1 (on_epoch_end: the first
    member's epochs).

    Members train side by side, one thread per core, where alongside.side_by_side allows (else, or with
    side_by_side=False, one after another): the same models either way (tests/test_alongside.py). A member's refit
    then waits for its first fit (the cores are taken). An error or Ctrl-C in one stops them all.
    """
    cfgs = [replace(cfg, train=replace(cfg.train, seed=cfg.train.seed + k)) for k in range(count)]
    if side_by_side is None:
        workers = min(count, alongside.side_by_side(cfg))
    else:  # asked for (tests): threads even on one core
        workers = min(count, max(2, alongside.cores())) if side_by_side else 1
    if workers <= 1:
        return [train_model(windows, c, holdout=holdout, on_epoch_end=on_epoch_end if k == 0 else None)
                for k, c in enumerate(cfgs)]  # fmt: skip
    stop = alongside.Stop()

    def member(k: int) -> TrainedModel:
        first_only = on_epoch_end if k == 0 else None
        return train_model(windows, cfgs[k], holdout=holdout, on_epoch_end=first_only, refit_alongside=False, pace=stop)

    with ThreadPoolExecutor(workers, thread_name_prefix="lstmcast-member") as pool:
        futures = [pool.submit(member, k) for k in range(count)]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in futures if f.done() and not f.cancelled() and f.exception() is not None]
            if failed:
                raise failed[0].exception()  # type: ignore[misc]
            return [f.result() for f in futures]
        except BaseException:
            stop.call_off()
            for f in futures:
                f.cancel()
            raise

