"""Metrics for click-through-rate predictions: ranking (AUC), probability quality (logloss,
normalised entropy) and calibration (expected calibration error, reliability-diagram data).

Every function takes ``y`` (0/1 labels, length N) and ``p`` (predicted click probabilities in
[0, 1], length N) as NumPy arrays, torch tensors or lists, and checks them first: mismatched
lengths, NaN or out-of-range predictions, labels other than 0/1 and (where the metric needs both
classes) a single-class label vector raise ``ValueError`` saying what was wrong.

References: He et al., "Practical Lessons from Predicting Clicks on Ads at Facebook", ADKDD 2014
(normalised entropy); Naeini et al., AAAI 2015 and Guo et al., ICML 2017 (expected calibration
error, reliability diagrams).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

__all__ = ["auc", "ece", "logloss", "normalized_entropy", "reliability_curve"]

# Predictions are clipped to [EPS, 1 - EPS] before taking logs, so one confident mistake costs
# about 16 nats instead of infinity (the same convention as scikit-learn's log_loss).
EPS = 1e-7

#: What the metrics accept for ``y`` and ``p``: a NumPy array, a torch tensor or a list.
ArrayLike = Any


def _as_1d(a: ArrayLike, name: str) -> np.ndarray:
    if hasattr(a, "detach"):  # torch tensor
        a = a.detach().cpu().numpy()
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D vector, got shape {arr.shape}")
    return arr


def _check(
    y: ArrayLike, p: ArrayLike, *, both_classes: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``y`` and ``p`` as float64 vectors after checking them (see the module docstring)."""
    y = _as_1d(y, "y (labels)")
    p = _as_1d(p, "p (predicted probabilities)")
    if len(y) != len(p):
        raise ValueError(f"y and p have different lengths: len(y) = {len(y)}, len(p) = {len(p)}")
    if len(y) == 0:
        raise ValueError("y and p are empty")
    bad = np.flatnonzero(np.isnan(p))
    if len(bad):
        raise ValueError(
            f"p contains {len(bad)} NaN prediction(s), first at row {bad[0]}; "
            "check the model's output (a diverged training run gives NaN logits)"
        )
    bad = np.flatnonzero((p < 0) | (p > 1))
    if len(bad):
        raise ValueError(
            f"p must be probabilities in [0, 1]; row {bad[0]} has {p[bad[0]]:.4g} "
            f"({len(bad)} row(s) out of range). Pass sigmoid(logits), not logits"
        )
    bad = np.flatnonzero((y != 0) & (y != 1))
    if len(bad):
        raise ValueError(f"y must hold 0/1 labels; row {bad[0]} has {y[bad[0]]:.4g}")
    if both_classes and (y.min() == y.max()):
        raise ValueError(
            f"y holds a single class (all {int(y[0])}, {len(y)} rows); this metric needs "
            "both clicks and non-clicks"
        )
    return y, p


def auc(y: ArrayLike, p: ArrayLike) -> float:
    """Area under the ROC curve: the probability that a random click is ranked above a random
    non-click (ties count half). 0.5 is a coin flip, 1.0 a perfect ranking.

    >>> auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    y, p = _check(y, p, both_classes=True)
    return float(roc_auc_score(y, p))


def logloss(y: ArrayLike, p: ArrayLike) -> float:
    """Mean binary cross-entropy ``-mean(y log p + (1 - y) log(1 - p))`` in nats, with ``p``
    clipped to ``[1e-7, 1 - 1e-7]``.

    >>> round(logloss([1, 0], [0.5, 0.5]), 6)  # log 2: a coin flip
    0.693147
    """
    y, p = _check(y, p)
    p = np.clip(p, EPS, 1 - EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def normalized_entropy(y: ArrayLike, p: ArrayLike) -> float:
    """Logloss divided by the entropy of the base rate, ``H(r) = -r log r - (1 - r) log(1 - r)``
    with ``r = mean(y)``: the logloss of always predicting the average CTR. Below 1 the model
    beats that constant; it makes loglosses comparable across data sets with different CTRs
    (He et al. 2014)."""
    y, p = _check(y, p, both_classes=True)
    r = y.mean()
    base = -(r * np.log(r) + (1 - r) * np.log1p(-r))
    return logloss(y, p) / float(base)


def _bins(p: np.ndarray, n_bins: int) -> np.ndarray:
    if not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    # Equal-width bins on [0, 1]; p = 1 falls in the last bin.
    return np.minimum((p * n_bins).astype(np.int64), n_bins - 1)


def reliability_curve(
    y: ArrayLike, p: ArrayLike, n_bins: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Data for a reliability diagram, with ``n_bins`` equal-width bins of predicted probability.

    Returns ``(bin_mean_pred, bin_frac_pos, bin_count)``, three arrays over the **non-empty**
    bins in increasing order: the mean prediction in the bin, the observed click rate in the bin,
    and the number of rows. A calibrated model has ``bin_frac_pos ≈ bin_mean_pred``.
    """
    y, p = _check(y, p)
    b = _bins(p, n_bins)
    count = np.bincount(b, minlength=n_bins)
    keep = count > 0
    mean_pred = np.bincount(b, weights=p, minlength=n_bins)[keep] / count[keep]
    frac_pos = np.bincount(b, weights=y, minlength=n_bins)[keep] / count[keep]
    return mean_pred, frac_pos, count[keep]


def ece(y: ArrayLike, p: ArrayLike, n_bins: int = 10) -> float:
    """Expected calibration error: ``sum_b (n_b / N) * |mean_pred_b - frac_pos_b|`` over
    ``n_bins`` equal-width bins, the count-weighted gap of the reliability diagram from the
    diagonal. 0 is perfectly calibrated (at this bin resolution).

    >>> round(ece([0, 1, 0, 1], [0.25, 0.25, 0.75, 0.75]), 6)  # each bin's rate is 0.5
    0.25
    """
    mean_pred, frac_pos, count = reliability_curve(y, p, n_bins)
    return float(np.sum(count * np.abs(mean_pred - frac_pos)) / count.sum())
