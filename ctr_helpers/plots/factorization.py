"""Figures of the factorization notebooks: 02 (factorization machines) and 03 (field-aware FM).

Every function draws one figure from numbers the notebook computed and returns the ``Figure``;
the title is passed in, so the notebook states (and asserts) the finding, not the plot. The
FFM gather schematic ``plot_ffm_gather`` is drawn in ``diagrams.py`` and re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ctr_helpers.plots._style import PALETTE
from ctr_helpers.plots.diagrams import plot_ffm_gather

__all__ = [
    "plot_fm_cost",
    "plot_pair_scores",
    "plot_unseen_pair_auc",
    "plot_learning_curves",
    "plot_ffm_gather",
]

_SERIES = [PALETTE["neutral"], PALETTE["ours"], PALETTE["accent"], PALETTE["good"], PALETTE["bad"]]
# the same model keeps the same colour in every figure of notebooks 02 and 03
_MODEL_COLORS = {"LR": PALETTE["neutral"], "FM": PALETTE["ours"], "FFM": PALETTE["accent"]}


def _color(name: str, i: int) -> str:
    return _MODEL_COLORS.get(name, _SERIES[i % len(_SERIES)])


def plot_fm_cost(
    d_values: Sequence[int],
    seconds: Mapping[str, Sequence[float]],
    *,
    title: str,
) -> Figure:
    """Time of ways to compute the FM pairwise term against the number of features ``d``.

    ``seconds = {"label": [seconds at d_values[0], ...], ...}``; ``nan`` leaves a point out (a
    method too slow to run at that ``d``). On log-log axes a cost ``c·d^p`` is a straight line of
    slope ``p``: an O(k·d²) method climbs twice as steeply as an O(k·d) one, so the gap between
    them widens as ``d`` grows. Grey guides of slope 2 (through the first series, list the slowest
    method first) and slope 1 (through the last series) are drawn for reference.
    """
    d = np.asarray(d_values, dtype=float)
    fig, ax = plt.subplots(figsize=(7.0, 4.4))
    colors = [PALETTE["bad"], PALETTE["bars"], PALETTE["good"], PALETTE["ours"]]
    markers = ["o", "^", "s", "D"]
    for i, (label, values) in enumerate(seconds.items()):
        ms = np.asarray(values, dtype=float) * 1e3
        ok = np.isfinite(ms)
        ax.loglog(d[ok], ms[ok], marker=markers[i % 4], color=colors[i % 4], label=label)
    series = [np.asarray(v, dtype=float) * 1e3 for v in seconds.values()]
    guides = ((2, "--", series[0]), (1, ":", series[-1]))  # through the slowest / fastest method
    for slope, style, ms in guides:
        first = int(np.flatnonzero(np.isfinite(ms))[0])
        line = ms[first] * (d / d[first]) ** slope
        ax.loglog(d, line, style, color=PALETTE["neutral"], lw=0.8, zorder=0)
        ax.annotate(
            f"slope {slope}",
            xy=(d[-1], line[-1]),
            xytext=(4, 0),
            textcoords="offset points",
            fontsize=8,
            color=PALETTE["neutral"],
            va="center",
        )
    ax.set_xlabel("number of features per row, d (log scale)")
    ax.set_ylabel("milliseconds per batch (log scale)")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=9)
    return fig


def plot_pair_scores(
    true_scores: np.ndarray,
    model_scores: Mapping[str, np.ndarray],
    seen: np.ndarray,
    *,
    title: str,
    row_label: str = "value of field A",
    col_label: str = "value of field B",
) -> Figure:
    """Heatmaps of a pair-score matrix: the planted truth, then each model's learned scores.

    ``true_scores`` and each ``model_scores[name]``: ``[n_a, n_b]``, the pairwise part of the logit
    for every pair of values; ``seen``: ``[n_a, n_b]`` bool, True where the pair occurs in the
    training data. Pairs never seen in training are marked with a black dot. All panels share one
    colour scale, centred on zero.
    """
    true_scores = np.asarray(true_scores, dtype=float)
    seen = np.asarray(seen, dtype=bool)
    panels = {"planted truth": true_scores, **{k: np.asarray(v) for k, v in model_scores.items()}}
    limit = max(float(np.abs(m).max()) for m in panels.values()) or 1.0
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.8), squeeze=False)
    unseen_r, unseen_c = np.nonzero(~seen)
    image = None
    for ax, (name, scores) in zip(axes[0], panels.items(), strict=True):
        image = ax.imshow(scores, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
        ax.scatter(unseen_c, unseen_r, s=4, c="black", marker="o", linewidths=0)
        ax.set_title(name)
        ax.set_xlabel(col_label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(False)
    axes[0][0].set_ylabel(row_label)
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.85, label="pair score (logit)")
    fig.suptitle(title + "\n(black dots: pairs never seen together in training)")
    return fig


def plot_unseen_pair_auc(
    aucs: Mapping[str, Mapping[str, float]],
    *,
    title: str,
    chance: float = 0.5,
) -> Figure:
    """Grouped bars: AUC of each model (outer key) on each group of test rows (inner key).

    ``aucs = {"LR + crosses": {"seen pairs": 0.8, "unseen pairs": 0.5}, "FM": {...}}``; a dashed
    line marks the AUC of random scores.
    """
    models = list(aucs)
    groups = list(dict.fromkeys(g for m in models for g in aucs[m]))
    width = 0.8 / max(1, len(groups))
    x = np.arange(len(models))
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    colors = [PALETTE["ours"], PALETTE["bars"], PALETTE["accent"], PALETTE["good"]]
    for i, group in enumerate(groups):
        values = [aucs[m].get(group, np.nan) for m in models]
        bars = ax.bar(
            x + (i - (len(groups) - 1) / 2) * width,
            values,
            width,
            label=group,
            color=colors[i % len(colors)],
        )
        ax.bar_label(bars, fmt="%.3f", padding=2, fontsize=9)
    ax.axhline(chance, color=PALETTE["neutral"], ls="--", lw=1)
    ax.annotate(
        "chance",
        xy=(1.0, chance),
        xycoords=("axes fraction", "data"),
        xytext=(3, 0),
        textcoords="offset points",
        va="center",
        fontsize=9,
        color=PALETTE["neutral"],
    )
    ax.set_xticks(x, models)
    ax.set_ylim(min(0.4, chance - 0.1), 1.05)
    ax.set_ylabel("test AUC")
    ax.set_xlabel("model")
    ax.set_title(title)
    ax.legend(loc="upper left", ncols=len(groups))
    return fig


def plot_learning_curves(
    curves: Mapping[str, Sequence[float]],
    *,
    title: str,
    anchors: Mapping[str, float] | None = None,
    ylabel: str = "validation AUC",
    anchor_label: str = "published (BARS, ~100 epochs)",
) -> Figure:
    """One line per model: a metric after each epoch; optional dashed lines for published values.

    ``curves = {"LR": [auc after epoch 1, ...], "FM": [...]}``; ``anchors = {"LR": 0.9356, ...}``
    draws each published value in the colour of the model with the same name. LR, FM and FFM
    keep the same colours in every figure.
    """
    fig, ax = plt.subplots(figsize=(7.0, 4.2))
    for i, (name, values) in enumerate(curves.items()):
        color = _color(name, i)
        epochs = np.arange(1, len(values) + 1)
        ax.plot(epochs, values, "o-", color=color, label=name)
        if anchors and name in anchors:
            ax.axhline(anchors[name], color=color, ls="--", lw=1, alpha=0.8)
            ax.annotate(
                f"{name} {anchor_label}: {anchors[name]:.4f}",
                xy=(0, anchors[name]),
                xycoords=("axes fraction", "data"),
                xytext=(4, 3),
                textcoords="offset points",
                ha="left",
                fontsize=8,
                color=color,
            )
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="lower right")
    return fig
