"""Drawing primitives of the diagrams in ``diagrams.py``: boxes, arrows, grids of cells.

Coordinates are data units of an axis whose limits the diagram sets (and whose frame it
hides); each helper adds its artists to ``ax`` and returns nothing.
"""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.patches import FancyBboxPatch, Rectangle

# Light fills for the boxes of the architecture diagrams; the edges use PALETTE.
FILL = {
    "input": "#eeeeee",
    "embed": "#dbe9f6",
    "fm": "#fde6cf",
    "deep": "#d9f0d3",
    "out": "#ead9f2",
}

ROUNDED = "round,pad=0.02,rounding_size=0.12"


def box(
    ax: Axes,
    xy: tuple[float, float],
    w: float,
    h: float,
    text: str = "",
    *,
    fill: str,
    edge: str,
    lw: float = 1.4,
    style: str = ROUNDED,
    alpha: float | None = None,
    fontsize: float = 10,
    weight: str = "normal",
) -> None:
    """A rounded ``w x h`` box with lower-left corner ``xy`` and, if given, centred ``text``.

    ``alpha`` fades the whole patch, edge included (the pipeline's tinted boxes).
    """
    x, y = xy
    ax.add_patch(
        FancyBboxPatch(
            (x, y),
            w,
            h,
            boxstyle=style,
            facecolor=fill,
            alpha=alpha,
            edgecolor=edge,
            linewidth=lw,
        )
    )
    if text:
        ax.text(
            x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize, weight=weight
        )


def arrow(
    ax: Axes,
    start: tuple[float, float],
    end: tuple[float, float],
    *,
    color: str = "#444444",
    ls: str = "-",
    lw: float = 1.2,
    rad: float = 0.0,
    head: float | None = None,
    shrink: float = 0.0,
) -> None:
    """An arrow from ``start`` to ``end`` with a filled head of ``head`` points (default: the
    font size).

    ``rad`` bends it (the arc3 connection style; negative bends clockwise); ``shrink`` stops
    it that many points short of both ends. An annotation without text: drawn above the boxes,
    and left out when ``end`` lies outside the axis limits.
    """
    props = dict(
        arrowstyle="-|>",
        color=color,
        lw=lw,
        linestyle=ls,
        shrinkA=shrink,
        shrinkB=shrink,
        connectionstyle=f"arc3,rad={rad}",
    )
    if head is not None:
        props["mutation_scale"] = head
    ax.annotate("", xy=end, xytext=start, arrowprops=props)


def outline(ax: Axes, xy: tuple[float, float], w: float, h: float, edge: str) -> None:
    """An unfilled ``w x h`` rectangle with a thick edge, marking part of a grid."""
    ax.add_patch(Rectangle(xy, w, h, fill=False, edgecolor=edge, linewidth=2))


def grid(
    ax: Axes,
    x: float,
    y: float,
    rows: int,
    cols: int,
    cell: float,
    fill: str,
    edge: str,
    label: str | None = None,
) -> None:
    """A ``rows x cols`` grid of square cells with lower-left corner ``(x, y)``, row 0 on top;
    ``label`` is written centred above it."""
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
        ax.text(x + cols * cell / 2, y + rows * cell + 0.15, label, ha="center", va="bottom")
