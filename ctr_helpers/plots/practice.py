"""Figures of the practice notebooks (see the package docstring): calibration (reliability
diagram) and the benchmark comparison with the BARS leaderboard."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np

from ctr_helpers.plots._style import PALETTE

__all__: list[str] = ["benchmark_bars", "reliability_diagram"]


def reliability_diagram(y, probs, n_bins: int = 10, title: str | None = None):
    """Reliability diagram: observed click rate against mean prediction per equal-width bin.

    ``probs`` is one vector of predicted probabilities or a dict ``{label: vector}`` to compare
    several (e.g. before/after calibration); each curve's legend shows its ECE. The lower panel
    shows how many rows fall in each bin (log scale): bins with few rows are noisy.
    """
    from ctr_helpers.metrics import ece, reliability_curve

    if not isinstance(probs, Mapping):
        probs = {"model": probs}
    fig, (ax, ax_n) = plt.subplots(
        2,
        1,
        figsize=(5.5, 6.0),
        sharex=True,
        gridspec_kw=dict(height_ratios=[3, 1]),
        layout="constrained",
    )
    ax.plot([0, 1], [0, 1], ls="--", color=PALETTE["neutral"], lw=1, label="perfect calibration")
    colours = [PALETTE[k] for k in ("ours", "bad", "good", "accent", "bars")]
    width = 1 / n_bins / (len(probs) + 1)
    for i, (label, p) in enumerate(probs.items()):
        c = colours[i % len(colours)]
        mean_pred, frac_pos, count = reliability_curve(y, p, n_bins)
        ax.plot(mean_pred, frac_pos, "o-", color=c, label=f"{label} (ECE {ece(y, p, n_bins):.3f})")
        left = np.minimum((mean_pred * n_bins).astype(int), n_bins - 1) / n_bins
        ax_n.bar(left + (i + 0.5) * width, count, width=width, color=c, align="edge")
    ax.set(xlim=(0, 1), ylim=(0, 1), ylabel="observed click rate in bin")
    ax.set_title(title or "Reliability diagram: points on the diagonal are calibrated")
    ax.legend(loc="upper left")
    ax_n.set(yscale="log", xlabel="predicted click probability (bin)", ylabel="rows")
    return fig


def benchmark_bars(results, bars: Mapping[str, Mapping[str, float]], title: str | None = None):
    """Our test AUC and logloss per model beside the published BARS numbers (two panels).

    ``results``: a DataFrame with one row per run and columns ``model``, ``test_auc``,
    ``test_logloss`` (optionally ``label`` for the axis name), e.g. ``bench.load_results(...)``.
    Bars show our mean over seeds, black ticks the individual seeds, and the error bar their
    min-max range; ``bars[model] = dict(auc=..., logloss=...)`` gives the BARS bar beside it.
    Models are ordered as in ``bars``, then any others.
    """
    models = [m for m in bars if m in set(results["model"])]
    models += [m for m in dict.fromkeys(results["model"]) if m not in models]
    if "label" in results:
        names = dict(zip(results["model"], results["label"], strict=True))
    else:
        names = {m: m for m in models}
    x = np.arange(len(models))
    w = 0.38
    fig, axes = plt.subplots(
        1, 2, figsize=(max(8.0, 1.0 * len(models) + 4), 4.6), layout="constrained"
    )
    for ax, metric, better in zip(axes, ("auc", "logloss"), ("higher", "lower"), strict=True):
        col = f"test_{metric}"
        groups = [results.loc[results["model"] == m, col].to_numpy(float) for m in models]
        mean = np.array([g.mean() for g in groups])
        lo = mean - np.array([g.min() for g in groups])
        hi = np.array([g.max() for g in groups]) - mean
        ref = np.array([bars.get(m, {}).get(metric, np.nan) for m in models])
        ax.bar(x - w / 2, mean, w, color=PALETTE["ours"], label="ours (mean of seeds)")
        ax.errorbar(x - w / 2, mean, yerr=[lo, hi], fmt="none", ecolor="black", capsize=3)
        for xi, g in zip(x, groups, strict=True):
            ax.plot(np.full(len(g), xi - w / 2), g, "_", color="black", ms=10)
        ax.bar(x + w / 2, ref, w, color=PALETTE["bars"], label="BARS (seed 2021)")
        vals = np.concatenate([*groups, ref[np.isfinite(ref)]])
        span = vals.max() - vals.min()
        low = vals.min() - 0.15 * span - 1e-3 if metric == "auc" else 0
        ax.set_ylim(low, vals.max() + 0.1 * span + 1e-3)
        ax.set_xticks(x, [names[m] for m in models], rotation=45, ha="right")
        ax.set_title(f"test {metric.upper() if metric == 'auc' else metric} ({better} is better)")
        ax.grid(axis="x", visible=False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2)
    fig.suptitle(title or "Our runs under the BARS protocol beside the published BARS numbers")
    return fig
