"""Plotting defaults shared by every figure of the course."""

from __future__ import annotations

import matplotlib as mpl

# One colour per role, used consistently across notebooks.
PALETTE = {
    "ours": "#1f77b4",
    "bars": "#ff7f0e",
    "good": "#2ca02c",
    "bad": "#d62728",
    "neutral": "#7f7f7f",
    "accent": "#9467bd",
}


def set_style() -> None:
    """Readable defaults: larger fonts, light grid, no top/right spines, tight layout."""
    mpl.rcParams.update(
        {
            "figure.figsize": (7.0, 4.0),
            "figure.dpi": 100,
            "savefig.dpi": 120,
            "savefig.bbox": "tight",
            "figure.constrained_layout.use": True,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.titlesize": 12,
            "axes.labelsize": 11,
            "legend.frameon": False,
        }
    )
