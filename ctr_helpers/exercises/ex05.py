"""Exercises of notebook 05 (xDeepFM): one CIN layer, its degree, its parameter count.

from ctr_helpers.exercises.ex05 import q1, q2, q3
q1.check(cin_layer)       # cin_layer(x_prev, x0, W) -> [B, H_next, D]
q2.check(cin_degree)      # cin_degree(k) -> int, degree of layer k in the embeddings
q3.check(cin_num_params)  # cin_num_params(num_fields, embed_dim, layer_sizes) -> int
"""

from __future__ import annotations

import torch

from ctr_helpers.exercises._core import Incorrect, NotYet, Question, call, compare_outputs, matches

__all__ = ["QUESTIONS", "q1", "q2", "q3"]


# --------------------------------------------------------------------------- q1: one CIN layer
def _cin_layer(x_prev, x0, W):
    """One CIN layer: X^k[b, n, d] = sum_{i, j} W[n, i, j] * X^{k-1}[b, i, d] * X^0[b, j, d].

    x_prev: [B, H, D] (the previous layer, X^0 itself for layer 1); x0: [B, F, D] embeddings;
    W: [H_next, H, F]. Returns [B, H_next, D].
    """
    z = torch.einsum("bid,bjd->bijd", x_prev, x0)  # outer product along fields, per dimension d
    return torch.einsum("nij,bijd->bnd", W, z)  # 1x1 compression: same W for every d


def _q1_mistakes(x_prev, x0, W):
    ref = _cin_layer(x_prev, x0, W)
    out = [
        (
            torch.einsum("bid,bjd,nij->bn", x_prev, x0, W),
            "you summed over the embedding dimension inside the layer: X^k keeps its D columns "
            "(shape [B, H_next, D]); sum-pooling over D happens only when a layer's maps go to "
            "the output",
        ),
        (
            torch.einsum("bid,bje,nij->bnd", x_prev, x0, W),
            "you mixed embedding dimensions: in CIN dimension d of X^{k-1} only meets dimension "
            "d of X^0 (a Hadamard product per pair of rows), so the einsum must use the same "
            "letter d for both inputs",
        ),
        (
            torch.einsum("nij,bijd->bnd", W, x_prev[:, :, None] + x0[:, None]),
            "you added the rows instead of multiplying them: the interaction is the Hadamard "
            "(elementwise) product X^{k-1}_i * X^0_j, which is what raises the degree",
        ),
        (
            torch.relu(ref),
            "you applied an activation: the layer of the paper (and of ctr_helpers.layers.CIN) "
            "is a plain weighted sum of products, which keeps it a polynomial of known degree",
        ),
        (
            torch.sigmoid(ref),
            "you applied an activation: the layer of the paper (and of ctr_helpers.layers.CIN) "
            "is a plain weighted sum of products, which keeps it a polynomial of known degree",
        ),
    ]
    if x_prev.shape[1] == x0.shape[1]:  # mistakes that only run when H == F
        out += [
            (
                torch.einsum("bid,bjd,nij->bnd", x_prev, x_prev, W),
                "you multiplied X^{k-1} with itself: CIN always multiplies by the embeddings X^0, "
                "so each layer raises the degree by exactly one (with itself it would double)",
            ),
            (
                torch.einsum("bid,bjd,nij->bnd", x0, x0, W),
                "you multiplied X^0 with itself: that is always layer 1. Layer k takes the previous "
                "layer's maps x_prev times the embeddings x0",
            ),
            (
                torch.einsum("bid,bjd,nji->bnd", x_prev, x0, W),
                "the weight indices are swapped: W[n, i, j] multiplies row i of X^{k-1} (x_prev) "
                "with row j of X^0 (x0)",
            ),
        ]
    return out


def _check_cin_layer(fn):
    for b, h, f, n, d in ((3, 4, 4, 5, 6), (2, 3, 5, 2, 4)):  # H == F first, then H != F
        x_prev = torch.randn(b, h, d)
        x0 = torch.randn(b, f, d)
        W = torch.randn(n, h, f)
        got = call(fn, x_prev, x0, W)
        if got is None:
            raise NotYet("your function returned None: did you forget to `return` X^k?")
        if not isinstance(got, torch.Tensor):
            raise Incorrect(
                f"return a torch.Tensor of shape [B, H_next, D], got {type(got).__name__}"
            )
        for wrong, message in _q1_mistakes(x_prev, x0, W):
            if matches(got, wrong):
                raise Incorrect(message)
        compare_outputs(
            got,
            _cin_layer(x_prev, x0, W),
            what=f"your X^k (B={b}, H={h}, F={f}, H_next={n}, D={d})",
        )
    return "an outer product along fields, per dimension d, then a 1x1 compression."


q1 = Question(
    "q1",
    _check_cin_layer,
    hint=[
        "Outer product along fields: z[b, i, j, d] = x_prev[b, i, d] * x0[b, j, d] "
        "(torch.einsum('bid,bjd->bijd', ...)).",
        "Then compress: X^k[b, n, d] = sum_{i, j} W[n, i, j] * z[b, i, j, d] (one more einsum).",
    ],
    solution=_cin_layer,
)


# --------------------------------------------------------------------------- q2: degree of layer k
def _cin_degree(k):
    """Degree of CIN layer k (k = 1, 2, ...) as a polynomial of the embeddings: k + 1."""
    return k + 1


def _check_cin_degree(fn):
    ks = [1, 2, 3, 5, 8]
    got = []
    for k in ks:
        ans = call(fn, k)
        if ans is None:
            raise NotYet("your function returned None: did you forget to `return` the degree?")
        if hasattr(ans, "item"):
            ans = ans.item()
        if isinstance(ans, bool) or not isinstance(ans, (int, float)):
            raise Incorrect(f"return one whole number for layer k={k}, got {type(ans).__name__}")
        got.append(ans)
    if got == [k + 1 for k in ks]:
        return "X^0 has degree 1 and every layer multiplies by X^0 once more: k + 1."
    if got == ks:
        raise Incorrect(
            "off by one: layer 1 already multiplies two embeddings, X^1 = W (X^0 * X^0), so it "
            "has degree 2; each further layer adds one"
        )
    if got == [2**k for k in ks]:
        raise Incorrect(
            "2^k would be the degree if each layer multiplied X^{k-1} with itself; CIN multiplies "
            "by the embeddings X^0 (degree 1), so the degree grows by one per layer"
        )
    if got == [2 ** (k + 1) for k in ks] or got == [2 * k for k in ks]:
        raise Incorrect(
            "the degree grows by one per layer, not by doubling: degree(X^k) = degree(X^{k-1}) "
            "+ degree(X^0) = degree(X^{k-1}) + 1"
        )
    if got == [k + 2 for k in ks]:
        raise Incorrect(
            "one too many: X^0 (the embeddings) has degree 1 and layer 1 multiplies it with "
            "itself once, giving degree 2 for k = 1"
        )
    wrong = [(k, a) for k, a in zip(ks, got, strict=True) if a != k + 1]
    k, a = wrong[0]
    raise Incorrect(
        f"for layer k={k} you said {a}: count how many embedding factors each product in "
        "X^k contains (X^0 has one, and each layer multiplies by X^0 once more)"
    )


q2 = Question(
    "q2",
    _check_cin_degree,
    hint="X^0 (the embeddings) has degree 1. X^k is a sum of products X^{k-1}_i * X^0_j.",
    solution=_cin_degree,
)


# --------------------------------------------------------------------------- q3: CIN parameters
def _cin_num_params(num_fields, embed_dim, layer_sizes):
    """Parameters of xDeepFM's CIN block: compression weights (no bias) + the output Linear(sum H, 1).

    Layer k has a weight W^k of shape [H_k, H_{k-1}, F] with H_0 = F; embed_dim does not appear,
    because the same W^k is applied to every embedding dimension (a 1x1 convolution).
    """
    prev, total = num_fields, 0
    for h in layer_sizes:
        total += h * prev * num_fields
        prev = h
    return total + sum(layer_sizes) + 1


_Q3_CASES = [
    (10, 10, (64,)),  # xDeepFM on Frappe, as in the notebook
    (10, 10, (200, 200, 200)),
    (4, 3, (5, 6)),
    (39, 16, (128, 128)),
]


def _q3_mistakes(num_fields, embed_dim, layer_sizes):
    f, d, hs = num_fields, embed_dim, list(layer_sizes)
    prevs = [f, *hs[:-1]]
    comp = sum(h * p * f for h, p in zip(hs, prevs, strict=True))
    out = sum(hs) + 1
    return [
        (
            comp * d + out,
            "you multiplied by embed_dim: the 1x1 compression applies the same weights W^k to "
            "every embedding dimension d, so the CIN's size does not depend on D at all",
        ),
        (
            sum(h * f * f for h in hs) + out,
            "layer k's input has H_{k-1} x F rows (previous layer x embeddings), not F x F: only "
            "layer 1 has H_0 = F",
        ),
        (
            sum(h * p for h, p in zip(hs, prevs, strict=True)) + out,
            "you forgot the factor F: W^k has shape [H_k, H_{k-1}, F], one weight for each pair "
            "(row i of X^{k-1}, field j of X^0)",
        ),
        (
            comp,
            "the output layer is missing: the pooled maps (sum of H_k numbers) go through "
            "Linear(sum(layer_sizes), 1), that is sum(layer_sizes) weights + 1 bias",
        ),
        (
            comp + sum(hs),
            "off by one: the output Linear(sum(layer_sizes), 1) has a bias too",
        ),
        (
            comp + sum(hs) + out,
            "the compression has no bias here (the paper's formula, ctr_helpers.layers.CIN's "
            "default): only the output Linear has one",
        ),
        (
            comp + hs[-1] + 1,
            "every layer's pooled maps go to the output, not only the last one: the output "
            "Linear reads sum(layer_sizes) numbers",
        ),
    ]


def _check_cin_num_params(fn):
    answers = []
    for f, d, hs in _Q3_CASES:
        ans = call(fn, f, d, list(hs))
        what = f"your count for num_fields={f}, embed_dim={d}, layer_sizes={list(hs)}"
        if ans is None:
            raise NotYet(f"{what} is None: did you forget to `return` it?")
        if hasattr(ans, "item"):
            ans = ans.item()
        if isinstance(ans, bool) or not isinstance(ans, (int, float)):
            raise Incorrect(f"{what} should be one whole number, got {type(ans).__name__}")
        answers.append(ans)
    expected = [_cin_num_params(f, d, list(hs)) for f, d, hs in _Q3_CASES]
    if answers == expected:
        return f"{expected[0]:,} parameters for CIN [64] on Frappe's 10 fields, whatever D is."
    mistakes = [_q3_mistakes(*case) for case in _Q3_CASES]
    for k, (_, message) in enumerate(mistakes[0]):
        if all(ans == m[k][0] for ans, m in zip(answers, mistakes, strict=True)):
            raise Incorrect(message)
    for ans, exp, (f, d, hs) in zip(answers, expected, _Q3_CASES, strict=True):
        if ans != exp:
            raise Incorrect(
                f"for num_fields={f}, embed_dim={d}, layer_sizes={list(hs)} you counted {ans:,}, "
                f"expected {exp:,}: layer k has H_k x H_(k-1) x F weights (H_0 = F), then the "
                "output Linear(sum(layer_sizes), 1)"
            )
    raise Incorrect("not the expected count")  # unreachable


q3 = Question(
    "q3",
    _check_cin_num_params,
    hint=[
        "W^k has shape [H_k, H_{k-1}, F] with H_0 = F. Does D appear anywhere?",
        "Add the output layer: Linear(sum(layer_sizes), 1), weights and bias.",
    ],
    solution=_cin_num_params,
)

QUESTIONS = [q1, q2, q3]
