"""Checkers of notebook 05 (xDeepFM): accept the reference, reject the classic mistakes."""

from __future__ import annotations

import pytest
import torch
from _checks import assert_starters_are_not_yet
from _checks import verdict as _verdict

from ctr_helpers.exercises import ex05
from ctr_helpers.layers import CIN
from ctr_helpers.models import count_parameters


def test_module_lists_its_questions():
    assert ex05.QUESTIONS == [ex05.q1, ex05.q2, ex05.q3]


@pytest.mark.parametrize("question", ex05.QUESTIONS, ids=lambda q: q.name)
def test_starters_are_not_yet(question, capsys):
    assert_starters_are_not_yet(question, capsys)


# --------------------------------------------------------------------------- q1
def test_q1_reference_matches_the_package_layer():
    torch.manual_seed(0)
    cin = CIN(num_fields=3, embed_dim=4, layer_sizes=(5, 2))
    e = torch.randn(2, 3, 4)
    x1 = ex05._cin_layer(e, e, cin.compress[0].weight.view(5, 3, 3))
    x2 = ex05._cin_layer(x1, e, cin.compress[1].weight.view(2, 5, 3))
    ref1, ref2 = cin.layer_outputs(e)
    torch.testing.assert_close(x1, ref1)
    torch.testing.assert_close(x2, ref2)


def test_q1_accepts_reference_and_a_loop_version(capsys):
    ok, line = _verdict(ex05.q1, ex05._cin_layer, capsys)
    assert ok and line.startswith("✅ Correct"), line

    def loops(x_prev, x0, W):
        out = torch.zeros(x_prev.shape[0], W.shape[0], x_prev.shape[2])
        for n in range(W.shape[0]):
            for i in range(W.shape[1]):
                for j in range(W.shape[2]):
                    out[:, n] += W[n, i, j] * x_prev[:, i] * x0[:, j]
        return out

    ok, line = _verdict(ex05.q1, loops, capsys)
    assert ok, line


_E = torch.einsum
Q1_MISTAKES = {
    "pooled": (lambda xp, x0, W: _E("bid,bjd,nij->bn", xp, x0, W), "summed over the embedding"),
    "bitwise": (lambda xp, x0, W: _E("bid,bje,nij->bnd", xp, x0, W), "mixed embedding dimensions"),
    "added": (
        lambda xp, x0, W: _E("nij,bijd->bnd", W, xp[:, :, None] + x0[:, None]),
        "added the rows instead of multiplying",
    ),
    "relu": (lambda xp, x0, W: torch.relu(ex05._cin_layer(xp, x0, W)), "applied an activation"),
    "self": (lambda xp, x0, W: _E("bid,bjd,nij->bnd", xp, xp, W), "X^{k-1} with itself"),
    "x0 twice": (lambda xp, x0, W: _E("bid,bjd,nij->bnd", x0, x0, W), "X^0 with itself"),
    "swapped": (lambda xp, x0, W: _E("bid,bjd,nji->bnd", xp, x0, W), "indices are swapped"),
    "transposed out": (
        lambda xp, x0, W: ex05._cin_layer(xp, x0, W).transpose(1, 2),
        "transpose or permute",
    ),
}


@pytest.mark.parametrize("name", list(Q1_MISTAKES))
def test_q1_rejects_classic_mistakes(name, capsys):
    fn, fragment = Q1_MISTAKES[name]
    ok, line = _verdict(ex05.q1, fn, capsys)
    assert not ok and line.startswith("❌ Incorrect"), line
    assert fragment in line, line


# --------------------------------------------------------------------------- q2
def test_q2_accepts_reference(capsys):
    ok, line = _verdict(ex05.q2, ex05._cin_degree, capsys)
    assert ok and line.startswith("✅ Correct"), line


@pytest.mark.parametrize(
    "fn, fragment",
    [
        (lambda k: k, "off by one"),
        (lambda k: 2**k, "2^k"),
        (lambda k: 2 * k, "not by doubling"),
        (lambda k: k + 2, "one too many"),
        (lambda k: 3, "for layer k=1 you said 3"),
        (lambda k: "two", "one whole number"),
    ],
)
def test_q2_rejects_classic_mistakes(fn, fragment, capsys):
    ok, line = _verdict(ex05.q2, fn, capsys)
    assert not ok and line.startswith("❌ Incorrect"), line
    assert fragment in line, line


# --------------------------------------------------------------------------- q3
@pytest.mark.parametrize("case", ex05._Q3_CASES)
def test_q3_reference_agrees_with_the_package_layer(case):
    f, d, hs = case
    cin = CIN(f, d, hs)
    head = torch.nn.Linear(cin.output_dim, 1)
    assert ex05._cin_num_params(f, d, hs) == count_parameters(cin) + count_parameters(head)


def test_q3_accepts_reference(capsys):
    ok, line = _verdict(ex05.q3, ex05._cin_num_params, capsys)
    assert ok and line.startswith("✅ Correct"), line


def _comp(f, hs):
    prev = [f, *hs[:-1]]
    return sum(h * p * f for h, p in zip(hs, prev, strict=True))


Q3_MISTAKES = {
    "times D": (lambda f, d, hs: _comp(f, hs) * d + sum(hs) + 1, "multiplied by embed_dim"),
    "F x F": (lambda f, d, hs: sum(h * f * f for h in hs) + sum(hs) + 1, "not F x F"),
    "no F": (
        lambda f, d, hs: sum(h * p for h, p in zip(hs, [f, *hs[:-1]], strict=True)) + sum(hs) + 1,
        "forgot the factor F",
    ),
    "no output": (lambda f, d, hs: _comp(f, hs), "output layer is missing"),
    "no output bias": (lambda f, d, hs: _comp(f, hs) + sum(hs), "has a bias too"),
    "conv bias": (lambda f, d, hs: _comp(f, hs) + 2 * sum(hs) + 1, "compression has no bias"),
    "last layer only": (lambda f, d, hs: _comp(f, hs) + hs[-1] + 1, "every layer's pooled maps"),
    "other": (lambda f, d, hs: 7, "you counted 7"),
}


@pytest.mark.parametrize("name", list(Q3_MISTAKES))
def test_q3_rejects_classic_mistakes(name, capsys):
    fn, fragment = Q3_MISTAKES[name]
    ok, line = _verdict(ex05.q3, fn, capsys)
    assert not ok and line.startswith("❌ Incorrect"), line
    assert fragment in line, line
