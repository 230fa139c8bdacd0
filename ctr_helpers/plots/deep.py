"""Data figures of the deep notebooks: 04 (DeepFM) and 05 (xDeepFM).

Each function draws one figure and returns it. Numbers come in as arguments (from the
notebook's own run) and so does the title that states the finding: nothing here trains,
times or judges a model. The two architecture diagrams of these notebooks,
``deepfm_architecture`` and ``cin_layer_diagram``, are drawn in ``diagrams.py`` and
re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from ctr_helpers.plots._style import PALETTE
from ctr_helpers.plots.diagrams import cin_layer_diagram, deepfm_architecture

__all__ = [
    "deepfm_architecture",
    "ablation_bars",
    "cin_layer_diagram",
    "degree_loglog",
    "cost_comparison",
]


def ablation_bars(
    names: Sequence[str],
    auc: Sequence[float],
    logloss: Sequence[float],
    *,
    title: str,
    reference: Mapping[str, tuple[float, float]] | None = None,
    reference_label: str = "published (BARS, 100-epoch protocol)",
) -> Figure:
    """Test AUC and logloss of the ablation variants, side by side.

    ``reference`` maps a name to a published ``(auc, logloss)`` pair, drawn as a marker on the
    matching bar (e.g. the BARS Frappe_x1 numbers; Zhu et al., SIGIR 2022, arXiv:2205.09626).
    """
    names = list(names)
    auc = np.asarray(auc, dtype=float)
    logloss = np.asarray(logloss, dtype=float)
    if not (len(names) == len(auc) == len(logloss)):
        raise ValueError(
            f"names, auc and logloss must have the same length, got {len(names)}, "
            f"{len(auc)}, {len(logloss)}"
        )
    colours = [PALETTE["bars"], PALETTE["good"], PALETTE["ours"], PALETTE["accent"]]
    colours = [colours[i % len(colours)] for i in range(len(names))]
    pos = np.arange(len(names))
    fig, (ax_auc, ax_ll) = plt.subplots(1, 2, figsize=(10, 4.2))
    for ax, values, label, fmt in (
        (ax_auc, auc, "test AUC (higher is better)", "{:.4f}"),
        (ax_ll, logloss, "test logloss (lower is better)", "{:.4f}"),
    ):
        bars = ax.bar(pos, values, color=colours, width=0.6)
        for b, v in zip(bars, values, strict=True):
            ax.text(
                b.get_x() + b.get_width() / 2,
                v,
                fmt.format(v),
                ha="center",
                va="bottom",
                fontsize=9,
            )
        ax.set_xticks(pos, names)
        ax.set_ylabel(label)
        ax.set_xlabel("model")
    # AUC differences live in the third decimal: zoom the axis instead of starting at 0
    lo = min(auc.min(), *(r[0] for r in (reference or {}).values())) if reference else auc.min()
    hi = max(auc.max(), *(r[0] for r in (reference or {}).values())) if reference else auc.max()
    pad = max(0.1 * (hi - lo), 0.005)
    ax_auc.set_ylim(lo - 3 * pad, min(1.0, hi + 2 * pad))
    ll_hi = logloss.max()
    if reference:
        ll_hi = max(ll_hi, *(r[1] for r in reference.values()))
        _reference_diamonds(fig, (ax_auc, ax_ll), names, reference, reference_label)
    ax_ll.set_ylim(0, ll_hi * 1.2)
    fig.suptitle(title)
    return fig


def _reference_diamonds(
    fig: Figure,
    axes: tuple[plt.Axes, plt.Axes],
    names: Sequence[str],
    reference: Mapping[str, tuple[float, float]],
    label: str,
) -> None:
    """A black diamond at each published ``(auc, logloss)`` on its bar, and the legend."""
    ax_auc, ax_ll = axes
    for i, n in enumerate(names):
        if n not in reference:
            continue
        ra, rl = reference[n]
        kw = dict(marker="D", color="black", zorder=5, s=30)
        ax_auc.scatter([i], [ra], **kw)
        ax_ll.scatter([i], [rl], **kw)
    handles = [
        Patch(facecolor=PALETTE["neutral"], label="bars: this run"),
        Line2D([], [], marker="D", color="black", ls="none", label=f"diamonds: {label}"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=9)


def degree_loglog(
    scales: Sequence[float],
    magnitudes: Mapping[str, Sequence[float]],
    slopes: Mapping[str, float],
    *,
    title: str,
) -> Figure:
    """Output magnitude against the input scale ``t`` on log-log axes, one line per layer.

    A homogeneous polynomial of degree ``p`` scales as ``t^p``: a straight line of slope ``p``.
    ``slopes`` (fitted in the notebook) are shown in the legend.
    """
    t = np.asarray(scales, dtype=float)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = [PALETTE["ours"], PALETTE["bars"], PALETTE["good"], PALETTE["accent"], PALETTE["bad"]]
    for i, (name, mags) in enumerate(magnitudes.items()):
        ax.loglog(
            t,
            np.asarray(mags, dtype=float),
            "o-",
            color=colours[i % len(colours)],
            label=f"{name}: slope {slopes[name]:.3f}",
        )
    ax.set_xlabel("input scale t  (embeddings multiplied by t)")
    ax.set_ylabel("size of the layer's output")
    ax.legend()
    ax.set_title(title)
    return fig


def cost_comparison(
    names: Sequence[str],
    params: Sequence[int],
    ms_per_batch: Sequence[float],
    *,
    title: str,
    batch_size: int | None = None,
) -> Figure:
    """Parameters and measured time per batch of a few blocks, as two bar panels."""
    names = list(names)
    if not (len(names) == len(params) == len(ms_per_batch)):
        raise ValueError(
            f"names, params and ms_per_batch must have the same length, got {len(names)}, "
            f"{len(params)}, {len(ms_per_batch)}"
        )
    colours = [PALETTE["good"], PALETTE["accent"], PALETTE["ours"], PALETTE["bars"]]
    colours = [colours[i % len(colours)] for i in range(len(names))]
    pos = np.arange(len(names))
    fig, (ax_p, ax_t) = plt.subplots(1, 2, figsize=(10, 4.2))
    bars = ax_p.bar(pos, params, color=colours, width=0.6)
    for b, v in zip(bars, params, strict=True):
        ax_p.text(
            b.get_x() + b.get_width() / 2, v, f"{int(v):,}", ha="center", va="bottom", fontsize=9
        )
    ax_p.set_ylabel("parameters")
    ax_p.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    bars = ax_t.bar(pos, ms_per_batch, color=colours, width=0.6)
    for b, v in zip(bars, ms_per_batch, strict=True):
        ax_t.text(
            b.get_x() + b.get_width() / 2, v, f"{v:.1f}", ha="center", va="bottom", fontsize=9
        )
    batch = f" of {batch_size}" if batch_size else ""
    ax_t.set_ylabel(f"ms per batch{batch} (forward + backward)")
    for ax in (ax_p, ax_t):
        ax.set_xticks(pos, names)
        ax.set_xlabel("block")
        ax.set_ylim(0, ax.get_ylim()[1] * 1.12)
    fig.suptitle(title)
    return fig
