"""Smoke tests of the figures of notebooks 08 and 09: they draw, label their axes, and refuse
inputs of the wrong shape with a clear message."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from ctr_helpers import plots  # noqa: E402

FIELDS = ["user", "item", "daytime", "weekday"]


def _labelled(ax) -> bool:
    return bool(ax.get_xlabel()) and bool(ax.get_ylabel() or ax.get_yticklabels())


def test_field_importance_bars_sorts_fields_by_gate():
    fig = plots.field_importance_bars(
        FIELDS, [0.5, 0.7, 0.4, 0.6], gate_spread=[0.01] * 4, title="item is gated highest"
    )
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["daytime", "user", "weekday", "item"]
    assert _labelled(ax) and fig._suptitle.get_text() == "item is gated highest"
    plt.close(fig)


def test_field_importance_bars_with_permutation_panel():
    fig = plots.field_importance_bars(
        FIELDS, [0.5001, 0.4999, 0.5, 0.5], permutation_drop=[0.1, 0.2, 0.0, -0.001], title="t"
    )
    assert len(fig.axes) == 2 and all(_labelled(ax) for ax in fig.axes)
    # both panels list the fields in the same order, sorted by the permutation drop
    order = ["weekday", "daytime", "user", "item"]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == order
    assert [t.get_text() for t in fig.axes[1].get_yticklabels()] == order
    assert fig.axes[0].get_xlim() == (0.0, 1.0)  # gates are never zoomed
    plt.close(fig)


def test_field_importance_bars_rejects_wrong_lengths():
    with pytest.raises(ValueError, match="gate_mean has shape"):
        plots.field_importance_bars(FIELDS, [0.5, 0.5], title="t")
    with pytest.raises(ValueError, match="permutation_drop has shape"):
        plots.field_importance_bars(FIELDS, [0.5] * 4, permutation_drop=[0.1], title="t")


def _results() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for model, label, auc in [("deepfm", "DeepFM", 0.984), ("dcn", "DCN", 0.9835)]:
        for seed in (1, 2, 3):
            rows.append(
                dict(
                    model=model,
                    label=label,
                    seed=seed,
                    test_auc=auc + rng.normal(0, 3e-4),
                    test_logloss=0.15 + rng.normal(0, 3e-3),
                )
            )
    return pd.DataFrame(rows)


def test_seed_spread_strip_draws_every_seed():
    bars = {"deepfm": dict(auc=0.9842, logloss=0.1482)}
    fig = plots.seed_spread_strip(_results(), ["deepfm", "dcn"], bars=bars, title="t")
    assert len(fig.axes) == 2 and all(ax.get_ylabel() for ax in fig.axes)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["DeepFM", "DCN"]
    plt.close(fig)
    with pytest.raises(ValueError, match="no results for"):
        plots.seed_spread_strip(_results(), ["deepfm", "fibinet"], title="t")


def test_cost_quality_scatter():
    fig = plots.cost_quality_scatter(
        ["LR", "FM", "DeepFM"],
        [0.1, 0.3, 5.0],
        [0.93, 0.96, 0.984],
        parameters=[5e3, 6e4, 4e5],
        title="t",
    )
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and _labelled(ax)
    plt.close(fig)
    with pytest.raises(ValueError, match="same length"):
        plots.cost_quality_scatter(["LR"], [0.1, 0.2], [0.9], title="t")


def test_decision_flowchart_layout_and_drawing():
    tree = ("fast?", "FM", ("need crosses?", "DCN", "DeepFM"))
    nodes, edges = plots.comparison._tree_layout(tree)
    # leaves left to right at 0, 1, 2; each question centred over its two branches
    assert [(t, x, d) for t, x, d, leaf in nodes if leaf] == [
        ("FM", 0.0, 1),
        ("DCN", 1.0, 2),
        ("DeepFM", 2.0, 2),
    ]
    xs = {t: x for t, x, _, _ in nodes}
    assert xs["need crosses?"] == 1.5 and xs["fast?"] == 0.75
    assert sorted((nodes[a][0], nodes[b][0], ans) for a, b, ans in edges) == [
        ("fast?", "FM", "yes"),
        ("fast?", "need crosses?", "no"),
        ("need crosses?", "DCN", "yes"),
        ("need crosses?", "DeepFM", "no"),
    ]
    fig = plots.decision_flowchart(tree, title="how to choose")
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert {"fast?", "FM", "need crosses?", "DCN", "DeepFM"} <= set(texts)
    assert texts.count("yes") == 2 and texts.count("no") == 2
    assert len(ax.patches) == 5 and ax.get_title() == "how to choose"
    plt.close(fig)
    with pytest.raises(ValueError, match="leaf string or a"):
        plots.decision_flowchart(("q", "a"), title="t")
