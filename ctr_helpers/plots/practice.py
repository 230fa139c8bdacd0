"""Figures of the practice notebooks 10-11 and of the benchmark: reliability diagrams, the
comparison with the BARS leaderboard, calibration maps, early stopping, drift and latency.

Every function draws one figure from numbers computed by the caller and returns the Figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ctr_helpers.plots._style import PALETTE

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "benchmark_bars",
    "calibration_maps",
    "drift_auc_over_time",
    "early_stopping_curve",
    "latency_by_candidates",
    "reliability_diagram",
    "reliability_grid",
]

_CURVE_COLOURS = ("ours", "good", "bad", "accent", "bars")


def reliability_diagram(
    y: np.ndarray,
    probs: np.ndarray | Mapping[str, np.ndarray],
    n_bins: int = 10,
    title: str | None = None,
) -> Figure:
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


def benchmark_bars(
    results: pd.DataFrame,
    bars: Mapping[str, Mapping[str, float]],
    title: str | None = None,
) -> Figure:
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
        if metric == "auc":  # a zoomed axis: AUCs differ in the third decimal
            ax.set_ylim(vals.min() - 0.15 * span - 1e-3, vals.max() + 0.1 * span + 1e-3)
        else:  # bars from zero, headroom from the tallest bar (not from the spread of a few)
            ax.set_ylim(0, 1.12 * vals.max())
        ax.set_xticks(x, [names[m] for m in models], rotation=45, ha="right")
        ax.set_title(f"test {metric.upper() if metric == 'auc' else metric} ({better} is better)")
        ax.grid(axis="x", visible=False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2)
    fig.suptitle(title or "Our runs under the BARS protocol beside the published BARS numbers")
    return fig


# --------------------------------------------------------------------------- notebooks 10 and 11


def reliability_grid(
    y: np.ndarray,
    panels: Mapping[str, Mapping[str, np.ndarray]],
    n_bins: int = 10,
    *,
    title: str,
) -> Figure:
    """Small multiples of reliability diagrams, one panel per model (e.g. per training method).

    ``panels[panel_title] = {curve_label: probs}``: the predicted probabilities of each curve for
    the same labels ``y``. Each point is one of ``n_bins`` equal-width bins (mean prediction,
    observed click rate); its area grows with the number of rows in the bin, so sparse bins look
    as unimportant as they are. The legend gives each curve's ECE. Axes are shared, so the
    panels compare directly.
    """
    from ctr_helpers.metrics import ece, reliability_curve

    n = len(panels)
    fig, axes = plt.subplots(
        1, n, figsize=(3.3 * n + 0.6, 3.9), sharex=True, sharey=True, squeeze=False
    )
    for ax, (panel, curves) in zip(axes[0], panels.items(), strict=True):
        ax.plot([0, 1], [0, 1], ls="--", color=PALETTE["neutral"], lw=1)
        for i, (label, p) in enumerate(curves.items()):
            c = PALETTE[_CURVE_COLOURS[i % len(_CURVE_COLOURS)]]
            mean_pred, frac_pos, count = reliability_curve(y, p, n_bins)
            size = 12 + 260 * np.sqrt(count / count.sum())
            ax.plot(mean_pred, frac_pos, "-", color=c, lw=1.5, alpha=0.9)
            ax.scatter(mean_pred, frac_pos, s=size, color=c, alpha=0.75, edgecolor="white", lw=0.5)
            ax.plot([], [], "o-", color=c, label=f"{label}\nECE {ece(y, p, n_bins):.3f}")
        ax.set(xlim=(0, 1), ylim=(0, 1), title=panel, xlabel="mean predicted probability")
        ax.set_aspect("equal")
        ax.legend(loc="upper left", fontsize=8.5, handlelength=1.2)
    axes[0, 0].set_ylabel("observed click rate")
    fig.suptitle(title)
    return fig


def calibration_maps(
    grid: np.ndarray,
    maps: Mapping[str, np.ndarray],
    binned: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    *,
    title: str,
    xlabel: str = "model's predicted probability",
) -> Figure:
    """What each calibrator does: the fitted map from the model's probability (x) to the
    calibrated probability (y), evaluated on ``grid``; ``maps[label] = values on grid``.

    ``binned = (mean_pred, frac_pos, count)`` from ``metrics.reliability_curve`` on the
    calibration split adds the points the calibrators were fitted to (area ~ rows in the bin):
    a good map runs through them. The dashed diagonal is "no change".
    """
    fig, ax = plt.subplots(figsize=(5.6, 4.6))
    ax.plot([0, 1], [0, 1], ls="--", color=PALETTE["neutral"], lw=1, label="no change")
    if binned is not None:
        mean_pred, frac_pos, count = (np.asarray(a, dtype=float) for a in binned)
        size = 12 + 260 * np.sqrt(count / count.sum())
        ax.scatter(
            mean_pred,
            frac_pos,
            s=size,
            color=PALETTE["neutral"],
            alpha=0.45,
            label="calibration split (binned)",
        )
    styles = ("-", "-", "-.", ":")
    for i, (label, values) in enumerate(maps.items()):
        c = PALETTE[_CURVE_COLOURS[(i + 1) % len(_CURVE_COLOURS)]]
        ax.plot(grid, values, styles[i % len(styles)], color=c, lw=2, label=label)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel=xlabel, ylabel="calibrated probability")
    ax.set_title(title)
    ax.legend(loc="upper left")
    return fig


def early_stopping_curve(
    frame: pd.DataFrame, best_epoch: int, stop_epoch: int | None = None, *, title: str
) -> Figure:
    """A learning curve and what early stopping does with it (two panels sharing the epochs).

    ``frame``: ``History.to_frame()`` of a run trained past its best epoch (columns
    ``train_loss``, ``val_auc``, ``val_logloss``, indexed by epoch). Left: training loss and
    validation logloss; right: validation AUC. ``best_epoch`` (the weights early stopping
    restores) is marked on both; ``stop_epoch`` (where patience ran out) shades the epochs an
    early-stopped run never trains.
    """
    epochs = np.asarray(frame.index, dtype=float)
    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(10.5, 3.9), sharex=True)
    ax_l.plot(epochs, frame["train_loss"], "o-", ms=3, color=PALETTE["ours"], label="train loss")
    ax_l.plot(
        epochs, frame["val_logloss"], "o-", ms=3, color=PALETTE["bars"], label="validation logloss"
    )
    ax_a.plot(epochs, frame["val_auc"], "o-", ms=3, color=PALETTE["good"], label="validation AUC")
    best_auc = float(frame.loc[best_epoch, "val_auc"])
    ax_a.plot([best_epoch], [best_auc], "*", ms=15, color=PALETTE["good"], mec="black", zorder=5)
    for ax in (ax_l, ax_a):
        ax.axvline(best_epoch, color=PALETTE["good"], lw=1.2, label=f"best epoch ({best_epoch})")
        if stop_epoch is not None:
            ax.axvspan(
                stop_epoch + 0.5,
                epochs.max() + 0.5,
                color=PALETTE["neutral"],
                alpha=0.15,
                label=f"never trained: stopped after epoch {stop_epoch}",
            )
        ax.set_xlabel("epoch")
        ax.set_xlim(epochs.min() - 0.5, epochs.max() + 0.5)
    ax_l.set(ylabel="logloss (nats)", title="losses: training keeps falling, validation turns")
    ax_a.set(ylabel="validation AUC", title="validation AUC peaks, then decays")
    ax_l.legend(loc="upper right", fontsize=9)
    ax_a.legend(loc="lower right", fontsize=9)
    fig.suptitle(title)
    return fig


def drift_auc_over_time(
    t_mid: Sequence[float],
    model_auc: Sequence[float],
    *,
    random_split_auc: float,
    oracle_auc: Sequence[float] | None = None,
    train_end: float | None = None,
    val_span: tuple[float, float] | None = None,
    title: str,
) -> Figure:
    """AUC of a model trained on the past, measured on consecutive windows of the future.

    ``t_mid``: the middle time of each test window; ``model_auc``: the model's AUC there;
    ``oracle_auc``: the AUC of the true click probabilities in the same windows (the ceiling);
    ``random_split_auc``: the test AUC a random split reported for the same model, drawn as a
    horizontal line (the promise); ``train_end``: where the training data stops; ``val_span``:
    the (start, end) time of the validation rows, shaded.
    """
    fig, ax = plt.subplots(figsize=(7.2, 4.2))
    if val_span is not None:
        ax.axvspan(*val_span, color=PALETTE["neutral"], alpha=0.12, label="validation rows")
    if oracle_auc is not None:
        ax.plot(t_mid, oracle_auc, "s--", color=PALETTE["neutral"], label="true probabilities")
    ax.plot(t_mid, model_auc, "o-", color=PALETTE["ours"], lw=2, label="model trained on the past")
    ax.axhline(
        random_split_auc,
        color=PALETTE["bad"],
        ls=":",
        lw=2,
        label=f"random-split test AUC ({random_split_auc:.3f})",
    )
    if train_end is not None:
        ax.axvline(train_end, color="black", lw=1)
        ax.annotate(
            "end of training data",
            (train_end, ax.get_ylim()[0]),
            xytext=(4, 6),
            textcoords="offset points",
            fontsize=9,
        )
    ax.set(xlabel="time of the test rows (0 = start of the log, 1 = end)", ylabel="test AUC")
    ax.set_title(title)
    ax.legend(loc="best", fontsize=9)
    return fig


def latency_by_candidates(table: pd.DataFrame, *, title: str) -> Figure:
    """p50 and p99 scoring latency against the number of candidates scored per request.

    ``table``: a DataFrame with one row per (setting, candidates) and columns ``setting`` (e.g.
    ``"fp32, 1 thread"``), ``candidates``, ``p50_ms``, ``p99_ms``; with columns ``precision``
    and ``threads`` too, the colour shows the precision and the line style the thread count.
    Two log-log panels (p50 and p99), one line per setting; the dotted grey line is "latency
    proportional to the candidates" through the first setting's largest point, for reading off
    how far from linear each setting is.
    """
    settings = list(dict.fromkeys(table["setting"]))
    by_parts = {"precision", "threads"} <= set(table.columns)
    if by_parts:
        first = table.drop_duplicates("setting").set_index("setting")
        precisions = list(dict.fromkeys(first["precision"]))
        thread_counts = sorted(set(first["threads"]))
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.0), sharex=True, sharey=True)
    markers = ("o", "s", "^", "D")
    for ax, col, name in zip(axes, ("p50_ms", "p99_ms"), ("median (p50)", "p99"), strict=True):
        for i, s in enumerate(settings):
            rows = table[table["setting"] == s].sort_values("candidates")
            if by_parts:
                ci = precisions.index(first.loc[s, "precision"])
                si = thread_counts.index(first.loc[s, "threads"])
            else:
                ci, si = i, i
            c = PALETTE[_CURVE_COLOURS[ci % len(_CURVE_COLOURS)]]
            ls = ("-", "--", "-.", ":")[si % 4]
            marker = markers[ci % len(markers)]
            ax.plot(rows["candidates"], rows[col], ls, marker=marker, color=c, label=s)
        ref_rows = table[table["setting"] == settings[0]].sort_values("candidates")
        n = ref_rows["candidates"].to_numpy(float)
        ref = ref_rows[col].to_numpy(float)[-1] * n / n[-1]
        ax.plot(n, ref, ":", color=PALETTE["neutral"], lw=1.2, label="proportional to candidates")
        ax.set(xscale="log", yscale="log", xlabel="candidates scored per request")
        ax.set_title(f"{name} latency")
    axes[0].set_ylabel("latency per request (ms)")
    axes[0].legend(fontsize=9, loc="upper left")
    fig.suptitle(title)
    return fig
