"""Exercises of notebook 06 (DCN): one cross layer, its degree, and what crosses cost.

from ctr_helpers.exercises.ex06 import q1, q2, q3
q1.check(cross_layer)        # cross_layer(x0, xl, w, b) -> x_{l+1}, all torch tensors
q2.check(cross_degree)       # cross_degree(L) -> int, degree in x0 after L bias-free layers
q3.check(cross_param_count)  # cross_param_count(d, L, kind, rank=None) -> int
"""

from __future__ import annotations

import math

import torch

from ctr_helpers.exercises._core import Incorrect, NotYet, Question, call, compare_outputs, matches

__all__ = ["QUESTIONS", "q1", "q2", "q3"]


# --------------------------------------------------------------------------- q1: one cross layer
def _cross_layer(x0, xl, w, b):
    """One DCN cross layer: x_{l+1} = x0 (w . x_l) + b + x_l, for x0, xl [B, d] and w, b [d]."""
    return x0 * (xl @ w).unsqueeze(1) + b + xl


def _cross_inputs(batch: int, dim: int):
    x0 = torch.randn(batch, dim, dtype=torch.float64)
    xl = torch.randn(batch, dim, dtype=torch.float64)  # a later layer's state: xl != x0
    w = torch.randn(dim, dtype=torch.float64)
    b = torch.randn(dim, dtype=torch.float64)
    return x0, xl, w, b


def _cross_mistakes(x0, xl, w, b):
    """Classic wrong cross layers and the message that explains each."""
    s = (xl @ w).unsqueeze(1)  # [B, 1]: one number per row
    return [
        (
            x0 * s + b,
            "you dropped the residual `+ x_l`: without it a layer keeps only its newest, "
            "highest-degree crosses and loses x0 and every lower-order term built so far",
        ),
        (
            x0 * s + b + x0,
            "the residual must add the layer's own input x_l, not x0: adding x0 overwrites "
            "what the earlier layers built (x_l), so depth no longer accumulates crosses",
        ),
        (
            xl * (x0 @ w).unsqueeze(1) + b + xl,
            "x0 and x_l swapped roles: the scalar is the dot product w . x_l (of the current "
            "state), and it scales x0, the original input; that is what adds one degree per layer",
        ),
        (
            x0 * s + xl,
            "the bias b_l is missing: x_{l+1} = x0 (w . x_l) + b_l + x_l",
        ),
        (
            x0 * xl * w + b + xl,
            "x0 * x_l * w multiplies coordinate by coordinate: that is DCN-v2 with a diagonal "
            "matrix W = diag(w). DCN v1 takes the dot product w . x_l (one number per row) and "
            "scales all of x0 by it",
        ),
        (
            x0 * (xl * w).sum(0) + b + xl,
            "you summed w * x_l over the batch (dim 0): the dot product w . x_l is one number "
            "per row, a sum over the features (dim 1)",
        ),
        (
            x0 * (x0 @ w).unsqueeze(1) + b + xl,
            "you took w . x0 where the layer needs w . x_l: with w . x0 every layer adds the "
            "same degree-2 term and depth never raises the degree",
        ),
    ]


def _check_cross_layer(fn):
    for batch, dim in ((5, 7), (1, 3)):
        x0, xl, w, b = _cross_inputs(batch, dim)
        got = call(fn, x0, xl, w, b)
        if got is None:
            raise NotYet("your function returned None: did you forget to `return` x_{l+1}?")
        if not isinstance(got, torch.Tensor):
            raise Incorrect(f"return a torch.Tensor of shape [B, d], got {type(got).__name__}")
        if tuple(got.shape) == (batch, dim, dim):
            raise Incorrect(
                "your result is [B, d, d]: you built the outer product x0 x_l^T but did not "
                "multiply it by w. x0 x_l^T w equals x0 (x_l . w), which needs no d x d matrix"
            )
        for wrong, message in _cross_mistakes(x0, xl, w, b):
            if matches(got, wrong, rtol=1e-6, atol=1e-8):
                raise Incorrect(message)
        what = "your x_{l+1}" if batch > 1 else "your x_{l+1} for a batch of one row"
        compare_outputs(got, _cross_layer(x0, xl, w, b), what=what, rtol=1e-6, atol=1e-8)
    return "x0 (w . x_l) + b + x_l, with d weights and d biases, and no d x d matrix"


q1 = Question(
    "q1",
    _check_cross_layer,
    hint=[
        "x0 x_l^T w is a vector times a number: x0 scaled by the dot product x_l . w.",
        "xl @ w gives one number per row, shape [B]; .unsqueeze(1) makes it [B, 1] so that it "
        "broadcasts against x0 [B, d]. Then add b and the residual x_l.",
    ],
    solution=_cross_layer,
)


# --------------------------------------------------------------------------- q2: the degree
def _cross_degree(num_layers):
    """Highest degree in x0 of the output of ``num_layers`` cross layers (x_0 alone: degree 1)."""
    return num_layers + 1


def _as_int(got, layers: int) -> int:
    if got is None:
        raise NotYet("your function returned None: return the degree as a whole number")
    if hasattr(got, "item") and getattr(got, "ndim", 0) == 0:
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, int | float):
        raise Incorrect(
            f"for L = {layers} you returned a {type(got).__name__}: return one whole number"
        )
    if got != int(got):
        raise Incorrect(f"for L = {layers} you returned {got}: a degree is a whole number")
    return int(got)


def _check_degree(fn):
    layers = range(0, 9)
    got = [_as_int(call(fn, n), n) for n in layers]
    expected = [_cross_degree(n) for n in layers]
    if got == expected:
        return "each layer multiplies by x0 once more: degree L + 1 (3 layers reach degree 4)"
    if got == list(layers):
        raise Incorrect(
            "off by one: x0 itself already has degree 1, and layer 1 gives x0 (w . x0), degree 2. "
            "Each layer adds one, so L layers reach L + 1"
        )
    if got == [2**n for n in layers] or got == [2 ** (n + 1) for n in layers]:
        raise Incorrect(
            "the degree doubles only when a layer multiplies its input by itself (x_l times x_l). "
            "The cross layer multiplies x_l by x0, of degree 1, so each layer adds one: L + 1"
        )
    if got == [n + 2 for n in layers]:
        raise Incorrect(
            "one too many: with no layer the output is x0 (degree 1), and each layer adds one"
        )
    if got[1:] == expected[1:]:
        raise Incorrect(
            f"right for L >= 1, but for L = 0 (no cross layer) the output is x0 itself: degree "
            f"1, you returned {got[0]}"
        )
    bad = next(n for n in layers if got[n] != expected[n])
    raise Incorrect(
        f"for L = {bad} you returned {got[bad]}: follow the top-degree term, x_1 = x0 (w_0 . x0) "
        "has degree 2, x_2 = x0 (w_1 . x_1) + ... has degree 3, and so on"
    )


q2 = Question(
    "q2",
    _check_degree,
    hint=[
        "Write out x_1 and x_2 with b = 0: x_1 = x0 (w_0 . x0) + x0. Which term has the highest "
        "degree, and what does the next layer multiply it by?",
    ],
    solution=_cross_degree,
)


# --------------------------------------------------------------------------- q3: parameter count
def _cross_param_count(d, num_layers, kind, rank=None):
    """Weights of ``num_layers`` cross layers on an input of width ``d``, biases included.

    kind: "dcn" (w_l and b_l: 2d per layer), "dcnv2" (W_l [d, d] and b_l: d^2 + d per layer) or
    "lowrank" (W_l = U_l V_l^T with U_l, V_l [d, rank], and b_l: 2 d rank + d per layer).
    """
    per_layer = {"dcn": 2 * d, "dcnv2": d * d + d, "lowrank": 2 * d * (rank or 0) + d}[kind]
    return num_layers * per_layer


def _real_count(d: int, num_layers: int, kind: str, rank: int | None) -> int:
    """The count of the ctr_helpers layers themselves: the checker trusts the code, not a formula."""
    from ctr_helpers import layers

    if kind == "dcn":
        net = layers.CrossNetwork(d, num_layers)
    else:
        net = layers.CrossNetworkV2(d, num_layers, low_rank=rank if kind == "lowrank" else None)
    return sum(p.numel() for p in net.parameters())


_KINDS = ("dcn", "dcnv2", "lowrank")
_CASES = [
    (100, 3, "dcn", None),
    (37, 2, "dcn", None),
    (100, 3, "dcnv2", None),
    (24, 4, "dcnv2", None),
    (100, 3, "lowrank", 16),
    (50, 2, "lowrank", 5),
]


def _param_mistakes(d, n, kind, r):
    common = [
        (
            {"dcn": 2 * d, "dcnv2": d * d + d, "lowrank": 2 * d * (r or 0) + d}[kind],
            "that is one layer's count: multiply by the number of layers L",
        )
    ]
    per_kind = {
        "dcn": [
            (n * d, "you counted w_l but not the bias b_l: each layer has d weights and d biases"),
            (n * (d * d + d), "that is DCN-v2's full matrix: DCN v1 has one vector w_l per layer"),
        ],
        "dcnv2": [
            (n * d * d, "you counted W_l but not the bias b_l (d more per layer)"),
            (n * 2 * d, "that is DCN v1: DCN-v2 replaces the vector w_l by a d x d matrix W_l"),
        ],
        "lowrank": [
            (n * 2 * d * (r or 0), "you counted U_l and V_l but not the bias b_l (d per layer)"),
            (n * (d * (r or 0) + d), "W_l = U_l V_l^T has two factors of d x r each: 2 d r"),
            (n * (d * d + d), "that is the full matrix: the low-rank layer stores U_l and V_l"),
        ],
    }
    return common + per_kind[kind]


def _check_params(fn):
    for d, n, kind, r in _CASES:
        got = call(fn, d, n, kind, r)
        if got is None:
            raise NotYet("your function returned None: return the count as a whole number")
        if hasattr(got, "item") and getattr(got, "ndim", 0) == 0:
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, int | float):
            raise Incorrect(f"return one whole number, got {type(got).__name__}")
        expected = _real_count(d, n, kind, r)
        if got == expected:
            continue
        args = f"d = {d}, L = {n}, kind = {kind!r}" + (f", rank = {r}" if r else "")
        for wrong, message in _param_mistakes(d, n, kind, r):
            if got == wrong:
                raise Incorrect(f"for {args} you returned {got:,}: {message}")
        raise Incorrect(f"for {args} you returned {got:,}, the layer has {expected:,} parameters")
    d, n, r = 100, 3, 16
    counts = [_real_count(d, n, kind, r if kind == "lowrank" else None) for kind in _KINDS]
    return (
        f"at d = {d} and L = {n}: DCN {counts[0]:,}, DCN-v2 {counts[1]:,}, rank {r}: "
        f"{counts[2]:,}; all monomials of degree <= {n + 1} in {d} inputs: "
        f"{math.comb(d + n + 1, n + 1):,}"
    )


q3 = Question(
    "q3",
    _check_params,
    hint=[
        "Count one layer, then multiply by L. DCN: a vector w_l and a bias b_l, both of length d.",
        "DCN-v2: a d x d matrix and a bias. Low rank: U_l and V_l are each d x rank, plus the bias.",
    ],
    solution=_cross_param_count,
)

QUESTIONS = [q1, q2, q3]
