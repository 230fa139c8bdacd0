"""Exercises of notebook 07 (AutoInt): attention over fields, the residual, and what heads cost.

from ctr_helpers.exercises.ex07 import q1, q2, q3
q1.check(field_attention)     # field_attention(q, k, v) -> [B, H, F, d_h]
q2.check(autoint_stack)       # autoint_stack(e, attentions) -> [B, F, D]
q3.check(interacting_params)  # interacting_params(d_in, attention_dim, num_heads) -> int
"""

from __future__ import annotations

import math

import torch

from ctr_helpers.exercises._core import Incorrect, NotYet, Question, call, compare_outputs, matches

__all__ = [
    "QUESTIONS",
    "q1",
    "q2",
    "q3",
    "autoint_stack_buggy",
]


# --------------------------------------------------------------------------- q1: attention
def _field_attention(q, k, v):
    """Scaled dot-product attention over fields, every head at once.

    q, k, v: [B, H, F, d_h] -> [B, H, F, d_h]; out_i = sum_j softmax_j(q_i . k_j / sqrt(d_h)) v_j.
    """
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # [B, H, F, F]
    return scores.softmax(dim=-1) @ v


def _attention_inputs():
    shape = (3, 2, 5, 4)  # B, H, F, d_h: F != d_h, so a transpose shows in the shape
    return tuple(torch.randn(shape, dtype=torch.float64) for _ in range(3))


def _attention_mistakes(q, k, v):
    d_h = q.shape[-1]
    scores = q @ k.transpose(-1, -2)
    return [
        (
            scores.softmax(-1) @ v,
            "the scores are not scaled: divide q . k by sqrt(d_h) before the softmax (this is "
            "the scaled attention of AutoInt+ and Transformers; the AutoInt paper itself did "
            "not scale, which makes the softmax peakier as d_h grows)",
        ),
        (
            (scores / d_h).softmax(-1) @ v,
            "you divided by d_h: divide by sqrt(d_h), which keeps the scores' variance near 1 "
            "when q and k have unit-variance entries",
        ),
        (
            (scores / math.sqrt(d_h)).softmax(-2) @ v,
            "softmax over the wrong axis: for each query field i the weights over the key "
            "fields j must sum to 1, so take the softmax over the last axis (dim=-1)",
        ),
        (
            (scores / math.sqrt(d_h)) @ v,
            "the softmax is missing: the weights must be positive and sum to 1 over the "
            "fields attended to",
        ),
        (
            (k @ q.transpose(-1, -2) / math.sqrt(d_h)).softmax(-1) @ v,
            "query and key swapped: score[i, j] is q_i . k_j (field i asks, field j answers); "
            "you computed k_i . q_j",
        ),
        (
            v @ (q.transpose(-1, -2) @ k / math.sqrt(d_h)).softmax(-1),
            "you attended over the embedding dimensions (q^T k is d_h x d_h): attention mixes "
            "fields, so the scores are q k^T, one per pair of fields",
        ),
    ]


def _check_attention(fn):
    q, k, v = _attention_inputs()
    got = call(fn, q, k, v)
    if got is None:
        raise NotYet("your function returned None: return the attention output")
    if not isinstance(got, torch.Tensor):
        raise Incorrect(f"return a torch.Tensor [B, H, F, d_h], got {type(got).__name__}")
    batch, heads, fields, _ = q.shape
    if tuple(got.shape) == (batch, heads, fields, fields):
        raise Incorrect(
            "you returned the attention weights [B, H, F, F]: multiply them by v to mix the "
            "fields' value vectors"
        )
    for wrong, message in _attention_mistakes(q, k, v):
        if matches(got, wrong, rtol=1e-6, atol=1e-8):
            raise Incorrect(message)
    compare_outputs(got, _field_attention(q, k, v), what="your attention output", rtol=1e-6)
    return "softmax(q k^T / sqrt(d_h)) v: each field's output is a weighted mean of the values"


q1 = Question(
    "q1",
    _check_attention,
    hint=[
        "q @ k.transpose(-1, -2) gives the [B, H, F, F] scores q_i . k_j.",
        "Divide by math.sqrt(d_h), softmax over the last axis, then @ v.",
    ],
    solution=_field_attention,
)


# --------------------------------------------------------------------------- q2: the residual
def autoint_stack_buggy(e, attentions):
    """The shipped bug: attention layers stacked, the residual and ReLU applied once at the end."""
    h = e
    for attention in attentions:
        h = attention(h)
    return torch.relu(h + e)


def _autoint_stack(e, attentions):
    """AutoInt's interacting layers: residual and ReLU in every layer.

    e: [B, F, D]; each ``attention(h)`` is one layer's multi-head attention [B, F, D] -> [B, F, D]
    (the residual is the identity here since the widths match).
    """
    h = e
    for attention in attentions:
        h = torch.relu(attention(h) + h)
    return h


class _Attention:
    """A fixed random multi-head self-attention over fields, [B, F, D] -> [B, F, D]."""

    def __init__(self, dim: int, heads: int) -> None:
        self.heads = heads
        self.wq, self.wk, self.wv = (torch.randn(dim, dim, dtype=torch.float64) for _ in range(3))
        self.wv = self.wv / math.sqrt(dim)

    def __call__(self, h):
        batch, fields, dim = h.shape

        def split(t):
            return t.view(batch, fields, self.heads, dim // self.heads).transpose(1, 2)

        q, k, v = split(h @ self.wq), split(h @ self.wk), split(h @ self.wv)
        out = _field_attention(q, k, v)  # [B, H, F, d_h]
        return out.transpose(1, 2).reshape(batch, fields, dim)


def _stack_mistakes(e, attentions):
    def run(step):
        h = e
        for attention in attentions:
            h = step(attention, h)
        return h

    return [
        (
            autoint_stack_buggy(e, attentions),
            "this is the bug itself: the residual and the ReLU are applied once, after the "
            "whole stack. Each layer needs its own: h = relu(attention(h) + h)",
        ),
        (
            run(lambda a, h: torch.relu(a(h))) + e,
            "the residual is applied once after the stack: each layer must add its own input, "
            "h = relu(attention(h) + h), so every layer keeps what the previous ones built",
        ),
        (
            run(lambda a, h: torch.relu(a(h) + e)),
            "each layer adds the embeddings e (like DCN's x0) instead of its own input h: "
            "AutoInt's residual carries the layer's input forward, h = relu(attention(h) + h)",
        ),
        (
            run(lambda a, h: torch.relu(a(h)) + h),
            "the ReLU comes after the residual sum: h = relu(attention(h) + h). With "
            "relu(attention(h)) + h negative values of h pass unchanged through every layer",
        ),
        (
            run(lambda a, h: a(h) + h),
            "the ReLU is missing: every interacting layer ends with relu(attention(h) + h)",
        ),
        (
            run(lambda a, h: torch.relu(a(h))),
            "the residual is missing: without + h a layer can only pass on what attention "
            "mixed, and the raw field embeddings are lost after the first layer",
        ),
    ]


def _check_stack(fn):
    fields, dim, heads = 4, 6, 2
    attentions = [_Attention(dim, heads) for _ in range(3)]
    for batch in (5, 1):
        e = torch.randn(batch, fields, dim, dtype=torch.float64)
        got = call(fn, e, attentions)
        if got is None:
            raise NotYet("your function returned None: return the last layer's output")
        if not isinstance(got, torch.Tensor):
            raise Incorrect(f"return a torch.Tensor [B, F, D], got {type(got).__name__}")
        for wrong, message in _stack_mistakes(e, attentions):
            if matches(got, wrong, rtol=1e-6, atol=1e-8):
                raise Incorrect(message)
        what = "your stack's output" + ("" if batch > 1 else " for a batch of one row")
        compare_outputs(got, _autoint_stack(e, attentions), what=what, rtol=1e-6, atol=1e-8)
    return "relu(attention(h) + h) in every layer, as in the paper"


q2 = Question(
    "q2",
    _check_stack,
    hint=[
        "Move the residual and the ReLU inside the loop.",
        "Each layer: h = torch.relu(attention(h) + h).",
    ],
    solution=_autoint_stack,
)


# --------------------------------------------------------------------------- q3: what heads cost
def _interacting_params(d_in, attention_dim, num_heads):
    """Weights of one ``ctr_helpers.layers.InteractingLayer`` (no layer norm).

    W_Q, W_K, W_V: d_in x attention_dim each, whatever the number of heads (the heads split
    attention_dim into num_heads slices); plus a residual projection d_in x attention_dim unless
    d_in == attention_dim (then the residual is the identity).
    """
    projection = 0 if d_in == attention_dim else d_in * attention_dim
    return 3 * d_in * attention_dim + projection


_LAYER_CASES = [(10, 128, 4), (10, 64, 2), (128, 128, 4), (16, 16, 8), (8, 24, 3)]


def _real_params(d_in: int, attention_dim: int, num_heads: int) -> int:
    from ctr_helpers.layers import InteractingLayer

    layer = InteractingLayer(d_in, attention_dim, num_heads)
    return sum(p.numel() for p in layer.parameters())


def _check_interacting_params(fn):
    for d_in, a, h in _LAYER_CASES:
        got = call(fn, d_in, a, h)
        if got is None:
            raise NotYet("your function returned None: return the count as a whole number")
        if hasattr(got, "item") and getattr(got, "ndim", 0) == 0:
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, int | float):
            raise Incorrect(f"return one whole number, got {type(got).__name__}")
        expected = _real_params(d_in, a, h)
        if got == expected:
            continue
        args = f"d_in = {d_in}, attention_dim = {a}, num_heads = {h}"
        if got == expected * h or got == 3 * d_in * a * h + (expected - 3 * d_in * a) * h:
            message = (
                "heads do not add weights: H heads split attention_dim into H slices of "
                "attention_dim / H, so W_Q, W_K, W_V stay d_in x attention_dim"
            )
        elif got == 3 * d_in * a:
            message = (
                "the residual projection is missing: when d_in != attention_dim the residual "
                "needs W_res (d_in x attention_dim) to match the widths"
            )
        elif got == 4 * d_in * a:
            message = (
                "when d_in == attention_dim the residual is the identity (+ e), no W_res needed"
            )
        elif got == 3 * (d_in * a // h) + (expected - 3 * d_in * a):
            message = (
                "each of W_Q, W_K, W_V is d_in x attention_dim, not d_in x (attention_dim / H)"
            )
        else:
            message = f"the layer has {expected:,} parameters"
        raise Incorrect(f"for {args} you returned {got:,}: {message}")
    d_in, a = 10, 128
    return (
        f"3 d_in A (+ d_in A for the residual projection), whatever the heads: "
        f"{_real_params(d_in, a, 1):,} weights for d_in = {d_in}, A = {a} with 1 head or with 8"
    )


q3 = Question(
    "q3",
    _check_interacting_params,
    hint=[
        "Count W_Q, W_K and W_V: each maps d_in to attention_dim. Do heads change that?",
        "The residual needs a projection only when the widths differ (d_in != attention_dim).",
    ],
    solution=_interacting_params,
)

QUESTIONS = [q1, q2, q3]
