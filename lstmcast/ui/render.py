"""Everything for human eyes, from plain data: rich progress and tables on a given console, matplotlib figures.

No torch here: callers pass numbers, lists and arrays.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text


def error_console() -> Console:
    """The one console for humans: stderr, no colour codes when redirected."""
    return Console(stderr=True)


def note(console: Console, message: str) -> None:
    """One line for humans; never wrapped, so a note stays one line in a log."""
    console.print(message, highlight=False, soft_wrap=True)


class TrainingProgress:
    """Progress over epochs with train and validation loss, the best validation so far, the patience count and an
    ETA; the refit (training on every window) is its own phase. Use as a context manager.

    On a terminal: a rich bar. Otherwise (a log, a pipe, CI): one plain line every `every` seconds (and at the
    first and last epoch of each phase), so a redirected stderr still shows progress."""

    def __init__(
        self, console: Console, epochs: int | None = None, enabled: bool = True, *, live: bool | None = None,
        every: float = 5.0,
    ) -> None:  # fmt: skip
        self.enabled = enabled
        self.console = console
        self.live = console.is_terminal if live is None else live
        self.every = every
        self.phase = "fit"
        self._reset(epochs)
        self.progress = Progress(
            TextColumn("[bold]{task.fields[phase]}"),
            MofNCompleteColumn(),
            BarColumn(),
            TextColumn("train {task.fields[train]}  val {task.fields[val]}  best {task.fields[best]}  "
                       "patience {task.fields[bad]}"),  # fmt: skip
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
            disable=not (enabled and self.live),
        )
        self.task = self.progress.add_task(
            "train", total=epochs, phase="epoch", train="-", val="-", best="-", bad="-"
        )

    def _reset(self, epochs: int | None) -> None:
        self.total = epochs
        self.best: tuple[float, int] | None = None  # (validation loss, epoch)
        self.bad = 0
        self.seconds = 0.0
        self.done = 0
        self.last_line = -math.inf

    def __enter__(self) -> TrainingProgress:
        self.started = False  # the bar appears with the first epoch, not while data loads
        return self

    def __exit__(self, *exc: object) -> None:
        if self.started:
            self.progress.stop()

    def start_phase(self, name: str, epochs: int) -> None:
        """A new phase (the refit): its own bar or lines, its own count of epochs."""
        self.phase = name
        self._reset(epochs)
        if self.enabled and self.live:
            self.task = self.progress.add_task(name, total=epochs, phase=name, train="-", val="-", best="-", bad="-")

    def update(
        self, epoch: int, train_loss: float, val_loss: float, total: int | None = None, *, improved: bool = False,
        patience: int = 0, seconds: float = 0.0,
    ) -> None:  # fmt: skip
        """One epoch ended: `improved` whether it is the best so far, `patience` the early-stopping patience."""
        if not self.enabled:
            return
        total = total or self.total
        self.total = total
        if improved and math.isfinite(val_loss):
            self.best, self.bad = (val_loss, epoch), 0
        elif self.best is not None:
            self.bad += 1
        self.seconds += seconds
        self.done += 1
        best = "-" if self.best is None else f"{self.best[0]:.4f} (epoch {self.best[1]})"
        bad = f"{self.bad}/{patience}" if patience and self.phase == "fit" else "-"
        if self.live:
            if not self.started:
                self.progress.start()
                self.started = True
            val = "-" if math.isnan(val_loss) else f"{val_loss:.4f}"
            self.progress.update(
                self.task, completed=epoch, total=total, train=f"{train_loss:.4f}", val=val, best=best, bad=bad
            )
            return
        now = time.monotonic()
        last = total is not None and epoch >= total
        if self.done > 1 and not last and now - self.last_line < self.every:
            return
        self.last_line = now
        parts = [f"{self.phase} epoch {epoch}" + (f"/{total}" if total else ""), f"train {train_loss:.4f}"]
        if not math.isnan(val_loss):
            parts.append(f"val {val_loss:.4f}")
        if self.best is not None and self.phase == "fit":
            parts += [f"best {best}", f"patience {bad}"]
        if total and self.done and not last:
            eta = self.seconds / self.done * (total - epoch)
            parts.append(f"ETA {'<= ' if self.phase == 'fit' else ''}{_duration(eta)}")
        note(self.console, "  ".join(parts))


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:,.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    return str(value)


def metrics_table(
    console: Console, title: str, rows: Mapping[str, Mapping[str, float]], columns: Sequence[str]
) -> None:
    """One row per model (e.g. lstmcast, seasonal naive), one column per metric."""
    header = ["model", *(c.upper() if c != "mape" else "MAPE %" for c in columns)]
    body = [[name, *(_fmt(values.get(c, float("nan"))) for c in columns)] for name, values in rows.items()]
    show_table(console, title, header, body)


def show_table(
    console: Console, title: str, header: Sequence[str], rows: Sequence[Sequence[str]], bold: Sequence[str] = ()
) -> None:
    """A table that never cuts a cell: a rich table on a terminal wide enough for it, else a plain layout (aligned
    columns, one line per row, never wrapped) that reads the same in a log, a pipe or a narrow terminal. The first
    column is left-aligned, the others right-aligned."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)  # more fits in 80
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i == 0 else "right", style="bold" if h in bold else None, no_wrap=True)
    for row in rows:
        table.add_row(*row)
    wide = console.options.update_width(100_000)  # measured unbounded: Measurement.get clamps to the width
    if console.is_terminal and Measurement.get(console, wide, table).maximum <= console.width:
        console.print(table)
        return
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    console.print(Text(title), soft_wrap=True)
    for cells in [header, *rows]:
        console.print(Text(line(cells).rstrip()), soft_wrap=True)


def loss_figure(
    path: Path, epochs: Sequence[int], train: Sequence[float], val: Sequence[float], best: int,
    refit: Sequence[float] = (),
) -> Path:  # fmt: skip
    """Train and validation loss per epoch, the best epoch, and the refit's train loss (every window) if any."""
    fig, ax, plt = _figure((7, 4))
    ax.plot(epochs, train, label="train", marker="o", markersize=3)
    ax.plot(epochs, val, label="validation", marker="o", markersize=3)
    if len(refit):
        ax.plot(range(1, len(refit) + 1), refit, label="refit on all data (train)", marker="s", markersize=3,
                linestyle="--", color="tab:green")  # fmt: skip
    if best:
        ax.axvline(best, color="grey", linestyle="--", linewidth=1, label=f"best (epoch {best})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (normalised units)")
    ax.set_yscale("log" if min([*train, *val, *refit], default=1) > 0 else "linear")
    ax.legend()
    ax.set_title("Training and validation loss")
    return _save(fig, plt, path)


Panel = tuple[str, Any, Any, Any]  # title, times, actual values, forecast lines (sequences or arrays)


def forecast_grid(path: Path, panels: Sequence[Panel], title: str, ylabel: str = "") -> Path:
    """A small grid (one plot per series, up to four): actuals with forecast segments over them, each (times,
    values, {level: (lo, hi)}) drawn with its interval bands."""
    fig, axes, plt = _grid(len(panels))
    for ax, (name, times, actual, segments) in zip(axes, panels):
        ax.plot(list(times), list(actual), color="black", linewidth=1.1, label="actual")
        for i, (t, v, bands) in enumerate(segments):
            _bands(ax, t, bands, first=i == 0)
            ax.plot(list(t), list(v), color="tab:orange", linewidth=1.5, label="forecast" if i == 0 else None,
                    **_marker(t))  # fmt: skip
        ax.set_title(name, fontsize=10)
        ax.set_ylabel(ylabel)
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    _date_labels(axes)
    return _save(fig, plt, path)


def _bands(ax: Any, times: Sequence[Any], bands: Mapping[Any, tuple[Any, Any]], first: bool) -> None:
    """Interval bands {level: (lo, hi)} around a forecast: the widest first and lightest. A single step (horizon
    1) has no width to fill: its intervals are drawn as thick vertical bars."""
    times = list(times)
    for j, lv in enumerate(sorted(bands, key=float, reverse=True)):
        lo, hi = bands[lv]
        label = f"{float(lv):g}% interval" if first else None
        if len(times) == 1:
            ax.vlines(times, list(lo), list(hi), color="tab:orange", alpha=0.25 + 0.2 * j, linewidth=8, label=label)
        else:
            ax.fill_between(times, list(lo), list(hi), color="tab:orange", alpha=0.15 + 0.15 * j, linewidth=0,
                            label=label)  # fmt: skip


def _date_labels(axes: Sequence[Any]) -> None:
    """Slanted time labels on every plot of a grid (fig.autofmt_xdate would hide them on all but the bottom row)."""
    for ax in axes:
        for label in ax.get_xticklabels():
            label.set_rotation(30)
            label.set_horizontalalignment("right")


def _marker(points: Sequence[Any]) -> dict[str, Any]:
    """Markers on short forecast lines, so a horizon of 1 (one point, no line) is still drawn."""
    return {"marker": "o", "markersize": 4} if len(list(points)) <= 3 else {}


def future_figure(path: Path, panels: Sequence[Future], title: str) -> Path:
    """What predict forecasts: the recent history, then the forecast with its interval bands; a grid of one plot per
    series for panels, dates on the x axis."""
    fig, axes, plt = _grid(len(panels))
    for ax, (name, times, values, ftimes, fvalues, bands) in zip(axes, panels):
        ax.plot(list(times), list(values), color="black", linewidth=1.1, label="history")
        _bands(ax, ftimes, bands, first=True)
        ax.plot(list(ftimes), list(fvalues), color="tab:orange", linewidth=1.6, label="forecast", **_marker(ftimes))
        if len(times):
            ax.axvline(list(times)[-1], color="grey", linewidth=0.8, linestyle="--", alpha=0.7)
        ax.set_title(name, fontsize=10)
    axes[0].legend(fontsize=8, loc="upper left")
    fig.suptitle(title)
    _date_labels(axes)
    return _save(fig, plt, path)


# name, history times, history values, forecast times, forecast values, {level: (lo, hi)}
Future = tuple[str, Any, Any, Any, Any, Mapping[Any, tuple[Any, Any]]]


def _grid(n: int) -> tuple[Any, list[Any], Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 1 if n == 1 else 2
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(
        rows, cols, figsize=(9 if n == 1 else 12, 4 if n == 1 else 3.2 * rows), dpi=100, squeeze=False
    )
    flat = [ax for row in axes for ax in row]
    for ax in flat[n:]:
        ax.set_visible(False)
    for ax in flat:
        ax.grid(alpha=0.3)
    return fig, flat[:n], plt


def _figure(size: tuple[float, float]) -> tuple[Any, Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size, dpi=100)
    ax.grid(alpha=0.3)
    return fig, ax, plt


def _save(fig: Any, plt: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def series_table(
    console: Console, title: str, rows: Mapping[str | None, Mapping[str, float]], models: Sequence[str], limit: int = 40
) -> None:
    """One row per series, one column per model (e.g. relative MASE); long panels show the first `limit`."""
    body = [[str(sid), *(_fmt(values.get(m, float("nan"))) for m in models)] for sid, values in list(rows.items())[:limit]]
    if len(rows) > limit:
        body.append([f"... {len(rows) - limit} more", *("" for _ in models)])
    show_table(console, title, ["series", *models], body)


def series_validation_table(console: Console, rows: Sequence[Mapping[str, Any]], few: int = 5) -> None:
    """Each series' validation scores, best relative MASE first; long panels show the best and worst `few`
    (`train --format json` gives them all)."""
    def rel(r: Mapping[str, Any]) -> float:
        v = r.get("rel_mase")
        return math.inf if v is None or math.isnan(v) else float(v)

    ranked = sorted(rows, key=rel)
    shown = ranked if len(ranked) <= 2 * few else [*ranked[:few], None, *ranked[-few:]]
    cols = ("mae", "rmse", "mase", "snaive_mase", "rel_mase")
    body = [
        [f"... {len(ranked) - 2 * few} more (train --format json lists all)", *("" for _ in cols)] if r is None
        else [str(r["id"]), *(_fmt(float("nan") if r.get(c) is None else r[c]) for c in cols)]
        for r in shown
    ]  # fmt: skip
    which = "" if len(ranked) <= 2 * few else f", the best and worst {few}"
    title = f"Validation per series ({len(ranked)} series{which}; rel. MASE = MASE / seasonal naive's)"
    show_table(console, title, ["series", "MAE", "RMSE", "MASE", "snaive MASE", "rel. MASE"], body, bold=("rel. MASE",))


def interval_table(
    console: Console, title: str, scores: Mapping[str, Mapping[float, tuple[float, float]]]
) -> None:
    """Coverage and MSIS per level (in %), for each model: {model: {level: (coverage, msis)}}."""
    levels = sorted({lv for per_level in scores.values() for lv in per_level})
    header = ["model"]
    for lv in levels:
        header += [f"coverage {lv:g}%", f"MSIS {lv:g}%"]
    body = []
    for name, per_level in scores.items():
        cells = [name]
        for lv in levels:
            cov, msis = per_level.get(lv, (float("nan"), float("nan")))
            cells += ["-" if math.isnan(cov) else f"{cov:.1%}", _fmt(msis)]
        body.append(cells)
    show_table(console, title, header, body)


WIDE_FOLDS = 3  # up to this many origins, each origin's MASE is a column; more go to a table of their own


def backtest_table(
    console: Console, title: str, overall: Mapping[str, Mapping[str, float]], per_fold: Mapping[str, Sequence[float]],
    baseline: str = "seasonal naive",
) -> None:  # fmt: skip
    """Models as rows: the overall metrics and the skill against the baseline; the MASE of each origin as columns
    (a few origins) or as a long table, one row per origin (many)."""
    folds = len(next(iter(per_fold.values()), []))
    wide = folds <= WIDE_FOLDS
    header = ["model", *(f"MASE f{k + 1}" for k in range(folds if wide else 0))]
    header += ["MAE", "RMSE", "MAPE %", "sMAPE %", "MASE", "rel. MASE", "skill"]
    body = []
    for name, row in overall.items():
        cells = [name, *(_fmt(v) for v in per_fold[name])] if wide else [name]
        cells += [_fmt(row.get(m, float("nan"))) for m in ("mae", "rmse", "mape", "smape", "mase", "rel_mase")]
        skill = row.get("skill", float("nan"))
        cells.append("-" if name == baseline or math.isnan(skill) else f"{skill:+.1%}")
        body.append(cells)
    show_table(console, title, header, body, bold=("rel. MASE", "skill"))
    if not wide:
        models = list(per_fold)
        rows = [[f"f{k + 1}", *(_fmt(per_fold[m][k]) for m in models)] for k in range(folds)]
        show_table(console, "MASE per origin", ["origin", *models], rows)


def backtest_figure(path: Path, panels: Sequence[Panel], title: str) -> Path:
    """Recent actuals with each fold's forecasts (lstmcast and seasonal naive) over them; one plot per series."""
    fig, axes, plt = _grid(len(panels))
    styles = {"lstmcast": ("tab:orange", "-"), "seasonal naive": ("tab:blue", ":")}
    for ax, (name, times, actual, folds) in zip(axes, panels):
        ax.plot(list(times), list(actual), color="black", linewidth=1.1, label="actual")
        for i, (t, preds) in enumerate(folds):
            levels = [k[3:] for k in preds if k.startswith("lo_")]
            _bands(ax, t, {lv: (preds[f"lo_{lv}"], preds[f"hi_{lv}"]) for lv in levels}, first=i == 0)
            for model, (color, ls) in styles.items():
                if model in preds:
                    ax.plot(list(t), list(preds[model]), color=color, linestyle=ls, linewidth=1.5,
                            label=model if i == 0 else None, **_marker(t))  # fmt: skip
            ax.axvline(list(t)[0], color="grey", linewidth=0.8, alpha=0.6)
        ax.set_title(name, fontsize=10)
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    _date_labels(axes)
    return _save(fig, plt, path)


def model_card(console: Console, card: Mapping[str, Any]) -> None:
    """The model card as a rich panel."""
    from rich.panel import Panel as RichPanel

    cfg, schema = card["config"], card["schema"]
    w, m, t = cfg["window"], cfg["model"], cfg["train"]
    layout = card["layout"]
    lines = [
        f"[bold]file[/]        {card['file']}",
        f"[bold]model[/]       {m['cell'].upper()} hidden {m['hidden_size']} x {m['num_layers']} layer(s)"
        + (", bidirectional" if m["bidirectional"] else "")
        + (f", proj {m['proj_size']}" if m["proj_size"] else "")
        + f"; {card['parameters']:,} parameters",
        f"[bold]windows[/]     lookback {w['lookback']}, horizon {w['horizon']}, validation {w['val_size']}; "
        f"scaler {w['scaler']}, window norm {w['norm']}",
        "[bold]inputs[/]      target"
        + "".join(f", {c}" for c in layout["covariates"])
        + (f"; calendar {', '.join(layout['cycles'])}" if layout["cycles"] else ""),
        f"[bold]training[/]    epochs {t['epochs']}, batch {t['batch_size']}, lr {t['lr']}, loss {t['loss']}, seed {t['seed']}; "
        f"stopped: {card['training'].get('stop_reason')} (best epoch {card['training'].get('best_epoch')})",
        f"[bold]data[/]        {schema.get('source')}: target {schema.get('target')!r}, time {schema.get('time_col')!r}, "
        f"frequency {schema.get('freq')}, {card['series']} series",
        f"[bold]span[/]        {schema.get('first_time')} .. {schema.get('last_time')} (validation from {schema.get('split_time')})",
    ]
    val = card["validation"]
    if val["lstmcast"]:
        ours, sn = val["lstmcast"], val["seasonal naive"]
        lines.append(
            f"[bold]validation[/]  MASE {_fmt(ours.get('mase', float('nan')))} vs seasonal naive "
            f"{_fmt(sn.get('mase', float('nan')))}; MAE {_fmt(ours.get('mae', float('nan')))}"
        )
    lines.append(
        f"[bold]versions[/]    lstmcast {card['lstmcast_version']}, torch {card['torch_version']}, "
        f"checkpoint format {card['format_version']}, created {card['created']}"
    )
    lines.append(f"[bold]intervals[/]   {'conformal calibration stored' if card['intervals'] else 'none'}")
    console.print(RichPanel("\n".join(lines), title="lstmcast model card", expand=False))


def gate_summary(
    console: Console, kind: str, keep: str, keep_mean: Sequence[float], retention: Sequence[float]
) -> None:
    """How far back the model keeps information: the mean keep gate per step and what survives to the end."""
    n = len(keep_mean)
    bars = " ▁▂▃▄▅▆▇█"
    spark = "".join(bars[min(8, int(v * 8.999))] for v in keep_mean)
    console.print(f"{kind.upper()} last layer, mean {keep} gate per step (oldest -> newest, 0..1):")
    console.print(f"  {spark}")
    marks = [k for k in (1, 2, 4, 8, 16, 32, 64, 128) if k <= n]
    parts = [f"{k} step(s) back: {retention[n - k]:.1%}" for k in marks]
    console.print("share of a step's contribution still in the final state: " + ", ".join(parts), soft_wrap=True)
