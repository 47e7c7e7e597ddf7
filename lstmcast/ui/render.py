"""Everything for human eyes, from plain data: rich progress and tables on a given console, matplotlib figures.

No torch here: callers pass numbers, lists and arrays.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lstmcast.files import output_target


def error_console() -> Console:
    """The one console for humans: stderr, no colour codes when redirected."""
    return Console(stderr=True)


def note(console: Console, message: str) -> None:
    """One line for humans; never wrapped, so a note stays one line in a log."""
    console.print(message, highlight=False, soft_wrap=True)


class TrainingProgress:
    """A progress bar over epochs showing train and validation loss. Use as a context manager."""

    def __init__(self, console: Console, epochs: int | None = None, enabled: bool = True) -> None:
        self.enabled = enabled
        self.progress = Progress(
            TextColumn("[bold]epoch"),
            MofNCompleteColumn(),
            BarColumn(),
            TextColumn("train {task.fields[train]}  val {task.fields[val]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            disable=not enabled,
        )
        self.task = self.progress.add_task("train", total=epochs, train="-", val="-")

    def __enter__(self) -> TrainingProgress:
        self.started = False  # the bar appears with the first epoch, not while data loads
        return self

    def __exit__(self, *exc: object) -> None:
        if self.started:
            self.progress.stop()

    def update(self, epoch: int, train_loss: float, val_loss: float, total: int | None = None) -> None:
        if not self.started:
            self.progress.start()
            self.started = True
        self.progress.update(self.task, completed=epoch, total=total, train=f"{train_loss:.4f}", val=f"{val_loss:.4f}")


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
    table = Table(title=title, title_justify="left")
    table.add_column("model")
    for c in columns:
        table.add_column(c.upper() if c != "mape" else "MAPE %", justify="right")
    for name, values in rows.items():
        table.add_row(name, *(_fmt(values.get(c, float("nan"))) for c in columns))
    console.print(table)


def loss_figure(path: Path, epochs: Sequence[int], train: Sequence[float], val: Sequence[float], best: int) -> Path:
    fig, ax, plt = _figure((7, 4))
    ax.plot(epochs, train, label="train", marker="o", markersize=3)
    ax.plot(epochs, val, label="validation", marker="o", markersize=3)
    if best:
        ax.axvline(best, color="grey", linestyle="--", linewidth=1, label=f"best (epoch {best})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (normalised units)")
    ax.set_yscale("log" if min([*train, *val], default=1) > 0 else "linear")
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
            ax.plot(list(t), list(v), color="tab:orange", linewidth=1.5, label="forecast" if i == 0 else None)
        ax.set_title(name, fontsize=10)
        ax.set_ylabel(ylabel)
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.autofmt_xdate()
    return _save(fig, plt, path)


def _bands(ax: Any, times: Sequence[Any], bands: Mapping[Any, tuple[Any, Any]], first: bool) -> None:
    """Interval bands {level: (lo, hi)} around a forecast: the widest first and lightest."""
    for j, lv in enumerate(sorted(bands, key=float, reverse=True)):
        lo, hi = bands[lv]
        ax.fill_between(list(times), list(lo), list(hi), color="tab:orange", alpha=0.15 + 0.15 * j, linewidth=0,
                        label=f"{float(lv):g}% interval" if first else None)  # fmt: skip


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
    fig.savefig(output_target(path, ""))  # a FIFO or device under that name would hang or vanish the figure
    plt.close(fig)
    return path


def series_table(
    console: Console, title: str, rows: Mapping[str | None, Mapping[str, float]], models: Sequence[str], limit: int = 40
) -> None:
    """One row per series, one column per model (e.g. relative MASE); long panels show the first `limit`."""
    table = Table(title=title, title_justify="left")
    table.add_column("series")
    for m in models:
        table.add_column(m, justify="right")
    for sid, values in list(rows.items())[:limit]:
        table.add_row(escape(str(sid)), *(_fmt(values.get(m, float("nan"))) for m in models))  # ids are data
    if len(rows) > limit:
        table.add_row(f"... {len(rows) - limit} more", *("" for _ in models))
    console.print(table)


def interval_table(
    console: Console, title: str, scores: Mapping[str, Mapping[float, tuple[float, float]]]
) -> None:
    """Coverage and MSIS per level (in %), for each model: {model: {level: (coverage, msis)}}."""
    table = Table(title=title, title_justify="left")
    table.add_column("model")
    levels = sorted({lv for per_level in scores.values() for lv in per_level})
    for lv in levels:
        table.add_column(f"coverage {lv:g}%", justify="right")
        table.add_column(f"MSIS {lv:g}%", justify="right")
    for name, per_level in scores.items():
        cells = []
        for lv in levels:
            cov, msis = per_level.get(lv, (float("nan"), float("nan")))
            cells += ["-" if math.isnan(cov) else f"{cov:.1%}", _fmt(msis)]
        table.add_row(name, *cells)
    console.print(table)


def backtest_table(
    console: Console, title: str, overall: Mapping[str, Mapping[str, float]], per_fold: Mapping[str, Sequence[float]]
) -> None:
    """Models as rows: MASE of each fold, then the overall metrics and the skill against seasonal naive."""
    table = Table(title=title, title_justify="left")
    table.add_column("model")
    folds = len(next(iter(per_fold.values()), []))
    for k in range(folds):
        table.add_column(f"MASE f{k + 1}", justify="right")
    for c in ("MAE", "RMSE", "MAPE %", "sMAPE %", "MASE", "rel. MASE", "skill"):
        table.add_column(c, justify="right", style="bold" if c in ("rel. MASE", "skill") else None)
    for name, row in overall.items():
        cells = [_fmt(v) for v in per_fold[name]]
        cells += [_fmt(row.get(m, float("nan"))) for m in ("mae", "rmse", "mape", "smape", "mase", "rel_mase")]
        skill = row.get("skill", float("nan"))
        cells.append("-" if name == "seasonal naive" or math.isnan(skill) else f"{skill:+.1%}")
        table.add_row(name, *cells)
    console.print(table)


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
                            label=model if i == 0 else None)  # fmt: skip
            ax.axvline(list(t)[0], color="grey", linewidth=0.8, alpha=0.6)
        ax.set_title(name, fontsize=10)
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.autofmt_xdate()
    return _save(fig, plt, path)


def model_card(console: Console, card: Mapping[str, Any]) -> None:
    """The model card as a rich panel."""
    from rich.panel import Panel as RichPanel

    card = _escaped(card)  # its strings come from the file (paths, column names): never markup
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
        f"[bold]data[/]        {schema.get('source')}: target {_quoted(schema.get('target'))}, "
        f"time {_quoted(schema.get('time_col'))}, "
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


def _quoted(value: Any) -> str:
    """repr-like quotes for an already escaped string (repr would double the escaping backslash)."""
    return "None" if value is None else f"'{value}'"


def _escaped(value: Any) -> Any:
    """Every string in a nested mapping or list escaped for rich markup."""
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, Mapping):
        return {k: _escaped(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_escaped(v) for v in value]
    return value


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
