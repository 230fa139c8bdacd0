"""Every fast path in ``ctr_helpers._kernels`` against the plain expression it replaces.

Shared inputs, values *and* gradients (autograd through the obvious expression), batch 1 and 64,
F = 2 and 10, with and without gradients; ``gradcheck`` in float64 for each hand-written backward.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from ctr_helpers import _kernels, layers

D = 4
cases = [
    pytest.mark.parametrize("batch", [1, 64]),
    pytest.mark.parametrize("F", [2, 10]),
]


def both(f):
    for mark in cases:
        f = mark(f)
    return f


def field_dims_for(num_fields: int) -> list[int]:
    return [3 + (5 * f) % 7 for f in range(num_fields)]


def random_x(field_dims: list[int], batch: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, d, (batch,), generator=g) for d in field_dims], dim=1)


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64)


def randomized(module: nn.Module, seed: int = 1) -> nn.Module:
    """float64 with O(1) weights (the N(0, 1e-4^2) embedding init would make anything agree)."""
    module = module.double()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.5)
    return module


def grads(out: torch.Tensor, inputs: tuple[torch.Tensor, ...], seed: int = 7) -> tuple:
    """Gradients of ``<out, u>`` for a fixed random upstream ``u`` (dense, for comparison)."""
    upstream = randn(*out.shape, seed=seed).to(out.dtype)
    got = torch.autograd.grad((out * upstream).sum(), inputs)
    return tuple(g.to_dense() if g.is_sparse else g for g in got)


def assert_same_values_and_grads(fast, plain, inputs: tuple[torch.Tensor, ...]) -> None:
    """``fast()`` equals ``plain()`` in value with and without gradients, and in gradient."""
    out_fast, out_plain = fast(), plain()
    assert_close(out_fast, out_plain)
    for got, want in zip(grads(out_fast, inputs), grads(out_plain, inputs), strict=True):
        assert_close(got, want)
    with torch.no_grad():
        assert_close(fast(), out_plain.detach())


# ----------------------------------------------------------------------------- linear term
@both
@pytest.mark.parametrize("sparse", [True, False])
def test_features_linear_sum(batch, F, sparse):
    dims = field_dims_for(F)
    emb = randomized(layers.FeaturesEmbedding(dims, 1, sparse=sparse))
    x = random_x(dims, batch)
    table = emb.embedding.weight
    assert_same_values_and_grads(
        lambda: _kernels.features_linear_sum(emb, x),
        lambda: table[x + emb.offsets].sum(dim=(1, 2)),
        (table,),
    )


# ----------------------------------------------------------------------------- FM
def fm_plain(e: torch.Tensor) -> torch.Tensor:
    rows, cols = layers.pair_indices(e.shape[1])
    return (e[:, rows] * e[:, cols]).sum(dim=(1, 2))  # sum_{i<j} <e_i, e_j>


@both
def test_fm_pair_sum(batch, F):
    e = randn(batch, F, D).requires_grad_()
    assert_same_values_and_grads(lambda: _kernels.fm_pair_sum(e), lambda: fm_plain(e), (e,))


def test_fm_pair_sum_square_of_sum_form():
    e = randn(8, 5, D).requires_grad_()
    square_of_sum = 0.5 * (e.sum(dim=1).square() - e.square().sum(dim=1)).sum(dim=1)
    assert_same_values_and_grads(lambda: _kernels.fm_pair_sum(e), lambda: square_of_sum, (e,))


def test_fm_pair_sum_gradcheck():
    e = randn(3, 4, 2).requires_grad_()
    assert torch.autograd.gradcheck(_kernels._FMPairSum.apply, (e,))


# ----------------------------------------------------------------------------- FFM
@both
@pytest.mark.parametrize("diagonal_slot", [True, False])
def test_ffm_pair_sum(batch, F, diagonal_slot):
    """Both table layouts (``F`` slots per feature, or FuxiCTR's ``F - 1``), both paths (the
    training one on the ``[B, F, F, D]`` grid, the gather without gradients)."""
    dims = field_dims_for(F)
    ffm = randomized(layers.FFMInteraction(dims, D, sparse=False, diagonal_slot=diagonal_slot))
    x = random_x(dims, batch)
    table = ffm.embedding.embedding.embedding.weight
    rows, cols = ffm.rows, ffm.cols

    def plain():
        e = ffm.embedding(x)  # [B, F, F, D]
        return (e[:, rows, cols] * e[:, cols, rows]).sum(dim=(1, 2))

    assert_same_values_and_grads(
        lambda: _kernels.ffm_pair_sum(ffm.embedding, x, rows, cols, ffm.off_diagonal),
        plain,
        (table,),
    )
    assert_same_values_and_grads(lambda: ffm(x), plain, (table,))


def test_ffm_pair_sum_gradcheck():
    e = randn(3, 4, 4, 2).requires_grad_()
    off_diagonal = 1.0 - torch.eye(4, dtype=torch.float64)
    assert torch.autograd.gradcheck(_kernels._FFMPairSum.apply, (e, off_diagonal))


# ----------------------------------------------------------------------------- CIN
def cin_plain(e: torch.Tensor, compress: nn.ModuleList, split_half: bool) -> list[torch.Tensor]:
    """The paper's layout: outer product ``[B, H, F, D]``, then the Conv1d(k=1) compression."""
    batch, num_fields, dim = e.shape
    hidden, outputs = e, []
    for k, conv in enumerate(compress):
        z = torch.einsum("bhd,bfd->bhfd", hidden, e).reshape(batch, -1, dim)
        xk = conv(z)  # [B, H_k, D]
        outputs.append(xk)
        last = k == len(compress) - 1
        hidden = xk[:, : xk.shape[1] // 2] if split_half and not last else xk
    return outputs


@both
@pytest.mark.parametrize(
    "sizes, split_half, bias", [((3, 5), False, False), ((4, 6, 3), True, True)]
)
def test_cin_layer_outputs(batch, F, sizes, split_half, bias):
    cin = randomized(layers.CIN(F, D, sizes, split_half=split_half, bias=bias))
    e = randn(batch, F, D).requires_grad_()
    weights = tuple(cin.parameters())

    def cat(maps: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat([m.flatten(1) for m in maps], dim=1)

    assert_same_values_and_grads(
        lambda: cat(_kernels.cin_layer_outputs(e, cin.compress, split_half)),
        lambda: cat(cin_plain(e, cin.compress, split_half)),
        (e, *weights),
    )


@both
@pytest.mark.parametrize(
    "sizes, split_half, bias",
    [((3, 5), False, False), ((4, 6, 3), True, True), ((4,), True, False), ((6, 4), True, True)],
)
def test_cin_pooled(batch, F, sizes, split_half, bias):
    """The pooled output (last layer pooled before its compression) against pooling the maps."""
    cin = randomized(layers.CIN(F, D, sizes, split_half=split_half, bias=bias))
    e = randn(batch, F, D).requires_grad_()
    weights = tuple(cin.parameters())

    def pool_plain() -> torch.Tensor:
        maps = cin_plain(e, cin.compress, split_half)
        last = len(maps) - 1
        halves = [
            m[:, m.shape[1] // 2 :] if split_half and k < last else m for k, m in enumerate(maps)
        ]
        return torch.cat([m.sum(dim=2) for m in halves], dim=1)

    assert_same_values_and_grads(
        lambda: _kernels.cin_pooled(e, cin.compress, split_half), pool_plain, (e, *weights)
    )


# ----------------------------------------------------------------------------- attention
@both
@pytest.mark.parametrize("scaled", [False, True])
def test_attention_weights(batch, F, scaled):
    q = randn(batch, 2, F, 3, seed=1).requires_grad_()
    k = randn(batch, 2, F, 3, seed=2).requires_grad_()
    scale = math.sqrt(3) if scaled else None

    def plain():
        scores = q @ k.transpose(-1, -2)  # [B, H, F_query, F_key]
        return (scores / scale if scaled else scores).softmax(dim=-1)

    assert_same_values_and_grads(lambda: _kernels.attention_weights(q, k, scale), plain, (q, k))


# ----------------------------------------------------------------------------- field pairs
@both
@pytest.mark.parametrize("side", [0, 1])
def test_select_fields(batch, F, side):
    index = layers.pair_indices(F)[side]
    onehot = torch.zeros(len(index), F, dtype=torch.float64)
    onehot[torch.arange(len(index)), index] = 1.0
    e = randn(batch, F, D).requires_grad_()
    assert_same_values_and_grads(
        lambda: _kernels.select_fields(e, index, onehot), lambda: e[:, index], (e,)
    )


def test_select_fields_gradcheck():
    rows, _ = layers.pair_indices(4)
    onehot = torch.zeros(len(rows), 4, dtype=torch.float64)
    onehot[torch.arange(len(rows)), rows] = 1.0
    e = randn(3, 4, 2).requires_grad_()
    assert torch.autograd.gradcheck(_kernels._SelectFields.apply, (e, rows, onehot))


def test_to_autocast_dtype():
    e = torch.randn(3, 4)
    assert _kernels.to_autocast_dtype(e) is e
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cast = _kernels.to_autocast_dtype(e)
    assert cast.dtype == torch.bfloat16
    assert_close(cast.float(), e, rtol=0.01, atol=0.01)
