"""Checkers of notebook 08 (FiBiNet): accept the reference, reject the classic mistakes."""

from __future__ import annotations

import pytest
import torch
from _checks import assert_starters_are_not_yet
from _checks import verdict as _verdict

from ctr_helpers import reference
from ctr_helpers.exercises import ex08
from ctr_helpers.layers import BilinearInteraction, SENet


def test_module_lists_its_questions():
    assert ex08.QUESTIONS == [ex08.q1, ex08.q2, ex08.q3]


@pytest.mark.parametrize("question", ex08.QUESTIONS, ids=lambda q: q.name)
def test_starters_are_not_yet(question, capsys):
    assert_starters_are_not_yet(question, capsys)


# --------------------------------------------------------------------------- q1: SENet gates
def test_q1_reference_matches_the_package_layer():
    torch.manual_seed(0)
    se = SENet(num_fields=6, reduction_ratio=2)
    e = torch.randn(4, 6, 5)
    _, gates = se(e, return_gates=True)
    got = ex08._senet_gates(e, se.excite[0].weight, se.excite[2].weight)
    torch.testing.assert_close(got, gates)
    torch.testing.assert_close(got, reference.senet(se, e, return_gates=True)[1])


def test_q1_accepts_reference_and_an_nn_functional_version(capsys):
    ok, line = _verdict(ex08.q1, ex08._senet_gates, capsys)
    assert ok and line.startswith("✅ Correct"), line

    def functional(e, W1, W2):
        z = e.mean(-1)
        return torch.nn.functional.linear(
            torch.relu(torch.nn.functional.linear(z, W1)), W2
        ).sigmoid()

    ok, line = _verdict(ex08.q1, functional, capsys)
    assert ok, line


_S, _R = torch.sigmoid, torch.relu
Q1_MISTAKES = {
    "mean over fields": (
        lambda e, W1, W2: _S(_R(e.mean(1) @ W1.T) @ W2.T),
        "averaged over the fields",
    ),
    "sum squeeze": (lambda e, W1, W2: _S(_R(e.sum(2) @ W1.T) @ W2.T), "squeezed with a sum"),
    "max squeeze": (lambda e, W1, W2: _S(_R(e.amax(2) @ W1.T) @ W2.T), "max pooling"),
    "no sigmoid": (lambda e, W1, W2: _R(e.mean(2) @ W1.T) @ W2.T, "sigmoid is missing"),
    "relu gate": (lambda e, W1, W2: _R(_R(e.mean(2) @ W1.T) @ W2.T), "ended with a ReLU"),
    "no relu": (lambda e, W1, W2: _S(e.mean(2) @ W1.T @ W2.T), "ReLU between the two layers"),
    "softmax": (
        lambda e, W1, W2: torch.softmax(_R(e.mean(2) @ W1.T) @ W2.T, dim=1),
        "softmax makes the fields compete",
    ),
    "reweighted": (
        lambda e, W1, W2: e * _S(_R(e.mean(2) @ W1.T) @ W2.T).unsqueeze(2),
        "Return the gates themselves",
    ),
    "untransposed": (lambda e, W1, W2: _S(_R(e.mean(2) @ W1) @ W2), "z @ W1.T"),
    "numpy out": (
        lambda e, W1, W2: _S(_R(e.mean(2) @ W1.T) @ W2.T).numpy(),
        "return a torch.Tensor",
    ),
}


@pytest.mark.parametrize("name", list(Q1_MISTAKES))
def test_q1_rejects_classic_mistakes(name, capsys):
    fn, fragment = Q1_MISTAKES[name]
    ok, line = _verdict(ex08.q1, fn, capsys)
    assert not ok and line.startswith("❌ Incorrect"), line
    assert fragment in line, line


# --------------------------------------------------------------------------- q2: parameter counts
@pytest.mark.parametrize("case", ex08._BILINEAR_CASES)
def test_q2_reference_agrees_with_the_package_layer(case):
    f, d, kind = case
    layer = BilinearInteraction(f, d, kind)
    assert ex08._bilinear_param_count(f, d, kind) == sum(p.numel() for p in layer.parameters())


def test_q2_accepts_reference(capsys):
    ok, line = _verdict(ex08.q2, ex08._bilinear_param_count, capsys)
    assert ok and line.startswith("✅ Correct"), line
    assert "field-interaction" in line


def _count(f, d, kind, n_pairs):
    return {"field_all": 1, "field_each": f, "field_interaction": n_pairs}[kind] * d * d


Q2_MISTAKES = {
    "D not D^2": (
        lambda f, d, k: (
            {"field_all": 1, "field_each": f, "field_interaction": f * (f - 1) // 2}[k] * d
        ),
        "D x D matrix",
    ),
    "F^2 pairs": (lambda f, d, k: _count(f, d, k, f * f), "every ordered pair"),
    "ordered pairs": (lambda f, d, k: _count(f, d, k, f * (f - 1)), "counts each pair twice"),
    "self pairs": (lambda f, d, k: _count(f, d, k, f * (f + 1) // 2), "with itself"),
    "float pairs": (lambda f, d, k: _count(f, d, k, f * (f - 1) / 2) + 0.5, "whole number"),
    "each = pairs": (
        lambda f, d, k: (
            {"field_all": 1, "field_each": f * (f - 1) // 2}.get(k, f * (f - 1) // 2) * d * d
        ),
        "field-each has one per field",
    ),
    "all = each": (
        lambda f, d, k: (
            {"field_all": f, "field_each": f, "field_interaction": f * (f - 1) // 2}[k] * d * d
        ),
        "field-all shares one single D x D matrix",
    ),
    "string": (lambda f, d, k: "100", "whole number"),
}


@pytest.mark.parametrize("name", list(Q2_MISTAKES))
def test_q2_rejects_classic_mistakes(name, capsys):
    fn, fragment = Q2_MISTAKES[name]
    ok, line = _verdict(ex08.q2, fn, capsys)
    assert not ok and line.startswith("❌ Incorrect"), line
    assert fragment in line, line


# --------------------------------------------------------------------------- q3: a bilinear FM
def test_q3_reference_matches_the_package_layer_and_fm():
    torch.manual_seed(0)
    layer = BilinearInteraction(5, 4, "field_all")
    e = torch.randn(3, 5, 4)
    got = ex08._bilinear_fm(e, layer.weight)
    torch.testing.assert_close(got, layer(e).sum(dim=(1, 2)))
    torch.testing.assert_close(got, reference.bilinear(layer, e).sum(dim=(1, 2)))
    torch.testing.assert_close(ex08._bilinear_fm(e, torch.eye(4)), reference.fm(e))


def test_q3_accepts_reference_and_a_loop_version(capsys):
    ok, line = _verdict(ex08.q3, ex08._bilinear_fm, capsys)
    assert ok and line.startswith("✅ Correct"), line

    def loops(e, W):
        f = e.shape[1]
        return sum(((e[:, i] @ W) * e[:, j]).sum(-1) for i in range(f) for j in range(i + 1, f))

    ok, line = _verdict(ex08.q3, loops, capsys)
    assert ok, line


def _pairs(e, offset=1):
    return torch.triu_indices(e.shape[1], e.shape[1], offset=offset)


def _sq(e, W):
    s = e.sum(1)
    return torch.einsum("bd,de,be->b", s, W, s)


def _diag(e, W):
    return torch.einsum("bfd,de,bfe->b", e, W, e)


Q3_MISTAKES = {
    "square of sums": (lambda e, W: 0.5 * (_sq(e, W) - _diag(e, W)), "needs a symmetric W"),
    "ordered pairs": (lambda e, W: _sq(e, W) - _diag(e, W), "all ordered pairs"),
    "everything": (lambda e, W: _sq(e, W), "with itself (i = j) and every ordered pair"),
    "self pairs": (
        lambda e, W: ((e @ W)[:, _pairs(e, 0)[0]] * e[:, _pairs(e, 0)[1]]).sum((1, 2)),
        "with itself (i = j)",
    ),
    "transposed": (
        lambda e, W: ((e @ W.T)[:, _pairs(e)[0]] * e[:, _pairs(e)[1]]).sum((1, 2)),
        "W transposed",
    ),
    "no W": (lambda e, W: (e[:, _pairs(e)[0]] * e[:, _pairs(e)[1]]).sum((1, 2)), "FM's pairwise"),
    "pair vectors": (lambda e, W: (e @ W)[:, _pairs(e)[0]] * e[:, _pairs(e)[1]], "[B, P, D]"),
    "pair scores": (
        lambda e, W: ((e @ W)[:, _pairs(e)[0]] * e[:, _pairs(e)[1]]).sum(-1),
        "Sum over the pairs too",
    ),
    "sigmoid": (
        lambda e, W: torch.sigmoid(((e @ W)[:, _pairs(e)[0]] * e[:, _pairs(e)[1]]).sum((1, 2))),
        "probabilities",
    ),
}


@pytest.mark.parametrize("name", list(Q3_MISTAKES))
def test_q3_rejects_classic_mistakes(name, capsys):
    fn, fragment = Q3_MISTAKES[name]
    ok, line = _verdict(ex08.q3, fn, capsys)
    assert not ok and line.startswith("❌ Incorrect"), line
    assert fragment in line, line
