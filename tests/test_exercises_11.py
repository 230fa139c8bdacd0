"""Checkers of notebook 11 (serving and scale): each accepts the reference solution (and other
correct forms) and rejects the classic mistakes with the message that teaches the fix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ctr_helpers.exercises.ex11 import QUESTIONS, q1, q2, q3
from ctr_helpers.exercises.ex11 import _embedding_gib as embedding_gib
from ctr_helpers.exercises.ex11 import _quantize_int8 as quantize_int8
from ctr_helpers.exercises.ex11 import _shard_rows as shard_rows


def verdict(question, answer, capsys):
    result = question.check(answer)
    out = capsys.readouterr().out.strip()
    assert "\n" not in out, "a check prints exactly one line"
    return bool(result), out


def test_questions_listed():
    assert QUESTIONS == [q1, q2, q3]
    assert [q.name for q in QUESTIONS] == ["q1", "q2", "q3"]


# --------------------------------------------------------------------------- q1: int8
def _quantize_numpy_style(w):  # a different, also correct, formulation
    scale = float(w.abs().max()) / 127.0
    q = (w / scale).round().clamp(-127, 127).to(torch.int8)
    return q, torch.tensor(scale)


def _scaled(w, divisor, fix=lambda x: torch.round(x)):
    scale = w.abs().max().item() / divisor
    return fix(w / scale).clamp(-127, 127).to(torch.int8), scale


def test_q1_accepts_reference_and_variants(capsys):
    ok, out = verdict(q1, quantize_int8, capsys)
    assert ok and out.startswith("✅ Correct: 4x smaller")
    assert verdict(q1, _quantize_numpy_style, capsys)[0]


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda w: _scaled(w, 127, fix=lambda x: x), "you truncated w / scale"),
        (lambda w: _scaled(w, 127, fix=torch.floor), "rounding to the nearest step"),
        (
            lambda w: (
                torch.round(w / (w.max() / 127)).clamp(-127, 127).to(torch.int8),
                w.max() / 127,
            ),
            "not max(w)",
        ),
        (lambda w: _scaled(w, 255), "scale = max|w| / 127"),
        (lambda w: _scaled(w, 128), "scale = max|w| / 127"),
        (lambda w: (_scaled(w, 127)[0], w.abs().max().item()), "not max|w| itself"),
        (lambda w: (_scaled(w, 127)[0], 127 / w.abs().max().item()), "the scale is upside down"),
        (lambda w: (_scaled(w, 127)[0].float(), _scaled(w, 127)[1]), "store it as torch.int8"),
        (lambda w: (_scaled(w, 127)[0].to(torch.int16), _scaled(w, 127)[1]), "dtype torch.int8"),
        (lambda w: (_scaled(w, 127)[0].numpy(), _scaled(w, 127)[1]), "must be a torch.Tensor"),
        (lambda w: (_scaled(w, 127)[0][0], _scaled(w, 127)[1]), "one per weight"),
        (lambda w: _scaled(w, 127)[0], "return a pair"),
    ],
)
def test_q1_rejects_classic_mistakes(answer, message, capsys):
    ok, out = verdict(q1, answer, capsys)
    assert not ok
    assert message in out, out


# --------------------------------------------------------------------------- q2: shards
def _blocks(perm, rank, world):  # contiguous blocks of the permutation: also right
    m = len(perm) // world
    return perm[rank * m : (rank + 1) * m]


def test_q2_accepts_reference_and_blocks(capsys):
    ok, out = verdict(q2, shard_rows, capsys)
    assert ok and out.startswith("✅ Correct: equal, disjoint shards")
    assert verdict(q2, _blocks, capsys)[0]
    assert verdict(q2, lambda perm, rank, world: shard_rows(perm, rank, world).tolist(), capsys)[0]


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda perm, rank, world: perm[rank::world], "waits forever"),
        (lambda perm, rank, world: perm[rank : rank + len(perm) // world], "the shards overlap"),
        (lambda perm, rank, world: perm[: len(perm) // world], "every rank got the same rows"),
        (
            lambda perm, rank, world: torch.arange(len(perm))[rank::world][: len(perm) // world],
            "you ignored the permutation",
        ),
        (
            lambda perm, rank, world: _blocks(torch.arange(len(perm)), rank, world),
            "ignored the permutation",
        ),
        (lambda perm, rank, world: perm[rank::world][: len(perm) // world - 1], "should train on"),
        (
            lambda perm, rank, world: perm[rank::world][:1].repeat(len(perm) // world),
            "the same row twice",
        ),
        (lambda perm, rank, world: perm[rank::world][: len(perm) // world] + 100, "not in perm"),
        (lambda perm, rank, world: perm[rank::world][: len(perm) // world].float(), "integers"),
        (lambda perm, rank, world: None, "is None"),
    ],
)
def test_q2_rejects_classic_mistakes(answer, message, capsys):
    ok, out = verdict(q2, answer, capsys)
    assert not ok
    assert message in out, out


# --------------------------------------------------------------------------- q3: table size
def test_q3_accepts_reference_and_variants(capsys):
    ok, out = verdict(q3, embedding_gib, capsys)
    assert ok and "GiB" in out
    assert verdict(
        q3, lambda d, e, bytes_per_value=4: np.sum(d) * e * bytes_per_value / 1024**3, capsys
    )[0]


@pytest.mark.parametrize(
    "answer, message",
    [
        (
            lambda d, e, bytes_per_value=4: (
                float(np.prod(np.array(d, dtype=float))) * e * bytes_per_value / 2**30
            ),
            "add the field sizes",
        ),
        (
            lambda d, e, bytes_per_value=4: int(np.prod(d)) * e * bytes_per_value / 2**30,
            "add the field sizes",
        ),
        (lambda d, e, bytes_per_value=4: sum(d) * bytes_per_value / 2**30, "multiply by embed_dim"),
        (lambda d, e, bytes_per_value=4: sum(d) * e / 2**30, "bytes_per_value bytes"),
        (
            lambda d, e, bytes_per_value=4: sum(d) * e * bytes_per_value * 8 / 2**30,
            "you counted bits",
        ),
        (lambda d, e, bytes_per_value=4: sum(d) * e * bytes_per_value / 1e9, "GB (10^9 bytes)"),
        (lambda d, e, bytes_per_value=4: sum(d) * e * bytes_per_value / 2**20, "MiB"),
        (lambda d, e, bytes_per_value=4: sum(d) * e * 4 / 2**30, "ignores bytes_per_value"),
        (lambda d, e, bytes_per_value=4: [sum(d) * e * bytes_per_value / 2**30], "one number"),
    ],
)
def test_q3_rejects_classic_mistakes(answer, message, capsys):
    ok, out = verdict(q3, answer, capsys)
    assert not ok
    assert message in out, out


def test_hints_and_solutions_print(capsys):
    for q in QUESTIONS:
        q.hint()
        q.solution()
    out = capsys.readouterr().out
    assert "def quantize_int8" in out and "def embedding_gib" in out
