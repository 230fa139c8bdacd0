"""Schematic figures: the pipeline and architecture diagrams, drawn from boxes, arrows and grids.

They take structure only (field names, layer sizes), never measured numbers, so they look the
same on every run. The data plots of the same notebooks live in ``intro``, ``factorization``
and ``deep``, which re-export these too. The drawing primitives are in ``_draw``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ctr_helpers.plots._draw import FILL, arrow, box, grid, outline
from ctr_helpers.plots._style import PALETTE

__all__ = ["ctr_pipeline", "deepfm_architecture", "cin_layer_diagram", "plot_ffm_gather"]


# --------------------------------------------------------------------------- notebook 00
# Stages of the offline/online CTR pipeline drawn by `ctr_pipeline`: (label, detail).
_PIPELINE = [
    ("impression log", "who saw what,\nwhen, where"),
    ("click log", "which impressions\nwere clicked"),
    ("join + label", "one row per impression\ny = 1 if clicked"),
    ("encode fields", "value -> index per field\n(fit on train only)"),
    ("train model", "minimise logloss\non past rows"),
    ("score candidates", "p(click | user, item,\ncontext) per candidate"),
    ("rank", "sort by p (or p x bid)\nshow the top k"),
]


def ctr_pipeline(title: str = "From logs to a ranked list: the model sees encoded rows") -> Figure:
    """The path from raw impression and click logs to a ranked list, as boxes and arrows.

    The first five stages run offline on past data (top row); scoring and ranking run online for
    every request (bottom row), with the trained model and the fitted encoders carried over.
    """
    fig, ax = plt.subplots(figsize=(11.0, 3.6))
    ax.set_xlim(0, 11)
    ax.set_ylim(0, 3.6)
    ax.axis("off")
    w, h = 1.9, 1.05
    # offline row: 5 boxes; online row: 2 boxes under the last two offline ones
    xs_top = [0.1 + i * 2.2 for i in range(5)]
    positions = [(x, 2.2) for x in xs_top] + [(xs_top[3], 0.35), (xs_top[1], 0.35)]
    colours = (
        [PALETTE["neutral"]] * 3 + [PALETTE["accent"], PALETTE["ours"]] + [PALETTE["good"]] * 2
    )
    for (label, detail), (x, y), colour in zip(_PIPELINE, positions, colours, strict=True):
        box(ax, (x, y), w, h, fill=colour, edge=colour, lw=1.5, style="round,pad=0.04", alpha=0.18)
        ax.text(x + w / 2, y + h - 0.25, label, ha="center", va="center", fontweight="bold")
        ax.text(x + w / 2, y + 0.35, detail, ha="center", va="center", fontsize=8.5)

    def link(a, b, **kw):
        arrow(ax, a, b, color="k", lw=1.0, head=14, shrink=2, **kw)

    for i in range(4):  # offline chain
        link((xs_top[i] + w, 2.2 + h / 2), (xs_top[i + 1], 2.2 + h / 2))
    # trained model (and encoders) feed online scoring, which feeds ranking
    link((xs_top[4] + w / 2, 2.2), (xs_top[3] + w, 0.35 + h / 2), rad=-0.3)
    ax.text(xs_top[4] + w / 2 + 0.05, 1.55, "trained model", fontsize=8.5, style="italic")
    link((xs_top[3] + w / 2, 2.2), (xs_top[3] + w / 2, 0.35 + h), ls="--")
    ax.text(
        xs_top[3] + w / 2 - 0.1, 1.8, "fitted encoders", fontsize=8.5, style="italic", ha="right"
    )
    link((xs_top[3], 0.35 + h / 2), (xs_top[1] + w, 0.35 + h / 2))
    # the served list produces the next day's logs
    link((xs_top[1], 0.35 + h / 2), (xs_top[0] + w / 2, 2.2), rad=-0.3)
    ax.text(0.1, 3.45, "offline (past logs)", fontsize=9, color=PALETTE["neutral"])
    ax.text(0.1, 0.05, "online (every request); the shown list becomes tomorrow's log", fontsize=9)
    ax.set_title(title)
    return fig


# --------------------------------------------------------------------------- notebook 03
def plot_ffm_gather(field_names: Sequence[str], *, title: str) -> Figure:
    """Which field-aware vectors the vectorised FFM gathers, drawn on the ``[F, F]`` grid.

    Cell ``(f, g)`` stands for ``e[:, f, g]``, the vector of field ``f``'s feature meant for
    field ``g``. Pair ``(i, j)``, ``i < j``, multiplies the upper-triangle cell ``(i, j)`` (the
    *left* gather, ``e[:, rows, cols]``) with its mirror ``(j, i)`` (the *right* gather,
    ``e[:, cols, rows]``); the diagonal is never used. Mirrored cells carry the same pair number.
    """
    names = list(field_names)
    n = len(names)
    role = np.zeros((n, n), dtype=int)  # 0 diagonal, 1 left (upper), 2 right (lower)
    role[np.triu_indices(n, 1)] = 1
    role[np.tril_indices(n, -1)] = 2
    cmap = ListedColormap(["#dddddd", PALETTE["ours"], PALETTE["bars"]])
    fig, ax = plt.subplots(figsize=(0.55 * n + 3.2, 0.5 * n + 1.6))
    ax.imshow(role, cmap=cmap, vmin=0, vmax=2)
    rows, cols = np.triu_indices(n, 1)
    for p, (i, j) in enumerate(zip(rows, cols, strict=True)):
        for r, c in ((i, j), (j, i)):
            ax.text(c, r, str(p), ha="center", va="center", fontsize=7, color="white")
    ax.set_xticks(range(n), names, rotation=45, ha="right")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("opposite field g (which vector of the feature)")
    ax.set_ylabel("field f (whose feature)")
    ax.grid(False)
    ax.legend(
        handles=[
            Patch(color=PALETTE["ours"], label="left side: e[:, rows, cols]"),
            Patch(color=PALETTE["bars"], label="right side: e[:, cols, rows]"),
            Patch(color="#dddddd", label="f = g: never used"),
        ],
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
    )
    ax.set_title(title)
    return fig


# --------------------------------------------------------------------------- notebook 04
_FIELD_W, _FIELD_H = 1.05, 0.62  # one field's box in the input and embedding rows
_FM_BOX = (0.5, 4.3, 4.4, 1.9)  # x, y, width, height of the FM branch
_DEEP_X, _DEEP_W, _CONCAT_Y = 6.9, 4.6, 3.3  # the MLP's column and the bottom of its first box
_LAYER_H, _LAYER_GAP = 0.58, 0.28


def _field_row(
    ax: Axes,
    fields: Sequence[str],
    xs: np.ndarray,
    y: float,
    label: Callable[[str], str],
    fill: str,
    edge: str,
    note: str,
    arrow_from: float | None = None,
) -> None:
    """One box per field at height ``y`` (a ``"..."`` field stays a gap), a note on the right;
    with ``arrow_from``, an arrow from that height up into each box."""
    for f, x in zip(fields, xs, strict=True):
        if f == "...":
            ax.text(x, y + 0.31, "...", ha="center", va="center", fontsize=14)
            continue
        box(ax, (x - _FIELD_W / 2, y), _FIELD_W, _FIELD_H, label(f), fill=fill, edge=edge)
        if arrow_from is not None:
            arrow(ax, (x, arrow_from), (x, y))
    ax.text(
        xs[-1] + _FIELD_W / 2 + 0.25,
        y + 0.31,
        note,
        ha="left",
        va="center",
        fontsize=9.5,
        color="#333333",
    )


def _deepfm_fm_branch(ax: Axes, xs: np.ndarray) -> None:
    """The FM box (order 1 and 2) and the dashed linear term from the sparse input."""
    fm_x, fm_y, fm_w, fm_h = _FM_BOX
    box(ax, (fm_x, fm_y), fm_w, fm_h, fill=FILL["fm"], edge=PALETTE["bars"])
    ax.text(
        fm_x + fm_w / 2, fm_y + fm_h - 0.3, "FM branch", ha="center", fontsize=11, weight="bold"
    )
    ax.text(
        fm_x + fm_w / 2,
        fm_y + 0.75,
        r"$\sum_i w_i \;+\; \sum_{i<j} \langle e_i, e_j \rangle$",
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
    arrow(ax, (xs[0] - _FIELD_W / 2, 0.31), (fm_x + 0.35, fm_y), color=PALETTE["bars"], ls="--")
    ax.text(
        0.1,
        1.6,
        "linear term:\na width-1\nembedding of\nthe same indices",
        fontsize=8.5,
        color=PALETTE["bars"],
        ha="left",
        va="center",
    )


def _deepfm_deep_branch(ax: Axes, hidden: Sequence[int]) -> float:
    """The MLP as a stack of boxes from the concatenated embeddings; returns its top."""
    layer = dict(fill=FILL["deep"], edge=PALETTE["good"])
    centre = _DEEP_X + _DEEP_W / 2
    box(
        ax,
        (_DEEP_X, _CONCAT_Y),
        _DEEP_W,
        _LAYER_H,
        r"concat $[e_1, \dots, e_F]$: $F \cdot D$ numbers",
        **layer,
        fontsize=8.5,
    )
    y = _CONCAT_Y
    for h in hidden:
        y_next = y + _LAYER_H + _LAYER_GAP
        box(
            ax,
            (_DEEP_X, y_next),
            _DEEP_W,
            _LAYER_H,
            f"Linear {h} + BN + ReLU + dropout",
            **layer,
            fontsize=9,
        )
        arrow(ax, (centre, y + _LAYER_H), (centre, y_next))
        y = y_next
    y_next = y + _LAYER_H + _LAYER_GAP
    box(ax, (_DEEP_X, y_next), _DEEP_W, _LAYER_H, "Linear 1", **layer)
    arrow(ax, (centre, y + _LAYER_H), (centre, y_next))
    ax.text(
        _DEEP_X + _DEEP_W + 0.05,
        _CONCAT_Y + 1.8,
        "deep\nbranch\n(any order,\nimplicit)",
        fontsize=9,
        style="italic",
        ha="left",
        va="center",
    )
    return y_next + _LAYER_H


def _deepfm_output(ax: Axes, deep_top: float) -> None:
    """The sum of the two logits and the single sigmoid, fed by both branches."""
    fm_x, fm_y, fm_w, fm_h = _FM_BOX
    out_w, out_h = 4.2, 0.8
    out_x, out_y = 6.0 - out_w / 2, 9.2
    box(
        ax,
        (out_x, out_y),
        out_w,
        out_h,
        r"$\hat y = \sigma(\,y_{FM} + y_{DNN}\,)$",
        fill=FILL["out"],
        edge=PALETTE["accent"],
        fontsize=12,
    )
    arrow(ax, (fm_x + fm_w / 2, fm_y + fm_h), (out_x + 0.9, out_y), color=PALETTE["bars"])
    arrow(
        ax, (_DEEP_X + _DEEP_W / 2, deep_top), (out_x + out_w - 0.9, out_y), color=PALETTE["good"]
    )
    ax.text(3.9, 7.7, r"logit $y_{FM}$", fontsize=10, color=PALETTE["bars"])
    ax.text(
        _DEEP_X + _DEEP_W / 2 + 0.2,
        deep_top + 0.15,
        r"logit $y_{DNN}$",
        fontsize=10,
        color=PALETTE["good"],
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
    xs = np.linspace(3.0, 9.0, len(fields))  # centres of the per-field columns
    # 1. sparse input: one categorical index per field
    note = "sparse input\n(one index per field)"
    _field_row(ax, fields, xs, 0.0, str, FILL["input"], PALETTE["neutral"], note)
    # 2. the shared embedding table: one D-vector per field
    note = f"one shared table:\na D = {embed_dim} vector\nper field"
    embed = "$e_{{{}}}$".format
    _field_row(ax, fields, xs, 2.0, embed, FILL["embed"], PALETTE["ours"], note, _FIELD_H + 0.02)
    # 3. the two branches, and arrows from every embedding into both: the sharing is the point
    _deepfm_fm_branch(ax, xs)
    deep_top = _deepfm_deep_branch(ax, hidden)
    fm_x, fm_y, fm_w, _ = _FM_BOX
    for f, x in zip(fields, xs, strict=True):
        if f == "...":
            continue
        start = (x, 2.0 + _FIELD_H)
        arrow(ax, start, (fm_x + fm_w * 0.55, fm_y), color=PALETTE["bars"], lw=0.9)
        arrow(ax, start, (_DEEP_X + _DEEP_W * 0.45, _CONCAT_Y), color=PALETTE["good"], lw=0.9)
    # 4. output: add the two logits, one sigmoid
    _deepfm_output(ax, deep_top)
    ax.set_title(
        "DeepFM: one shared embedding feeds an FM branch and an MLP in parallel; "
        "their logits are added",
        fontsize=11.5,
    )
    return fig


# --------------------------------------------------------------------------- notebook 05
_CELL = 0.32  # side of one cell of the CIN grids
_COL = 1  # the embedding dimension d outlined in every grid
_HP_Y, _X0_Y, _Z_Y, _XK_Y = 3.6, 0.6, 0.9, 2.4  # bottoms of X^{k-1}, X^0, Z^k and X^k


def _cin_inputs(ax: Axes, h_prev: int, num_fields: int, dim: int) -> None:
    """``X^{k-1}`` above ``X^0``, column ``d`` outlined in both."""
    grid(
        ax,
        0.0,
        _HP_Y,
        h_prev,
        dim,
        _CELL,
        FILL["deep"],
        PALETTE["good"],
        r"$X^{k-1}$: $H_{k-1}\times D$",
    )
    grid(ax, 0.0, _X0_Y, num_fields, dim, _CELL, FILL["embed"], PALETTE["ours"])
    ax.text(
        dim * _CELL / 2, _X0_Y - 0.15, r"$X^{0}$ (embeddings): $F\times D$", ha="center", va="top"
    )
    for y0, rows in ((_HP_Y, h_prev), (_X0_Y, num_fields)):
        outline(ax, (_COL * _CELL, y0), _CELL, rows * _CELL, PALETTE["bad"])
    ax.text(
        dim * _CELL + 0.25,
        2.7,
        r"$\otimes$ per column $d$",
        fontsize=12,
        ha="left",
        va="center",
    )


def _cin_outer_product(ax: Axes, h_prev: int, num_fields: int, dim: int) -> tuple[float, float]:
    """``Z^k`` as one block of ``F`` rows per row ``i`` of ``X^{k-1}``; returns its x and top."""
    z_x = dim * _CELL + 2.6
    z_rows = h_prev * num_fields
    block_gap = 0.1
    z_top = _Z_Y + z_rows * _CELL + (h_prev - 1) * block_gap
    for i in range(h_prev):
        block_y = _Z_Y + (h_prev - 1 - i) * (num_fields * _CELL + block_gap)
        grid(ax, z_x, block_y, num_fields, dim, _CELL, FILL["fm"], PALETTE["bars"])
        outline(ax, (z_x + _COL * _CELL, block_y), _CELL, num_fields * _CELL, PALETTE["bad"])
        ax.text(
            z_x - 0.1,
            block_y + num_fields * _CELL / 2,
            f"i={i + 1}",
            ha="right",
            va="center",
            fontsize=8,
        )
    ax.text(
        z_x + dim * _CELL / 2,
        z_top + 0.15,
        r"$Z^k_{ij,d} = X^{k-1}_{i,d}\, X^0_{j,d}$" + "\n" + r"$(H_{k-1}F)\times D$",
        ha="center",
        va="bottom",
    )
    arrow(ax, (dim * _CELL + 0.15, _HP_Y + 0.3), (z_x - 0.15, _Z_Y + (z_top - _Z_Y) * 0.7))
    arrow(ax, (dim * _CELL + 0.15, _X0_Y + 0.6), (z_x - 0.15, _Z_Y + (z_top - _Z_Y) * 0.3))
    return z_x, z_top


def _cin_compression(ax: Axes, h_next: int, dim: int, z_x: float, z_top: float) -> float:
    """``X^k`` from ``Z^k`` by the 1x1 compression; returns the x of ``X^k``."""
    xk_x = z_x + dim * _CELL + 2.9
    grid(
        ax,
        xk_x,
        _XK_Y,
        h_next,
        dim,
        _CELL,
        FILL["deep"],
        PALETTE["good"],
        r"$X^{k}$: $H_k\times D$",
    )
    outline(ax, (xk_x + _COL * _CELL, _XK_Y), _CELL, h_next * _CELL, PALETTE["bad"])
    arrow(
        ax,
        (z_x + dim * _CELL + 0.15, (_Z_Y + z_top) / 2),
        (xk_x - 0.15, _XK_Y + h_next * _CELL / 2),
    )
    ax.text(
        (z_x + dim * _CELL + xk_x) / 2,
        (_Z_Y + z_top) / 2 - 0.2,
        "1x1 compression\n" + r"$W^k: H_k\times(H_{k-1}F)$" + "\nsame weights\nfor every $d$",
        ha="center",
        va="top",
        fontsize=9.5,
    )
    return xk_x


def _cin_outputs(ax: Axes, h_next: int, dim: int, xk_x: float) -> float:
    """Sum-pooling of ``X^k`` into ``p^k``, and ``X^k`` going on to the next layer; returns the
    x of ``p^k``."""
    mid = _XK_Y + h_next * _CELL / 2
    top = _XK_Y + h_next * _CELL
    p_x = xk_x + dim * _CELL + 1.6
    grid(ax, p_x, _XK_Y, h_next, 1, _CELL, FILL["out"], PALETTE["accent"])
    ax.text(p_x + _CELL / 2, _XK_Y - 0.15, r"$p^k$: $H_k$", ha="center", va="top")
    arrow(ax, (xk_x + dim * _CELL + 0.15, mid), (p_x - 0.15, mid))
    ax.text(
        (xk_x + dim * _CELL + p_x) / 2,
        top + 0.1,
        r"sum over $D$",
        ha="center",
        va="bottom",
        fontsize=9.5,
    )
    arrow(ax, (xk_x + dim * _CELL / 2, top + 0.6), (xk_x + dim * _CELL / 2, top + 1.3))
    ax.text(
        xk_x + dim * _CELL / 2,
        top + 1.4,
        r"next layer uses $X^k$ with $X^0$ again",
        ha="center",
        va="bottom",
        fontsize=9.5,
    )
    return p_x


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
    fig, ax = plt.subplots(figsize=(11, 5.2))
    ax.set_axis_off()
    ax.grid(False)
    ax.set_aspect("equal")
    _cin_inputs(ax, h_prev, num_fields, dim)
    z_x, z_top = _cin_outer_product(ax, h_prev, num_fields, dim)
    xk_x = _cin_compression(ax, h_next, dim, z_x, z_top)
    p_x = _cin_outputs(ax, h_next, dim, xk_x)
    ax.set_xlim(-0.3, p_x + 1.2)
    ax.set_ylim(0.0, z_top + 1.4)
    ax.set_title(
        "One CIN layer: an outer product along fields (dimension d meets only d), "
        "then a 1x1 compression"
    )
    return fig
