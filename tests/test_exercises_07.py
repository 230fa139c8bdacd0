"""Checkers of notebook 07 (AutoInt): each accepts the reference solution and rejects the classic
mistakes with the message that teaches the fix."""

from __future__ import annotations

import math

import pytest
import torch

from ctr_helpers.exercises.ex07 import QUESTIONS, autoint_stack_buggy, q1, q2, q3
from ctr_helpers.exercises.ex07 import _autoint_stack as autoint_stack
from ctr_helpers.exercises.ex07 import _field_attention as field_attention
from ctr_helpers.exercises.ex07 import _interacting_params as interacting_params


def verdict(question, answer, capsys):
    result = question.check(answer)
    out = capsys.readouterr().out.strip()
    assert "\n" not in out, "a check prints exactly one line"
    return bool(result), out


def test_questions_listed():
    assert QUESTIONS == [q1, q2, q3]


# --------------------------------------------------------------------------- q1: attention
def _torch_sdpa(q, k, v):
    return torch.nn.functional.scaled_dot_product_attention(q, k, v)


def _per_head_loop(q, k, v):  # slow but right: one head at a time
    out = torch.empty_like(q)
    for h in range(q.shape[1]):
        s = q[:, h] @ k[:, h].transpose(1, 2) / math.sqrt(q.shape[-1])
        out[:, h] = torch.softmax(s, dim=2) @ v[:, h]
    return out


def test_q1_accepts_reference_and_equivalents(capsys):
    assert verdict(q1, field_attention, capsys)[0]
    assert verdict(q1, _torch_sdpa, capsys)[0]
    assert verdict(q1, _per_head_loop, capsys)[0]


def _scores(q, k):
    return q @ k.transpose(-1, -2)


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda q, k, v: _scores(q, k).softmax(-1) @ v, "the scores are not scaled"),
        (lambda q, k, v: (_scores(q, k) / q.shape[-1]).softmax(-1) @ v, "you divided by d_h"),
        (
            lambda q, k, v: (_scores(q, k) / math.sqrt(q.shape[-1])).softmax(-2) @ v,
            "softmax over the wrong axis",
        ),
        (lambda q, k, v: _scores(q, k) / math.sqrt(q.shape[-1]) @ v, "the softmax is missing"),
        (
            lambda q, k, v: (_scores(k, q) / math.sqrt(q.shape[-1])).softmax(-1) @ v,
            "query and key swapped",
        ),
        (
            lambda q, k, v: v @ (q.transpose(-1, -2) @ k / math.sqrt(q.shape[-1])).softmax(-1),
            "you attended over the embedding dimensions",
        ),
        (
            lambda q, k, v: (_scores(q, k) / math.sqrt(q.shape[-1])).softmax(-1),
            "you returned the attention weights",
        ),
        (lambda q, k, v: field_attention(q, k, v).tolist(), "return a torch.Tensor"),
        (lambda q, k, v: field_attention(q, k, v).sum(1), "shape"),
    ],
)
def test_q1_rejects_classic_mistakes(answer, message, capsys):
    ok, out = verdict(q1, answer, capsys)
    assert not ok
    assert out.startswith("❌ Incorrect") and message in out, out


def test_q1_starter_is_not_yet(capsys):
    def starter(q, k, v):
        raise NotImplementedError

    assert verdict(q1, starter, capsys)[1].startswith("🤔 Not yet")


# --------------------------------------------------------------------------- q2: the residual
def _stack(step):
    def fn(e, attentions):
        h = e
        for attention in attentions:
            h = step(attention, h, e)
        return h

    return fn


def test_q2_accepts_reference(capsys):
    assert verdict(q2, autoint_stack, capsys) == (
        True,
        "✅ Correct: relu(attention(h) + h) in every layer, as in the paper",
    )
    assert verdict(q2, _stack(lambda a, h, e: torch.clamp(a(h) + h, min=0)), capsys)[0]


@pytest.mark.parametrize(
    "answer, message",
    [
        (autoint_stack_buggy, "this is the bug itself"),
        (
            lambda e, attentions: _stack(lambda a, h, e0: torch.relu(a(h)))(e, attentions) + e,
            "the residual is applied once after the stack",
        ),
        (_stack(lambda a, h, e: torch.relu(a(h) + e)), "instead of its own input"),
        (_stack(lambda a, h, e: torch.relu(a(h)) + h), "the ReLU comes after the residual sum"),
        (_stack(lambda a, h, e: a(h) + h), "the ReLU is missing"),
        (_stack(lambda a, h, e: torch.relu(a(h))), "the residual is missing"),
        (lambda e, attentions: autoint_stack(e, attentions[:1]), "differs from the expected"),
        (lambda e, attentions: autoint_stack(e, attentions).squeeze(), "for a batch of one row"),
    ],
)
def test_q2_rejects_classic_mistakes(answer, message, capsys):
    ok, out = verdict(q2, answer, capsys)
    assert not ok
    assert out.startswith("❌ Incorrect") and message in out, out


def test_q2_reference_matches_the_package_layers():
    """The fixed stack is what three ctr_helpers InteractingLayers compute (same widths, so the
    residual is the identity); the buggy stack is not."""
    from ctr_helpers.layers import InteractingLayer

    torch.manual_seed(0)
    layers = [InteractingLayer(8, 8, 2) for _ in range(3)]

    def attention_only(layer):  # the layer's multi-head attention, without residual and ReLU
        def run(h):
            b, f, _ = h.shape
            q, k, v = (
                proj(h).view(b, f, 2, 4).transpose(1, 2)
                for proj in (layer.query, layer.key, layer.value)
            )
            out = (q @ k.transpose(-1, -2)).softmax(-1) @ v  # unscaled, the layer's default
            return out.transpose(1, 2).reshape(b, f, 8)

        return run

    e = torch.randn(4, 5, 8)
    expected = e
    for layer in layers:
        expected = layer(expected)
    attentions = [attention_only(layer) for layer in layers]
    with torch.no_grad():
        torch.testing.assert_close(autoint_stack(e, attentions), expected.detach())
        assert not torch.allclose(autoint_stack_buggy(e, attentions), expected, atol=1e-3)


# --------------------------------------------------------------------------- q3: what heads cost
def test_q3_accepts_reference(capsys):
    ok, out = verdict(q3, interacting_params, capsys)
    assert ok and "5,120 weights for d_in = 10, A = 128" in out, out


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda d, a, h: h * interacting_params(d, a, h), "heads do not add weights"),
        (lambda d, a, h: 3 * d * a, "the residual projection is missing"),
        (lambda d, a, h: 4 * d * a, "the residual is the identity"),
        (lambda d, a, h: 3 * d * a // h + (d * a if d != a else 0), "not d_in x (attention_dim"),
        (lambda d, a, h: 3 * d * a + a, "the layer has"),
    ],
)
def test_q3_rejects_classic_mistakes(answer, message, capsys):
    ok, out = verdict(q3, answer, capsys)
    assert not ok
    assert out.startswith("❌ Incorrect") and message in out, out
