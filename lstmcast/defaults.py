"""Every data-sized default in one place: the rules that turn an open setting into a number from the data.

config.resolve_window and config.resolve_train apply them; README's "Defaults you do not have to think about"
table states them (tests/test_defaults.py checks that the two agree). Nothing here reads a file or a tensor.
"""

from __future__ import annotations

import math

# --- window sizes (from the season m and the series' length n) ----------------------------------------------------
HORIZON_SEASONS = 1  # --horizon: one season ...
# ... and with no season (yearly data, an unknown frequency, positions) 6 steps, the M3/M4 yearly horizon, at most a
# third of the series: one step would be a forecast nobody asks for and too little to validate on.
SEASONLESS_HORIZON = 6
SEASONLESS_MAX_SHARE = 3
LOOKBACK_SEASONS_SHORT = 3  # --lookback: 3 seasons for seasons of up to SHORT_SEASON steps ...
LOOKBACK_SEASONS_LONG = 2  # ... and 2 for longer ones
SHORT_SEASON = 12
LOOKBACK_MIN = 16  # at least 16 steps
LOOKBACK_MAX = 336  # at most 336 steps ...
LOOKBACK_MAX_SHARE = 3  # ... and at most a third of the training part
VAL_HORIZONS = 4  # --val-size: up to 4 horizons ...
VAL_MAX_SHARE = 10  # ... at most a tenth of the series, at least one horizon
# --padding auto pads when some series is shorter than lookback + horizon + validation (it would have no training
# window); then a window holds at least MIN_HISTORY real steps, and the lookback is not capped by the length.
MIN_HISTORY = 2
# --norm auto takes each window relative to its last value for seasons up to this many steps. Measured on the M3
# competition (relative MASE of one model, seed 0, against the window's mean and spread): yearly 0.814 vs 0.854-0.879,
# quarterly 0.738 vs 0.77-0.79; monthly 0.789 vs 0.763, where the window norm stays. It costs aus_accommodation
# (quarterly, 8 long strongly seasonal series): 0.75 -> 0.90, still ahead of seasonal naive.
LAST_VALUE_SEASON = 4
# --combine auto weighs the LSTM against the Theta method for seasons of up to 12 steps: the yearly, quarterly, monthly
# (and daily, 7) data Theta was built and tested on. With hourly or half-hourly data (several seasons: day and
# week) Theta's one classical season misleads, and a few validation origins chose it over a better LSTM (taylor:
# relative MASE of one fold 0.466 for the LSTM alone, 1.250 for Theta, 1.034 for the weight chosen).
COMBINE_SEASON = 12

# --- training sizes (from the number of training windows) ---------------------------------------------------------
# Window passes a default run aims at (about a minute on one CPU core for this model size), whatever the series'
# length: short series get many epochs of small batches, long ones a few epochs of large batches.
SAMPLE_BUDGET = 60_000
# More series earn more passes: about EPOCHS_AIM epochs, at most SAMPLE_BUDGET per series and SAMPLE_MAX in all. A
# panel of short series underfits on 60,000 (M3 quarterly's 30,000 windows: relative MASE 0.82 -> 0.74 with 20
# epochs); the windows of one long series overlap and repeat each other, and more passes over them only overfit
# (jfk_temp: 0.995 with 60,000 passes, 1.22 with 20 epochs).
EPOCHS_AIM = 20
SAMPLE_MAX = 480_000
BATCH_SHARE = 16  # --batch-size: n_windows / 16 rounded to a power of two ...
BATCH_MIN, BATCH_MAX = 16, 32  # ... within [16, 32] on the plain budget (one series, small panels) ...
BATCH_MAX_PANEL = 256  # ... and within [16, 256] when the budget grows beyond SAMPLE_BUDGET (panels of many series)
# BATCH_MAX was 128 until the speed issue: at 60,000 window passes, batches of 128 took too few steps on long series.
# Measured (bench/accuracy.py, relative MASE, seeds 0 / 1 / 2, batches of 32 instead of 128 on the long series):
# taylor 0.689 / 0.652 / 0.754 -> 0.448 / 0.345 / 0.368, jfk_temp 0.969 / 0.943 / 0.958 -> 0.671 / 1.042 / 0.853,
# sunspot_month 0.569 / 0.523 / 0.603 -> 0.580 / 0.486 / 0.570, co2_weekly 0.201 / 0.191 / 0.193 -> 0.213 / 0.245 /
# 0.264. Short series (airpassengers, hyndsight: under 363 windows) keep 16: 32 there was worse (airpassengers 1.22 /
# 1.15 against 0.82 / 1.11).
EPOCHS_MIN, EPOCHS_MAX = 4, 400  # --epochs: the window passes above, within [4, 400]
PATIENCE_SHARE = 5  # --patience: a fifth of the epochs ...
PATIENCE_MIN = 5  # ... at least 5. Not capped: a cap of 20 stopped airpassengers on the plateau its loss shows
# before epoch 30 (best epoch 9 of 29 on seeds 0, 1, 2; LSTM alone 1.10-1.14 validation MASE against 0.48-0.60 with
# the fifth, which runs until about epoch 140), although it made the default run 3x faster. bench/patience.py
# replays early stopping on short series trained alone (airpassengers, hyndsight, 40 M3 series, 3 seeds): a patience
# of 40 or 50 instead of 80 changes the chosen epoch of 6-8 % of them, and those stop on a plateau (README).

# --refit auto refits below this many training windows: short series and small panels, where the validation part
# is much of the data and its recency matters. Measured (relative MASE, seeds 0 / 1): airpassengers 0.725 / 1.246 ->
# 0.577 / 1.050, hyndsight 0.897 / 1.066 -> 0.894 / 1.009, visnights 1.035 / 0.995 -> 0.982 / 1.011; on a long series
# (co2_weekly, ~2,000 windows, seed 0) a refit lost the benefit of the epoch selection: 0.202 -> 0.253.
REFIT_BELOW = 1_000
# ... and whenever the validation part holds at least 5 % of the rows (panels of short series such as the M3
# competition's: every series loses its last horizon to validation). On the dev series this decides as before:
# airpassengers, hyndsight, elecdaily, visnights and aus_accommodation 5-9 %, the long series 1-5 %.
REFIT_VAL_SHARE = 0.05
# ... but never above this many training windows: a refit doubles the training's CPU time (beside the first fit on
# a second core, training.alongside, less of its wall time), and with this much data the windows
# the validation part holds back are a small share of what the model learns from (M3 monthly: 114,000 windows).
REFIT_MAX = 50_000

# --- calendar features (from the step and the series' length) ------------------------------------------------------
CYCLE_MIN_STEPS = 2  # a calendar cycle is encoded when it is at least two steps long ...
CYCLE_MIN_REPEATS = 2  # ... and the data covers it at least twice

# --- interval calibration (from the number of windows) -------------------------------------------------------------
CALIBRATION_WINDOWS = 20_000  # calibration reads at most this many windows of each part, evenly spaced (long series)

# --- machine sizes ------------------------------------------------------------------------------------------------
PREDICT_THREADS = 4  # predict uses at most this many torch threads (one for networks of up to ONE_THREAD_UNITS)
# Training on a CPU uses one torch thread unless --threads says otherwise, for networks up to this many hidden units
# (hidden size x layers x directions): their matrices are too small to split, and a second thread spin-waits, which
# costs 4x when another process holds the other core (bench/contention.py measures it).
ONE_THREAD_UNITS = 256
# A training run rewrites last.pt (and model.pt when the epoch improved) after its first epoch and then at most
# every CHECKPOINT_SECONDS, and always at the end (also on Ctrl-C or SIGTERM): short epochs no longer spend their
# time writing files (161 writes were 1.2 s of an airpassengers run); a SIGKILL loses at most this much training.
CHECKPOINT_SECONDS = 10.0
INFERENCE_BATCH = 4096  # windows per forward pass when forecasting, calibrating or scoring many windows


def window_sizes(
    n_rows: int, season: int, lookback: int | None, horizon: int | None, val_size: int | None, *, padded: bool = False
) -> tuple[int, int, int]:
    """(lookback, horizon, val_size): the given ones kept, the others from the season and the length.

    horizon: one season; with no season (m <= 1) SEASONLESS_HORIZON steps, at most a third of the series. lookback: 3 seasons for short seasons (<= 12), 2 for longer ones, at least
    16 points, at most 336 and (unless `padded`) at most a third of the series. val_size: up to 4 horizons, at most a
    tenth of the series, at least one horizon.
    """
    if horizon is None:
        if season > 1:
            horizon = HORIZON_SEASONS * season
        else:
            horizon = max(1, min(SEASONLESS_HORIZON, n_rows // SEASONLESS_MAX_SHARE))
    if val_size is None:
        val_size = horizon * max(1, min(VAL_HORIZONS, (n_rows // VAL_MAX_SHARE) // horizon))
    if lookback is None:
        seasons = LOOKBACK_SEASONS_SHORT if season <= SHORT_SEASON else LOOKBACK_SEASONS_LONG
        lookback = max(LOOKBACK_MIN, seasons * season)
        lookback = min(lookback, LOOKBACK_MAX)
        if not padded:
            lookback = min(lookback, max(horizon, (n_rows - val_size) // LOOKBACK_MAX_SHARE))
        lookback = max(1, lookback)
    return lookback, horizon, val_size


def scaling_for(season: int, scaler: str, norm: str) -> tuple[str, str]:
    """(--scaler, --norm) with auto resolved: for seasons of up to LAST_VALUE_SEASON steps (yearly, quarterly,
    no season) each window is taken relative to its last value, in units of the series' typical change (mase):
    the level of such series is best known from their latest value, as naive and Theta forecast. Longer seasons
    keep the window's own mean and spread (the last value sits somewhere in the cycle) and the standard scaler."""
    if norm == "auto":
        norm = "last" if season <= LAST_VALUE_SEASON else "window"
    if scaler == "auto":
        scaler = "mase" if norm == "last" else "standard"
    return scaler, norm


def predict_threads(hidden_units: int, available: int) -> int:
    """The torch threads predict uses: one for a small network (its batches are tiny, and a second thread
    spin-waits whenever another process holds the core: a forward pass of 85 airpassengers windows took 508 ms
    instead of 3 ms next to a busy process), else up to PREDICT_THREADS of the `available` ones."""
    if hidden_units <= ONE_THREAD_UNITS:
        return 1
    return max(1, min(available, PREDICT_THREADS))


def train_threads(asked: int | None, hidden_units: int, device_type: str) -> int | None:
    """The torch threads training sets (None: leave torch's default): --threads when given, else one thread for a
    small network on a CPU (ONE_THREAD_UNITS)."""
    if asked is not None:
        return asked
    return 1 if device_type == "cpu" and hidden_units <= ONE_THREAD_UNITS else None


def combines(asked: str, season: int) -> bool:
    """--combine auto: whether the LSTM is weighed against Theta, for seasons of up to COMBINE_SEASON steps."""
    return asked == "auto" and season <= COMBINE_SEASON


def needs_padding(shortest: int, lookback: int, horizon: int, val_size: int) -> bool:
    """--padding auto: whether the shortest series lacks a training window before its validation part."""
    return shortest < lookback + horizon + val_size


def refits(n_windows: int, val_rows: int, rows: int) -> bool:
    """--refit auto: short data, where the held-out validation part is much of what there is to learn from."""
    return n_windows < REFIT_BELOW or (val_rows >= REFIT_VAL_SHARE * rows and n_windows < REFIT_MAX)


def sample_passes(n_windows: int, n_series: int = 1) -> int:
    """The window passes a default run aims at: SAMPLE_BUDGET, or for a panel about EPOCHS_AIM epochs, at most
    SAMPLE_BUDGET per series and SAMPLE_MAX in all."""
    return max(SAMPLE_BUDGET, min(EPOCHS_AIM * n_windows, SAMPLE_BUDGET * n_series, SAMPLE_MAX))


def training_sizes(
    n_windows: int, batch_size: int | None, epochs: int | None, patience: int | None, steps_per_epoch: int | None,
    n_series: int = 1,
) -> tuple[int, int, int]:  # fmt: skip
    """(batch_size, epochs, patience): the given ones kept, the others from the number of training windows and
    series.

    batch: n_windows / 16 rounded to a power of two, within [16, 32] (within [16, 256] for a budget beyond
    SAMPLE_BUDGET); epochs: sample_passes window passes, within [4, 400] (with --steps-per-epoch, the capped epoch
    counts); patience: a fifth of the epochs, at least 5.
    """
    passes = sample_passes(n_windows, n_series)
    if batch_size is None:
        most = BATCH_MAX_PANEL if passes > SAMPLE_BUDGET else BATCH_MAX
        batch_size = int(min(most, max(BATCH_MIN, 2 ** round(math.log2(max(n_windows, 1) / BATCH_SHARE)))))
    if epochs is None:
        per_epoch = n_windows
        if steps_per_epoch is not None:
            per_epoch = min(per_epoch, steps_per_epoch * batch_size)
        epochs = int(min(EPOCHS_MAX, max(EPOCHS_MIN, math.ceil(passes / max(per_epoch, 1)))))
    if patience is None:
        patience = max(PATIENCE_MIN, epochs // PATIENCE_SHARE)
    return batch_size, epochs, patience
