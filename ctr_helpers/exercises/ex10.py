"""Exercises of notebook 10 (training in practice): undo negative downsampling, and compute the
two calibration-aware numbers a CTR team reports, ECE and normalised entropy, by hand.

from ctr_helpers.exercises.ex10 import q1, q2, q3
q1.check(correct_downsampled)  # correct_downsampled(p, w) -> q, NumPy arrays
q2.check(my_ece)               # my_ece(y, p, n_bins=10) -> float
q3.check(my_ne)                # my_ne(y, p) -> float
"""

from __future__ import annotations

import numpy as np

from ctr_helpers import metrics
from ctr_helpers.exercises._core import Incorrect, NotYet, Question, call, compare_outputs, matches

__all__ = [
    "QUESTIONS",
    "q1",
    "q2",
    "q3",
]


def _as_float(got, what: str) -> float:
    """A learner's scalar answer (number, 0-d or 1-element array/tensor) as a float."""
    if got is None:
        raise NotYet(f"your function returned None: did you forget to `return` {what}?")
    try:
        arr = np.asarray(got.detach().cpu() if hasattr(got, "detach") else got)
    except Exception:
        arr = np.asarray(None)
    if isinstance(got, bool | list | tuple) or arr.dtype.kind not in "iuf" or arr.size != 1:
        shape = f" of shape {tuple(arr.shape)}" if arr.dtype.kind in "iuf" else ""
        raise Incorrect(
            f"return {what} as one number, got {type(got).__name__}{shape}: "
            "did you forget to sum (or average) over the bins or rows?"
        )
    return float(arr.reshape(()))


# --------------------------------------------------------------------------- q1: downsampling
def _correct_downsampled(p, w):
    """Probability on the original data from a model trained with only a fraction ``w`` of the
    negatives kept: the odds were inflated by 1/w, so divide them by 1/w again."""
    return p / (p + (1 - p) / w)


def _downsampling_mistakes(p, w):
    odds = p / (1 - p)
    return [
        (
            p,
            "you returned p unchanged: the model saw only a fraction w of the negatives, so its "
            "probabilities are too high and must come down",
        ),
        (
            p * w,
            "p * w scales the probability; downsampling scales the odds p / (1 - p) by 1/w. "
            "p * w is too small wherever p is large (a sure click, p = 1, must stay 1)",
        ),
        (
            p / (p + 1 / w),
            "the (1 - p) is missing: the denominator is p + (1 - p) / w, the positives' share "
            "plus the negatives' share scaled back up by 1/w",
        ),
        (
            p / (p + (1 - p) * w),
            "w is upside down: that pushes p further up (the correction for upsampling). The "
            "negatives were thinned by w, so each kept negative stands for 1/w of them: divide "
            "(1 - p) by w",
        ),
        (
            odds * w,
            "you returned the corrected odds w * p / (1 - p); convert back to a probability "
            "with odds / (1 + odds)",
        ),
        (
            np.log(odds) + np.log(w),
            "you returned the corrected logit log(p / (1 - p)) + log(w); apply a sigmoid to get "
            "the probability",
        ),
        (
            p / w,
            "p / w moves the probability the wrong way (and beyond 1); the correction divides "
            "the odds by 1/w",
        ),
    ]


def _check_downsampling(fn):
    rng = np.random.default_rng(0)
    p = np.concatenate([[0.0, 0.5, 1.0], rng.uniform(0.01, 0.99, 20)])
    inner = slice(3, None)  # without the edge values 0 and 1, where several mistakes agree
    for w in (0.1, 0.25):
        with np.errstate(all="ignore"):  # a logit-space answer may take log(0) at p = 0
            got = call(fn, p.copy(), w)
        if got is None:
            raise NotYet("your function returned None: did you forget to `return` q?")
        arr = np.asarray(got.detach() if hasattr(got, "detach") else got, dtype=float)
        if arr.shape != p.shape:
            raise Incorrect(
                f"q has shape {arr.shape}, expected {p.shape}: one corrected probability per "
                "prediction (work elementwise, no reductions)"
            )
        with np.errstate(all="ignore"):
            for wrong, message in _downsampling_mistakes(p, w):
                if matches(arr[inner], wrong[inner], rtol=1e-6, atol=1e-9):
                    raise Incorrect(message)
        compare_outputs(
            arr,
            _correct_downsampled(p, w),
            what=f"q for w = {w}",
            rtol=1e-6,
            atol=1e-9,
            check_type=False,
        )
    with np.errstate(all="ignore"):
        same = np.asarray(call(fn, p.copy(), 1.0), dtype=float)
    if not matches(same, p):
        raise Incorrect("with w = 1 (nothing was dropped) q must equal p")
    return (
        "q = p / (p + (1 - p) / w): the odds shrink by the factor w, ranks are unchanged, "
        "and p = 0 or 1 stay put"
    )


q1 = Question(
    "q1",
    _check_downsampling,
    hint=[
        "Keeping each negative with probability w multiplies the negatives' count by w, so the "
        "odds of a click the model sees are (1/w) times the true odds.",
        "True odds = model odds * w. Write the model odds as p / (1 - p), multiply by w and turn "
        "odds o back into a probability with o / (1 + o); simplify to p / (p + (1 - p) / w).",
    ],
    solution=_correct_downsampled,
)


# --------------------------------------------------------------------------- q2: ECE
def _expected_calibration_error(y, p, n_bins=10):
    """ECE with ``n_bins`` equal-width bins: the row-weighted mean of |mean prediction - click
    rate| over the non-empty bins (p = 1 goes in the last bin)."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in np.unique(bins):
        in_bin = bins == b
        total += in_bin.sum() * abs(p[in_bin].mean() - y[in_bin].mean())
    return total / len(y)


def _ece_variants(y, p, n_bins):
    """Classic wrong ECEs, each with the message that explains it."""
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    used = np.unique(bins)
    gap = np.array([p[bins == b].mean() - y[bins == b].mean() for b in used])
    count = np.array([(bins == b).sum() for b in used])
    edges = np.quantile(p, np.linspace(0, 1, n_bins + 1))
    qbins = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_bins - 1)
    qgap = [abs(p[qbins == b].mean() - y[qbins == b].mean()) for b in np.unique(qbins)]
    qcount = [(qbins == b).sum() for b in np.unique(qbins)]
    return [
        (
            abs(gap).mean(),
            "every bin counted equally: weight each bin's gap by its share of the rows "
            "(n_b / N), so a bin with 3 rows cannot outweigh one with 3,000",
        ),
        (
            (count * gap).sum() / count.sum(),
            "the gaps carry signs, so over- and under-confident bins cancel: take the absolute "
            "gap |mean prediction - click rate| in each bin",
        ),
        (
            abs(p.mean() - y.mean()),
            "that is the global gap |mean(p) - mean(y)| (calibration in the large): ECE compares "
            "prediction and click rate bin by bin",
        ),
        (
            (count * gap**2).sum() / count.sum(),
            "you squared the gaps: ECE uses the absolute gap in each bin",
        ),
        (
            np.sqrt((count * gap**2).sum() / count.sum()),
            "that is a root-mean-square calibration error: ECE uses the absolute gap in each bin",
        ),
        (
            np.dot(qcount, qgap) / len(p),
            "your bins hold equal numbers of rows (quantile bins, 'adaptive ECE'); the ECE here "
            "uses equal-width bins [0, 0.1), [0.1, 0.2), ... on the probability axis",
        ),
    ]


def _ece_data():
    rng = np.random.default_rng(1)
    p = rng.beta(1.2, 4.0, 400)
    y = (rng.random(400) < np.clip(1.4 * p - 0.05, 0, 1)).astype(float)  # miscalibrated
    return y, p


def _check_ece(fn):
    y, p = _ece_data()
    for n_bins in (10, 5):
        got = _as_float(call(fn, y.copy(), p.copy(), n_bins=n_bins), "the ECE")
        if np.isnan(got):
            raise Incorrect("your ECE is NaN: a bin with no rows gives 0/0; skip the empty bins")
        for wrong, message in _ece_variants(y, p, n_bins):
            if matches(got, wrong, rtol=1e-6, atol=1e-10):
                raise Incorrect(message)
        expected = metrics.ece(y, p, n_bins=n_bins)
        if n_bins == 5 and matches(got, metrics.ece(y, p, n_bins=10), rtol=1e-6, atol=1e-10):
            raise Incorrect("your function ignores n_bins: it used 10 bins when asked for 5")
        compare_outputs(got, expected, what=f"your ECE with {n_bins} bins", check_type=False)
    # a prediction of exactly 1.0 must fall in the last bin, not in an 11th one
    y1, p1 = np.array([1.0, 0.0, 1.0, 0.0]), np.array([1.0, 0.05, 0.95, 0.5])
    try:
        got = _as_float(call(fn, y1, p1, n_bins=10), "the ECE")
    except Incorrect as exc:
        raise Incorrect(
            f"{exc} -- with a prediction of exactly 1.0: int(1.0 * n_bins) = n_bins is one past "
            "the last bin; put p = 1 in the last bin (np.minimum(..., n_bins - 1))"
        ) from None
    compare_outputs(
        got, metrics.ece(y1, p1), what="your ECE when a prediction is exactly 1.0", check_type=False
    )
    return "the row-weighted mean gap between the reliability diagram and its diagonal"


q2 = Question(
    "q2",
    _check_ece,
    hint=[
        "Bin index of a prediction: int(p * n_bins), with p = 1.0 moved into the last bin.",
        "For each non-empty bin b: gap_b = |mean of p in b - mean of y in b|. ECE = "
        "sum over bins of (rows in b / N) * gap_b.",
    ],
    solution=_expected_calibration_error,
)


# --------------------------------------------------------------------------- q3: normalised entropy
def _normalized_entropy(y, p):
    """Logloss divided by the logloss of always predicting the observed click rate."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    logloss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    r = y.mean()
    return logloss / -(r * np.log(r) + (1 - r) * np.log(1 - r))


def _ne_variants(y, p):
    ll = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    r, m = y.mean(), p.mean()
    h_r = -(r * np.log(r) + (1 - r) * np.log(1 - r))
    h_m = -(m * np.log(m) + (1 - m) * np.log(1 - m))
    return [
        (
            ll,
            "that is the plain logloss: divide it by the entropy of the click rate, "
            "-(r log r + (1 - r) log(1 - r)) with r = mean(y)",
        ),
        (
            1 - ll / h_r,
            "that is 1 - NE (the relative information gain); NE itself is logloss / H(r), "
            "below 1 when the model beats the constant prediction",
        ),
        (
            ll / h_m,
            "the baseline must use the observed click rate r = mean(y), not the mean "
            "prediction: NE compares the model with always predicting the true average CTR",
        ),
        (
            ll / (-r * np.log(r)),
            "the entropy of the click rate has two terms: -(r log r + (1 - r) log(1 - r)); "
            "the (1 - r) log(1 - r) term is missing",
        ),
        (
            ll / h_r * np.log(2),
            "the two logs use different bases (ln on one side, log2 on the other): any base "
            "works, as long as numerator and denominator use the same one",
        ),
        (
            ll / h_r / np.log(2),
            "the two logs use different bases (log2 on one side, ln on the other): any base "
            "works, as long as numerator and denominator use the same one",
        ),
    ]


def _check_ne(fn):
    rng = np.random.default_rng(2)
    p = np.clip(rng.beta(1.5, 5.0, 300), 0.01, 0.99)
    y = (rng.random(300) < np.clip(0.8 * p + 0.06, 0, 1)).astype(float)  # mean(p) != mean(y)
    got = _as_float(call(fn, y.copy(), p.copy()), "NE")
    for wrong, message in _ne_variants(y, p):
        if matches(got, wrong, rtol=1e-6, atol=1e-10):
            raise Incorrect(message)
    compare_outputs(got, metrics.normalized_entropy(y, p), what="your NE", check_type=False)
    const = np.full_like(p, y.mean())
    got_const = _as_float(call(fn, y.copy(), const), "NE")
    if not matches(got_const, 1.0, rtol=1e-6):
        raise Incorrect(
            f"predicting the click rate itself for every row must give NE = 1, got {got_const:.4g}"
        )
    return "NE < 1 means the model beats always predicting the average click rate"


q3 = Question(
    "q3",
    _check_ne,
    hint=[
        "Numerator: the logloss -mean(y log p + (1 - y) log(1 - p)).",
        "Denominator: the same logloss for the constant prediction r = mean(y), which simplifies "
        "to -(r log r + (1 - r) log(1 - r)).",
    ],
    solution=_normalized_entropy,
)

QUESTIONS = [q1, q2, q3]
