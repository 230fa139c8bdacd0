"""Exercises of notebook 11 (serving and scale): quantise a weight matrix to int8 by hand,
split an epoch between data-parallel ranks, and size an embedding table.

from ctr_helpers.exercises.ex11 import q1, q2, q3
q1.check(quantize_int8)  # quantize_int8(w) -> (q int8 tensor, scale float)
q2.check(shard_rows)     # shard_rows(perm, rank, world) -> LongTensor of rows
q3.check(embedding_gib)  # embedding_gib(field_dims, embed_dim, bytes_per_value=4) -> GiB
"""

from __future__ import annotations

import numpy as np
import torch

from ctr_helpers.exercises._core import Incorrect, NotYet, Question, call, compare_outputs, matches

__all__ = [
    "QUESTIONS",
    "q1",
    "q2",
    "q3",
]


def _number(x, what: str) -> float:
    """A scalar answer (Python number, NumPy scalar, 0-d or 1-element tensor) as a float."""
    if x is None:
        raise NotYet(f"{what} is None: did you forget to `return` it?")
    try:
        arr = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x)
    except Exception:
        arr = np.asarray(None)
    if isinstance(x, bool | list | tuple) or arr.dtype.kind not in "iuf" or arr.size != 1:
        raise Incorrect(f"{what} must be one number, got {type(x).__name__}")
    return float(arr.reshape(()))


# --------------------------------------------------------------------------- q1: int8
def _quantize_int8(w):
    """Symmetric per-tensor int8 quantisation: scale = max|w| / 127, q = round(w / scale)
    clamped to [-127, 127] as int8; w is approximately q * scale."""
    scale = w.abs().max().item() / 127
    q = torch.clamp(torch.round(w / scale), -127, 127).to(torch.int8)
    return q, scale


def _reject_scale_mistakes(scale, w):
    """Raise ``Incorrect`` for the classic wrong scales: max(w), 255 or 128 steps, upside down."""
    if matches(scale, w.max().item() / 127, rtol=1e-5):
        raise Incorrect(
            "the scale must come from the largest magnitude max(|w|), not max(w): here the "
            "most extreme weight is negative and would be clipped"
        )
    if matches(scale, w.abs().max().item() / 255, rtol=1e-5) or matches(
        scale, w.abs().max().item() / 128, rtol=1e-5
    ):
        raise Incorrect(
            "symmetric int8 uses the range [-127, 127] around 0: scale = max|w| / 127 (a "
            "scale from 255 or 128 sends the largest weights outside the range)"
        )
    if matches(scale, w.abs().max().item(), rtol=1e-5):
        raise Incorrect(
            "scale is the weight step per integer, max|w| / 127, not max|w| itself: the "
            "largest weight should map to the integer 127"
        )
    if matches(scale, 127 / w.abs().max().item(), rtol=1e-5):
        raise Incorrect(
            "the scale is upside down: it is the weight step per integer, max|w| / 127, so "
            "that w is approximately q * scale"
        )


def _check_quantize(fn):
    w = torch.randn(16, 24) * 0.05
    w[3, 5] = -0.31  # the largest magnitude is negative: max(w) != max(|w|)
    got = call(fn, w.clone())
    if got is None:
        raise NotYet("your function returned None: return the pair (q, scale)")
    if not isinstance(got, tuple | list) or len(got) != 2:
        raise Incorrect(f"return a pair (q, scale), got {type(got).__name__}")
    q, scale = got
    if not isinstance(q, torch.Tensor):
        raise Incorrect(f"q must be a torch.Tensor, got {type(q).__name__}")
    if tuple(q.shape) != tuple(w.shape):
        raise Incorrect(f"q has shape {tuple(q.shape)}, expected {tuple(w.shape)} (one per weight)")
    scale = _number(scale, "scale")
    ref_q, ref_scale = _quantize_int8(w)
    _reject_scale_mistakes(scale, w)
    compare_outputs(scale, ref_scale, what="scale", rtol=1e-5, atol=1e-12, check_type=False)
    if q.dtype != torch.int8:
        if q.dtype.is_floating_point and torch.equal(q, ref_q.to(q.dtype)):
            raise Incorrect(
                f"the values are right but q is {q.dtype}: store it as torch.int8 (.to(torch."
                "int8)), 1 byte per weight instead of 4 -- that is the point"
            )
        raise Incorrect(f"q must have dtype torch.int8, got {q.dtype}")
    err = (q.float() * scale - w).abs().max().item()
    trunc = (w / scale).trunc().clamp(-127, 127).to(torch.int8)
    if torch.equal(q, trunc) and not torch.equal(q, ref_q):
        raise Incorrect(
            "you truncated w / scale towards zero (a plain .to(torch.int8) does that): round "
            "to the nearest integer first (torch.round), or every weight shrinks by up to one step"
        )
    if err > scale / 2 + 1e-6:
        raise Incorrect(
            f"dequantised q * scale is up to {err:.3g} away from w; rounding to the nearest "
            f"step keeps every weight within scale / 2 = {scale / 2:.3g}"
        )
    return (
        f"4x smaller; every weight within scale / 2 = {scale / 2:.2g} of its float value "
        f"(max error here {err:.2g})"
    )


q1 = Question(
    "q1",
    _check_quantize,
    hint=[
        "The step between neighbouring integers is scale = max|w| / 127: the largest weight "
        "maps to +-127.",
        "q = round(w / scale), clamp to [-127, 127], then .to(torch.int8). Return (q, scale).",
    ],
    solution=_quantize_int8,
)


# --------------------------------------------------------------------------- q2: DDP shards
def _shard_rows(perm, rank, world):
    """The rows rank ``rank`` of ``world`` trains on this epoch: every ``world``-th entry of the
    shared permutation, starting at ``rank``, cut to ``len(perm) // world`` rows so that every
    rank runs the same number of steps."""
    return perm[rank::world][: len(perm) // world]


def _rows(got, what: str) -> list[int]:
    if got is None:
        raise NotYet(f"{what} is None: did you forget to `return` the rows?")
    try:
        arr = np.asarray(got.detach().cpu() if hasattr(got, "detach") else got)
    except Exception:
        arr = np.asarray(None)
    if arr.dtype.kind not in "iu" or arr.ndim != 1:
        raise Incorrect(
            f"{what} must be a 1-D tensor of row indices (integers), got {type(got).__name__}"
            + (f" of shape {tuple(arr.shape)} and dtype {arr.dtype}" if arr.dtype != object else "")
        )
    return arr.tolist()


def _check_shards(fn):
    for n, world in ((10, 3), (12, 4), (7, 1)):
        perm = torch.randperm(n)
        shards = [_rows(call(fn, perm.clone(), r, world), f"rank {r}'s rows") for r in range(world)]
        sizes = [len(s) for s in shards]
        m = n // world
        strided = [list(range(r, n, world))[:m] for r in range(world)]
        blocks = [list(range(r * m, (r + 1) * m)) for r in range(world)]
        if world > 1 and shards in (strided, blocks):
            raise Incorrect(
                "you ignored the permutation: these are the same rows, in the same order, every "
                "epoch; take rank r's share of `perm` itself (perm[...], not range(...))"
            )
        if world > 1 and all(s == shards[0] for s in shards):
            raise Incorrect(
                "every rank got the same rows: use `rank` to pick a different share per rank, "
                "or the extra ranks only repeat rank 0's work"
            )
        if len(set(sizes)) > 1:
            raise Incorrect(
                f"with {n} rows on {world} ranks your shards have {sizes} rows: ranks would "
                "run different numbers of steps, and DDP's all-reduce then waits forever for "
                "the rank that has finished (a hang, not an error). Give every rank "
                f"len(perm) // world = {m} rows and drop the remainder"
            )
        if sizes[0] != m:
            raise Incorrect(
                f"each rank should train on len(perm) // world = {m} of the {n} rows this "
                f"epoch, got {sizes[0]}"
            )
        owner: dict[int, int] = {}
        for r, rows in enumerate(shards):
            if len(set(rows)) != len(rows):
                raise Incorrect(f"rank {r} got the same row twice in one epoch")
            if not set(rows) <= set(range(n)):
                raise Incorrect(f"rank {r} got rows that are not in perm (0..{n - 1})")
            for row in rows:
                if row in owner:
                    raise Incorrect(
                        f"rank {owner[row]} and rank {r} both got row {row}: the shards "
                        "overlap, so some rows count twice per epoch and others not at all"
                    )
                owner[row] = r
    return "equal, disjoint shards of one shared permutation: every rank runs the same steps"


q2 = Question(
    "q2",
    _check_shards,
    hint=[
        "All ranks draw the same permutation (same seed); rank r must take a share no other "
        "rank takes, e.g. every world-th entry starting at r.",
        "perm[rank::world] is close; cut it to len(perm) // world rows so that every rank has "
        "the same number of rows, hence of steps.",
    ],
    solution=_shard_rows,
)


# --------------------------------------------------------------------------- q3: table size
def _embedding_gib(field_dims, embed_dim, bytes_per_value=4):
    """Memory of one embedding table holding a row of ``embed_dim`` values for every value of
    every field, in GiB (2**30 bytes)."""
    return sum(field_dims) * embed_dim * bytes_per_value / 2**30


def _check_gib(fn):
    dims = [40_000_000, 10_000_000, 3_000, 20]
    got = _number(call(fn, list(dims), 64, bytes_per_value=4), "your size")
    rows = sum(dims)
    ref = _embedding_gib(dims, 64, 4)
    mistakes = [
        (
            float(np.prod(np.array(dims, dtype=float))) * 64 * 4 / 2**30,
            "you multiplied the field sizes: that counts every combination of values (a "
            "cross feature). The table has one row per value: add the field sizes",
        ),
        (rows * 4 / 2**30, "each row holds embed_dim values: multiply by embed_dim"),
        (rows * 64 / 2**30, "each value takes bytes_per_value bytes (4 for float32)"),
        (rows * 64 * 4 * 8 / 2**30, "you counted bits: a float32 value is 4 bytes"),
        (
            rows * 64 * 4 / 1e9,
            "that is in GB (10^9 bytes); a GiB is 2^30 = 1,073,741,824 bytes",
        ),
        (rows * 64 * 4 / 2**20, "that is in MiB (2^20 bytes); divide by 2^30 for GiB"),
    ]
    for wrong, message in mistakes:
        if matches(got, wrong, rtol=1e-6):
            raise Incorrect(message)
    if abs(got) > 1e6 * ref:  # a product of field sizes (it may even overflow int64)
        raise Incorrect(mistakes[0][1])
    compare_outputs(got, ref, what="your size in GiB", rtol=1e-6, check_type=False)
    half = _number(call(fn, list(dims), 64, bytes_per_value=2), "your size")
    if not matches(half, ref / 2, rtol=1e-6):
        raise Incorrect("your function ignores bytes_per_value: 2-byte values halve the size")
    return (
        f"{ref:.1f} GiB for {rows / 1e6:.0f}M rows x 64 float32 values; Adam's two moments "
        f"per weight make it {3 * ref:.0f} GiB to train"
    )


q3 = Question(
    "q3",
    _check_gib,
    hint=[
        "One row per value of every field: sum(field_dims) rows.",
        "rows x embed_dim x bytes_per_value bytes, divided by 2**30.",
    ],
    solution=_embedding_gib,
)

QUESTIONS = [q1, q2, q3]
