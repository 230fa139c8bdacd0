"""Smoke test of the intro figures (notebooks 00-01): each returns a labelled Figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ctr_helpers import plots  # noqa: E402
from ctr_helpers.plots import intro  # noqa: E402

rng = np.random.default_rng(0)

FIGURES = {
    "ctr_pipeline": lambda: plots.ctr_pipeline(),
    "field_cardinalities": lambda: plots.field_cardinalities(
        ["user", "item", "hour"], [900, 4000, 24], ["user", "item", "context"], title="t"
    ),
    "score_histograms": lambda: plots.score_histograms(
        rng.normal(1, 1, 50), rng.normal(0, 1, 200), title="t"
    ),
    "missing_rates": lambda: plots.missing_rates(["I1", "I2", "C1"], [0.4, 0.0, 0.1], title="t"),
    "log_bucketing": lambda: plots.log_bucketing(
        np.array([0, 1, 5, 50, 5000, 10**6]), np.array([0, 1, 2, 15, 72, 190]), "I5", title="t"
    ),
    "xor_boundaries": lambda: plots.xor_boundaries(
        [np.full((2, 2), 0.5), np.eye(2)],
        ["LR", "LR + cross"],
        ["young", "old"],
        ["action", "comedy"],
        title="t",
        observed=np.eye(2),
    ),
    "cross_growth": lambda: plots.cross_growth([1, 2, 3], [10, 45, 120], [5e3, 5e6, 1e9], 2e5, "t"),
}


def test_every_exported_function_is_covered():
    assert set(intro.__all__) == set(FIGURES)
    for name in intro.__all__:
        assert getattr(plots, name) is getattr(intro, name), f"{name} not re-exported by plots"


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_returns_a_titled_figure(name):
    fig = FIGURES[name]()
    try:
        assert isinstance(fig, Figure)
        titles = [ax.get_title() for ax in fig.axes] + [fig.get_suptitle()]
        assert any(titles), f"{name} has no title"
        data_axes = [ax for ax in fig.axes if ax.get_xlabel() or ax.get_ylabel()]
        if name != "ctr_pipeline":  # a diagram, no axes
            assert data_axes, f"{name} has no axis labels"
        fig.canvas.draw()  # renders without error
    finally:
        plt.close(fig)


def test_shape_mismatches_are_reported():
    with pytest.raises(ValueError, match="same length"):
        plots.field_cardinalities(["a", "b"], [1], ["user", "item"], title="t")
    with pytest.raises(ValueError, match="expected"):
        plots.xor_boundaries([np.zeros((3, 2))], ["p"], ["a", "b"], ["c", "d"], title="t")
