"""Figures of the intro notebooks: 00 (the CTR problem) and 01 (logistic regression).

Each function draws one figure from numbers the notebook computed and returns the Figure; the
title states the finding and is passed in by the notebook. The pipeline diagram
``ctr_pipeline`` is drawn in ``diagrams.py`` and re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ctr_helpers.plots._style import PALETTE
from ctr_helpers.plots.diagrams import ctr_pipeline

__all__ = [
    "ctr_pipeline",
    "field_cardinalities",
    "score_histograms",
    "missing_rates",
    "log_bucketing",
    "xor_boundaries",
    "cross_growth",
]


def field_cardinalities(
    field_names: Sequence[str],
    field_dims: Sequence[int],
    groups: Sequence[str],
    title: str,
) -> Figure:
    """Horizontal bars of the number of distinct values per field (log axis), coloured by group
    (for example ``"user"``, ``"item"``, ``"context"``)."""
    if not len(field_names) == len(field_dims) == len(groups):
        raise ValueError(
            f"field_names, field_dims and groups must have the same length, got "
            f"{len(field_names)}, {len(field_dims)}, {len(groups)}"
        )
    palette = [PALETTE["ours"], PALETTE["bars"], PALETTE["good"], PALETTE["accent"]]
    group_colour = {g: palette[i % len(palette)] for i, g in enumerate(dict.fromkeys(groups))}
    fig, ax = plt.subplots(figsize=(7.0, 0.32 * len(field_names) + 1.4))
    ypos = np.arange(len(field_names))[::-1]
    ax.barh(ypos, field_dims, color=[group_colour[g] for g in groups])
    for yy, d in zip(ypos, field_dims, strict=True):
        ax.text(d * 1.1, yy, f"{d:,}", va="center", fontsize=9)
    ax.set_yticks(ypos, field_names)
    ax.set_xscale("log")
    ax.set_xlim(1, max(field_dims) * 8)
    ax.set_xlabel("distinct values in the field (log scale)")
    ax.set_ylabel("field")
    for g, c in group_colour.items():
        ax.barh([np.nan], [np.nan], color=c, label=g)
    ax.legend(loc="lower right")
    ax.set_title(title)
    return fig


def score_histograms(
    p_pos: np.ndarray,
    p_neg: np.ndarray,
    title: str,
    *,
    xlabel: str = "model score",
    bins: int = 40,
) -> Figure:
    """Overlaid histograms of the predicted scores of clicks and non-clicks (densities).

    AUC is the chance that a random click scores above a random non-click, so it reads off the
    overlap of the two histograms.
    """
    fig, ax = plt.subplots()
    edges = np.histogram_bin_edges(np.concatenate([p_pos, p_neg]), bins=bins)
    ax.hist(p_neg, bins=edges, density=True, alpha=0.55, color=PALETTE["neutral"], label="no click")
    ax.hist(p_pos, bins=edges, density=True, alpha=0.55, color=PALETTE["ours"], label="click")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.legend()
    ax.set_title(title)
    return fig


def missing_rates(columns: Sequence[str], rates: Sequence[float], title: str) -> Figure:
    """Bar chart of the fraction of rows with an empty value, one bar per raw column."""
    if len(columns) != len(rates):
        raise ValueError(f"{len(columns)} columns but {len(rates)} rates")
    rates = np.asarray(rates, dtype=float)
    colours = [PALETTE["ours"] if c.startswith("I") else PALETTE["bars"] for c in columns]
    fig, ax = plt.subplots(figsize=(11.0, 3.8))
    ax.bar(np.arange(len(columns)), rates, color=colours)
    ax.set_xticks(np.arange(len(columns)), columns, rotation=90, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_xlabel("raw column (I = integer count, C = hashed categorical)")
    ax.set_ylabel("fraction of rows missing")
    ax.bar([np.nan], [np.nan], color=PALETTE["ours"], label="integer counts I1-I13")
    ax.bar([np.nan], [np.nan], color=PALETTE["bars"], label="categoricals C1-C26")
    ax.legend(loc="upper right")
    ax.set_title(title)
    return fig


def log_bucketing(raw: np.ndarray, bucketed: np.ndarray, column: str, title: str) -> Figure:
    """Two panels: the distribution of one raw count column (log-spaced bins), and the row count
    per bucket after bucketing (one bar per bucket index).

    ``raw`` and ``bucketed`` hold the non-missing rows of the column, before and after.
    """
    raw = np.asarray(raw, dtype=float)
    bucketed = np.asarray(bucketed, dtype=np.int64)
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11.0, 3.8))
    positive = raw[raw > 0]
    edges = np.logspace(0, np.log10(max(positive.max(), 10.0)) + 0.1, 30)
    ax0.hist(positive, bins=edges, color=PALETTE["neutral"])
    ax0.set_xscale("log")
    ax0.set_xlabel(f"raw {column} (log scale; {np.sum(raw <= 0)} rows with value <= 0 not shown)")
    ax0.set_ylabel("rows")
    ax0.set_title(
        f"raw {column}: {len(np.unique(raw)):,} distinct values, {raw.min():g} to {raw.max():,.0f}"
    )
    values, counts = np.unique(bucketed, return_counts=True)
    ax1.bar(values, counts, color=PALETTE["ours"])
    ax1.set_xlabel(f"bucket index of {column}")
    ax1.set_ylabel("rows")
    ax1.set_title(f"bucketed {column}: {len(values)} categories")
    fig.suptitle(title)
    return fig


def xor_boundaries(
    panels: Sequence[np.ndarray],
    panel_titles: Sequence[str],
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    title: str,
    *,
    ylabel: str = "age group",
    xlabel: str = "genre",
    observed: np.ndarray | None = None,
) -> Figure:
    """Side-by-side heatmaps of a model's predicted click probability for every combination of
    two categorical fields (the decision surface of a categorical model), one panel per model.

    ``panels``: arrays of shape ``[len(row_labels), len(col_labels)]`` of probabilities.
    ``observed`` (same shape, optional): the empirical click rate of each cell, printed under the
    prediction so that the reader sees where the model is wrong.
    """
    if len(panels) != len(panel_titles):
        raise ValueError(f"{len(panels)} panels but {len(panel_titles)} panel titles")
    shape = (len(row_labels), len(col_labels))
    for i, p in enumerate(panels):
        if np.shape(p) != shape:
            raise ValueError(f"panel {i} has shape {np.shape(p)}, expected {shape}")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels) + 1.0, 4.0), squeeze=False)
    for ax, probs, sub in zip(axes[0], panels, panel_titles, strict=True):
        im = ax.imshow(probs, vmin=0, vmax=1, cmap="RdBu_r")
        for r in range(shape[0]):
            for c in range(shape[1]):
                text = f"p = {probs[r, c]:.2f}"
                if observed is not None:
                    text += f"\n(observed {observed[r, c]:.2f})"
                dark = abs(probs[r, c] - 0.5) > 0.3
                ax.text(c, r, text, ha="center", va="center", color="w" if dark else "k")
        ax.set_xticks(range(shape[1]), col_labels)
        ax.set_yticks(range(shape[0]), row_labels)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(False)
        ax.set_title(sub)
    fig.colorbar(im, ax=axes[0].tolist(), label="predicted click probability", shrink=0.85)
    fig.suptitle(title)
    return fig


def _human(n: float) -> str:
    """1234 -> '1.2k', 5_663_233 -> '5.7M', 1.1e11 -> '110B'."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= size:
            return f"{n / size:.2g}{suffix}" if n / size < 100 else f"{n / size:.0f}{suffix}"
    return f"{n:g}"


def cross_growth(
    orders: Sequence[int],
    n_crosses: Sequence[int],
    n_features: Sequence[int],
    n_rows: int,
    title: str,
) -> Figure:
    """Two panels by interaction order: how many field combinations there are (linear axis),
    and how many one-hot columns (weights) they need against the number of training rows (log
    axis)."""
    labels = [str(o) for o in orders]
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11.0, 3.8))
    ax0.bar(labels, n_crosses, color=PALETTE["accent"])
    for i, v in enumerate(n_crosses):
        ax0.text(i, v, f"{v:,}", ha="center", va="bottom", fontsize=9)
    ax0.set_ylim(0, max(n_crosses) * 1.15)
    ax0.set_xlabel("interaction order k (fields combined)")
    ax0.set_ylabel("field combinations")
    ax0.set_title("crosses to choose from")
    ax1.bar(labels, n_features, color=PALETTE["bad"])
    for i, v in enumerate(n_features):
        ax1.text(i, v * 1.3, _human(v), ha="center", va="bottom", fontsize=9)
    ax1.axhline(n_rows, color="k", linestyle="--", label=f"training rows ({n_rows:,})")
    ax1.set_yscale("log")
    ax1.set_ylim(top=max(max(n_features), n_rows) * 30)
    ax1.set_xlabel("interaction order k (fields combined)")
    ax1.set_ylabel("one-hot columns = weights (log)")
    ax1.set_title("weights to learn")
    ax1.legend(loc="upper left")
    fig.suptitle(title)
    return fig
