"""Exercises of notebook 00 (the CTR problem): AUC from ranks, and normalised entropy.

from ctr_helpers.exercises.ex00 import q1, q2
q1.check(my_auc)  # my_auc(y, s) -> float in O(n log n), NumPy only
q2.check(my_ne)   # my_ne(y, p) -> logloss / entropy of the click rate, NumPy only
"""

from __future__ import annotations

import numpy as np

from ctr_helpers.exercises._core import Incorrect, NotYet, Question, call

__all__ = ["QUESTIONS", "q1", "q2"]


# --------------------------------------------------------------------------- q1: AUC from ranks
def _auc_by_ranks(y, s):
    """AUC = (sum of the ranks of the clicks - P (P + 1) / 2) / (P N), ties get their mean rank."""
    y = np.asarray(y, dtype=float)
    s = np.asarray(s, dtype=float)
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    ranks[order] = np.arange(1, len(s) + 1)
    # tied scores share the mean of the ranks they occupy
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    ranks = (np.bincount(inverse, weights=ranks) / counts)[inverse]
    n_pos = y.sum()
    n_neg = len(y) - n_pos
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _pairwise(y, s, tie_weight):
    pos, neg = s[y == 1], s[y == 0]
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0) + tie_weight * (diff == 0)).mean())


def _as_number(got, what="your AUC"):
    if got is None:
        raise NotYet(f"{what} is None: did you forget to `return` it?")
    arr = np.asarray(got.detach().cpu() if hasattr(got, "detach") else got, dtype=object)
    if arr.size != 1:
        raise Incorrect(
            f"{what} has shape {arr.shape}: return one number for the whole data set, "
            "not one per row"
        )
    try:
        return float(arr.reshape(-1)[0])
    except (TypeError, ValueError):
        raise Incorrect(f"{what} is a {type(got).__name__}, expected a number") from None


def _check_auc(fn):
    rng = np.random.default_rng(0)
    # 1) distinct scores: the plain rank formula
    y = (rng.random(300) < 0.25).astype(float)
    s = rng.normal(size=300) + 1.2 * y
    expected = _pairwise(y, s, 0.5)
    got = _as_number(call(fn, y.copy(), s.copy()))
    if not np.isfinite(got):
        raise Incorrect(
            f"your AUC is {got}: count the negatives and positives with y == 0 / y == 1"
        )
    if abs(got - (1 - expected)) < 1e-9:
        raise Incorrect(
            f"you returned 1 - AUC ({got:.4f} instead of {expected:.4f}): a higher score must mean "
            "'more likely a click', so rank the scores in increasing order (rank 1 = lowest)"
        )
    if abs(got - expected) > 1e-9:
        if 0.0 <= got <= 1.0:
            raise Incorrect(
                f"got {got:.4f}, expected {expected:.4f} on data with distinct scores: AUC is the "
                "fraction of (click, non-click) pairs ordered correctly, "
                "(sum of the clicks' ranks - P(P+1)/2) / (P*N)"
            )
        raise Incorrect(
            f"got {got:.4f}, but an AUC lies in [0, 1] (expected {expected:.4f}): "
            "did you divide by the number of (click, non-click) pairs P*N?"
        )
    # 2) many tied scores (rounded), as real models produce
    s_tied = np.round(s)
    expected = _pairwise(y, s_tied, 0.5)
    got = _as_number(call(fn, y.copy(), s_tied.copy()))
    if abs(got - expected) > 1e-9:
        if abs(got - _pairwise(y, s_tied, 0.0)) < 1e-9:
            raise Incorrect(
                "correct without ties, but a tied (click, non-click) pair must count 1/2, not 0"
            )
        raise Incorrect(
            f"correct without ties, but with tied scores got {got:.4f}, expected {expected:.4f}: "
            "tied scores must share the mean of the ranks they occupy "
            "(your ranks depend on the order in which tied rows happen to be sorted)"
        )
    return "your AUC matches the pair-counting definition, ties included"


q1 = Question(
    "q1",
    _check_auc,
    hint=[
        "Sort the scores in increasing order and give them ranks 1..n; a click with rank r is "
        "above r - 1 rows. Subtract the pairs of clicks with clicks: P(P+1)/2.",
        "For ties, np.unique(s, return_inverse=True, return_counts=True) plus np.bincount gives "
        "the mean rank of each distinct score.",
    ],
    solution=_auc_by_ranks,
)


# --------------------------------------------------------------------------- q2: normalised entropy
def _normalized_entropy(y, p, eps=1e-7):
    """Logloss of p divided by the logloss of always predicting the observed click rate."""
    y = np.asarray(y, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), eps, 1 - eps)
    logloss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    r = y.mean()  # the best constant prediction is the click rate itself
    base = -(r * np.log(r) + (1 - r) * np.log(1 - r))
    return float(logloss / base)


def _entropy(r):
    return -(r * np.log(r) + (1 - r) * np.log(1 - r))


def _check_ne(fn):
    rng = np.random.default_rng(1)
    y = (rng.random(400) < 0.1).astype(float)
    # an informative but over-confident model: its mean prediction is far from the click rate
    p = np.clip(rng.beta(2, 6, size=400) + 0.4 * y, 0.01, 0.99)
    expected = _normalized_entropy(y, p)
    got = _as_number(call(fn, y.copy(), p.copy()), "your normalised entropy")
    if not np.isclose(got, expected, rtol=1e-6):
        ll = expected * _entropy(y.mean())
        candidates = {
            ll / _entropy(p.mean()): "you divided by the entropy of the mean PREDICTION: the "
            "baseline is the constant that predicts the observed click rate, r = mean(y)",
            1 / expected: "the ratio is upside down: the model's logloss goes on top, the "
            "constant predictor's logloss below",
            -expected: "the sign is flipped: both logloss and the base-rate entropy are >= 0",
            ll / (_entropy(y.mean()) / np.log(2)): "the logloss and the base-rate entropy must "
            "use the same logarithm (nats: np.log) for the ratio to mean anything",
            ll / np.log(2) / _entropy(y.mean()): "the logloss and the base-rate entropy must "
            "use the same logarithm (nats: np.log) for the ratio to mean anything",
            ll - _entropy(y.mean()): "you subtracted: normalised entropy is a RATIO, logloss / "
            "H(r), so that 1.0 means 'no better than the click rate'",
            ll: "that is the plain logloss: divide it by the entropy of the click rate, "
            "H(r) = -r log r - (1 - r) log(1 - r) with r = mean(y)",
        }
        for value, message in candidates.items():
            if np.isclose(got, value, rtol=1e-6):
                raise Incorrect(message)
        raise Incorrect(f"got {got:.5f}, expected {expected:.5f}: logloss(y, p) / H(mean(y))")
    # confident and right: p exactly 0 or 1 on the rows where that is the truth
    p_edge = p.copy()
    p_edge[:10] = y[:10]
    expected = _normalized_entropy(y, p_edge)
    with np.errstate(all="ignore"):
        got = _as_number(call(fn, y.copy(), p_edge.copy()), "your normalised entropy")
    if not np.isfinite(got):
        raise Incorrect(
            f"with some p exactly 0 or 1 your result is {got}: 0 * log(0) gives nan in NumPy. "
            "Clip p to [eps, 1 - eps] first (e.g. eps = 1e-7)"
        )
    if not np.isclose(got, expected, atol=1e-4):
        raise Incorrect(
            f"with some p exactly 0 or 1 got {got:.5f}, expected {expected:.5f}: clip p with a "
            "small eps (1e-7 or less) so that a right, confident prediction costs about 0"
        )
    return (
        f"NE = {expected:.3f} here; predicting the click rate everywhere gives exactly 1, "
        "so below 1 means the model knows more than the base rate"
    )


q2 = Question(
    "q2",
    _check_ne,
    hint=[
        "Compute the logloss of p as in the notebook, then the logloss of the constant "
        "prediction r = mean(y) for every row, and divide.",
        "The constant's logloss simplifies to the entropy H(r) = -r log r - (1 - r) log(1 - r).",
    ],
    solution=_normalized_entropy,
)

QUESTIONS = [q1, q2]
