"""Figures of the cross notebooks: 06 (DCN, DCN-v2) and 07 (AutoInt).

Every function draws one figure from numbers computed in the notebook and returns the Figure;
the title, passed in by the caller, states the finding.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ctr_helpers.plots._style import PALETTE

__all__ = [
    "cross_param_growth",
    "cross_degree_check",
    "cross_weight_heatmap",
    "attention_heatmap",
]

# Series colours of the parameter-growth figure, in the order the series are passed.
_GROWTH_COLOURS = (PALETTE["bad"], PALETTE["good"], PALETTE["accent"], PALETTE["ours"])
_GROWTH_MARKERS = ("o", "s", "D", "^")


def _heatmap(data, ax, **kwargs) -> None:
    """``sns.heatmap`` without the PendingDeprecationWarning that seaborn 0.13 triggers on
    recent matplotlib (it would print a red stderr block under every notebook figure)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        sns.heatmap(data, ax=ax, **kwargs)


def _growth_panel(
    ax: plt.Axes,
    xs: Sequence[float],
    series: Mapping[str, Sequence[float]],
    highlight: float,
) -> None:
    items = list(series.items())
    for i, (label, ys) in enumerate(items):
        colour = _GROWTH_COLOURS[i % len(_GROWTH_COLOURS)]
        ax.plot(
            xs,
            ys,
            marker=_GROWTH_MARKERS[i % len(_GROWTH_MARKERS)],
            color=colour,
            lw=3.0 if i == 0 else 2.0,
            ms=5,
            label=label,
            zorder=3,
        )
        if highlight in list(xs):
            y = ys[list(xs).index(highlight)]
            ax.annotate(
                f"{y:,.0f}",
                (highlight, y),
                xytext=(8, 0),
                textcoords="offset points",
                va="center",
                color=colour,
                fontsize=9,
                fontweight="bold",
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85),
                zorder=4,
            )
    if len(items) >= 2:  # the gap between the explicit polynomial and the first cross network
        ax.fill_between(xs, items[1][1], items[0][1], color=_GROWTH_COLOURS[0], alpha=0.07, lw=0)
    ax.axvline(highlight, color=PALETTE["neutral"], ls=":", lw=1.2)
    ax.set_yscale("log")


def cross_param_growth(
    degrees: Sequence[int],
    by_degree: Mapping[str, Sequence[float]],
    widths: Sequence[int],
    by_width: Mapping[str, Sequence[float]],
    *,
    d: int,
    p: int,
    title: str,
) -> Figure:
    """Parameters needed for crosses up to a degree: an explicit polynomial vs cross networks.

    Two panels on a log parameter axis. Left: parameters against the highest degree ``p``
    reached, at input width ``d``. Right: parameters against the input width ``d`` (log-log, so
    each line's slope is its exponent in ``d``), at degree ``p``. ``by_degree`` / ``by_width``
    map a series label to its counts at ``degrees`` / ``widths``; the first series is drawn as
    the explicit polynomial (the thick red line), the next ones as the cross networks. The
    quoted point (``d``, ``p``) is marked with a dotted line and its counts are written beside it.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(12.0, 4.6))
    _growth_panel(left, degrees, by_degree, p)
    left.set_xticks(list(degrees))
    left.set_xlabel("highest interaction degree p  (a cross network needs L = p - 1 layers)")
    left.set_ylabel("parameters (log scale)")
    left.set_title(f"input width d = {d:,}")
    _growth_panel(right, widths, by_width, d)
    right.set_xscale("log")
    right.set_xlabel("input width d = fields x embedding size (log scale)")
    right.set_ylabel("parameters (log scale)")
    right.set_title(f"highest degree p = {p}")
    handles, labels = left.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels))
    fig.suptitle(title)
    return fig


def cross_degree_check(
    scales: Sequence[float],
    norms: Mapping[int, Sequence[float]],
    slopes: Mapping[int, float],
    *,
    fit_range: tuple[float, float],
    title: str,
) -> Figure:
    """Log-log plot of ``||output||`` against the input scale ``t``, one line per depth ``L``.

    ``norms[L]`` holds the output norms at ``scales``; ``slopes[L]`` is the slope the caller
    fitted over ``fit_range`` (shaded). A homogeneous polynomial of degree k is a straight line
    of slope k here.
    """
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    colours = sns.color_palette("viridis", n_colors=len(norms))
    for colour, (depth, ys) in zip(colours, norms.items(), strict=True):
        ax.loglog(
            scales,
            ys,
            color=colour,
            lw=2.0,
            label=f"L = {depth}: fitted slope {slopes[depth]:.3f}",
        )
    ax.axvspan(*fit_range, color=PALETTE["neutral"], alpha=0.12, lw=0, label="slope fitted here")
    ax.set_xlabel("input scale t  (x0 = t * x)")
    ax.set_ylabel("||cross network output||")
    ax.legend(loc="upper left", fontsize=9)
    ax.set_title(title)
    return fig


def _entries_panel(ax: plt.Axes, w: np.ndarray, field_names: Sequence[str], dim: int) -> None:
    """Every entry of ``|W|``, white lines between the ``dim``-wide field blocks."""
    n_fields = len(field_names)
    _heatmap(w, ax, cmap="mako_r", square=True, cbar_kws={"label": "|W| entry"})
    ticks = np.arange(n_fields) * dim + dim / 2
    ax.set_xticks(ticks, field_names, rotation=45, ha="right")
    ax.set_yticks(ticks, field_names, rotation=0)
    for k in range(1, n_fields):
        ax.axhline(k * dim, color="white", lw=1.0)
        ax.axvline(k * dim, color="white", lw=1.0)
    ax.set_xlabel("field of x_l (input to W)")
    ax.set_ylabel("field of x0 (multiplies W x_l)")
    ax.set_title("every entry")


def cross_weight_heatmap(
    weight: np.ndarray,
    field_names: Sequence[str],
    planted: Sequence[tuple[int, int]],
    *,
    title: str,
) -> Figure:
    """The learned DCN-v2 matrix ``|W|`` (``[d, d]``, ``d = F * D``) with the planted crosses boxed.

    Left: every entry of ``|W|`` with grid lines between fields; block (i, j) couples field i of
    ``x0`` with field j of ``x_l``. Right: the mean ``|W|`` of each field block. Each planted
    pair (i, j) is outlined in both panels, in both orders (i, j) and (j, i).
    """
    w = np.abs(np.asarray(weight, dtype=float))
    n_fields = len(field_names)
    if w.ndim != 2 or w.shape[0] != w.shape[1] or w.shape[0] % n_fields:
        raise ValueError(
            f"weight must be a square [F*D, F*D] matrix for F = {n_fields} fields, "
            f"got shape {tuple(w.shape)}"
        )
    dim = w.shape[0] // n_fields
    blocks = w.reshape(n_fields, dim, n_fields, dim).mean(axis=(1, 3))
    boxes = {(i, j) for i, j in planted} | {(j, i) for i, j in planted}

    fig, (left, right) = plt.subplots(
        1, 2, figsize=(12.0, 5.2), gridspec_kw={"width_ratios": [1.15, 1.0]}
    )
    _entries_panel(left, w, field_names, dim)
    _heatmap(
        blocks,
        right,
        cmap="mako_r",
        square=True,
        annot=True,
        fmt=".3f",
        xticklabels=field_names,
        yticklabels=field_names,
        cbar_kws={"label": "mean |W| in the block"},
    )
    right.set_xlabel("field of x_l")
    right.set_ylabel("field of x0")
    right.set_title("mean per field block")
    right.tick_params(axis="x", rotation=45)
    right.tick_params(axis="y", rotation=0)
    for i, j in sorted(boxes):
        left.add_patch(
            Rectangle((j * dim, i * dim), dim, dim, fill=False, ec=PALETTE["bad"], lw=2.5)
        )
        right.add_patch(Rectangle((j, i), 1, 1, fill=False, ec=PALETTE["bad"], lw=2.5))
    left.grid(False)
    right.grid(False)
    fig.suptitle(title + "\n(red boxes: the planted crosses)")
    return fig


def attention_heatmap(
    attention: np.ndarray,
    field_names: Sequence[str],
    *,
    title: str,
    panel_titles: Sequence[str] | None = None,
) -> Figure:
    """Average attention between fields: row = the field attending (query), column = attended (key).

    ``attention`` is ``[F, F]`` (one panel) or ``[P, F, F]`` (``P`` panels, e.g. one per layer or
    head). Each row sums to 1. The colour scale is centred on the uniform weight ``1 / F``: red
    cells get more than an even share of a field's attention, blue ones less.
    """
    a = np.asarray(attention, dtype=float)
    if a.ndim == 2:
        a = a[None]
    n_fields = len(field_names)
    if a.ndim != 3 or a.shape[1:] != (n_fields, n_fields):
        raise ValueError(
            f"attention must be [F, F] or [P, F, F] with F = {n_fields}, got {attention.shape}"
        )
    n_panels = a.shape[0]
    if panel_titles is not None and len(panel_titles) != n_panels:
        raise ValueError(f"got {len(panel_titles)} panel titles for {n_panels} panels")
    uniform = 1.0 / n_fields
    spread = max(float(np.abs(a - uniform).max()), 1e-6)
    fig, axes = plt.subplots(1, n_panels, figsize=(6.2 * n_panels, 5.6), squeeze=False)
    for k, ax in enumerate(axes[0]):
        _heatmap(
            a[k],
            ax,
            cmap="vlag",
            center=uniform,
            vmin=uniform - spread,
            vmax=uniform + spread,
            square=True,
            annot=True,
            fmt=".2f",
            annot_kws={"fontsize": 7},
            xticklabels=field_names,
            yticklabels=field_names,
            cbar=k == n_panels - 1,
            cbar_kws={"label": f"mean attention weight (uniform = 1/F = {uniform:.2f})"},
        )
        ax.set_xlabel("attended field (key)")
        ax.set_ylabel("attending field (query)" if k == 0 else "")
        ax.tick_params(axis="x", rotation=45)
        ax.tick_params(axis="y", rotation=0)
        ax.grid(False)
        if panel_titles is not None:
            ax.set_title(panel_titles[k])
    fig.suptitle(title)
    return fig
