"""Smoke tests of the figures of notebooks 06-07: each draws, labels its axes, keeps its title."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ctr_helpers import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _labelled(ax):
    return ax.get_xlabel() and ax.get_ylabel()


def test_cross_functions_are_exported():
    for name in ("cross_param_growth", "cross_degree_check", "cross_weight_heatmap"):
        assert callable(getattr(plots, name))
    assert callable(plots.attention_heatmap)


def test_cross_param_growth():
    degrees, widths, d, p = [2, 3, 4, 5], [10, 100, 1000], 100, 4
    by_degree = {
        "explicit polynomial": [math.comb(d + k, k) for k in degrees],
        "DCN": [2 * d * (k - 1) for k in degrees],
    }
    by_width = {
        "explicit polynomial": [math.comb(w + p, p) for w in widths],
        "DCN": [2 * w * (p - 1) for w in widths],
    }
    fig = plots.cross_param_growth(degrees, by_degree, widths, by_width, d=d, p=p, title="T")
    left, right = fig.axes[:2]
    assert fig._suptitle.get_text() == "T"
    assert _labelled(left) and _labelled(right)
    assert left.get_yscale() == "log" and right.get_xscale() == "log"
    texts = [t.get_text() for t in left.texts]
    assert f"{math.comb(d + p, p):,}" in texts and "600" in texts


def test_cross_degree_check():
    t = np.logspace(-2, 3, 20)
    norms = {n: t + t ** (n + 1) for n in (1, 2)}
    fig = plots.cross_degree_check(t, norms, {1: 2.0, 2: 3.0}, fit_range=(1e2, 1e3), title="T")
    ax = fig.axes[0]
    assert _labelled(ax) and ax.get_title() == "T"
    assert len(ax.get_lines()) == 2


def test_cross_weight_heatmap_and_bad_shape():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(12, 12))
    fig = plots.cross_weight_heatmap(w, ["a", "b", "c"], [(0, 2)], title="T")
    assert all(_labelled(ax) for ax in fig.axes[::2][:1])
    with pytest.raises(ValueError, match="square"):
        plots.cross_weight_heatmap(w[:, :10], ["a", "b", "c"], [(0, 2)], title="T")


def test_attention_heatmap_one_and_several_panels():
    rng = np.random.default_rng(0)
    a = rng.dirichlet(np.ones(4), size=4)
    fig = plots.attention_heatmap(a, list("abcd"), title="T")
    assert fig._suptitle.get_text() == "T"
    assert _labelled(fig.axes[0])
    fig = plots.attention_heatmap(
        np.stack([a, a]), list("abcd"), title="T", panel_titles=["1", "2"]
    )
    assert [ax.get_title() for ax in fig.axes[:2]] == ["1", "2"]
    with pytest.raises(ValueError, match="attention must be"):
        plots.attention_heatmap(a[:3], list("abcd"), title="T")
