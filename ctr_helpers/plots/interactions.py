"""Figures of the interactions notebook: 08 (FiBiNet).

Every function draws one figure from numbers computed in the notebook and returns the Figure;
the title, passed in by the caller, states the finding.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ctr_helpers.plots._style import PALETTE

__all__ = ["field_importance_bars"]


def field_importance_bars(
    field_names: Sequence[str],
    gate_mean: Sequence[float],
    *,
    title: str,
    gate_spread: Sequence[float] | None = None,
    neutral: float | None = 0.5,
    permutation_drop: Sequence[float] | None = None,
) -> Figure:
    """Learned field importance: the mean SENet gate per field.

    ``gate_mean[f]``: the gate of field ``f`` averaged over rows (e.g. the validation set);
    ``gate_spread[f]`` (optional): its spread over rows (a standard deviation or an
    interquartile half-width), drawn as an error bar. ``neutral`` draws a reference line (the
    gate of an all-zero squeeze, ``sigmoid(0) = 0.5``; ``None`` for no line). The gate axis
    always spans 0 to 1 (gates are sigmoids), so tiny differences look tiny.

    ``permutation_drop[f]`` (optional) adds a second panel, in the same field order: the drop in
    validation AUC when field ``f``'s values are shuffled across rows -- what the trained model
    actually relies on, to read the gates against. Fields are sorted by the permutation drop
    when it is given (largest on top), else by the gate.
    """
    names = list(field_names)
    mean = np.asarray(gate_mean, dtype=float)
    if mean.shape != (len(names),):
        raise ValueError(f"gate_mean has shape {mean.shape}, expected ({len(names)},)")
    drop = None
    if permutation_drop is not None:
        drop = np.asarray(permutation_drop, dtype=float)
        if drop.shape != (len(names),):
            raise ValueError(f"permutation_drop has shape {drop.shape}, expected ({len(names)},)")
    # barh draws bottom-up: the largest value ends on top
    order = np.argsort(drop if drop is not None else mean, kind="stable")
    y = np.arange(len(names))
    labels = [names[i] for i in order]
    panels = 1 if drop is None else 2
    fig, axes = plt.subplots(
        1, panels, figsize=(5.2 * panels + 0.6, 0.36 * len(names) + 1.8), squeeze=False
    )
    ax = axes[0, 0]
    err = None if gate_spread is None else np.asarray(gate_spread, dtype=float)[order]
    ax.barh(y, mean[order], xerr=err, color=PALETTE["ours"], ecolor=PALETTE["neutral"], capsize=3)
    if neutral is not None:
        ax.axvline(neutral, color=PALETTE["neutral"], ls="--", lw=1.2, label=f"gate {neutral:g}")
        ax.legend(loc="lower right")
    # The full gate range, never a zoom: a zoomed axis would dress up differences of 1e-4.
    top = max(1.0, float(np.max(mean[order] + (err if err is not None else 0.0))))
    ax.set_xlim(0.0, top)
    ax.set_yticks(y, labels)
    ax.set_xlabel("mean SENet gate over rows")
    ax.set_ylabel("field")
    ax.set_title("learned gate (what SENet scales by)", fontsize=11)
    ax.grid(axis="y", visible=False)
    if drop is not None:
        _permutation_panel(axes[0, 1], y, drop[order], labels)
    fig.suptitle(title)
    return fig


def _permutation_panel(
    ax: plt.Axes, y: np.ndarray, drop: np.ndarray, labels: Sequence[str]
) -> None:
    """Horizontal bars of the AUC drop per field, in the order of the gate panel."""
    ax.barh(y, drop, color=PALETTE["accent"])
    ax.axvline(0.0, color=PALETTE["neutral"], lw=1.0)
    ax.set_yticks(y, labels)
    ax.set_xlabel("validation AUC drop when the field is shuffled")
    ax.set_title("permutation importance (what the model uses)", fontsize=11)
    ax.grid(axis="y", visible=False)
