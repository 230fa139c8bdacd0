"""Exercises of notebook 03 (field-aware factorization machines).

In the notebook, after ``from ctr_helpers.exercises.ex03 import q1, q2``:

- ``q1.check(ffm_num_parameters)``: ``ffm_num_parameters(field_dims, embed_dim) -> int``, the
  paper's count (``F - 1`` vectors per feature value);
- ``q2.check(ffm_interaction)``: ``ffm_interaction(e)``, ``e: [B, F, F, D] -> [B]``, the FFM
  pairwise term gathered with ``triu_indices``, no Python loop.
"""

from __future__ import annotations

import torch

from ctr_helpers.exercises._core import Incorrect, NotYet, Question, call, compare_outputs, matches
from ctr_helpers.exercises.ex02 import FRAPPE_DIMS, _as_int, _loops_in_python

__all__ = [
    "QUESTIONS",
    "q1",
    "q2",
]


# --------------------------------------------------------------------------- q1: parameters
def _ffm_num_parameters_solution(field_dims, embed_dim) -> int:
    """Bias + one linear weight per feature + one ``embed_dim`` vector per (feature, other field)."""
    n = sum(field_dims)  # features
    num_fields = len(field_dims)
    return 1 + n + n * (num_fields - 1) * embed_dim


def _ffm_count_mistakes(field_dims, k) -> list[tuple[int, str]]:
    n, num_fields = sum(field_dims), len(field_dims)
    num_pairs = num_fields * (num_fields - 1) // 2
    return [
        (
            1 + n + n * num_fields * k,
            "you gave every feature a vector for its own field too: a feature never meets its own"
            " field, so it needs F - 1 vectors, not F. (libffm keeps that unused slot to keep the"
            " indexing plain, as does ctr_helpers' FFM(diagonal_slot=True): n·k more)",
        ),
        (
            1 + n + n * k,
            "that is plain FM, one vector per feature: FFM gives each feature one vector per"
            " *other* field, F - 1 of them",
        ),
        (
            n * (num_fields - 1) * k,
            "that is only the field-aware table: add one linear weight per feature (n) and the"
            " global bias (1)",
        ),
        (n + n * (num_fields - 1) * k, "you forgot the global bias w0 (one parameter)"),
        (1 + n * (num_fields - 1) * k, "you forgot the linear weights: one per feature, n of them"),
        (
            1 + n + n * num_pairs * k,
            "a feature needs one vector per opposite *field* (F - 1), not one per field pair"
            " (F(F-1)/2): the pairs it takes part in are exactly its F - 1 opposite fields",
        ),
        (
            1 + n + num_fields * (num_fields - 1) * k,
            "every feature *value* (n = sum(field_dims) of them) has its own F - 1 vectors, not"
            " every field",
        ),
        (
            1 + n + num_pairs * k,
            "count vectors per feature value: n = sum(field_dims) features, F - 1 vectors each",
        ),
    ]


def _check_ffm_count(fn) -> str:
    cases = [(FRAPPE_DIMS, 10), ([3, 4], 2), ([10, 20, 30, 40], 4), ([7], 3)]
    for case, (dims, k) in enumerate(cases):
        got = _as_int(call(fn, list(dims), k), "your count")
        expected = _ffm_num_parameters_solution(dims, k)
        if got == expected:
            continue
        if case == 0:
            for wrong, message in _ffm_count_mistakes(dims, k):
                if got == wrong:
                    raise Incorrect(message)
        hint = " (a single field has no pairs: no vectors at all)" if len(dims) == 1 else ""
        raise Incorrect(
            f"for field_dims={dims} and embed_dim={k} you return {got:,}, expected"
            f" {expected:,}{hint}: count the bias, the linear weights and F - 1 vectors per feature"
        )
    ffm = _ffm_num_parameters_solution(FRAPPE_DIMS, 10)
    fm = 1 + sum(FRAPPE_DIMS) * 11
    return f"on Frappe's schema FFM has {ffm:,} parameters, {ffm / fm:.1f}x FM's {fm:,}"


q1 = Question(
    "q1",
    _check_ffm_count,
    hint=[
        "Same bias and linear weights as FM; only the embedding table changes.",
        "A feature of field f meets every other field g != f once per row, with its own vector"
        " for each: F - 1 vectors of size k per feature, n = sum(field_dims) features.",
    ],
    solution=_ffm_num_parameters_solution,
)


# --------------------------------------------------------------------------- q2: vectorised FFM
def _ffm_interaction_solution(e: torch.Tensor) -> torch.Tensor:
    """FFM pairwise term: ``e: [B, F, F, D]`` (``e[:, f, g]`` = field f's vector towards g) -> ``[B]``."""
    rows, cols = torch.triu_indices(e.shape[1], e.shape[1], offset=1)  # the P pairs i < j
    left = e[:, rows, cols]  # [B, P, D]: field i's vector towards j
    right = e[:, cols, rows]  # [B, P, D]: field j's vector towards i
    return (left * right).sum(dim=(1, 2))


def _ffm_double_loop(e: torch.Tensor) -> torch.Tensor:
    """The paper's double sum, one pair at a time: ``sum_{i<j} <e[:, i, j], e[:, j, i]>``."""
    total = torch.zeros(e.shape[0], dtype=e.dtype)
    for i in range(e.shape[1]):
        for j in range(i + 1, e.shape[1]):
            total = total + (e[:, i, j] * e[:, j, i]).sum(dim=1)
    return total


def _ffm_mistakes(e: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    num_fields = e.shape[1]
    r, c = torch.triu_indices(num_fields, num_fields, offset=1)
    diag = torch.arange(num_fields)
    own = e[:, diag, diag]  # [B, F, D]: each feature's vector for its own field
    return [
        (
            (e[:, r, c] * e[:, r, c]).sum(dim=(1, 2)),
            "both factors are e[:, rows, cols]: the right-hand side is the mirrored cell"
            " e[:, cols, rows], field j's vector towards field i",
        ),
        (
            (e[:, c, r] * e[:, c, r]).sum(dim=(1, 2)),
            "both factors are e[:, cols, rows]: one side is e[:, rows, cols] (field i towards j),"
            " the other its mirror e[:, cols, rows] (field j towards i)",
        ),
        (
            (e[:, r, r] * e[:, c, c]).sum(dim=(1, 2)),
            "you multiplied e[:, i, i] and e[:, j, j], each feature's vector for its own field"
            " (never used). Pair (i, j) needs e[:, i, j] (i towards j) and e[:, j, i]",
        ),
        (
            2 * _ffm_double_loop(e),
            "each pair is counted twice, as (i, j) and (j, i): torch.triu_indices(F, F,"
            " offset=1) lists each unordered pair once",
        ),
        (
            _ffm_double_loop(e) + own.pow(2).sum(dim=(1, 2)),
            "you included the diagonal pairs (f, f): a feature does not interact with itself."
            " torch.triu_indices(F, F, offset=1) leaves the diagonal out",
        ),
        (
            (e[:, r, c] * e[:, c, r]).sum(dim=2),
            "one number per row is expected, shape [B]: sum the products over the pairs and over"
            " the embedding dimension, .sum(dim=(1, 2))",
        ),
        (
            e[:, r, c] * e[:, c, r],
            "one number per row is expected, shape [B]: sum the products over the pairs and over"
            " the embedding dimension, .sum(dim=(1, 2))",
        ),
    ]


def _check_ffm(fn) -> str:
    cases = [torch.randn(6, 4, 4, 3), torch.randn(1, 2, 2, 5), torch.randn(3, 7, 7, 2)]
    for case, e in enumerate(cases):
        got = call(fn, e)
        if case == 0:
            for wrong, message in _ffm_mistakes(e):
                if matches(got, wrong):
                    raise Incorrect(message)
        shape = "x".join(map(str, e.shape))
        compare_outputs(got, _ffm_double_loop(e), what=f"your result on e of shape [{shape}]")
    if _loops_in_python(fn):
        raise NotYet(
            "the values are right, but your function loops in Python over the field pairs:"
            " gather all P pairs at once with torch.triu_indices"
        )
    return "your vectorised FFM equals the loop over field pairs (B = 1 and F = 2 included)"


q2 = Question(
    "q2",
    _check_ffm,
    hint=[
        "rows, cols = torch.triu_indices(F, F, offset=1) lists the P pairs i < j.",
        "e[:, rows, cols] is [B, P, D] (field i towards j); its partner is e[:, cols, rows].",
    ],
    solution=_ffm_interaction_solution,
)

QUESTIONS = [q1, q2]
