"""Smoke test of the figures of notebooks 02-03: each draws, labels its axes and keeps the title."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ctr_helpers import plots  # noqa: E402
from ctr_helpers.plots import factorization  # noqa: E402


def _check(fig, title):
    assert isinstance(fig, Figure)
    titles = [ax.get_title() for ax in fig.axes] + [
        fig._suptitle.get_text() if fig._suptitle else ""
    ]
    assert any(title in t for t in titles), titles
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>":
            continue
        assert ax.get_xlabel(), "every panel labels its x axis"
    plt.close(fig)


def test_all_functions_are_reexported():
    for name in factorization.__all__:
        assert getattr(plots, name) is getattr(factorization, name)


def test_plot_fm_cost():
    d = [8, 16, 32]
    fig = plots.plot_fm_cost(
        d, {"slow": [1e-3, 4e-3, np.nan], "fast": [1e-4, 2e-4, 4e-4]}, title="gap grows"
    )
    assert fig.axes[0].get_xscale() == "log" and fig.axes[0].get_yscale() == "log"
    _check(fig, "gap grows")


def test_plot_pair_scores():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(5, 4))
    seen = rng.random((5, 4)) > 0.3
    fig = plots.plot_pair_scores(truth, {"A": truth * 0.5, "B": truth}, seen, title="fills in")
    assert len([ax for ax in fig.axes if ax.get_label() != "<colorbar>"]) == 3
    _check(fig, "fills in")


def test_plot_unseen_pair_auc():
    aucs = {"LR": {"seen": 0.8, "unseen": 0.5}, "FM": {"seen": 0.81, "unseen": 0.78}}
    _check(plots.plot_unseen_pair_auc(aucs, title="chance"), "chance")


@pytest.mark.parametrize("anchors", [None, {"FM": 0.96}])
def test_plot_learning_curves(anchors):
    fig = plots.plot_learning_curves(
        {"LR": [0.90, 0.91], "FM": [0.92, 0.94]}, anchors=anchors, title="FM ahead"
    )
    _check(fig, "FM ahead")


def test_plot_ffm_gather():
    _check(plots.plot_ffm_gather(["user", "item", "hour"], title="mirror"), "mirror")
