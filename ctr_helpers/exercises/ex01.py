"""Exercises of notebook 01 (logistic regression).

from ctr_helpers.exercises.ex01 import q1, q2, q3
q1.check(lr_logit)        # lr_logit(x, weight, bias, field_dims) -> logits [B]
q2.check(count_pairs)     # count_pairs(field_dims) -> (pairs, one-hot columns of all pair crosses)
q3.check(cross3)          # cross3(a, b, c) -> one new field that fixes a three-way XOR
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from ctr_helpers.exercises._core import Incorrect, NotYet, Question, call, compare_outputs, matches

__all__ = ["QUESTIONS", "q1", "q2", "q3"]


# --------------------------------------------------------------------------- q1: LR as a lookup
def _lr_logit(x, weight, bias, field_dims):
    """x: [B, F] per-field indices; weight: [sum(field_dims)]; bias: [] -> logits [B]."""
    offsets = torch.tensor([0, *itertools.accumulate(field_dims)][:-1])  # field f starts here
    return weight[x + offsets].sum(dim=1) + bias


def _check_lr_logit(fn):
    field_dims = [3, 5, 2, 4]
    offsets = torch.tensor([0, *itertools.accumulate(field_dims)][:-1])
    g = torch.Generator().manual_seed(0)
    x = torch.stack([torch.randint(0, d, (64,), generator=g) for d in field_dims], dim=1)
    weight = torch.randn(sum(field_dims), generator=g)
    bias = torch.tensor(0.7)
    expected = _lr_logit(x, weight, bias, field_dims)

    try:
        got = call(fn, x, weight, bias, list(field_dims))
    except Incorrect as exc:
        if "index" in str(exc).lower():
            raise Incorrect(
                f"{exc} -- offsets must start at 0: field f starts at sum(field_dims[:f]), "
                f"here {offsets.tolist()}, so the last index is sum(field_dims) - 1"
            ) from None
        raise
    if got is None:
        raise NotYet("your function returned None: did you forget to `return` the logits?")
    if not torch.is_tensor(got):
        raise Incorrect(f"expected a torch.Tensor of logits, got {type(got).__name__}")
    if got.shape == (len(x), len(field_dims)):
        raise Incorrect(
            "you returned one weight per field, shape [B, F]: add them up over the fields "
            "(dim=1) to get one logit per row"
        )
    if matches(got, weight[x].sum(1) + bias):
        raise Incorrect(
            "you looked up weight[x] without the field offsets: index 0 of every field then "
            "hits the same weight. Add sum(field_dims[:f]) to field f's indices"
        )
    if matches(got, weight[x + offsets].sum(1)):
        raise Incorrect("the bias is missing: logit = b + sum_f w[offset_f + x_f]")
    if matches(got, weight[x + offsets].mean(1) + bias):
        raise Incorrect("you averaged the field weights: LR adds them (a one-hot dot product)")
    if matches(got, torch.sigmoid(expected)):
        raise Incorrect(
            "you returned probabilities: the model returns logits, and the sigmoid lives in "
            "the loss (BCEWithLogitsLoss) or at the very end"
        )
    compare_outputs(got, expected, what="your logits")
    return "the logit is b + sum_f w[offset_f + x_f], the one-hot dot product without the one-hot"


q1 = Question(
    "q1",
    _check_lr_logit,
    hint=[
        "Field f's values occupy rows offset_f ... offset_f + field_dims[f] - 1 of the weight "
        "vector, with offset_f = sum(field_dims[:f]).",
        "offsets = torch.tensor([0, *itertools.accumulate(field_dims)][:-1]); then "
        "weight[x + offsets] has shape [B, F]: sum it over dim=1 and add the bias.",
    ],
    solution=_lr_logit,
)


# --------------------------------------------------------------------------- q2: counting crosses
def _count_pairs(field_dims):
    """(number of field pairs, one-hot columns needed for all pair crosses)."""
    pairs = list(itertools.combinations(field_dims, 2))
    return len(pairs), sum(a * b for a, b in pairs)


def _as_pair(got):
    if got is None:
        raise NotYet("your function returned None: return a tuple (n_pairs, n_columns)")
    try:
        a, b = got
    except (TypeError, ValueError):
        raise Incorrect(
            f"return a tuple (n_pairs, n_columns), got {type(got).__name__} {got!r:.60}"
        ) from None
    try:
        return int(a), int(b)
    except (TypeError, ValueError):
        raise Incorrect(f"both numbers must be integers, got {a!r:.30} and {b!r:.30}") from None


def _check_count_pairs(fn):
    schemas = [[3, 5, 2, 4], [957, 4082, 7, 7, 2, 3, 2, 9, 80, 233], [10, 10]]
    for dims in schemas:
        n_pairs, n_cols = _as_pair(call(fn, list(dims)))
        exp_pairs, exp_cols = _count_pairs(dims)
        n = len(dims)
        total = sum(dims)
        sq = sum(d * d for d in dims)
        if n_pairs != exp_pairs:
            if n_pairs == n * (n - 1):
                raise Incorrect(
                    f"for {n} fields you counted {n_pairs} ordered pairs: (age, genre) and "
                    "(genre, age) are the same cross, so count each pair once: F(F-1)/2"
                )
            if n_pairs in (n * (n + 1) // 2, n * n):
                raise Incorrect(
                    f"for {n} fields you counted {n_pairs} pairs, which includes a field crossed "
                    "with itself: a one-hot field has one active value, so (f, f) adds nothing"
                )
            raise Incorrect(f"for {n} fields got {n_pairs} pairs, expected F(F-1)/2 = {exp_pairs}")
        if n_cols != exp_cols:
            if n_cols == 2 * exp_cols:
                raise Incorrect(
                    "your column count is twice the right one: each pair of fields counted twice"
                )
            if n_cols == (total * total - sq) // 2 + sq or n_cols == total * total:
                raise Incorrect(
                    "your column count includes a field crossed with itself: only pairs of "
                    "different fields (f < g) make new columns"
                )
            if n_cols == exp_pairs or n_cols == n_pairs:
                raise Incorrect(
                    "the number of columns is not the number of pairs: the cross of fields f and "
                    "g has one column per value combination, field_dims[f] * field_dims[g]"
                )
            if n_cols == total * (total - 1) // 2:
                raise Incorrect(
                    "you paired every one-hot column with every other, including two values of "
                    "the same field (never active together): sum over field pairs f < g of "
                    "field_dims[f] * field_dims[g]"
                )
            raise Incorrect(
                f"for field_dims={dims} got {n_cols:,} columns, expected {exp_cols:,}: the sum "
                "over field pairs f < g of field_dims[f] * field_dims[g]"
            )
    p, c = _count_pairs(schemas[1])
    return f"Frappe's 10 fields give {p} pairs and {c:,} one-hot pair columns"


q2 = Question(
    "q2",
    _check_count_pairs,
    hint=[
        "itertools.combinations(field_dims, 2) yields each pair of fields once.",
        "Crossing fields with a and b values gives a new field with a * b values.",
    ],
    solution=_count_pairs,
)


# --------------------------------------------------------------------------- q3: a three-way XOR
def _cross3(a, b, c):
    """One new field with a value per (a, b, c) combination of three binary fields: 0..7."""
    return 4 * a + 2 * b + c


_CELLS = [(a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1)]


def _check_cross3(fn):
    # all eight (a, b, c) cells of three binary fields, three times each, shuffled
    cells = torch.tensor(_CELLS * 3)[torch.randperm(3 * len(_CELLS))]
    a, b, c = cells.unbind(1)
    got = call(fn, a, b, c)
    if got is None:
        raise NotYet("your function returned None: return the new field's values")
    got = torch.as_tensor(np.asarray(got.detach() if torch.is_tensor(got) else got))
    if got.shape != a.shape:
        raise Incorrect(
            f"expected one value per row, shape {tuple(a.shape)}, got {tuple(got.shape)}"
        )
    if got.dtype == torch.bool:
        got = got.long()
    if got.is_floating_point():
        if not torch.equal(got, got.round()):
            raise Incorrect(
                "the new field must hold category indices (whole numbers), got fractions"
            )
        got = got.long()
    if (got < 0).any():
        raise Incorrect("category indices must be >= 0 so that they can index an embedding table")
    value_of: dict[tuple[int, int, int], int] = {}
    for cell, v in zip(map(tuple, cells.tolist()), got.tolist(), strict=True):
        if value_of.setdefault(cell, v) != v:
            raise Incorrect(
                "the same (a, b, c) combination got different values: the cross must be a "
                "function of a, b and c only"
            )
    for name, k in (("a", 0), ("b", 1), ("c", 2)):
        flip = [tuple(v ^ (i == k) for i, v in enumerate(cell)) for cell in _CELLS]
        if all(value_of[x] == value_of[y] for x, y in zip(_CELLS, flip, strict=True)):
            raise Incorrect(
                f"your feature does not depend on {name}: a cross of two of the three fields "
                "is blind to a three-way XOR, because every pair of fields looks like noise "
                "(each pair's four cells have the same click rate)"
            )
    for x, y in itertools.combinations(_CELLS, 2):
        if value_of[x] == value_of[y] and sum(x) % 2 != sum(y) % 2:
            hint = ""
            if matches(got, a * b * c):
                hint = " a * b * c is 1 only for (1, 1, 1), so seven cells share value 0."
            raise Incorrect(
                f"cells {x} and {y} both get value {value_of[x]}, but one clicks and the "
                f"other does not (the click depends on a + b + c being even), so LR still "
                f"cannot tell them apart.{hint}"
            )
    if len(set(value_of.values())) < 8:
        return (
            "this value separates the click cells from the others. A full cross (one value "
            "per combination, 4 * a + 2 * b + c) works for any three-way pattern, not just XOR"
        )
    return "one value per (a, b, c) combination: LR can give each of the 8 cells its own weight"


q3 = Question(
    "q3",
    _check_cross3,
    hint=[
        "A cross of fields is a new field with one value per combination of their values.",
        "Three binary fields have 2 * 2 * 2 = 8 combinations: number them 0..7, like the "
        "digits of a binary number.",
    ],
    solution=_cross3,
)

QUESTIONS = [q1, q2, q3]
