"""Checkers of notebook 02: each accepts the reference solution and rejects the classic mistakes
with the message that teaches the fix."""

from __future__ import annotations

import pytest
import torch

from ctr_helpers import models, reference
from ctr_helpers.exercises.ex02 import FRAPPE_DIMS, QUESTIONS, q1, q2, q3
from ctr_helpers.exercises.ex02 import _fm_interaction_solution as fm_interaction_solution
from ctr_helpers.exercises.ex02 import _fm_num_parameters_solution as fm_num_parameters_solution
from ctr_helpers.exercises.ex02 import _pair_weight_solution as pair_weight_solution


def verdict(question, answer, capsys):
    result = question.check(answer)
    out = capsys.readouterr().out.strip()
    assert "\n" not in out, "a check prints exactly one line"
    return bool(result), out


def test_questions_listed():
    assert QUESTIONS == [q1, q2, q3]


# --------------------------------------------------------------------------- q1
def _einsum_version(e):  # another correct way to write it
    s = torch.einsum("bfd->bd", e)
    return 0.5 * (torch.einsum("bd,bd->b", s, s) - torch.einsum("bfd,bfd->b", e, e))


def test_q1_accepts_reference_and_alternatives(capsys):
    ok, out = verdict(q1, fm_interaction_solution, capsys)
    assert ok and out.startswith("✅ Correct"), out
    assert verdict(q1, _einsum_version, capsys)[0]


def test_q1_solution_matches_package_layer():
    from ctr_helpers.layers import FMInteraction

    e = torch.randn(5, 4, 3)
    torch.testing.assert_close(fm_interaction_solution(e), FMInteraction()(e))


def _forgot_half(e):
    return (e.sum(1).pow(2) - e.pow(2).sum(1)).sum(1)


def _flattened(e):
    flat = e.reshape(e.shape[0], -1)
    return 0.5 * (flat.sum(1).pow(2) - flat.pow(2).sum(1))


def _wrong_axis(e):
    return 0.5 * (e.sum(2).pow(2) - e.pow(2).sum(2)).sum(1)


def _batch_axis(e):
    return 0.5 * (e.sum(0).pow(2) - e.pow(2).sum(0)).sum(1)


def _no_subtraction(e):
    return 0.5 * e.sum(1).pow(2).sum(1)


def _no_final_sum(e):
    return 0.5 * (e.sum(1).pow(2) - e.pow(2).sum(1))


def _keepdim(e):
    return fm_interaction_solution(e).unsqueeze(1)


def _reversed(e):
    return 0.5 * (e.pow(2).sum(1) - e.sum(1).pow(2)).sum(1)


def _crashes(e):
    return e.sum(dim=5)


@pytest.mark.parametrize(
    "answer, status, message",
    [
        (_forgot_half, "❌ Incorrect", "the 1/2 is missing"),
        (_flattened, "❌ Incorrect", "you flattened the embeddings to [B, F*D]"),
        (_wrong_axis, "❌ Incorrect", "you summed over the embedding axis (dim=2)"),
        (_batch_axis, "❌ Incorrect", "you reduced over dim=0, the batch"),
        (_no_subtraction, "❌ Incorrect", "you kept the self-interactions"),
        (_no_final_sum, "❌ Incorrect", "one number per row is expected, shape [B]"),
        (_keepdim, "❌ Incorrect", "return shape [B], not [B, 1]"),
        (_reversed, "❌ Incorrect", "opposite sign"),
        (_crashes, "❌ Incorrect", "your code raised IndexError"),
        (reference.fm, "🤔 Not yet", "loops in Python"),
        (lambda e: fm_interaction_solution(e).numpy(), "❌ Incorrect", "numpy.ndarray"),
    ],
)
def test_q1_rejects_classic_mistakes(answer, status, message, capsys):
    ok, out = verdict(q1, answer, capsys)
    assert not ok
    assert out.startswith(status) and message in out, out


def test_q1_starter_is_not_yet(capsys):
    def fm_interaction(e):
        raise NotImplementedError

    ok, out = verdict(q1, fm_interaction, capsys)
    assert not ok and out.startswith("🤔 Not yet"), out


# --------------------------------------------------------------------------- q2
@pytest.mark.parametrize("dims, k", [(FRAPPE_DIMS, 10), ([3, 4], 2), ([7], 5)])
def test_q2_solution_matches_count_parameters(dims, k):
    assert fm_num_parameters_solution(dims, k) == models.count_parameters(models.FM(dims, k))


def test_q2_accepts_reference(capsys):
    ok, out = verdict(q2, fm_num_parameters_solution, capsys)
    assert ok and "59,203" in out, out
    assert verdict(q2, lambda dims, k: float(fm_num_parameters_solution(dims, k)), capsys)[0]


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda dims, k: sum(dims) * k, "only the embedding table"),
        (lambda dims, k: sum(dims) + sum(dims) * k, "forgot the global bias"),
        (lambda dims, k: 1 + sum(dims) * k, "forgot the linear weights"),
        (lambda dims, k: 1 + sum(dims) + len(dims) * k, "not one per field"),
        (lambda dims, k: 1 + len(dims) + len(dims) * k, "count features, not fields"),
        (lambda dims, k: 1 + sum(dims) + sum(dims) * (sum(dims) - 1) // 2, "LR with every cross"),
        (lambda dims, k: 1 + sum(dims) + sum(dims) * (len(dims) - 1) * k, "field-aware FM"),
        (lambda dims, k: 1 + sum(dims) + sum(dims) * len(dims) * k, "field-aware FM"),
        (lambda dims, k: [1, sum(dims), sum(dims) * k], "expected an int"),
        (lambda dims, k: 12345, "count the bias, the linear weights"),
    ],
)
def test_q2_rejects_classic_mistakes(answer, message, capsys):
    ok, out = verdict(q2, answer, capsys)
    assert not ok
    assert out.startswith("❌ Incorrect") and message in out, out


# --------------------------------------------------------------------------- q3
def test_q3_accepts_reference_and_tensor_result(capsys):
    assert verdict(q3, pair_weight_solution, capsys)[0]

    def as_tensor(V, field_dims, f, a, g, b):
        start = torch.cumsum(torch.tensor([0] + list(field_dims)), 0)
        return V[start[f] + a] @ V[start[g] + b]  # a 0-d tensor is fine

    assert verdict(q3, as_tensor, capsys)[0]


def test_q3_solution_matches_a_trained_fm_layout():
    from ctr_helpers.layers import FMInteraction

    dims = [3, 4, 2]
    model = models.FM(dims, embed_dim=5)
    V = model.embedding.embedding.weight.detach()
    x = torch.tensor([[2, 1, 0]])
    e = model.embedding(x).detach()
    pairs = sum(
        pair_weight_solution(V, dims, f, int(x[0, f]), g, int(x[0, g]))
        for f in range(3)
        for g in range(f + 1, 3)
    )
    torch.testing.assert_close(torch.tensor([pairs]), FMInteraction()(e))


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda V, dims, f, a, g, b: float(V[a] @ V[b]), "without the field offsets"),
        (
            lambda V, dims, f, a, g, b: float(
                V[sum(dims[: f + 1]) + a] @ V[sum(dims[: g + 1]) + b]
            ),
            "include the field's own size",
        ),
        (
            lambda V, dims, f, a, g, b: V[sum(dims[:f]) + a] * V[sum(dims[:g]) + b],
            "not the elementwise product",
        ),
        (
            lambda V, dims, f, a, g, b: 2 * pair_weight_solution(V, dims, f, a, g, b),
            "twice <v_a, v_b>",
        ),
        (lambda V, dims, f, a, g, b: 0.0, "the weight is <V[row of a], V[row of b]>"),
    ],
)
def test_q3_rejects_classic_mistakes(answer, message, capsys):
    ok, out = verdict(q3, answer, capsys)
    assert not ok
    assert out.startswith("❌ Incorrect") and message in out, out
