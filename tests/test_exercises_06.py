"""Checkers of notebook 06 (DCN): each accepts the reference solution and rejects the classic
mistakes with the message that teaches the fix."""

from __future__ import annotations

import pytest
import torch

from ctr_helpers.exercises.ex06 import QUESTIONS, q1, q2, q3
from ctr_helpers.exercises.ex06 import _cross_degree as cross_degree
from ctr_helpers.exercises.ex06 import _cross_layer as cross_layer
from ctr_helpers.exercises.ex06 import _cross_param_count as cross_param_count


def verdict(question, answer, capsys):
    result = question.check(answer)
    out = capsys.readouterr().out.strip()
    assert "\n" not in out, "a check prints exactly one line"
    return bool(result), out


def test_questions_listed():
    assert QUESTIONS == [q1, q2, q3]


# --------------------------------------------------------------------------- q1: one cross layer
def _outer_form(x0, xl, w, b):  # the paper's x0 x_l^T w, with the d x d matrix: also right
    return (x0.unsqueeze(2) * xl.unsqueeze(1)) @ w + b + xl


def test_q1_accepts_reference_and_paper_form(capsys):
    assert verdict(q1, cross_layer, capsys) == (
        True,
        "✅ Correct: x0 (w . x_l) + b + x_l, with d weights and d biases, and no d x d matrix",
    )
    assert verdict(q1, _outer_form, capsys)[0]


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda x0, xl, w, b: x0 * (xl @ w).unsqueeze(1) + b, "you dropped the residual"),
        (lambda x0, xl, w, b: x0 * (xl @ w).unsqueeze(1) + b + x0, "not x0: adding x0 overwrites"),
        (lambda x0, xl, w, b: xl * (x0 @ w).unsqueeze(1) + b + xl, "x0 and x_l swapped roles"),
        (lambda x0, xl, w, b: x0 * (xl @ w).unsqueeze(1) + xl, "the bias b_l is missing"),
        (lambda x0, xl, w, b: x0 * xl * w + b + xl, "DCN-v2 with a diagonal matrix"),
        (lambda x0, xl, w, b: x0 * (xl * w).sum(0) + b + xl, "over the batch (dim 0)"),
        (lambda x0, xl, w, b: x0 * (x0 @ w).unsqueeze(1) + b + xl, "you took w . x0"),
        (lambda x0, xl, w, b: x0.unsqueeze(2) * xl.unsqueeze(1), "you built the outer product"),
        (lambda x0, xl, w, b: cross_layer(x0, xl, w, b).numpy(), "return a torch.Tensor"),
        (lambda x0, xl, w, b: x0 @ w, "shape"),
    ],
)
def test_q1_rejects_classic_mistakes(answer, message, capsys):
    ok, out = verdict(q1, answer, capsys)
    assert not ok
    assert out.startswith("❌ Incorrect") and message in out, out


def test_q1_only_right_for_a_batch_of_several_rows(capsys):
    def squeezed(x0, xl, w, b):  # .squeeze() drops the batch axis when B = 1
        return cross_layer(x0, xl, w, b).squeeze()

    ok, out = verdict(q1, squeezed, capsys)
    assert not ok and "for a batch of one row" in out, out


def test_q1_starter_and_learner_errors(capsys):
    def starter(x0, xl, w, b):
        raise NotImplementedError

    assert verdict(q1, starter, capsys)[1].startswith("🤔 Not yet")
    assert verdict(q1, lambda x0, xl, w, b: None, capsys)[1].startswith("🤔 Not yet")
    ok, out = verdict(q1, lambda x0, xl, w, b: x0 @ xl, capsys)
    assert not ok and out.startswith("❌ Incorrect: your code raised RuntimeError"), out


def test_q1_leaves_the_global_rng_alone(capsys):
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    verdict(q1, cross_layer, capsys)
    assert torch.equal(torch.rand(3), before)


# --------------------------------------------------------------------------- q2: the degree
def test_q2_accepts_reference(capsys):
    assert verdict(q2, cross_degree, capsys)[0]
    assert verdict(q2, lambda n: float(n + 1), capsys)[0]
    assert verdict(q2, lambda n: torch.tensor(n + 1), capsys)[0]


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda n: n, "off by one"),
        (lambda n: 2**n, "the degree doubles only when"),
        (lambda n: 2 ** (n + 1), "the degree doubles only when"),
        (lambda n: n + 2, "one too many"),
        (lambda n: max(n + 1, 2), "for L = 0 (no cross layer)"),
        (lambda n: 2 * n, "for L = 0"),
        (lambda n: n + 1.5, "a degree is a whole number"),
        (lambda n: [n + 1], "return one whole number"),
    ],
)
def test_q2_rejects_classic_mistakes(answer, message, capsys):
    ok, out = verdict(q2, answer, capsys)
    assert not ok
    assert out.startswith("❌ Incorrect") and message in out, out


# --------------------------------------------------------------------------- q3: parameter count
def test_q3_accepts_reference(capsys):
    ok, out = verdict(q3, cross_param_count, capsys)
    assert ok
    assert "DCN 600, DCN-v2 30,300, rank 16: 9,900" in out and "4,598,126" in out, out


def _count(per_layer_dcn, per_layer_v2, per_layer_lowrank, times_layers=True):
    def fn(d, n, kind, rank=None):
        per = {"dcn": per_layer_dcn, "dcnv2": per_layer_v2, "lowrank": per_layer_lowrank}[kind]
        return per(d, rank) * (n if times_layers else 1)

    return fn


def _right_dcn(d, r):
    return 2 * d


def _right_v2(d, r):
    return d * d + d


def _right_lowrank(d, r):
    return 2 * d * r + d


@pytest.mark.parametrize(
    "answer, message",
    [
        (_count(_right_dcn, _right_v2, _right_lowrank, False), "that is one layer's count"),
        (_count(lambda d, r: d, _right_v2, _right_lowrank), "not the bias b_l: each layer has d"),
        (_count(_right_v2, _right_v2, _right_lowrank), "that is DCN-v2's full matrix"),
        (_count(_right_dcn, lambda d, r: d * d, _right_lowrank), "you counted W_l but not"),
        (_count(_right_dcn, _right_dcn, _right_lowrank), "that is DCN v1"),
        (_count(_right_dcn, _right_v2, lambda d, r: 2 * d * r), "you counted U_l and V_l"),
        (_count(_right_dcn, _right_v2, lambda d, r: d * r + d), "two factors of d x r each"),
        (_count(_right_dcn, _right_v2, _right_v2), "that is the full matrix"),
        (_count(_right_dcn, _right_v2, lambda d, r: 3 * d * r), "the layer has"),
    ],
)
def test_q3_rejects_classic_mistakes(answer, message, capsys):
    ok, out = verdict(q3, answer, capsys)
    assert not ok
    assert out.startswith("❌ Incorrect") and message in out, out


def test_q3_not_yet_and_wrong_type(capsys):
    assert verdict(q3, lambda d, n, kind, rank=None: None, capsys)[1].startswith("🤔 Not yet")
    ok, out = verdict(q3, lambda d, n, kind, rank=None: "600", capsys)
    assert not ok and "return one whole number" in out
