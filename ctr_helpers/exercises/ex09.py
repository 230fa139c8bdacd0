"""Exercises of notebook 09 (model comparison): relative AUC improvement and seed noise.

from ctr_helpers.exercises.ex09 import q1, q2
q1.check(rela_impr)     # rela_impr(auc_model, auc_base) -> float (a fraction, 0.05 = 5 %)
q2.check(beyond_noise)  # beyond_noise(aucs_a, aucs_b, z=2.0) -> bool
"""

from __future__ import annotations

import math

import numpy as np

from ctr_helpers.exercises._core import Incorrect, NotYet, Question, call

__all__ = ["QUESTIONS", "q1", "q2"]


# --------------------------------------------------------------------------- q1: RelaImpr
def _rela_impr(auc_model, auc_base):
    """Relative AUC improvement over a base model, measured from random guessing (AUC 0.5):
    ``(auc_model - 0.5) / (auc_base - 0.5) - 1``, as a fraction (0.05 means 5 %)."""
    return (auc_model - 0.5) / (auc_base - 0.5) - 1


_RELA_CASES = [(0.9842, 0.9356), (0.9671, 0.9356), (0.75, 0.70), (0.80, 0.82), (0.6, 0.55)]


def _rela_mistakes(a: float, b: float):
    right = _rela_impr(a, b)
    return [
        (
            a / b - 1,
            "you compared raw AUCs: AUC 0.5 is random guessing, so RelaImpr measures the gain "
            "in the part above 0.5, (AUC_model - 0.5) / (AUC_base - 0.5) - 1",
        ),
        (
            100 * right,
            "that is a percentage: return the fraction (0.05 for 5 %) and format it with "
            "f'{x:.1%}' when printing",
        ),
        (
            right + 1,
            "that is the ratio (AUC_model - 0.5) / (AUC_base - 0.5): subtract 1 to get the "
            "improvement (0 when both models are equal)",
        ),
        (
            _rela_impr(b, a),
            "the arguments are swapped: the base model's AUC goes in the denominator",
        ),
        (
            a - b,
            "that is the absolute AUC difference; RelaImpr divides by the base's lift over 0.5",
        ),
        (
            (a - 0.5) / (b - 0.5),
            "that is the ratio: subtract 1 to get the improvement",
        ),
    ]


def _as_number(got, what: str) -> float:
    if got is None:
        raise NotYet(f"your function returned None: return {what} as a number")
    if hasattr(got, "item") and getattr(got, "ndim", 0) == 0:
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, int | float):
        raise Incorrect(f"return one number ({what}), got {type(got).__name__}")
    return float(got)


def _check_rela(fn):
    for a, b in _RELA_CASES:
        got = _as_number(call(fn, a, b), "the relative improvement")
        expected = _rela_impr(a, b)
        if math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-9):
            continue
        for wrong, message in _rela_mistakes(a, b):
            if math.isclose(got, wrong, rel_tol=1e-6, abs_tol=1e-9):
                raise Incorrect(f"for AUCs {a} vs base {b} you returned {got:.4g}: {message}")
        raise Incorrect(
            f"for AUCs {a} vs base {b} you returned {got:.4g}, expected {expected:.4g}: "
            "(AUC_model - 0.5) / (AUC_base - 0.5) - 1"
        )
    deep = _rela_impr(0.9842, 0.9356)
    fm = _rela_impr(0.9671, 0.9356)
    return (
        f"on BARS's numbers DeepFM is {deep:+.1%} over LR and FM {fm:+.1%}; DeepFM over FM is "
        f"{_rela_impr(0.9842, 0.9671):+.1%}"
    )


q1 = Question(
    "q1",
    _check_rela,
    hint=[
        "An AUC of 0.5 is a coin toss: measure each model by its lift above 0.5.",
        "RelaImpr = (AUC_model - 0.5) / (AUC_base - 0.5) - 1, returned as a fraction.",
    ],
    solution=_rela_impr,
)


# --------------------------------------------------------------------------- q2: seed noise
def _beyond_noise(aucs_a, aucs_b, z=2.0):
    """True when two models' mean AUCs differ by more than ``z`` standard errors of the
    difference: ``|mean_a - mean_b| > z * sqrt(s_a^2 / n_a + s_b^2 / n_b)``, where ``s`` is the
    sample standard deviation over seeds (``ddof=1``)."""
    a, b = np.asarray(aucs_a, dtype=float), np.asarray(aucs_b, dtype=float)
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    return bool(abs(a.mean() - b.mean()) > z * se)


def _noise_variants(a, b, z):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    gap = abs(a.mean() - b.mean())
    na, nb = len(a), len(b)
    sa, sb = a.std(ddof=1), b.std(ddof=1)
    return [
        (
            gap > z * math.sqrt(a.var() / na + b.var() / nb),
            "np.std and np.var divide by n by default (ddof=0), which underestimates the spread "
            "of a handful of seeds: use the sample standard deviation, ddof=1",
        ),
        (
            gap > z * math.sqrt(sa**2 + sb**2),
            "you used the standard deviations of single runs: the means of n seeds are less "
            "noisy, divide each variance by its number of seeds (s^2 / n)",
        ),
        (
            a.mean() - b.mean() > z * math.sqrt(sa**2 / na + sb**2 / nb),
            "you tested only whether A beats B: a difference can go either way, compare the "
            "absolute gap |mean_a - mean_b|",
        ),
        (
            gap > z * sa / math.sqrt(na),
            "you used only model A's noise: both means are noisy, add both variances, "
            "sqrt(s_a^2 / n_a + s_b^2 / n_b)",
        ),
        (
            gap > z * (sa / math.sqrt(na) + sb / math.sqrt(nb)),
            "standard errors do not add: the variances do, sqrt(s_a^2 / n_a + s_b^2 / n_b)",
        ),
        (
            gap > z * math.sqrt((sa**2 + sb**2) / (na + nb)),
            "the standard error of a difference of means is sqrt(s_a^2 / n_a + s_b^2 / n_b)",
        ),
    ]


# Two to five seeds each; chosen so that each classic mistake answers at least one case wrongly.
_NOISE_CASES = [
    ([0.9840, 0.9842, 0.9844], [0.9830, 0.9831, 0.9832], 2.0),  # clear gap
    ([0.9841, 0.9843, 0.9839], [0.9842, 0.9838, 0.9844], 2.0),  # noise only
    ([0.9830, 0.9831, 0.9832], [0.9840, 0.9842, 0.9844], 2.0),  # clear gap, B ahead
    ([0.9840, 0.9844, 0.9842], [0.9838, 0.9840, 0.9839], 2.0),  # std vs standard error
    ([0.9840, 0.9841, 0.9839], [0.9830, 0.9846, 0.9838], 2.0),  # B is the noisy one
    ([0.9840, 0.9845], [0.9836, 0.9840], 2.0),  # ddof matters most for 2 seeds
    ([0.9840, 0.9842, 0.9844, 0.9841, 0.9843], [0.9838, 0.9841, 0.9839, 0.9840, 0.9837], 2.5),
    ([0.9840, 0.9842, 0.9844], [0.98370, 0.98395, 0.98420], 2.0),
    ([0.9840, 0.9844, 0.9842], [0.9836, 0.9838, 0.9840], 2.0),
    ([0.9838, 0.9840, 0.9842], [0.9841, 0.9843, 0.9845], 2.0),  # gap 1.5 s: ddof matters
    ([0.9838, 0.9840, 0.9842], [0.98405, 0.98425, 0.98445], 2.0),  # gap 1.25 s
    ([0.9838, 0.9840, 0.9842], [0.9843, 0.9845, 0.9847], 2.0),  # gap 2.5 s
]


def _check_noise(fn):
    wrong_cases = []
    for a, b, z in _NOISE_CASES:
        got = call(fn, list(a), list(b), z)
        if got is None:
            raise NotYet("your function returned None: return True or False")
        if hasattr(got, "item") and getattr(got, "ndim", 0) == 0:
            got = got.item()
        if not isinstance(got, bool):
            raise Incorrect(f"return a bool (True / False), got {type(got).__name__}")
        if got != _beyond_noise(a, b, z):
            wrong_cases.append((a, b, z, got))
    if not wrong_cases:
        return "the gap is compared with its own standard error: noise of both models, n seeds each"
    answers = {}
    for a, b, z in _NOISE_CASES:
        answers[(tuple(a), tuple(b), z)] = call(fn, list(a), list(b), z)
    for i, (_, message) in enumerate(_noise_variants(*_NOISE_CASES[0])):
        variant = [_noise_variants(a, b, z)[i][0] for a, b, z in _NOISE_CASES]
        learner = [bool(answers[(tuple(a), tuple(b), z)]) for a, b, z in _NOISE_CASES]
        if variant == learner:
            raise Incorrect(message)
    a, b, z, got = wrong_cases[0]
    gap = abs(np.mean(a) - np.mean(b))
    se = math.sqrt(np.var(a, ddof=1) / len(a) + np.var(b, ddof=1) / len(b))
    relation = "larger" if gap > z * se else "smaller"
    raise Incorrect(
        f"for A = {a}, B = {b}, z = {z} you returned {got}, but the gap {gap:.5f} is {relation} "
        f"than z * sqrt(s_a^2/n_a + s_b^2/n_b) = {z * se:.5f} (sample std, ddof=1)"
    )


q2 = Question(
    "q2",
    _check_noise,
    hint=[
        "How noisy is a mean of n seeds? Its standard error is s / sqrt(n), with s the sample "
        "standard deviation (ddof=1).",
        "The difference of two independent means has variance s_a^2 / n_a + s_b^2 / n_b; "
        "compare |mean_a - mean_b| with z times its square root.",
    ],
    solution=_beyond_noise,
)

QUESTIONS = [q1, q2]
