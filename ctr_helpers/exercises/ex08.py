"""Exercises of notebook 08 (FiBiNet): the SENet gate, bilinear parameter counts, a bilinear FM.

from ctr_helpers.exercises.ex08 import q1, q2, q3
q1.check(senet_gates)           # senet_gates(e, W1, W2) -> gates [B, F]
q2.check(bilinear_param_count)  # bilinear_param_count(num_fields, embed_dim, bilinear_type) -> int
q3.check(bilinear_fm)           # bilinear_fm(e, W) -> [B]: sum over pairs i < j of (e_i W) . e_j
"""

from __future__ import annotations

import torch

from ctr_helpers.exercises._core import Incorrect, NotYet, Question, call, compare_outputs, matches

__all__ = [
    "QUESTIONS",
    "q1",
    "q2",
    "q3",
]


# --------------------------------------------------------------------------- q1: the SENet gate
def _senet_gates(e, W1, W2):
    """SENet gates ``[B, F]`` for embeddings ``e [B, F, D]``.

    ``W1 [F // r, F]`` and ``W2 [F, F // r]`` are laid out like ``nn.Linear.weight`` (out, in):
    squeeze ``z = mean_d e``, excite ``g = sigmoid(W2 relu(W1 z))``.
    """
    z = e.mean(dim=2)  # [B, F]: one number per field
    return torch.sigmoid(torch.relu(z @ W1.T) @ W2.T)


def _senet_mistakes(e, W1, W2):
    """Classic wrong gates and the message that explains each."""
    sig, relu = torch.sigmoid, torch.relu

    def excite(z):
        return relu(z @ W1.T) @ W2.T

    z = e.mean(dim=2)
    return [
        (
            sig(excite(e.sum(dim=2))),
            "you squeezed with a sum over the embedding: FiBiNet's squeeze is the mean "
            "(e.mean(dim=2)), so the gate does not change with the embedding size D",
        ),
        (
            sig(excite(e.amax(dim=2))),
            "you squeezed with max pooling; FiBiNet squeezes each field by its mean over the "
            "embedding dimension (e.mean(dim=2))",
        ),
        (
            excite(z),
            "the sigmoid is missing: the gates must lie in (0, 1); apply torch.sigmoid to the "
            "output of the second layer",
        ),
        (
            relu(excite(z)),
            "you ended with a ReLU: some FiBiNet implementations do, and their gates can exceed "
            "1; this course's SENet (like Hu et al.'s original) ends with a sigmoid, gates in (0, 1)",
        ),
        (
            sig(z @ W1.T @ W2.T),
            "the ReLU between the two layers is missing: without it W2 W1 collapses into one "
            "rank-F/r linear map",
        ),
        (
            torch.softmax(excite(z), dim=1),
            "softmax makes the fields compete (the gates sum to 1 over fields); SENet gives each "
            "field its own independent sigmoid gate",
        ),
    ]


def _check_senet(fn):
    # A square case first (F == D) so that squeezing the wrong axis still runs and can be named.
    for batch, fields, dim, reduced in ((4, 6, 6, 3), (5, 7, 4, 3), (1, 4, 3, 2)):
        e = torch.randn(batch, fields, dim, dtype=torch.float64)
        W1 = torch.randn(reduced, fields, dtype=torch.float64)
        W2 = torch.randn(fields, reduced, dtype=torch.float64)
        try:
            got = call(fn, e, W1, W2)
        except Incorrect as exc:
            text = str(exc)
            if "shapes cannot be multiplied" in text or "size mismatch" in text:
                raise Incorrect(
                    f"{text}. W1 has shape [F/r, F] and W2 [F, F/r], laid out like "
                    "nn.Linear.weight (out, in): multiply by the transpose, z @ W1.T"
                ) from None
            raise
        if got is None:
            raise NotYet("your function returned None: did you forget to `return` the gates?")
        if not isinstance(got, torch.Tensor):
            raise Incorrect(f"return a torch.Tensor of shape [B, F], got {type(got).__name__}")
        if tuple(got.shape) == (batch, fields, dim):
            raise Incorrect(
                "your result is [B, F, D]: that is the re-weighted embedding g * e. "
                "Return the gates themselves, one per row and field: shape [B, F]"
            )
        ref = _senet_gates(e, W1, W2)
        if fields == dim:
            wrong_axis = torch.sigmoid(torch.relu(e.mean(dim=1) @ W1.T) @ W2.T)
            if matches(got, wrong_axis, rtol=1e-6, atol=1e-8) and not matches(got, ref):
                raise Incorrect(
                    "you averaged over the fields (dim=1): the squeeze summarises each field "
                    "by the mean of its own embedding, over the embedding dimension (dim=2)"
                )
        for wrong, message in _senet_mistakes(e, W1, W2):
            if matches(got, wrong, rtol=1e-6, atol=1e-8) and not matches(got, ref):
                raise Incorrect(message)
        what = "your gates" if batch > 1 else "your gates for a batch of one row"
        compare_outputs(got, ref, what=what, rtol=1e-6, atol=1e-8)
    return "squeeze (mean over D), excite (FC, ReLU, FC, sigmoid): one gate in (0, 1) per field"


q1 = Question(
    "q1",
    _check_senet,
    hint=[
        "Squeeze: one number per field, the mean of its embedding: z = e.mean(dim=2), [B, F].",
        "Excite: torch.sigmoid(torch.relu(z @ W1.T) @ W2.T). The .T is there because the "
        "weights are stored (out, in), like nn.Linear.weight.",
    ],
    solution=_senet_gates,
)


# --------------------------------------------------------------------------- q2: parameter counts
def _bilinear_param_count(num_fields, embed_dim, bilinear_type):
    """Weights of one bilinear interaction layer: D^2 (field_all), F D^2 (field_each) or
    P D^2 with P = F (F - 1) / 2 (field_interaction)."""
    pairs = num_fields * (num_fields - 1) // 2
    matrices = {"field_all": 1, "field_each": num_fields, "field_interaction": pairs}
    return matrices[bilinear_type] * embed_dim * embed_dim


def _real_bilinear_count(fields: int, dim: int, kind: str) -> int:
    """The count of the ctr_helpers layer itself: the checker trusts the code, not a formula."""
    from ctr_helpers.layers import BilinearInteraction

    layer = BilinearInteraction(fields, dim, kind)
    return sum(p.numel() for p in layer.parameters())


_BILINEAR_CASES = [
    (10, 10, "field_all"),
    (10, 10, "field_each"),
    (10, 10, "field_interaction"),
    (39, 16, "field_all"),
    (39, 16, "field_each"),
    (39, 16, "field_interaction"),
    (2, 3, "field_interaction"),
    (5, 4, "field_each"),
]


def _bilinear_count_mistakes(f, d, kind):
    pairs = f * (f - 1) // 2
    n_matrices = {"field_all": 1, "field_each": f, "field_interaction": pairs}[kind]
    out = [
        (
            n_matrices * d,
            "you counted D weights per matrix: each W is a D x D matrix, D^2 weights",
        ),
        (
            n_matrices * d * d + n_matrices * d,
            "the bilinear layer has no bias: only the D x D matrices",
        ),
    ]
    if kind == "field_interaction":
        out += [
            (
                f * f * d * d,
                "F^2 counts every ordered pair and each field with itself: FiBiNet keeps one "
                "matrix per unordered pair i < j, P = F (F - 1) / 2 of them",
            ),
            (
                f * (f - 1) * d * d,
                "F (F - 1) counts each pair twice ((i, j) and (j, i)): there are P = F (F - 1) / 2 "
                "pairs i < j",
            ),
            (
                f * (f + 1) // 2 * d * d,
                "F (F + 1) / 2 includes the pairs of a field with itself; FiBiNet uses i < j only",
            ),
            (
                f * d * d,
                "that is field-each (one matrix per field); field-interaction has one per pair",
            ),
        ]
    elif kind == "field_each":
        out += [
            (
                pairs * d * d,
                "that is field-interaction (one matrix per pair); field-each has one per field",
            ),
            (d * d, "that is field-all (one shared matrix); field-each has one per field"),
        ]
    else:
        out += [
            (f * d * d, "field-all shares one single D x D matrix across all fields and pairs"),
            (pairs * d * d, "field-all shares one single D x D matrix across all pairs"),
        ]
    return out


def _check_bilinear_count(fn):
    for f, d, kind in _BILINEAR_CASES:
        got = call(fn, f, d, kind)
        if got is None:
            raise NotYet("your function returned None: return the count as a whole number")
        if hasattr(got, "item") and getattr(got, "ndim", 0) == 0:
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, int | float):
            raise Incorrect(f"return one whole number, got {type(got).__name__}")
        expected = _real_bilinear_count(f, d, kind)
        if got == expected:
            continue
        args = f"F = {f}, D = {d}, {kind!r}"
        for wrong, message in _bilinear_count_mistakes(f, d, kind):
            if got == wrong:
                raise Incorrect(f"for {args} you returned {int(got):,}: {message}")
        if got != int(got):
            raise Incorrect(f"for {args} you returned {got}: a count is a whole number")
        raise Incorrect(f"for {args} you returned {got:,}, the layer has {expected:,} weights")
    counts = {k: _bilinear_param_count(39, 16, k) for k in ("field_all", "field_each")}
    big = _bilinear_param_count(39, 16, "field_interaction")
    return (
        f"at Criteo's F = 39, D = 16: field-all {counts['field_all']:,}, field-each "
        f"{counts['field_each']:,}, field-interaction {big:,} weights per bilinear layer"
    )


q2 = Question(
    "q2",
    _check_bilinear_count,
    hint=[
        "Every W is a D x D matrix. Count the matrices: one shared, one per field, or one per pair.",
        "The pairs are i < j: P = F (F - 1) / 2 of them. Use integer division //.",
    ],
    solution=_bilinear_param_count,
)


# --------------------------------------------------------------------------- q3: a bilinear FM
def _bilinear_fm(e, W):
    """FM with a learned metric: ``sum_{i<j} (e_i W) . e_j`` for every row, ``e [B, F, D]``,
    ``W [D, D]`` (one shared matrix, like field-all) -> ``[B]``. ``W = I`` gives FM's pairwise term.
    """
    rows, cols = torch.triu_indices(e.shape[1], e.shape[1], offset=1)
    return ((e @ W)[:, rows] * e[:, cols]).sum(dim=(1, 2))


def _bilinear_fm_mistakes(e, W):
    s = e.sum(dim=1)  # [B, D]
    self_terms = torch.einsum("bfd,de,bfe->b", e, W, e)  # sum_i e_i W e_i
    rows, cols = torch.triu_indices(e.shape[1], e.shape[1], offset=1)
    left = (e @ W)[:, rows] * e[:, cols]
    return [
        (
            0.5 * (torch.einsum("bd,de,be->b", s, W, s) - self_terms),
            "that is the square-of-sums trick of notebook 02, which needs a symmetric W: it "
            "computes sum_{i<j} e_i (W + W^T)/2 e_j. FiBiNet's W is not symmetric, so (e_i W) . e_j "
            "and (e_j W) . e_i differ: gather the pairs i < j instead",
        ),
        (
            torch.einsum("bd,de,be->b", s, W, s) - self_terms,
            "you summed over all ordered pairs i != j: that counts e_i W e_j and e_j W e_i, "
            "i.e. sum_{i<j} e_i (W + W^T) e_j. Keep each pair once, i < j",
        ),
        (
            torch.einsum("bd,de,be->b", s, W, s),
            "you included the pairs of a field with itself (i = j) and every ordered pair: "
            "use only i < j, e.g. torch.triu_indices(F, F, offset=1)",
        ),
        (
            left.sum(dim=(1, 2)) + self_terms,
            "you included the pairs of a field with itself (i = j): use only i < j",
        ),
        (
            ((e @ W.T)[:, rows] * e[:, cols]).sum(dim=(1, 2)),
            "you used W transposed, e_j W e_i: the matrix acts on the left field of the pair, "
            "(e_i W) . e_j with e_i a row vector",
        ),
        (
            (e[:, rows] * e[:, cols]).sum(dim=(1, 2)),
            "W never entered: that is FM's pairwise term (the special case W = I)",
        ),
    ]


def _check_bilinear_fm(fn):
    for batch, fields, dim in ((4, 5, 3), (1, 3, 4), (3, 2, 2)):
        e = torch.randn(batch, fields, dim, dtype=torch.float64)
        W = torch.randn(dim, dim, dtype=torch.float64)  # not symmetric
        got = call(fn, e, W)
        if got is None:
            raise NotYet("your function returned None: did you forget to `return` the scores?")
        if not isinstance(got, torch.Tensor):
            raise Incorrect(f"return a torch.Tensor of shape [B], got {type(got).__name__}")
        pairs = fields * (fields - 1) // 2
        if got.dim() == 3 and tuple(got.shape)[:2] == (batch, pairs):
            raise Incorrect(
                "your result is [B, P, D]: these are FiBiNet's pair vectors p_ij. The bilinear FM "
                "sums them over pairs and dimensions into one score per row, [B]"
            )
        if tuple(got.shape) == (batch, pairs):
            raise Incorrect(
                "your result is [B, P]: one score per pair. Sum over the pairs too: one score "
                "per row, [B]"
            )
        ref = _bilinear_fm(e, W)
        for wrong, message in _bilinear_fm_mistakes(e, W):
            if matches(got, wrong, rtol=1e-6, atol=1e-8) and not matches(got, ref):
                raise Incorrect(message)
        what = "your bilinear FM score" if batch > 1 else "your score for a batch of one row"
        compare_outputs(got, ref, what=what, rtol=1e-6, atol=1e-8)
    return (
        "each pair i < j once, with W acting on the left field: with W = I this is FM, with a "
        "learned W every pair is compared in a learned geometry"
    )


q3 = Question(
    "q3",
    _check_bilinear_fm,
    hint=[
        "Transform every field once, e @ W ([B, F, D]), then gather the pairs i < j with "
        "rows, cols = torch.triu_indices(F, F, offset=1).",
        "Multiply (e @ W)[:, rows] by e[:, cols] and sum over pairs and dimensions. The "
        "square-of-sums trick of notebook 02 is only right for a symmetric W.",
    ],
    solution=_bilinear_fm,
)

QUESTIONS = [q1, q2, q3]
