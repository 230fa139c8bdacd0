"""Checkers of notebook 00: each accepts the reference solution and rejects the classic mistakes
with the message that teaches the fix."""

from __future__ import annotations

import numpy as np
import pytest

from ctr_helpers.exercises.ex00 import QUESTIONS, q1, q2
from ctr_helpers.exercises.ex00 import _auc_by_ranks as auc_by_ranks
from ctr_helpers.exercises.ex00 import _normalized_entropy as normalized_entropy


def verdict(question, answer, capsys):
    result = question.check(answer)
    out = capsys.readouterr().out.strip()
    assert "\n" not in out, "a check prints exactly one line"
    return bool(result), out


def test_questions_listed():
    assert QUESTIONS == [q1, q2]


# --------------------------------------------------------------------------- q1
def _ordinal_ranks_auc(y, s):  # ties broken by sort order
    ranks = np.empty(len(s))
    ranks[np.argsort(s, kind="mergesort")] = np.arange(1, len(s) + 1)
    n_pos = y.sum()
    return (ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * (len(y) - n_pos))


def _strict_pairs_auc(y, s):  # ties count 0
    d = s[y == 1][:, None] - s[y == 0][None, :]
    return float((d > 0).mean())


def test_q1_accepts_reference_and_sklearn(capsys):
    from sklearn.metrics import roc_auc_score

    assert verdict(q1, auc_by_ranks, capsys) == (
        True,
        "✅ Correct: your AUC matches the pair-counting definition, ties included",
    )
    assert verdict(q1, roc_auc_score, capsys)[0]


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda y, s: 1 - auc_by_ranks(y, s), "you returned 1 - AUC"),
        (_ordinal_ranks_auc, "tied scores must share the mean of the ranks"),
        (_strict_pairs_auc, "a tied (click, non-click) pair must count 1/2"),
        (lambda y, s: auc_by_ranks(y, s) * len(y), "did you divide by the number of"),
        (lambda y, s: np.mean((s > 0) == y), "fraction of (click, non-click) pairs"),
        (lambda y, s: np.full(len(y), 0.5), "return one number for the whole data set"),
    ],
)
def test_q1_rejects_classic_mistakes(answer, message, capsys):
    ok, out = verdict(q1, answer, capsys)
    assert not ok
    assert out.startswith("❌ Incorrect") and message in out, out


def test_q1_starter_is_not_yet(capsys):
    def starter(y, s):
        raise NotImplementedError

    ok, out = verdict(q1, starter, capsys)
    assert not ok and out.startswith("🤔 Not yet")
    assert verdict(q1, lambda y, s: None, capsys)[1].startswith("🤔 Not yet")


# --------------------------------------------------------------------------- q2
def _entropy(r):
    return -(r * np.log(r) + (1 - r) * np.log(1 - r))


def _ll(y, p, log=np.log):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return -np.mean(y * log(p) + (1 - y) * log(1 - p))


def test_q2_accepts_reference_and_the_package(capsys):
    from sklearn.metrics import log_loss

    from ctr_helpers import metrics

    ok, out = verdict(q2, normalized_entropy, capsys)
    assert ok and "predicting the click rate everywhere gives exactly 1" in out
    assert verdict(q2, metrics.normalized_entropy, capsys)[0]
    sk = lambda y, p: log_loss(y, p, labels=[0, 1]) / _entropy(y.mean())  # noqa: E731
    assert verdict(q2, sk, capsys)[0]


def _no_clip(y, p):
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)) / _entropy(y.mean())


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda y, p: _ll(y, p) / _entropy(p.mean()), "entropy of the mean PREDICTION"),
        (lambda y, p: _entropy(y.mean()) / _ll(y, p), "the ratio is upside down"),
        (lambda y, p: -normalized_entropy(y, p), "the sign is flipped"),
        (lambda y, p: _ll(y, p, np.log2) / _entropy(y.mean()), "use the same logarithm"),
        (lambda y, p: _ll(y, p) / (_entropy(y.mean()) / np.log(2)), "use the same logarithm"),
        (lambda y, p: _ll(y, p) - _entropy(y.mean()), "normalised entropy is a RATIO"),
        (_ll, "that is the plain logloss"),
        (_no_clip, "0 * log(0) gives nan"),
        (lambda y, p: normalized_entropy(y, p, eps=0.005), "clip p with a small eps"),
        (lambda y, p: np.full(len(y), 0.9), "return one number for the whole data set"),
    ],
)
def test_q2_rejects_classic_mistakes(answer, message, capsys):
    ok, out = verdict(q2, answer, capsys)
    assert not ok
    assert out.startswith("❌ Incorrect") and message in out, out


def test_q2_learner_exception_is_feedback(capsys):
    ok, out = verdict(q2, lambda y, p: y @ p.T @ np.ones(3), capsys)
    assert not ok and out.startswith("❌ Incorrect: your code raised")
