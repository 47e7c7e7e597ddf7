"""Everything for human eyes, from plain data: the console and notes (ui.console), progress (ui.progress), tables
(ui.tables), the model card and matplotlib figures (here). Callers use this module's names.

No torch here: callers pass numbers, lists and arrays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from lstmcast.files import output_target
from lstmcast.ui.console import error_console, note
from lstmcast.ui.progress import TrainingProgress
from lstmcast.ui.tables import (
    WIDE_FOLDS,
    _fmt,
    backtest_table,
    interval_table,
    metrics_table,
    series_table,
    series_validation_table,
    show_table,
)

__all__ = [
    "WIDE_FOLDS", "TrainingProgress", "backtest_table", "error_console", "interval_table", "metrics_table", "note",
    "series_table", "series_validation_table", "show_table",
]  # fmt: skip


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
    fig.savefig(output_target(path, ""))  # a FIFO or device under that name would hang or vanish the figure
    plt.close(fig)
    return path


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
