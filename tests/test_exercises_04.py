"""Checkers of notebook 04 (DeepFM): accept the reference, reject the classic mistakes."""

from __future__ import annotations

import pytest
import torch
from _checks import verdict as _verdict

from ctr_helpers.exercises import ex04
from ctr_helpers.models import DeepFM, count_parameters


def _pairs(e):
    return 0.5 * (e.sum(1).pow(2) - e.pow(2).sum(1)).sum(1)


def test_module_lists_its_questions():
    assert ex04.QUESTIONS == [ex04.q1, ex04.q2]


# --------------------------------------------------------------------------- q1
def test_q1_accepts_reference_and_an_explicit_double_loop(capsys):
    ok, line = _verdict(ex04.q1, ex04._deepfm_logit, capsys)
    assert ok and line.startswith("✅ Correct")

    def loops(w0, w, e, deep):
        f = e.shape[1]
        pairs = sum((e[:, i] * e[:, j]).sum(1) for i in range(f) for j in range(i + 1, f))
        return w0 + w.sum(1) + pairs + deep

    ok, line = _verdict(ex04.q1, loops, capsys)
    assert ok, line


@pytest.mark.parametrize("linear_bias", [True, False])
def test_q1_matches_the_package_model(linear_bias):
    """The reference logit equals DeepFM.forward when fed the model's own pieces. The exercise's
    y_FM has a global bias w0: DeepFM(linear_bias=True); the package default (BARS/FuxiCTR, and
    the paper's y_FM) has none, the MLP's output bias playing its part: w0 = 0 there."""
    torch.manual_seed(0)
    model = DeepFM([3, 4, 5], embed_dim=4, hidden=(8,), sparse=False, linear_bias=linear_bias)
    model.eval()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.3)
    x = torch.tensor([[0, 1, 2], [2, 3, 4], [1, 0, 0]])
    e = model.embedding(x)
    w = model.linear.weight(x).squeeze(-1)
    deep = model.mlp(e.flatten(1)).squeeze(1)
    w0 = model.linear.bias if linear_bias else torch.tensor(0.0)
    torch.testing.assert_close(ex04._deepfm_logit(w0, w, e, deep), model(x))


def test_q1_starters_are_not_yet(capsys):
    def starter(w0, w, e, deep): ...

    def raising(w0, w, e, deep):
        raise NotImplementedError

    for answer in (starter, raising, None):
        ok, line = _verdict(ex04.q1, answer, capsys)
        assert not ok and line.startswith("🤔 Not yet"), line


_S = torch.sigmoid
Q1_MISTAKES = {
    "sigmoid on each branch": (
        lambda w0, w, e, d: _S(w0 + w.sum(1) + _pairs(e)) + _S(d),
        "added two probabilities",
    ),
    "average of probabilities": (
        lambda w0, w, e, d: (_S(w0 + w.sum(1) + _pairs(e)) + _S(d)) / 2,
        "averaged two probabilities",
    ),
    "sigmoid at the end": (
        lambda w0, w, e, d: _S(w0 + w.sum(1) + _pairs(e) + d),
        "returned probabilities",
    ),
    "no linear term": (lambda w0, w, e, d: _pairs(e) + d, "linear term is missing"),
    "no first-order weights": (
        lambda w0, w, e, d: w0 + _pairs(e) + d,
        "first-order weights are missing",
    ),
    "no bias": (lambda w0, w, e, d: w.sum(1) + _pairs(e) + d, "global bias w0 is missing"),
    "no pairs": (lambda w0, w, e, d: w0 + w.sum(1) + d, "pairwise term is missing"),
    "no deep": (lambda w0, w, e, d: w0 + w.sum(1) + _pairs(e), "deep branch is missing"),
    "pairs twice": (
        lambda w0, w, e, d: w0 + w.sum(1) + 2 * _pairs(e) + d,
        "each pair is counted twice",
    ),
    "self interactions": (
        lambda w0, w, e, d: w0 + w.sum(1) + 0.5 * e.sum(1).pow(2).sum(1) + d,
        "self-interactions",
    ),
    "flattened": (
        lambda w0, w, e, d: (
            w0 + w.sum(1) + 0.5 * (e.flatten(1).sum(1).pow(2) - e.flatten(1).pow(2).sum(1)) + d
        ),
        "flattened e to [B, F*D]",
    ),
    "wrong axis": (
        lambda w0, w, e, d: w0 + w.sum(1) + 0.5 * (e.sum(2).pow(2) - e.pow(2).sum(2)).sum(1) + d,
        "sums over the embedding dimension first",
    ),
    "keepdim": (
        lambda w0, w, e, d: (w0 + w.sum(1) + _pairs(e) + d)[:, None],
        "shape (6, 1), expected (6,)",
    ),
}


@pytest.mark.parametrize("name", list(Q1_MISTAKES))
def test_q1_rejects_classic_mistakes(name, capsys):
    fn, fragment = Q1_MISTAKES[name]
    ok, line = _verdict(ex04.q1, fn, capsys)
    assert not ok
    assert line.startswith("❌ Incorrect"), line
    assert fragment in line, line


def test_q1_reports_a_crash_as_feedback(capsys):
    def crashes(w0, w, e, deep):
        return w @ w  # [B, F] @ [B, F]: a shape error

    ok, line = _verdict(ex04.q1, crashes, capsys)
    assert not ok and line.startswith("❌ Incorrect: your code raised"), line


# --------------------------------------------------------------------------- q2
@pytest.mark.parametrize("case", ex04._Q2_CASES)
def test_q2_reference_agrees_with_the_package_model(case):
    # the exercise counts the global bias w0 of the linear term: DeepFM(linear_bias=True); the
    # package default (BARS) has no w0, one parameter fewer
    dims, dim, hidden = case
    assert ex04._deepfm_num_params(dims, dim, hidden) == count_parameters(
        DeepFM(dims, dim, hidden=hidden, linear_bias=True)
    )
    assert ex04._deepfm_num_params(dims, dim, hidden) - 1 == count_parameters(
        DeepFM(dims, dim, hidden=hidden)
    )


def test_q2_accepts_reference_and_numpy_ints(capsys):
    import numpy as np

    ok, line = _verdict(ex04.q2, ex04._deepfm_num_params, capsys)
    assert ok and line.startswith("✅ Correct"), line
    ok, line = _verdict(ex04.q2, lambda *a: np.int64(ex04._deepfm_num_params(*a)), capsys)
    assert ok, line


def _shifted(shift):
    return lambda dims, d, h: ex04._deepfm_num_params(dims, d, h) + shift(dims, d, h)


Q2_MISTAKES = {
    "two tables": (_shifted(lambda n, d, h: sum(n) * d), "two embedding tables"),
    "no linear": (_shifted(lambda n, d, h: -sum(n) - 1), "linear term is missing"),
    "no bias": (_shifted(lambda n, d, h: -1), "global bias w0"),
    "pair weights": (
        _shifted(lambda n, d, h: len(n) * (len(n) - 1) // 2),
        "no separate pair weights",
    ),
    "mlp input D": (
        _shifted(lambda n, d, h: -(len(n) - 1) * d * h[0]),
        "F * embed_dim numbers",
    ),
    "no mlp biases": (_shifted(lambda n, d, h: -sum(h) - 1), "MLP's biases are missing"),
    "no output layer": (_shifted(lambda n, d, h: -h[-1] - 1), "output layer is missing"),
    "no batch norm": (_shifted(lambda n, d, h: -2 * sum(h)), "batch-norm parameters"),
    "running stats": (_shifted(lambda n, d, h: 2 * sum(h)), "buffers, not trained"),
}


@pytest.mark.parametrize("name", list(Q2_MISTAKES))
def test_q2_rejects_classic_mistakes(name, capsys):
    fn, fragment = Q2_MISTAKES[name]
    ok, line = _verdict(ex04.q2, fn, capsys)
    assert not ok and line.startswith("❌ Incorrect"), line
    assert fragment in line, line


def test_q2_other_answers_get_the_first_failing_case(capsys):
    ok, line = _verdict(ex04.q2, _shifted(lambda n, d, h: 3), capsys)
    assert not ok and "off by +3" in line, line
    ok, line = _verdict(ex04.q2, lambda *a: "many", capsys)
    assert not ok and "one whole number" in line, line
    ok, line = _verdict(ex04.q2, lambda *a: None, capsys)
    assert not ok and line.startswith("🤔 Not yet"), line
