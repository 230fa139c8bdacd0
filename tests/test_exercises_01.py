"""Checkers of notebook 01: each accepts the reference solution and rejects the classic mistakes
with the message that teaches the fix."""

from __future__ import annotations

import itertools

import pytest
import torch

from ctr_helpers.exercises.ex01 import QUESTIONS, q1, q2, q3
from ctr_helpers.exercises.ex01 import _count_pairs as count_pairs
from ctr_helpers.exercises.ex01 import _cross3 as cross3
from ctr_helpers.exercises.ex01 import _lr_logit as lr_logit


def verdict(question, answer, capsys):
    result = question.check(answer)
    out = capsys.readouterr().out.strip()
    assert "\n" not in out, "a check prints exactly one line"
    return bool(result), out


def test_questions_listed():
    assert QUESTIONS == [q1, q2, q3]


# --------------------------------------------------------------------------- q1
def _offsets(field_dims):
    return torch.tensor([0, *itertools.accumulate(field_dims)][:-1])


def test_q1_accepts_reference_and_the_package_layer(capsys):
    from ctr_helpers.layers import FeaturesLinear

    assert verdict(q1, lr_logit, capsys)[0]

    def via_layer(x, weight, bias, field_dims):
        layer = FeaturesLinear(field_dims, sparse=False)
        with torch.no_grad():
            layer.weight.embedding.weight.copy_(weight[:, None])
            layer.bias.copy_(bias)
        return layer(x).detach()

    assert verdict(q1, via_layer, capsys)[0]


def _one_hot_version(x, weight, bias, field_dims):
    cols = x + _offsets(field_dims)
    one_hot = torch.zeros(len(x), sum(field_dims)).scatter_(1, cols, 1.0)
    return one_hot @ weight + bias


def test_q1_accepts_one_hot_matmul(capsys):
    assert verdict(q1, _one_hot_version, capsys)[0]


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda x, w, b, d: w[x].sum(1) + b, "without the field offsets"),
        (lambda x, w, b, d: w[x + _offsets(d)].sum(1), "the bias is missing"),
        (lambda x, w, b, d: w[x + _offsets(d)].mean(1) + b, "you averaged the field weights"),
        (lambda x, w, b, d: torch.sigmoid(lr_logit(x, w, b, d)), "you returned probabilities"),
        (lambda x, w, b, d: w[x + _offsets(d)] + b, "one weight per field, shape [B, F]"),
        (
            lambda x, w, b, d: w[x + torch.tensor(list(itertools.accumulate(d)))].sum(1) + b,
            "offsets must start at 0",
        ),
        (lambda x, w, b, d: lr_logit(x, w, b, d).tolist(), "expected a torch.Tensor"),
        (lambda x, w, b, d: 2 * lr_logit(x, w, b, d), "2x the expected values"),
    ],
)
def test_q1_rejects_classic_mistakes(answer, message, capsys):
    ok, out = verdict(q1, answer, capsys)
    assert not ok
    assert out.startswith("❌ Incorrect") and message in out, out


def test_q1_starter_is_not_yet(capsys):
    def starter(x, weight, bias, field_dims):
        raise NotImplementedError

    ok, out = verdict(q1, starter, capsys)
    assert not ok and out.startswith("🤔 Not yet")
    ok, out = verdict(q1, lambda x, w, b, d: None, capsys)
    assert not ok and out.startswith("🤔 Not yet")


# --------------------------------------------------------------------------- q2
def test_q2_accepts_reference(capsys):
    frappe = [957, 4082, 7, 7, 2, 3, 2, 9, 80, 233]
    # all pairs of one-hot columns minus the pairs inside one field: (S^2 - sum d^2) / 2
    columns = (sum(frappe) ** 2 - sum(d * d for d in frappe)) // 2
    assert verdict(q2, count_pairs, capsys) == (
        True,
        f"✅ Correct: Frappe's 10 fields give 45 pairs and {columns:,} one-hot pair columns",
    )


def _ordered(d):
    n = len(d)
    return n * (n - 1), 2 * count_pairs(d)[1]


def _with_self(d):
    n = len(d)
    return n * (n + 1) // 2, count_pairs(d)[1] + sum(v * v for v in d)


@pytest.mark.parametrize(
    "answer, message",
    [
        (_ordered, "ordered pairs"),
        (_with_self, "includes a field crossed with itself"),
        (lambda d: (count_pairs(d)[0], 2 * count_pairs(d)[1]), "twice the right one"),
        (
            lambda d: (count_pairs(d)[0], count_pairs(d)[1] + sum(v * v for v in d)),
            "column count includes a field crossed with itself",
        ),
        (lambda d: (count_pairs(d)[0], count_pairs(d)[0]), "not the number of pairs"),
        (
            lambda d: (count_pairs(d)[0], sum(d) * (sum(d) - 1) // 2),
            "two values of the same field",
        ),
        (lambda d: count_pairs(d)[1], "return a tuple (n_pairs, n_columns)"),
        (lambda d: (count_pairs(d)[0], sum(d) ** 2 // 7), "the sum over field pairs"),
    ],
)
def test_q2_rejects_classic_mistakes(answer, message, capsys):
    ok, out = verdict(q2, answer, capsys)
    assert not ok
    assert out.startswith("❌ Incorrect") and message in out, out


# --------------------------------------------------------------------------- q3
def test_q3_accepts_full_cross_and_parity(capsys):
    ok, out = verdict(q3, cross3, capsys)
    assert ok and "one value per (a, b, c) combination" in out
    assert verdict(q3, lambda a, b, c: a + 2 * b + 4 * c + 3, capsys)[0]  # any one-to-one map
    ok, out = verdict(q3, lambda a, b, c: a ^ b ^ c, capsys)  # separates the XOR, with a note
    assert ok and "A full cross" in out
    assert verdict(q3, lambda a, b, c: (4 * a + 2 * b + c).numpy(), capsys)[0]  # NumPy is fine


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda a, b, c: 2 * a + b, "does not depend on c"),
        (lambda a, b, c: a ^ c, "does not depend on b"),
        (lambda a, b, c: a * b * c, "a * b * c is 1 only for (1, 1, 1)"),
        (lambda a, b, c: a * b + c, "the click depends on a + b + c being even"),
        (lambda a, b, c: a + b - c, "must be >= 0"),
        (lambda a, b, c: (a + b + c) / 2, "whole numbers"),
        (lambda a, b, c: torch.stack([a, b, c], 1), "one value per row"),
        (lambda a, b, c: 4 * a + 2 * b + c + torch.randint(0, 2, a.shape), "a function of a, b"),
    ],
)
def test_q3_rejects_classic_mistakes(answer, message, capsys):
    ok, out = verdict(q3, answer, capsys)
    assert not ok
    assert out.startswith("❌ Incorrect") and message in out, out
