"""Checkers of notebook 10 (training in practice): each accepts the reference solution (and
other correct forms) and rejects the classic mistakes with the message that teaches the fix."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from ctr_helpers.exercises.ex10 import QUESTIONS, q1, q2, q3
from ctr_helpers.exercises.ex10 import _correct_downsampled as correct_downsampled
from ctr_helpers.exercises.ex10 import _expected_calibration_error as expected_calibration_error
from ctr_helpers.exercises.ex10 import _normalized_entropy as normalized_entropy


def verdict(question, answer, capsys):
    result = question.check(answer)
    out = capsys.readouterr().out.strip()
    assert "\n" not in out, "a check prints exactly one line"
    return bool(result), out


def test_questions_listed():
    assert QUESTIONS == [q1, q2, q3]
    assert [q.name for q in QUESTIONS] == ["q1", "q2", "q3"]


# --------------------------------------------------------------------------- q1: downsampling
def _logit_form(p, w):  # logit(q) = logit(p) + log(w): also right
    return 1 / (1 + np.exp(-(np.log(p / (1 - p)) + np.log(w))))


def _odds_form(p, w):
    odds = p / (1 - p) * w
    return np.where(p >= 1, 1.0, odds / (1 + odds))


def _torch_form(p, w):  # a learner working in torch returns a tensor: accepted too
    t = torch.as_tensor(p)
    return t / (t + (1 - t) / w)


def test_q1_accepts_reference_and_equivalent_forms(capsys):
    ok, out = verdict(q1, correct_downsampled, capsys)
    assert ok and out.startswith("✅ Correct: q = p / (p + (1 - p) / w)")
    assert verdict(q1, lambda p, w: p * w / (p * w + 1 - p), capsys)[0]
    assert verdict(q1, _logit_form, capsys)[0]
    assert verdict(q1, _odds_form, capsys)[0]
    assert verdict(q1, _torch_form, capsys)[0]


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda p, w: p * w, "p * w scales the probability"),
        (lambda p, w: p / (p + 1 / w), "the (1 - p) is missing"),
        (lambda p, w: p / (p + (1 - p) * w), "w is upside down"),
        (lambda p, w: p, "you returned p unchanged"),
        (lambda p, w: p / (1 - p) * w, "you returned the corrected odds"),
        (lambda p, w: np.log(p / (1 - p)) + np.log(w), "you returned the corrected logit"),
        (lambda p, w: p / w, "p / w moves the probability the wrong way"),
        (lambda p, w: np.mean(correct_downsampled(p, w)), "one corrected probability per"),
        (lambda p, w: correct_downsampled(p, w) if w < 1 else 0.5 * p, "with w = 1"),
        (lambda p, w: p / (p + (1 - p) / w) + 0.01, "off by the same constant"),
        (lambda p, w: None, "returned None"),
    ],
)
def test_q1_rejects_classic_mistakes(answer, message, capsys):
    ok, out = verdict(q1, answer, capsys)
    assert not ok
    assert message in out, out


def test_q1_starter_is_not_yet(capsys):
    def starter(p, w):
        raise NotImplementedError

    ok, out = verdict(q1, starter, capsys)
    assert not ok and out.startswith("🤔 Not yet")


def test_q1_learner_exception_is_feedback(capsys):
    ok, out = verdict(q1, lambda p, w: p.nonexistent, capsys)
    assert not ok and "your code raised AttributeError" in out


# --------------------------------------------------------------------------- q2: ECE
def _ece_vectorised(y, p, n_bins=10):  # a different, also correct, implementation
    b = np.minimum(np.floor(p * n_bins).astype(int), n_bins - 1)
    sp = np.bincount(b, weights=p, minlength=n_bins)
    sy = np.bincount(b, weights=y, minlength=n_bins)
    return float(np.abs(sp - sy).sum() / len(y))


def _bins(p, n_bins):
    return np.minimum((p * n_bins).astype(int), n_bins - 1)


def _unweighted(y, p, n_bins=10):
    b = _bins(p, n_bins)
    return np.mean([abs(p[b == k].mean() - y[b == k].mean()) for k in np.unique(b)])


def _signed(y, p, n_bins=10):
    b = _bins(p, n_bins)
    return sum((b == k).sum() * (p[b == k].mean() - y[b == k].mean()) for k in np.unique(b)) / len(
        y
    )


def _all_bins_nan(y, p, n_bins=10):
    b = _bins(p, n_bins)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # mean of an empty bin: the mistake
        gaps = [
            abs(np.mean(p[b == k]) - np.mean(y[b == k])) * (b == k).sum() for k in range(n_bins)
        ]
    return float(np.sum(gaps) / len(y))


def _no_last_bin_fix(y, p, n_bins=10):
    b = (p * n_bins).astype(int)
    counts = np.zeros(n_bins)
    counts[b] += 0  # IndexError when p == 1
    return expected_calibration_error(y, p, n_bins)


def _quantile_bins(y, p, n_bins=10):
    edges = np.quantile(p, np.linspace(0, 1, n_bins + 1))
    b = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_bins - 1)
    return sum(
        (b == k).sum() * abs(p[b == k].mean() - y[b == k].mean()) for k in np.unique(b)
    ) / len(y)


def _per_bin(y, p, n_bins=10):
    b = _bins(p, n_bins)
    return np.array([abs(p[b == k].mean() - y[b == k].mean()) for k in np.unique(b)])


def test_q2_accepts_reference_and_vectorised_form(capsys):
    ok, out = verdict(q2, expected_calibration_error, capsys)
    assert ok and out.startswith("✅ Correct")
    assert verdict(q2, _ece_vectorised, capsys)[0]
    assert verdict(q2, lambda y, p, n_bins=10: torch.tensor(_ece_vectorised(y, p, n_bins)), capsys)[
        0
    ]


@pytest.mark.parametrize(
    "answer, message",
    [
        (_unweighted, "every bin counted equally"),
        (_signed, "over- and under-confident bins cancel"),
        (lambda y, p, n_bins=10: abs(p.mean() - y.mean()), "calibration in the large"),
        (_all_bins_nan, "skip the empty bins"),
        (_no_last_bin_fix, "exactly 1.0"),
        (_quantile_bins, "quantile bins"),
        (lambda y, p, n_bins=10: expected_calibration_error(y, p, 10), "ignores n_bins"),
        (_per_bin, "as one number"),
        (lambda y, p, n_bins=10: 2 * expected_calibration_error(y, p, n_bins), "2x"),
    ],
)
def test_q2_rejects_classic_mistakes(answer, message, capsys):
    ok, out = verdict(q2, answer, capsys)
    assert not ok
    assert message in out, out


# --------------------------------------------------------------------------- q3: NE
def _ne_log2(y, p):  # any log base works when both sides use it
    ll = -np.mean(y * np.log2(p) + (1 - y) * np.log2(1 - p))
    r = y.mean()
    return ll / -(r * np.log2(r) + (1 - r) * np.log2(1 - r))


def _ll(y, p):
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def _h(r):
    return -(r * np.log(r) + (1 - r) * np.log(1 - r))


def test_q3_accepts_reference_and_other_bases(capsys):
    ok, out = verdict(q3, normalized_entropy, capsys)
    assert ok and out.startswith("✅ Correct")
    assert verdict(q3, _ne_log2, capsys)[0]


@pytest.mark.parametrize(
    "answer, message",
    [
        (_ll, "that is the plain logloss"),
        (lambda y, p: 1 - _ll(y, p) / _h(y.mean()), "relative information gain"),
        (lambda y, p: _ll(y, p) / _h(p.mean()), "not the mean prediction"),
        (lambda y, p: _ll(y, p) / (-y.mean() * np.log(y.mean())), "term is missing"),
        (
            lambda y, p: -np.mean(y * np.log2(p) + (1 - y) * np.log2(1 - p)) / _h(y.mean()),
            "different bases",
        ),
        (lambda y, p: _ll(y, p) / np.log(2) / _h(y.mean()), "different bases"),
        (lambda y, p: np.array([_ll(y, p) / _h(y.mean())] * 2), "as one number"),
    ],
)
def test_q3_rejects_classic_mistakes(answer, message, capsys):
    ok, out = verdict(q3, answer, capsys)
    assert not ok
    assert message in out, out


def test_hints_and_solutions_print(capsys):
    for q in QUESTIONS:
        q.hint()
        q.solution()
    out = capsys.readouterr().out
    assert "def correct_downsampled" in out and "def normalized_entropy" in out
