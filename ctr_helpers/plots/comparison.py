"""Figures of the comparison notebook: 09 (all models under one protocol).

The headline AUC / logloss bars beside BARS are ``benchmark_bars`` in ``practice.py`` (shared with
``python -m ctr_helpers.bench``); these two zoom in on what those bars cannot show: seed noise
among the deep models, and what each model costs at scoring time.
Every function draws one figure from numbers computed in the notebook and returns the Figure;
the title, passed in by the caller, states the finding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ctr_helpers.plots._style import PALETTE

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["seed_spread_strip", "cost_quality_scatter"]


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
