"""Figures of the deep notebooks: 04 (DeepFM) and 05 (xDeepFM).

Each function draws one figure and returns it. Numbers come in as arguments (from the
notebook's own run) and so does the title that states the finding: nothing here trains,
times or judges a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyBboxPatch, Patch, Rectangle
from matplotlib.ticker import FuncFormatter

from ctr_helpers.plots._style import PALETTE

__all__ = [
    "deepfm_architecture",
    "ablation_bars",
    "cin_layer_diagram",
    "degree_loglog",
    "cost_comparison",
]

# Light fills for the boxes of the diagrams; the edges use PALETTE.
_FILL = {
    "input": "#eeeeee",
    "embed": "#dbe9f6",
    "fm": "#fde6cf",
    "deep": "#d9f0d3",
    "out": "#ead9f2",
}


def _box(ax, xy, w, h, text, fill, edge, fontsize=10, weight="normal"):
    """A rounded box with centred text; ``xy`` is the lower-left corner (data units)."""
    x, y = xy
    ax.add_patch(
        FancyBboxPatch(
            (x, y),
            w,
            h,
            boxstyle="round,pad=0.02,rounding_size=0.12",
            facecolor=fill,
            edgecolor=edge,
            linewidth=1.4,
        )
    )
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize, weight=weight)


def _arrow(ax, start, end, color="#444444", style="-|>", ls="-", lw=1.2, rad=0.0):
    ax.annotate(
        "",
        xy=end,
        xytext=start,
        arrowprops=dict(
            arrowstyle=style,
            color=color,
            lw=lw,
            linestyle=ls,
            shrinkA=0,
            shrinkB=0,
            connectionstyle=f"arc3,rad={rad}",
        ),
    )


def deepfm_architecture(
    fields: Sequence[str] = ("user", "item", "daytime", "...", "city"),
    hidden: Sequence[int] = (400, 400, 400),
    embed_dim: int = 10,
) -> Figure:
    """DeepFM (Guo et al., IJCAI 2017) as boxes and arrows.

    One index per field is looked up in one shared embedding table; the same ``[F, D]``
    embeddings feed the FM branch (linear term + pairwise dot products) and the MLP
    (concatenated to ``F * D`` numbers). The two branches return one logit each; the logits are
    added and a single sigmoid is applied at the very end.
    """
    fig, ax = plt.subplots(figsize=(10.5, 7.2))
    ax.set_xlim(0, 12.8)
    ax.set_ylim(-0.3, 10.2)
    ax.set_axis_off()
    ax.grid(False)

    n = len(fields)
    xs = np.linspace(3.0, 9.0, n)  # centres of the per-field columns
    bw, bh = 1.05, 0.62

    # 1. sparse input: one categorical index per field
    for f, x in zip(fields, xs, strict=True):
        if f == "...":
            ax.text(x, 0.31, "...", ha="center", va="center", fontsize=14)
            continue
        _box(ax, (x - bw / 2, 0.0), bw, bh, f, _FILL["input"], PALETTE["neutral"])
    ax.text(
        xs[-1] + bw / 2 + 0.25,
        0.31,
        "sparse input\n(one index per field)",
        ha="left",
        va="center",
        fontsize=9.5,
        color="#333333",
    )

    # 2. the shared embedding table: one D-vector per field
    for f, x in zip(fields, xs, strict=True):
        if f == "...":
            ax.text(x, 2.31, "...", ha="center", va="center", fontsize=14)
            continue
        _box(ax, (x - bw / 2, 2.0), bw, bh, f"$e_{{{f}}}$", _FILL["embed"], PALETTE["ours"])
        _arrow(ax, (x, bh + 0.02), (x, 2.0))
    ax.text(
        xs[-1] + bw / 2 + 0.25,
        2.31,
        f"one shared table:\na D = {embed_dim} vector\nper field",
        ha="left",
        va="center",
        fontsize=9.5,
        color="#333333",
    )

    # 3a. FM branch (left)
    fm_x, fm_y, fm_w, fm_h = 0.5, 4.3, 4.4, 1.9
    _box(ax, (fm_x, fm_y), fm_w, fm_h, "", _FILL["fm"], PALETTE["bars"])
    ax.text(
        fm_x + fm_w / 2, fm_y + fm_h - 0.3, "FM branch", ha="center", fontsize=11, weight="bold"
    )
    ax.text(
        fm_x + fm_w / 2,
        fm_y + 0.75,
        r"$w_0 + \sum_i w_i \;+\; \sum_{i<j} \langle e_i, e_j \rangle$",
        ha="center",
        va="center",
        fontsize=12,
    )
    ax.text(
        fm_x + fm_w / 2,
        fm_y + 0.2,
        "order 1 and 2, explicit",
        ha="center",
        va="center",
        fontsize=9,
        style="italic",
    )
    # the linear term is a width-1 embedding of the same indices (dashed: skips the D-vectors)
    _arrow(ax, (xs[0] - bw / 2, 0.31), (fm_x + 0.35, fm_y), color=PALETTE["bars"], ls="--")
    ax.text(
        0.1,
        1.6,
        "linear term:\na width-1\nembedding of\nthe same indices",
        fontsize=8.5,
        color=PALETTE["bars"],
        ha="left",
        va="center",
    )

    # 3b. deep branch (right)
    deep_x, deep_w = 6.9, 4.6
    layer_h, gap = 0.58, 0.28
    concat_y = 3.3
    _box(
        ax,
        (deep_x, concat_y),
        deep_w,
        layer_h,
        r"concat $[e_1, \dots, e_F]$: $F \cdot D$ numbers",
        _FILL["deep"],
        PALETTE["good"],
        fontsize=8.5,
    )
    y = concat_y
    for h in hidden:
        y_next = y + layer_h + gap
        _box(
            ax,
            (deep_x, y_next),
            deep_w,
            layer_h,
            f"Linear {h} + BN + ReLU + dropout",
            _FILL["deep"],
            PALETTE["good"],
            fontsize=9,
        )
        _arrow(ax, (deep_x + deep_w / 2, y + layer_h), (deep_x + deep_w / 2, y_next))
        y = y_next
    y_next = y + layer_h + gap
    _box(ax, (deep_x, y_next), deep_w, layer_h, "Linear 1", _FILL["deep"], PALETTE["good"])
    _arrow(ax, (deep_x + deep_w / 2, y + layer_h), (deep_x + deep_w / 2, y_next))
    deep_top = y_next + layer_h
    ax.text(
        deep_x + deep_w + 0.05,
        concat_y + 1.8,
        "deep\nbranch\n(any order,\nimplicit)",
        fontsize=9,
        style="italic",
        ha="left",
        va="center",
    )

    # arrows from every embedding into both branches: the sharing is the point
    for f, x in zip(fields, xs, strict=True):
        if f == "...":
            continue
        _arrow(ax, (x, 2.0 + bh), (fm_x + fm_w * 0.55, fm_y), color=PALETTE["bars"], lw=0.9)
        _arrow(ax, (x, 2.0 + bh), (deep_x + deep_w * 0.45, concat_y), color=PALETTE["good"], lw=0.9)

    # 4. output: add the two logits, one sigmoid
    out_w, out_h = 4.2, 0.8
    out_x, out_y = 6.0 - out_w / 2, 9.2
    _box(
        ax,
        (out_x, out_y),
        out_w,
        out_h,
        r"$\hat y = \sigma(\,y_{FM} + y_{DNN}\,)$",
        _FILL["out"],
        PALETTE["accent"],
        fontsize=12,
    )
    _arrow(ax, (fm_x + fm_w / 2, fm_y + fm_h), (out_x + 0.9, out_y), color=PALETTE["bars"])
    _arrow(ax, (deep_x + deep_w / 2, deep_top), (out_x + out_w - 0.9, out_y), color=PALETTE["good"])
    ax.text(3.9, 7.7, r"logit $y_{FM}$", fontsize=10, color=PALETTE["bars"])
    ax.text(
        deep_x + deep_w / 2 + 0.2,
        deep_top + 0.15,
        r"logit $y_{DNN}$",
        fontsize=10,
        color=PALETTE["good"],
    )
    ax.set_title(
        "DeepFM: one shared embedding feeds an FM branch and an MLP in parallel; "
        "their logits are added",
        fontsize=11.5,
    )
    return fig


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
        for i, n in enumerate(names):
            if n not in reference:
                continue
            ra, rl = reference[n]
            kw = dict(marker="D", color="black", zorder=5, s=30)
            ax_auc.scatter([i], [ra], **kw)
            ax_ll.scatter([i], [rl], **kw)
        handles = [
            Patch(facecolor=PALETTE["neutral"], label="bars: this run"),
            Line2D(
                [], [], marker="D", color="black", ls="none", label=f"diamonds: {reference_label}"
            ),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=9)
    ax_ll.set_ylim(0, ll_hi * 1.2)
    fig.suptitle(title)
    return fig


def _grid(ax, x, y, rows, cols, cell, fill, edge, label=None, label_side="top"):
    """A rows x cols grid of square cells with lower-left corner (x, y)."""
    for r in range(rows):
        for c in range(cols):
            ax.add_patch(
                Rectangle(
                    (x + c * cell, y + (rows - 1 - r) * cell),
                    cell,
                    cell,
                    facecolor=fill,
                    edgecolor=edge,
                    linewidth=0.8,
                )
            )
    if label:
        if label_side == "top":
            ax.text(x + cols * cell / 2, y + rows * cell + 0.15, label, ha="center", va="bottom")
        else:
            ax.text(x + cols * cell / 2, y - 0.15, label, ha="center", va="top")


def cin_layer_diagram(
    h_prev: int = 3, num_fields: int = 4, h_next: int = 2, dim: int = 5
) -> Figure:
    """One CIN layer (Lian et al., KDD 2018) drawn as the shapes it moves.

    ``X^{k-1}`` (``H_{k-1} x D``) and ``X^0`` (``F x D``) are multiplied elementwise for every
    pair of rows, column by column (embedding dimension ``d`` only meets ``d``): the outer
    product ``Z^k`` holds ``H_{k-1} * F`` rows of length ``D``. A 1x1 compression (a weight matrix
    ``H_k x (H_{k-1} F)`` applied to every column) gives ``X^k`` (``H_k x D``), and sum-pooling over
    ``D`` gives the ``H_k`` numbers this layer sends to the output.
    """
    cell = 0.32
    fig, ax = plt.subplots(figsize=(11, 5.2))
    ax.set_axis_off()
    ax.grid(False)
    ax.set_aspect("equal")

    hp_y = 3.6
    _grid(
        ax,
        0.0,
        hp_y,
        h_prev,
        dim,
        cell,
        _FILL["deep"],
        PALETTE["good"],
        r"$X^{k-1}$: $H_{k-1}\times D$",
    )
    x0_y = 0.6
    _grid(ax, 0.0, x0_y, num_fields, dim, cell, _FILL["embed"], PALETTE["ours"])
    ax.text(
        dim * cell / 2, x0_y - 0.15, r"$X^{0}$ (embeddings): $F\times D$", ha="center", va="top"
    )
    # mark one column d in both inputs
    d = 1
    for y0, rows in ((hp_y, h_prev), (x0_y, num_fields)):
        ax.add_patch(
            Rectangle(
                (d * cell, y0),
                cell,
                rows * cell,
                fill=False,
                edgecolor=PALETTE["bad"],
                linewidth=2,
            )
        )
    ax.text(
        dim * cell + 0.25,
        2.7,
        r"$\otimes$ per column $d$",
        fontsize=12,
        ha="left",
        va="center",
    )

    z_x = dim * cell + 2.6
    z_rows = h_prev * num_fields
    z_y = 0.9
    block_gap = 0.1  # one block of F rows per row i of X^{k-1}
    z_top = z_y + z_rows * cell + (h_prev - 1) * block_gap
    for i in range(h_prev):
        block_y = z_y + (h_prev - 1 - i) * (num_fields * cell + block_gap)
        _grid(ax, z_x, block_y, num_fields, dim, cell, _FILL["fm"], PALETTE["bars"])
        ax.add_patch(
            Rectangle(
                (z_x + d * cell, block_y),
                cell,
                num_fields * cell,
                fill=False,
                edgecolor=PALETTE["bad"],
                lw=2,
            )
        )
        ax.text(
            z_x - 0.1,
            block_y + num_fields * cell / 2,
            f"i={i + 1}",
            ha="right",
            va="center",
            fontsize=8,
        )
    ax.text(
        z_x + dim * cell / 2,
        z_top + 0.15,
        r"$Z^k_{ij,d} = X^{k-1}_{i,d}\, X^0_{j,d}$" + "\n" + r"$(H_{k-1}F)\times D$",
        ha="center",
        va="bottom",
    )
    _arrow(ax, (dim * cell + 0.15, hp_y + 0.3), (z_x - 0.15, z_y + (z_top - z_y) * 0.7))
    _arrow(ax, (dim * cell + 0.15, x0_y + 0.6), (z_x - 0.15, z_y + (z_top - z_y) * 0.3))

    xk_x = z_x + dim * cell + 2.9
    xk_y = 2.4
    _grid(
        ax, xk_x, xk_y, h_next, dim, cell, _FILL["deep"], PALETTE["good"], r"$X^{k}$: $H_k\times D$"
    )
    ax.add_patch(
        Rectangle(
            (xk_x + d * cell, xk_y), cell, h_next * cell, fill=False, edgecolor=PALETTE["bad"], lw=2
        )
    )
    _arrow(
        ax, (z_x + dim * cell + 0.15, (z_y + z_top) / 2), (xk_x - 0.15, xk_y + h_next * cell / 2)
    )
    ax.text(
        (z_x + dim * cell + xk_x) / 2,
        (z_y + z_top) / 2 - 0.2,
        "1x1 compression\n" + r"$W^k: H_k\times(H_{k-1}F)$" + "\nsame weights\nfor every $d$",
        ha="center",
        va="top",
        fontsize=9.5,
    )

    p_x = xk_x + dim * cell + 1.6
    _grid(ax, p_x, xk_y, h_next, 1, cell, _FILL["out"], PALETTE["accent"])
    ax.text(p_x + cell / 2, xk_y - 0.15, r"$p^k$: $H_k$", ha="center", va="top")
    _arrow(
        ax,
        (xk_x + dim * cell + 0.15, xk_y + h_next * cell / 2),
        (p_x - 0.15, xk_y + h_next * cell / 2),
    )
    ax.text(
        (xk_x + dim * cell + p_x) / 2,
        xk_y + h_next * cell + 0.1,
        r"sum over $D$",
        ha="center",
        va="bottom",
        fontsize=9.5,
    )
    _arrow(
        ax,
        (xk_x + dim * cell / 2, xk_y + h_next * cell + 0.6),
        (xk_x + dim * cell / 2, xk_y + h_next * cell + 1.3),
    )
    ax.text(
        xk_x + dim * cell / 2,
        xk_y + h_next * cell + 1.4,
        r"next layer uses $X^k$ with $X^0$ again",
        ha="center",
        va="bottom",
        fontsize=9.5,
    )
    ax.set_xlim(-0.3, p_x + 1.2)
    ax.set_ylim(0.0, z_top + 1.4)
    ax.set_title(
        "One CIN layer: an outer product along fields (dimension d meets only d), "
        "then a 1x1 compression"
    )
    return fig


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
