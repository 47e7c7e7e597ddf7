"""The gates figure, from plain arrays: the input window on top, one heatmap per gate below, time steps aligned.

No torch here: the caller (lstmcast.nn.gates.gate_panels) turns tensors into numpy arrays first, so rendering can
be tested and imported without the model stack.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lstmcast.files import output_target

MAX_PANELS = 8  # beyond this the heatmaps get too flat to read; the caller picks a layer or a direction
_TANH_GATES = ("cell", "new")  # candidates in [-1, 1]; every other gate is a sigmoid in [0, 1]


def gates_figure(
    path: Path,
    inputs: np.ndarray,
    gates: Mapping[str, np.ndarray],
    title: str,
    *,
    input_labels: Sequence[str] | None = None,
    tanh_gates: Collection[str] = _TANH_GATES,
) -> Path:
    """Write a PNG: the input series, then a heatmap of each gate (time steps on x, hidden units on y).

    Sigmoid gates share the scale [0, 1], tanh candidates (a name whose last dotted part is in `tanh_gates`)
    [-1, 1], so panels compare by colour. Shapes: inputs (L,) or (L, F); each gate (L, H).
    """
    series = np.asarray(inputs, dtype=float)
    if series.ndim == 1:
        series = series[:, None]  # (L,) -> (L, 1)
    if series.ndim != 2 or series.shape[0] == 0:
        raise ValueError(f"inputs must have shape (L,) or (L, F) with L >= 1, got {np.shape(inputs)}")
    steps = series.shape[0]
    if not gates:
        raise ValueError("no gates to draw")
    if len(gates) > MAX_PANELS:
        raise ValueError(f"{len(gates)} gate panels is too many to read; pass at most {MAX_PANELS}")
    panels = {name: np.asarray(v, dtype=float) for name, v in gates.items()}
    for name, v in panels.items():
        if v.ndim != 2 or v.shape[0] != steps:
            raise ValueError(f"gate {name!r} must have shape ({steps}, hidden), got {v.shape}")

    plt = _pyplot()
    rows = len(panels)
    # One narrow column holds each row's colour bar, so the input axis and every heatmap share the same width
    # and time step t sits at the same x everywhere.
    fig, axes = plt.subplots(
        rows + 1, 2, figsize=(10, 1.8 + 1.35 * rows), dpi=100, squeeze=False,
        gridspec_kw={"width_ratios": [1, 0.018], "height_ratios": [1.3] + [1] * rows},
    )  # fmt: skip
    t = np.arange(steps)
    ax_in = axes[0, 0]
    labels = list(input_labels) if input_labels is not None else [f"input {j}" for j in range(series.shape[1])]
    for j in range(series.shape[1]):
        ax_in.plot(t, series[:, j], linewidth=1.3, marker="." if steps <= 60 else None, label=labels[j])
    if series.shape[1] > 1 or input_labels is not None:
        ax_in.legend(loc="upper left", fontsize=8)
    ax_in.set_xlim(-0.5, steps - 0.5)
    ax_in.grid(alpha=0.3)
    ax_in.set_ylabel("input")
    ax_in.set_title(title)
    axes[0, 1].axis("off")

    for r, (name, v) in enumerate(panels.items(), start=1):
        ax, cax = axes[r, 0], axes[r, 1]
        is_tanh = name.rsplit(".", 1)[-1] in tanh_gates
        vmin, vmax, cmap = (-1.0, 1.0, "RdBu_r") if is_tanh else (0.0, 1.0, "viridis")
        hidden = v.shape[1]
        image = ax.imshow(
            v.T, aspect="auto", origin="lower", interpolation="nearest", cmap=cmap, vmin=vmin, vmax=vmax,
            extent=(-0.5, steps - 0.5, -0.5, hidden - 0.5),
        )  # fmt: skip
        ax.set_xlim(-0.5, steps - 0.5)
        ax.set_ylabel(_short(name), fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_yticks(_unit_ticks(hidden))
        fig.colorbar(image, cax=cax, ticks=[vmin, 0.0, vmax] if is_tanh else [0.0, 0.5, 1.0])
        cax.tick_params(labelsize=7)
        if r < rows:
            ax.tick_params(labelbottom=False)
    ax_in.tick_params(labelbottom=False)
    axes[rows, 0].set_xlabel("time step in the window (hidden units on y)")

    fig.tight_layout()
    path = Path(path)
    fig.savefig(output_target(path, ""))
    plt.close(fig)
    return path


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _short(name: str) -> str:
    """ "layer1.backward.forget" -> "L1 bwd\nforget": fits beside a short heatmap."""
    parts = name.split(".")
    if len(parts) == 3 and parts[0].startswith("layer"):
        direction = {"forward": "fwd", "backward": "bwd"}.get(parts[1], parts[1])
        return f"L{parts[0][5:]} {direction}\n{parts[2]}"
    return name


def _unit_ticks(hidden: int) -> list[int]:
    """A few unit indices, not one per unit: 64 labels on a 1-inch axis would overlap."""
    if hidden <= 4:
        return list(range(hidden))
    return sorted({0, hidden // 2, hidden - 1})
