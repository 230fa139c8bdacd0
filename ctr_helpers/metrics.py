"""Metrics for click-through-rate predictions: ranking (AUC), probability quality (logloss,
normalised entropy) and calibration (expected calibration error, reliability-diagram data).

Every function takes ``y`` (0/1 labels, length N) and ``p`` (predicted click probabilities in
[0, 1], length N) as NumPy arrays, torch tensors or lists, and checks them first: mismatched
lengths, NaN or out-of-range predictions, labels other than 0/1 and (where the metric needs both
classes) a single-class label vector raise ``ValueError`` saying what was wrong.

``ctr_helpers.train`` scores from logits instead (:func:`auc_from_logits`,
:func:`logloss_from_logits`): float32 sigmoids of logits above ~17 are all exactly 1.0, ties that
the logits do not have.

References: He et al., "Practical Lessons from Predicting Clicks on Ads at Facebook", ADKDD 2014
(normalised entropy); Naeini et al., AAAI 2015 and Guo et al., ICML 2017 (expected calibration
error, reliability diagrams).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

__all__ = [
    "auc",
    "auc_from_logits",
    "ece",
    "logloss",
    "logloss_from_logits",
    "normalized_entropy",
    "reliability_curve",
]

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
    y: ArrayLike, p: ArrayLike, *, both_classes: bool = False, logits: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``y`` and ``p`` as float64 vectors after checking them (see the module docstring).
    ``logits=True``: ``p`` holds logits, any real number (NaN still refused)."""
    y = _as_1d(y, "y (labels)")
    p = _as_1d(p, "z (logits)" if logits else "p (predicted probabilities)")
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
    bad = np.flatnonzero((p < 0) | (p > 1)) if not logits else []
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


def auc_from_logits(y: ArrayLike, z: ArrayLike) -> float:
    """:func:`auc` of ``sigmoid(z)``, ranked by the logits ``z`` themselves.

    The sigmoid is increasing, so the AUC is the same number, but logits keep the order that
    float32 probabilities lose: every logit above ~17 has a float32 sigmoid of exactly 1.0.

    >>> z = [20.0, 21.0, 22.0, 23.0]  # float32 sigmoids: 1.0, 1.0, 1.0, 1.0
    >>> auc_from_logits([0, 0, 1, 1], z)
    1.0
    """
    y, z = _check(y, z, both_classes=True, logits=True)
    return float(roc_auc_score(y, z))


def logloss_from_logits(y: ArrayLike, z: ArrayLike) -> float:
    """:func:`logloss` of ``sigmoid(z)`` computed from the logits in float64:
    ``mean(log(1 + exp(-z)))`` for clicks and ``mean(log(1 + exp(z)))`` for non-clicks
    (``np.logaddexp``, no overflow), with ``z`` clipped to ``±logit(1 - 1e-7)``, the same clip as
    :func:`logloss`'s on probabilities.

    >>> round(logloss_from_logits([1, 0], [0.0, 0.0]), 6)  # log 2
    0.693147
    """
    y, z = _check(y, z, logits=True)
    bound = float(np.log1p(-EPS) - np.log(EPS))  # logit(1 - EPS), about 16.1
    z = np.clip(z, -bound, bound)
    return float(np.mean(np.logaddexp(0.0, np.where(y == 1, -z, z))))


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
