"""Figures of the comparison notebook: 09 (all models under one protocol).

The headline AUC / logloss bars beside BARS are ``benchmark_bars`` in ``practice.py`` (shared with
``python -m ctr_helpers.bench``); these two zoom in on what those bars cannot show: seed noise
among the deep models, and what each model costs at scoring time. ``decision_flowchart`` draws
the yes/no tree that section 6 of 09 builds from those measurements.
Every function draws one figure from numbers computed in the notebook and returns the Figure;
the title, passed in by the caller, states the finding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from ctr_helpers.plots._style import PALETTE

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["seed_spread_strip", "cost_quality_scatter", "decision_flowchart"]


def seed_spread_strip(
    results: pd.DataFrame,
    models: Sequence[str],
    *,
    title: str,
    bars: Mapping[str, Mapping[str, float]] | None = None,
) -> Figure:
    """Every seed's test AUC and logloss for ``models``, on axes zoomed to their range.

    ``results``: one row per run with columns ``model``, ``test_auc``, ``test_logloss``
    (optionally ``label``), e.g. ``bench.load_results(...)``. Dots are single seeds, the black
    tick their mean; ``bars[model] = dict(auc=..., logloss=...)`` adds the published number as
    an orange diamond. Use it to see whether the gaps between models are larger than the spread
    of one model over seeds.
    """
    models = list(models)
    sub = results[results["model"].isin(models)]
    missing = [m for m in models if m not in set(sub["model"])]
    if missing:
        raise ValueError(f"no results for {missing}; have {sorted(set(results['model']))}")
    if "label" in sub:
        names = dict(zip(sub["model"], sub["label"], strict=True))
    else:
        names = {m: m for m in models}
    x = np.arange(len(models))
    fig, axes = plt.subplots(1, 2, figsize=(max(8.0, 0.9 * len(models) + 4), 4.2))
    for ax, metric, better in zip(axes, ("auc", "logloss"), ("higher", "lower"), strict=True):
        col = f"test_{metric}"
        for xi, m in zip(x, models, strict=True):
            vals = sub.loc[sub["model"] == m, col].to_numpy(float)
            jitter = np.linspace(-0.12, 0.12, len(vals)) if len(vals) > 1 else np.zeros(1)
            ax.plot(xi + jitter, vals, "o", color=PALETTE["ours"], alpha=0.8, ms=6)
            ax.plot([xi - 0.25, xi + 0.25], [vals.mean()] * 2, color="black", lw=2)
            ref = (bars or {}).get(m, {}).get(metric)
            if ref is not None and np.isfinite(ref):
                ax.plot(xi + 0.32, ref, "D", color=PALETTE["bars"], ms=6)
        ax.set_xticks(x, [names[m] for m in models], rotation=30, ha="right")
        label = "AUC" if metric == "auc" else "logloss"
        ax.set_ylabel(f"test {label}")
        ax.set_title(f"test {label} per seed ({better} is better)", fontsize=11)
        ax.grid(axis="x", visible=False)
    handles = [
        plt.Line2D([], [], marker="o", ls="", color=PALETTE["ours"], label="ours, one seed"),
        plt.Line2D([], [], color="black", lw=2, label="ours, mean of seeds"),
    ]
    if bars:
        handles.append(
            plt.Line2D([], [], marker="D", ls="", color=PALETTE["bars"], label="BARS (seed 2021)")
        )
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles))
    fig.suptitle(title)
    return fig


def _spread(y: np.ndarray, gap: float, lo: float = 0.03, hi: float = 0.97) -> np.ndarray:
    """Positions (axes fraction) near ``y`` with at least ``gap`` between neighbours, in
    ``[lo, hi]`` when they fit: push up from the bottom, then down from the top."""
    order = np.argsort(y, kind="stable")
    out = np.clip(y.astype(float), lo, hi)
    for k in range(1, len(order)):
        out[order[k]] = max(out[order[k]], out[order[k - 1]] + gap)
    if len(order) and out[order[-1]] > hi:
        out[order[-1]] = hi
        for k in range(len(order) - 2, -1, -1):
            out[order[k]] = min(out[order[k]], out[order[k + 1]] - gap)
    return out


def cost_quality_scatter(
    names: Sequence[str],
    latency_ms: Sequence[float],
    auc: Sequence[float],
    *,
    title: str,
    parameters: Sequence[int] | None = None,
) -> Figure:
    """Test AUC against the time to score a fixed set of candidates (log x axis), one point per
    model, labelled; with ``parameters`` the marker area grows with the parameter count."""
    lat = np.asarray(latency_ms, dtype=float)
    quality = np.asarray(auc, dtype=float)
    if not (len(names) == len(lat) == len(quality)):
        raise ValueError("names, latency_ms and auc must have the same length")
    sizes = np.full(len(lat), 60.0)
    if parameters is not None:
        p = np.asarray(parameters, dtype=float)
        sizes = 30 + 400 * np.sqrt(p / p.max())
    fig, ax = plt.subplots(figsize=(7.0, 4.4))
    ax.scatter(lat, quality, s=sizes, color=PALETTE["ours"], alpha=0.7, edgecolor="black")
    ax.set_xscale("log")
    ax.set_xlim(lat.min() / 2, lat.max() * 4)
    span = quality.max() - quality.min()
    ax.set_ylim(quality.min() - 0.08 * span, quality.max() + 0.08 * span)
    # Labels nudged apart vertically: models with close AUCs would overlap otherwise.
    label_y = _spread((quality - (quality.min() - 0.08 * span)) / (1.16 * span), gap=0.065)
    for i, name in enumerate(names):
        ax.annotate(
            name,
            (lat[i], quality[i]),
            xytext=(lat[i] * 1.4, label_y[i]),
            textcoords=("data", "axes fraction"),
            fontsize=9,
            va="center",
            arrowprops=dict(arrowstyle="-", color=PALETTE["neutral"], lw=0.6),
        )
    ax.set_xlabel("scoring latency for the candidate set (ms, log scale)")
    ax.set_ylabel("test AUC (mean of seeds)")
    if parameters is not None:
        ax.text(
            0.99,
            0.02,
            "marker area ~ parameters",
            transform=ax.transAxes,
            ha="right",
            fontsize=9,
            color=PALETTE["neutral"],
        )
    ax.set_title(title)
    return fig


#: A decision tree for :func:`decision_flowchart`: a leaf (the advice, a string) or a question
#: ``(text, yes, no)`` whose two branches are trees.
Tree = str | tuple[str, "Tree", "Tree"]


def _tree_layout(
    tree: Tree,
) -> tuple[list[tuple[str, float, int, bool]], list[tuple[int, int, str]]]:
    """Nodes as ``(text, x, depth, is_leaf)`` with leaves at x = 0, 1, 2, ... from left to right
    and each question centred over its two branches; edges as ``(parent, child, "yes" | "no")``."""
    nodes: list[tuple[str, float, int, bool]] = []
    edges: list[tuple[int, int, str]] = []
    next_leaf = [0]

    def place(t: Tree, depth: int) -> int:
        if isinstance(t, str):
            nodes.append((t, float(next_leaf[0]), depth, True))
            next_leaf[0] += 1
            return len(nodes) - 1
        if not (isinstance(t, tuple) and len(t) == 3 and isinstance(t[0], str)):
            raise ValueError(
                f"a tree node must be a leaf string or a (question, yes, no) tuple, got {t!r}"
            )
        me = len(nodes)
        nodes.append((t[0], 0.0, depth, False))
        yes, no = place(t[1], depth + 1), place(t[2], depth + 1)
        nodes[me] = (t[0], (nodes[yes][1] + nodes[no][1]) / 2, depth, False)
        edges.extend([(me, yes, "yes"), (me, no, "no")])
        return me

    place(tree, 0)
    return nodes, edges


def decision_flowchart(tree: Tree, *, title: str, width: float = 2.6) -> Figure:
    """A yes/no decision tree drawn top-down: questions in grey boxes, advice (the leaves) in
    green ones, each arrow labelled with its answer.

    ``tree`` is nested ``(question, yes, no)`` tuples with strings at the leaves (write line
    breaks into long texts); ``width`` is the horizontal room per leaf, in inches.
    """
    nodes, edges = _tree_layout(tree)
    n_leaves = sum(leaf for *_, leaf in nodes)
    depth = max(d for _, _, d, _ in nodes)
    fig, ax = plt.subplots(figsize=(width * n_leaves, 1.55 * (depth + 1)))
    ax.set_xlim(-0.5, n_leaves - 0.5)
    ax.set_ylim(-depth - 0.5, 0.5)
    ax.axis("off")
    box_w, box_h = 0.9, 0.62
    for text, x, d, leaf in nodes:
        colour = PALETTE["good"] if leaf else PALETTE["neutral"]
        ax.add_patch(
            FancyBboxPatch(
                (x - box_w / 2, -d - box_h / 2),
                box_w,
                box_h,
                boxstyle="round,pad=0.02,rounding_size=0.08",
                facecolor=colour,
                alpha=0.18,
                edgecolor=colour,
                linewidth=1.4,
            )
        )
        ax.text(x, -d, text, ha="center", va="center", fontsize=8.5, wrap=False)
    for parent, child, answer in edges:
        _, x0, d0, _ = nodes[parent]
        _, x1, d1, _ = nodes[child]
        start, end = (x0, -d0 - box_h / 2), (x1, -d1 + box_h / 2)
        ax.annotate(
            "",
            xy=end,
            xytext=start,
            arrowprops=dict(arrowstyle="-|>", color="#444444", lw=1.1, shrinkA=1, shrinkB=1),
        )
        ax.text(
            (start[0] + end[0]) / 2,
            (start[1] + end[1]) / 2,
            answer,
            ha="center",
            va="center",
            fontsize=8.5,
            style="italic",
            backgroundcolor="white",
        )
    ax.set_title(title)
    return fig
