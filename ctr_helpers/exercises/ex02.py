"""Exercises of notebook 02 (factorization machines).

In the notebook, after ``from ctr_helpers.exercises.ex02 import q1, q2, q3``:

- ``q1.check(fm_interaction)``: ``fm_interaction(e)``, ``e: [B, F, D] -> [B]``, the FM pairwise
  term in O(F D) (square of sum minus sum of squares);
- ``q2.check(fm_num_parameters)``: ``fm_num_parameters(field_dims, embed_dim) -> int``;
- ``q3.check(pair_weight)``: ``pair_weight(V, field_dims, f, a, g, b) -> float``, the weight FM
  gives to a pair of values, read from the shared table ``V`` with field offsets.
"""

from __future__ import annotations

import ast
import inspect
import textwrap

import torch

from ctr_helpers import reference
from ctr_helpers.exercises._core import Incorrect, NotYet, Question, call, compare_outputs, matches

__all__ = [
    "QUESTIONS",
    "q1",
    "q2",
    "q3",
]

FRAPPE_DIMS = [957, 4082, 7, 7, 2, 3, 2, 9, 80, 233]


def _loops_in_python(fn) -> bool:
    """True when the source of ``fn`` holds a ``for``/``while`` loop or a comprehension."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return False  # no source (built in a string, a C function): nothing to say
    loops = (ast.For, ast.While, ast.ListComp, ast.GeneratorExp, ast.SetComp, ast.DictComp)
    return any(isinstance(node, loops) for node in ast.walk(tree))


def _as_int(got, what: str) -> int:
    if got is None:
        raise NotYet(f"{what} is None: did you forget to `return` it?")
    if hasattr(got, "numel"):
        if got.numel() != 1:
            raise Incorrect(f"{what} has {got.numel()} values: return a single number")
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        raise Incorrect(f"{what} is a {type(got).__name__}, expected an int")
    if float(got) != round(float(got)):
        raise Incorrect(f"{what} is {got}, but a number of parameters is a whole number")
    return int(round(float(got)))


def _as_float(got, what: str) -> float:
    if got is None:
        raise NotYet(f"{what} is None: did you forget to `return` it?")
    if hasattr(got, "numel"):
        if got.numel() != 1:
            raise Incorrect(
                f"{what} has shape {tuple(got.shape)}: the weight of a pair is one number,"
                " the dot product <v_a, v_b> = (v_a * v_b).sum(), not the elementwise product"
            )
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        raise Incorrect(f"{what} is a {type(got).__name__}, expected a number")
    return float(got)


# --------------------------------------------------------------------------- q1: O(k d) FM
def _fm_interaction_solution(e: torch.Tensor) -> torch.Tensor:
    """FM pairwise term: ``e: [B, F, D] -> [B]``, half of (square of sum - sum of squares)."""
    square_of_sum = e.sum(dim=1).pow(2)  # [B, D]: sum over fields first
    sum_of_squares = e.pow(2).sum(dim=1)  # [B, D]
    return 0.5 * (square_of_sum - sum_of_squares).sum(dim=1)  # [B]: then over the dimension


def _fm_mistakes(e: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    """The classic wrong versions of the identity and what each one teaches."""
    flat = e.flatten(1)  # [B, F * D]
    per_dim = 0.5 * (e.sum(1).pow(2) - e.pow(2).sum(1))  # [B, D]
    return [
        (
            2 * reference.fm(e),
            "your result is twice the double sum: the 1/2 is missing. The square of the sum"
            " holds every pair twice, once as (i, j) and once as (j, i)",
        ),
        (
            0.5 * (flat.sum(1).pow(2) - flat.pow(2).sum(1)),
            "you flattened the embeddings to [B, F*D] before squaring, which multiplies"
            " dimension d of one feature with dimension d' of another. The identity holds per"
            " dimension: sum over fields (dim=1) first, square, then sum over D",
        ),
        (
            0.5 * (e.sum(2).pow(2) - e.pow(2).sum(2)).sum(1),
            "you summed over the embedding axis (dim=2) inside the square, which pairs the"
            " dimensions of one feature with each other. Sum over the fields (dim=1) inside the"
            " square and over the embedding dimension last",
        ),
        (
            0.5 * (e.sum(0).pow(2) - e.pow(2).sum(0)).sum(1),
            "you reduced over dim=0, the batch, which mixes different rows. Each row has its"
            " own interaction: sum over the fields, dim=1",
        ),
        (
            0.5 * e.sum(1).pow(2).sum(1),
            "you kept the self-interactions <v_i, v_i>: the square of the sum also holds the"
            " i = j terms, so subtract the sum of squares before halving",
        ),
        (
            e.sum(1).pow(2).sum(1),
            "you kept the self-interactions <v_i, v_i> and forgot the 1/2: compute"
            " 0.5 * (square of sum - sum of squares)",
        ),
        (
            per_dim,
            "one number per row is expected, shape [B]: after the field sums, finish by"
            " summing over the embedding dimension",
        ),
        (
            0.5 * (e.mean(1).pow(2) - e.pow(2).mean(1)).sum(1),
            "you averaged over the fields: the identity uses sums (mean would divide by F)",
        ),
    ]


def _check_fm(fn) -> str:
    cases = [torch.randn(8, 5, 4), torch.randn(1, 2, 3), torch.randn(3, 7, 6)]
    for case, e in enumerate(cases):
        got = call(fn, e)
        if case == 0:
            for wrong, message in _fm_mistakes(e):
                if matches(got, wrong):
                    raise Incorrect(message)
            if matches(got, reference.fm(e).unsqueeze(1)):
                raise Incorrect("the values are right, but return shape [B], not [B, 1]")
        shape = "x".join(map(str, e.shape))
        compare_outputs(
            got, reference.fm(e), what=f"your result on e of shape [{shape}]", rtol=1e-4
        )
    if _loops_in_python(fn):
        raise NotYet(
            "the values are right, but your function loops in Python: that is the"
            " O(k d^2) double sum. Use the square-of-sum identity, no loop"
        )
    return "your O(k·d) interaction equals the double sum over pairs (B = 1 and F = 2 included)"


q1 = Question(
    "q1",
    _check_fm,
    hint=[
        "Work one embedding dimension d at a time: (sum_f e_fd)^2 holds every product"
        " e_fd * e_gd, including f = g and both orders (f, g) and (g, f).",
        "e.sum(dim=1) is [B, D] (a sum over fields); square it, subtract e.pow(2).sum(dim=1),"
        " halve, then sum over D.",
    ],
    solution=_fm_interaction_solution,
)


# --------------------------------------------------------------------------- q2: parameters
def _fm_num_parameters_solution(field_dims, embed_dim) -> int:
    """Bias + one linear weight per feature + one ``embed_dim`` vector per feature."""
    n = sum(field_dims)  # features = rows of the one-hot vector = rows of the table
    return 1 + n + n * embed_dim


def _cross_field_pairs(field_dims) -> int:
    """Number of pairs of features from two different fields: sum over f < g of d_f d_g."""
    n = sum(field_dims)
    return (n * n - sum(d * d for d in field_dims)) // 2


def _fm_count_mistakes(field_dims, k) -> list[tuple[int, str]]:
    n, num_fields = sum(field_dims), len(field_dims)
    return [
        (
            n * k,
            "that is only the embedding table V (n·k): FM also has one linear weight per"
            " feature (n) and a global bias (1)",
        ),
        (n + n * k, "you forgot the global bias w0 (one parameter)"),
        (1 + n * k, "you forgot the linear weights w_i: one per feature, n = sum(field_dims)"),
        (
            1 + n + num_fields * k,
            "FM has one vector per feature *value* (a row of the table, n = sum(field_dims)"
            " rows), not one per field",
        ),
        (
            1 + num_fields + num_fields * k,
            "count features, not fields: n = sum(field_dims) linear weights and n vectors",
        ),
        (
            1 + n + n * (n - 1) // 2,
            "that is the count for one free weight per pair of features (LR with every cross):"
            " FM replaces those n(n-1)/2 weights by n vectors of size k",
        ),
        (
            1 + n + _cross_field_pairs(field_dims),
            "that is the count for one free weight per pair of values from two fields (LR with"
            " every cross): FM replaces those weights by n vectors of size k",
        ),
        (
            1 + n + n * (num_fields - 1) * k,
            "that is field-aware FM (next notebook): plain FM has a single vector per feature",
        ),
        (
            1 + n + n * num_fields * k,
            "that counts one vector per (feature, field), as in field-aware FM: plain FM has a"
            " single vector per feature",
        ),
    ]


def _check_fm_count(fn) -> str:
    cases = [(FRAPPE_DIMS, 10), ([3, 4], 2), ([10, 20, 30], 4), ([5], 3)]
    for case, (dims, k) in enumerate(cases):
        got = _as_int(call(fn, list(dims), k), "your count")
        expected = _fm_num_parameters_solution(dims, k)
        if got == expected:
            continue
        if case == 0:
            for wrong, message in _fm_count_mistakes(dims, k):
                if got == wrong:
                    raise Incorrect(message)
        raise Incorrect(
            f"for field_dims={dims} and embed_dim={k} you return {got:,}, expected {expected:,}:"
            " count the bias, the linear weights and the embedding table"
        )
    pairs = _cross_field_pairs(FRAPPE_DIMS)
    return (
        f"Frappe's FM has {_fm_num_parameters_solution(FRAPPE_DIMS, 10):,} parameters, against"
        f" {pairs:,} free weights for all pairs of values of two different fields"
    )


q2 = Question(
    "q2",
    _check_fm_count,
    hint="Three parts: the global bias, one linear weight per feature, one k-vector per"
    " feature. How many features does a schema with these field sizes have?",
    solution=_fm_num_parameters_solution,
)


# --------------------------------------------------------------------------- q3: a pair's weight
def _pair_weight_solution(V, field_dims, f, a, g, b) -> float:
    """The weight FM gives to the pair (field ``f`` = ``a``, field ``g`` = ``b``): a dot product."""
    offsets = [sum(field_dims[:i]) for i in range(len(field_dims))]  # first row of each field
    v_a = V[offsets[f] + a]  # [D]
    v_b = V[offsets[g] + b]  # [D]
    return float((v_a * v_b).sum())


def _check_pair_weight(fn) -> str:
    dims = [4, 6, 5]
    V = torch.randn(sum(dims), 3)
    queries = [(0, 3, 1, 2), (2, 4, 0, 1), (1, 5, 2, 0), (1, 0, 2, 3)]
    for f, a, g, b in queries:
        got = _as_float(call(fn, V, list(dims), f, a, g, b), "your pair weight")
        expected = _pair_weight_solution(V, dims, f, a, g, b)
        if abs(got - expected) <= 1e-5 + 1e-4 * abs(expected):
            continue
        if abs(got - float(V[a] @ V[b])) < 1e-5:
            raise Incorrect(
                "you read rows a and b of the shared table, without the field offsets: field f's"
                " rows start at sum(field_dims[:f]), so feature a of field f is row"
                " sum(field_dims[:f]) + a"
            )
        inclusive = [sum(dims[: i + 1]) for i in range(len(dims))]
        if inclusive[f] + a < len(V) and inclusive[g] + b < len(V):
            if abs(got - float(V[inclusive[f] + a] @ V[inclusive[g] + b])) < 1e-5:
                raise Incorrect(
                    "your offsets include the field's own size: field f starts at"
                    " sum(field_dims[:f]) (field 0 at row 0), not sum(field_dims[:f + 1])"
                )
        if abs(got - 2 * expected) < 1e-5:
            raise Incorrect("your weight is twice <v_a, v_b>: the pair's weight is one dot product")
        raise Incorrect(
            f"for field {f} = {a} and field {g} = {b} you return {got:.4f}, expected"
            f" {expected:.4f}: the weight is <V[row of a], V[row of b]>"
        )
    return (
        "FM scores any pair, seen in training or not, by the dot product of two rows of its table"
    )


q3 = Question(
    "q3",
    _check_pair_weight,
    hint=[
        "All fields share one table V of sum(field_dims) rows; field f's rows come after those"
        " of fields 0..f-1.",
        "row = sum(field_dims[:f]) + a; the weight is (V[row_a] * V[row_b]).sum().",
    ],
    solution=_pair_weight_solution,
)

QUESTIONS = [q1, q2, q3]
