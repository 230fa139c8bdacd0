"""Checkers of notebook 03: each accepts the reference solution and rejects the classic mistakes
with the message that teaches the fix."""

from __future__ import annotations

import pytest
import torch

from ctr_helpers import layers, models, reference
from ctr_helpers.exercises.ex03 import QUESTIONS, q1, q2
from ctr_helpers.exercises.ex03 import _ffm_interaction_solution as ffm_interaction_solution
from ctr_helpers.exercises.ex03 import _ffm_num_parameters_solution as ffm_num_parameters_solution


def verdict(question, answer, capsys):
    result = question.check(answer)
    out = capsys.readouterr().out.strip()
    assert "\n" not in out, "a check prints exactly one line"
    return bool(result), out


def test_questions_listed():
    assert QUESTIONS == [q1, q2]


# --------------------------------------------------------------------------- q1
def test_q1_accepts_reference(capsys):
    ok, out = verdict(q1, ffm_num_parameters_solution, capsys)
    assert ok and "489,763" in out, out


def test_q1_solution_is_the_package_count():
    # ctr_helpers' FFM keeps F - 1 vectors per feature by default (FuxiCTR, BARS); with
    # diagonal_slot=True it keeps F (libffm's layout, one never used): n*k more
    dims, k = [3, 5, 2], 4
    n = sum(dims)
    assert ffm_num_parameters_solution(dims, k) == models.count_parameters(models.FFM(dims, k))
    package_f_slots = models.count_parameters(models.FFM(dims, k, diagonal_slot=True))
    assert ffm_num_parameters_solution(dims, k) == package_f_slots - n * k


def test_q1_solution_reproduces_bars_published_count():
    # BARS Frappe_x1: LR 5,390 = 1 + n  ->  FFM 490,400 with 10 fields, k = 10
    n = 5_390 - 1
    dims = [n - 9] + [1] * 9  # any 10 fields with n values in total
    assert ffm_num_parameters_solution(dims, 10) == 490_400


def _n(dims):
    return sum(dims)


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda d, k: 1 + _n(d) + _n(d) * len(d) * k, "a vector for its own field too"),
        (lambda d, k: 1 + _n(d) + _n(d) * k, "that is plain FM"),
        (lambda d, k: _n(d) * (len(d) - 1) * k, "only the field-aware table"),
        (lambda d, k: _n(d) + _n(d) * (len(d) - 1) * k, "forgot the global bias"),
        (lambda d, k: 1 + _n(d) * (len(d) - 1) * k, "forgot the linear weights"),
        (
            lambda d, k: 1 + _n(d) + _n(d) * (len(d) * (len(d) - 1) // 2) * k,
            "not one per field pair",
        ),
        (lambda d, k: 1 + _n(d) + len(d) * (len(d) - 1) * k, "not every field"),
        (lambda d, k: 1 + _n(d) + (len(d) * (len(d) - 1) // 2) * k, "count vectors per feature"),
        (lambda d, k: "489763", "expected an int"),
        (lambda d, k: 1 + _n(d) + _n(d) * max(len(d) - 1, 1) * k, "a single field has no pairs"),
    ],
)
def test_q1_rejects_classic_mistakes(answer, message, capsys):
    ok, out = verdict(q1, answer, capsys)
    assert not ok
    assert out.startswith("❌ Incorrect") and message in out, out


# --------------------------------------------------------------------------- q2
def _einsum_version(e):
    num_fields = e.shape[1]
    mask = torch.ones(num_fields, num_fields).triu(1)
    return torch.einsum("bfgd,bgfd,fg->b", e, e, mask)


def test_q2_accepts_reference_and_alternatives(capsys):
    ok, out = verdict(q2, ffm_interaction_solution, capsys)
    assert ok and out.startswith("✅ Correct"), out
    assert verdict(q2, _einsum_version, capsys)[0]

    def lower_triangle(e):  # the mirrored pairs give the same products
        rows, cols = torch.tril_indices(e.shape[1], e.shape[1], offset=-1)
        return (e[:, rows, cols] * e[:, cols, rows]).sum(dim=(1, 2))

    assert verdict(q2, lower_triangle, capsys)[0]


def test_q2_solution_matches_package_layer_and_loop():
    dims = [4, 3, 5, 2]
    layer = layers.FFMInteraction(dims, embed_dim=3)
    torch.nn.init.normal_(layer.embedding.embedding.embedding.weight)
    x = torch.tensor([[0, 2, 4, 1], [3, 0, 0, 0]])
    e = layer.embedding(x)
    torch.testing.assert_close(ffm_interaction_solution(e), layer(x))
    torch.testing.assert_close(ffm_interaction_solution(e), reference.ffm(layer, x))


def _pairs(e, offset=1):
    return torch.triu_indices(e.shape[1], e.shape[1], offset=offset)


def _same_side_twice(e):
    r, c = _pairs(e)
    return (e[:, r, c] * e[:, r, c]).sum(dim=(1, 2))


def _diagonal_vectors(e):
    r, c = _pairs(e)
    return (e[:, r, r] * e[:, c, c]).sum(dim=(1, 2))


def _both_orders(e):
    r, c = (~torch.eye(e.shape[1], dtype=torch.bool)).nonzero().T
    return (e[:, r, c] * e[:, c, r]).sum(dim=(1, 2))


def _with_diagonal(e):
    r, c = _pairs(e, offset=0)
    return (e[:, r, c] * e[:, c, r]).sum(dim=(1, 2))


def _per_pair(e):
    r, c = _pairs(e)
    return (e[:, r, c] * e[:, c, r]).sum(dim=2)


def _loop(e):
    total = torch.zeros(e.shape[0])
    for i in range(e.shape[1]):
        for j in range(i + 1, e.shape[1]):
            total = total + (e[:, i, j] * e[:, j, i]).sum(dim=1)
    return total


@pytest.mark.parametrize(
    "answer, status, message",
    [
        (_same_side_twice, "❌ Incorrect", "both factors are e[:, rows, cols]"),
        (_diagonal_vectors, "❌ Incorrect", "vector for its own field"),
        (_both_orders, "❌ Incorrect", "each pair is counted twice"),
        (_with_diagonal, "❌ Incorrect", "you included the diagonal pairs"),
        (_per_pair, "❌ Incorrect", "one number per row is expected"),
        (lambda e: e.sum(), "❌ Incorrect", "shape"),
        (lambda e: e[e.shape[0]], "❌ Incorrect", "your code raised IndexError"),
        (_loop, "🤔 Not yet", "loops in Python over the field pairs"),
    ],
)
def test_q2_rejects_classic_mistakes(answer, status, message, capsys):
    ok, out = verdict(q2, answer, capsys)
    assert not ok
    assert out.startswith(status) and message in out, out
