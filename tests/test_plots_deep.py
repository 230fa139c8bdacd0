"""Smoke tests of the figures of notebooks 04-05: each draws, labels its axes and states a title."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ctr_helpers import plots  # noqa: E402
from ctr_helpers.plots import deep  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _texts(fig):
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts)


def test_every_function_is_exported_from_plots():
    for name in deep.__all__:
        assert getattr(plots, name) is getattr(deep, name)


def test_deepfm_architecture_shows_both_branches_and_the_sum():
    fig = plots.deepfm_architecture()
    assert isinstance(fig, Figure)
    words = _texts(fig)
    for part in ("FM branch", "Linear 400", "concat", "y_{FM} + y_{DNN}", "user", "city"):
        assert part in words, part
    assert "shared embedding" in fig.axes[0].get_title()


def test_cin_layer_diagram_draws():
    fig = plots.cin_layer_diagram(h_prev=2, num_fields=3, h_next=4, dim=3)
    assert isinstance(fig, Figure)
    assert "1x1 compression" in _texts(fig)


def test_ablation_bars_two_panels_with_reference():
    fig = plots.ablation_bars(
        ["FM only", "deep only", "DeepFM"],
        [0.92, 0.968, 0.9677],
        [0.45, 0.21, 0.23],
        title="finding",
        reference={"FM only": (0.9671, 0.2065), "DeepFM": (0.9842, 0.1482)},
    )
    ax_auc, ax_ll = fig.axes
    assert "AUC" in ax_auc.get_ylabel() and "logloss" in ax_ll.get_ylabel()
    assert ax_auc.get_xlabel() and fig.get_suptitle() == "finding"
    assert len(ax_auc.patches) == 3 and len(ax_auc.collections) == 2  # bars + 2 reference points
    lo, hi = ax_auc.get_ylim()
    assert lo < 0.92 and hi > 0.9842


def test_ablation_bars_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="same length"):
        plots.ablation_bars(["a", "b"], [0.9], [0.2, 0.3], title="t")


def test_degree_loglog_one_line_per_layer_with_slopes():
    t = np.logspace(-1, 1, 5)
    fig = plots.degree_loglog(
        t, {"layer 1": t**2, "layer 2": t**3}, {"layer 1": 2.0, "layer 2": 3.0}, title="slopes"
    )
    (ax,) = fig.axes
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert len(ax.get_lines()) == 2
    assert "slope 3.000" in " ".join(t.get_text() for t in ax.get_legend().get_texts())
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title() == "slopes"


def test_cost_comparison_two_panels():
    fig = plots.cost_comparison(
        ["MLP", "CIN"], [364_001, 6_465], [40.0, 12.0], title="cost", batch_size=4096
    )
    ax_p, ax_t = fig.axes
    assert ax_p.get_ylabel() == "parameters" and "4096" in ax_t.get_ylabel()
    with pytest.raises(ValueError, match="same length"):
        plots.cost_comparison(["MLP"], [1, 2], [1.0], title="t")
