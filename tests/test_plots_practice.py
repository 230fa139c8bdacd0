"""Smoke tests of the figures of notebooks 10-11 (the functions appended to plots/practice.py):
each draws, labels its axes and keeps the title it is given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from ctr_helpers import plots  # noqa: E402

NAMES = (
    "calibration_maps",
    "drift_auc_over_time",
    "early_stopping_curve",
    "latency_by_candidates",
    "reliability_grid",
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _labelled(ax):
    return bool(ax.get_xlabel()) and bool(ax.get_ylabel())


def test_practice_functions_are_exported():
    from ctr_helpers.plots import practice

    for name in NAMES:
        assert name in practice.__all__
        assert callable(getattr(plots, name))
    assert "reliability_diagram" in practice.__all__  # the training module's, still there


def _probs(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.beta(1, 8, n)
    y = (rng.random(n) < p).astype(float)
    return y, p


def test_reliability_grid():
    y, p = _probs()
    panels = {"A": {"raw": p}, "B": {"raw": np.sqrt(p), "fixed": p}}
    fig = plots.reliability_grid(y, panels, n_bins=10, title="T")
    assert fig._suptitle.get_text() == "T"
    axes = fig.axes
    assert len(axes) == 2 and [ax.get_title() for ax in axes] == ["A", "B"]
    assert axes[0].get_ylabel() and all(ax.get_xlabel() for ax in axes)
    legend = [t.get_text() for t in axes[1].get_legend().get_texts()]
    assert len(legend) == 2 and all("ECE" in t for t in legend)


def test_calibration_maps():
    grid = np.linspace(0.01, 0.99, 50)
    binned = (np.array([0.1, 0.5]), np.array([0.05, 0.3]), np.array([900, 100]))
    fig = plots.calibration_maps(grid, {"Platt": grid / 2, "iso": grid / 3}, binned, title="T")
    (ax,) = fig.axes
    assert ax.get_title() == "T" and _labelled(ax)
    assert len(ax.get_lines()) == 3  # diagonal + two maps


def test_early_stopping_curve():
    frame = pd.DataFrame(
        dict(
            train_loss=np.linspace(0.5, 0.1, 8),
            val_logloss=[0.4, 0.3, 0.25, 0.24, 0.26, 0.3, 0.33, 0.36],
            val_auc=[0.6, 0.7, 0.75, 0.77, 0.76, 0.75, 0.74, 0.73],
        ),
        index=pd.RangeIndex(1, 9, name="epoch"),
    )
    fig = plots.early_stopping_curve(frame, best_epoch=4, stop_epoch=6, title="T")
    assert fig._suptitle.get_text() == "T"
    assert all(_labelled(ax) for ax in fig.axes)
    labels = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert "best epoch (4)" in labels and any("after epoch 6" in t for t in labels)


def test_drift_auc_over_time():
    fig = plots.drift_auc_over_time(
        [0.86, 0.9, 0.95],
        [0.74, 0.72, 0.69],
        oracle_auc=[0.85, 0.84, 0.83],
        random_split_auc=0.78,
        train_end=0.7,
        val_span=(0.7, 0.85),
        title="T",
    )
    (ax,) = fig.axes
    assert ax.get_title() == "T" and _labelled(ax)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("0.780" in t for t in labels) and "validation rows" in labels


def test_latency_by_candidates():
    rows = [
        dict(setting=s, candidates=n, p50_ms=f * n / 100, p99_ms=2 * f * n / 100)
        for s, f in [("fp32, 1 thread", 1.0), ("int8, 1 thread", 0.5)]
        for n in (100, 1000, 10000)
    ]
    fig = plots.latency_by_candidates(pd.DataFrame(rows), title="T")
    assert fig._suptitle.get_text() == "T"
    left, right = fig.axes
    assert _labelled(left) and right.get_xlabel()
    assert left.get_xscale() == "log" and left.get_yscale() == "log"
    assert len(left.get_lines()) == 3  # two settings + the proportional guide


def test_latency_by_candidates_colours_by_precision():
    rows = [
        dict(
            setting=f"{prec}, {t} thread",
            precision=prec,
            threads=t,
            candidates=n,
            p50_ms=n / 100,
            p99_ms=n / 50,
        )
        for prec in ("fp32", "int8")
        for t in (1, 2)
        for n in (100, 1000)
    ]
    fig = plots.latency_by_candidates(pd.DataFrame(rows), title="T")
    lines = fig.axes[0].get_lines()[:4]  # fp32/1, fp32/2, int8/1, int8/2
    assert lines[0].get_color() == lines[1].get_color() != lines[2].get_color()
    assert lines[0].get_linestyle() == lines[2].get_linestyle() != lines[1].get_linestyle()
