"""Fast paths behind :mod:`ctr_helpers.layers` (private): fused autograd Functions, memory-layout
tricks and the separate no-gradient (inference) paths.

Each function here computes exactly what a one-line expression in the calling layer's docstring
says, only faster on CPU; ``tests/test_kernels.py`` checks every one against that plain form
(values and gradients) and runs ``gradcheck`` on each hand-written backward. Read
:mod:`ctr_helpers.layers` for the models' maths; read this module for why they run fast.

Shapes follow the legend of :mod:`ctr_helpers.layers` (``B``, ``F``, ``D``, ``P``, ``H``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from ctr_helpers.layers import FeaturesEmbedding, FieldAwareEmbedding

__all__: list[str] = []  # private: the layers call these, nothing else should


def _wants_grad(t: torch.Tensor) -> bool:
    """True when autograd will record an op on ``t`` (training), False for inference."""
    return torch.is_grad_enabled() and t.requires_grad


# ----------------------------------------------------------------------------- linear term
def features_linear_sum(embedding: FeaturesEmbedding, x: torch.Tensor) -> torch.Tensor:
    """``sum_f w[offset[f] + x[b, f]]`` ``[B]`` for a 1-wide ``embedding``.

    Plain form: ``embedding(x).sum(dim=(1, 2))``, used as is while training (the lookup gives the
    gradient, sparse or dense, that the table's ``sparse`` flag asks for). Without gradients, a
    sum-mode ``embedding_bag`` (gather and field sum in one kernel) is several times faster than
    a flat ``index_select`` from the ``[V]`` column and a separate sum.
    """
    table = embedding.embedding.weight
    if _wants_grad(table):
        return embedding(x).sum(dim=(1, 2))
    return nn.functional.embedding_bag(x + embedding.offsets, table, mode="sum").view(-1)


def _float32_under_autocast(t: torch.Tensor) -> torch.autocast:
    """Autocast switched off for ``t``'s device: the FM and FFM pair terms run in float32.

    ``torch.linalg.vecdot`` (the FM forward's ``<s, s>``) is on autocast's lower-precision list,
    so under bfloat16 autocast the pair term would be rounded to an 8-bit mantissa (the subtraction
    ``(|s|^2 - sum_f |e_f|^2) / 2`` then loses most of the rest) while the hand-written backward
    works in float32: forward and backward would disagree. The pair terms are reductions, cheap
    next to the MLP, so they stay float32 like the logit.
    """
    return torch.autocast(t.device.type, enabled=False)


# ----------------------------------------------------------------------------- FM
class _FMPairSum(torch.autograd.Function):
    """``0.5 * sum_d ((sum_f e[f, d])^2 - sum_f e[f, d]^2)`` for ``e: [B, F, D]``, hand-written
    backward.

    Forward: the field sum ``s = sum_f e[f]`` ``[B, D]``, its squared norm and the squared norm
    of all of ``e`` (reductions: no squared ``[B, F, D]`` tensor in memory).
    Backward: ``d out / d e[f] = g * (s - e[f])``, one fused pass (``addcmul``) where autograd
    runs both squares' backwards and adds them (four passes over ``[B, F, D]``).
    """

    @staticmethod
    def pair_sum(e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The FM term ``[B]`` and the field sum ``s`` ``[B, D]`` it was computed from."""
        s = e.sum(dim=1)  # [B, D]
        flat = e.reshape(e.shape[0], e.shape[1] * e.shape[2])  # explicit: -1 fails on 0 rows
        return 0.5 * (torch.linalg.vecdot(s, s) - torch.linalg.vector_norm(flat, dim=1).square()), s

    @staticmethod
    def forward(ctx, e: torch.Tensor) -> torch.Tensor:
        out, s = _FMPairSum.pair_sum(e)
        ctx.save_for_backward(e, s)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor) -> torch.Tensor:
        e, s = ctx.saved_tensors
        g = grad_out.to(e.dtype)
        return torch.addcmul((g.unsqueeze(1) * s).unsqueeze(1), e, g.view(-1, 1, 1), value=-1)


def fm_pair_sum(e: torch.Tensor) -> torch.Tensor:
    """``sum_{i<j} <e_i, e_j>`` ``[B]`` for ``e: [B, F, D]``, by the square-of-sum identity.

    Plain form: ``0.5 * (e.sum(1).square() - e.square().sum(1)).sum(1)``. With gradients this is
    :class:`_FMPairSum` (fused backward); without, the same sums without autograd's bookkeeping.
    Always float32 inside ``torch.autocast`` (:func:`_float32_under_autocast`).
    """
    if torch.is_autocast_enabled(e.device.type):
        with _float32_under_autocast(e):
            return fm_pair_sum(e.float())
    if _wants_grad(e):
        return _FMPairSum.apply(e)
    return _FMPairSum.pair_sum(e)[0]


# ----------------------------------------------------------------------------- FFM
class _FFMPairSum(torch.autograd.Function):
    """``sum_{i<j} <e[:, i, j], e[:, j, i]>`` for ``e: [B, F, F, D]``, with a hand-written backward.

    Forward: the sum over *all* ``(i, j)`` of ``<e[i, j], e[j, i]>`` counts every pair twice plus
    the diagonal ``<e[i, i], e[i, i]>``, so the pairs are ``(total - diagonal) / 2``: one product
    and one full reduction, no ``[B, F, F]`` intermediate (a per-pair sum reduces over a short
    last axis, slow on CPU).
    Backward: ``e[i, j]`` appears in exactly one pair (with ``e[j, i]``) when ``i != j``, so
    ``d out / d e[i, j] = g * e[j, i]`` off the diagonal and 0 on it: one product, where autograd
    would run two and add them. ``off_diagonal`` is ``1 - eye(F)``, ``[F, F]``.
    """

    @staticmethod
    def forward(ctx, e: torch.Tensor, off_diagonal: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(e, off_diagonal)
        total = (e * e.transpose(1, 2)).sum(dim=(1, 2, 3))
        diag = torch.diagonal(e, dim1=1, dim2=2)  # [B, D, F]: e[:, i, i]
        return 0.5 * (total - (diag * diag).sum(dim=(1, 2)))

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor) -> tuple[torch.Tensor, None]:
        e, off_diagonal = ctx.saved_tensors
        weight = grad_out[:, None, None] * off_diagonal  # [B, F, F]
        grad = torch.empty_like(e, memory_format=torch.contiguous_format)
        # written straight into a contiguous buffer: the embedding's backward needs one, and
        # ``e.transpose(1, 2) * w`` would come out in the transposed layout and be copied.
        torch.mul(e.transpose(1, 2), weight.unsqueeze(-1), out=grad)
        return grad, None


def ffm_pair_sum(
    embedding: FieldAwareEmbedding,
    x: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
    off_diagonal: torch.Tensor,
) -> torch.Tensor:
    """``sum_{i<j} <e[i, j], e[j, i]>`` ``[B]`` with ``e = embedding(x)`` ``[B, F, F, D]``.

    Plain form: ``(e[:, rows, cols] * e[:, cols, rows]).sum(dim=(1, 2))`` over the ``P`` pairs
    ``rows < cols``. Two paths, the same number:

    - **training** (gradients on): one gather of every feature's ``F`` vectors, then
      :class:`_FFMPairSum`, which multiplies ``e`` by its field-transpose once forward and once
      backward (a gather of only the ``i < j`` halves would make the backward scatter into a
      zeroed ``[B, F, F, D]``).
    - **inference** (no gradients): :func:`_ffm_pairs_without_grad`.

    Always float32 inside ``torch.autocast`` (:func:`_float32_under_autocast`).
    """
    weight = embedding.embedding.embedding.weight
    if torch.is_autocast_enabled(weight.device.type):
        with _float32_under_autocast(weight):
            return ffm_pair_sum(embedding, x, rows, cols, off_diagonal)
    if _wants_grad(weight):
        e = embedding(x)  # [B, F, F, D]: e[b, i, j] = field i towards field j
        return _FFMPairSum.apply(e, off_diagonal.to(e.dtype))
    return _ffm_pairs_without_grad(embedding, x, weight, rows, cols)


def _ffm_pairs_without_grad(
    embedding: FieldAwareEmbedding,
    x: torch.Tensor,
    weight: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
) -> torch.Tensor:
    """The FFM pairs gathering only the ``2 P`` vectors they use, ``[B]``.

    The table viewed as ``[sum(field_dims) * S, D]`` (``S`` slots per feature) has feature
    ``r``'s vector towards field ``j`` in row ``r * S + slot``: ``slot = j`` with ``S = F``; with
    ``S = F - 1`` (no slot towards the feature's own field ``i``) ``slot = j - (j > i)``, so for a
    pair ``i < j`` the left vector is slot ``j - 1`` and the right one slot ``i``. One dot
    product per sample (an in-place product and a row sum): no ``[B, F, F, D]`` lookup and no
    transposed product.
    """
    slots, dim = embedding.num_slots, embedding.embed_dim
    flat = weight.view(-1, dim)  # [sum(field_dims) * S, D]
    base = (x + embedding.embedding.offsets) * slots  # first flat row, [B, F]
    # ``gather`` along the field axis: ``index_select(base, 1, rows)`` takes a per-element
    # path on CPU, several times slower
    pairs = (x.shape[0], len(rows))
    left_slot = cols if embedding.diagonal_slot else cols - 1
    left = torch.gather(base, 1, rows.expand(pairs)).add_(left_slot)  # v[x_i] towards j
    right = torch.gather(base, 1, cols.expand(pairs)).add_(rows)  # v[x_j] towards i (i < j)
    width = pairs[1] * dim  # P * D (explicit: -1 is ambiguous for an empty batch)
    a = nn.functional.embedding(left, flat).view(x.shape[0], width)  # [B, P * D]
    b = nn.functional.embedding(right, flat).view(x.shape[0], width)
    # one product in place and a row sum, faster than a per-sample ``bmm`` dot (B tiny
    # matrix-vector products). Float32 like the table (neither op is on autocast's lists, and
    # ``ffm_pair_sum`` runs this with autocast off).
    return a.mul_(b).sum(dim=1)


# ----------------------------------------------------------------------------- CIN
def cin_layer_outputs(
    e: torch.Tensor, compress: nn.ModuleList, split_half: bool
) -> list[torch.Tensor]:
    """CIN feature maps of every layer before pooling, a list of ``[B, H_k, D]``.

    Plain form, per layer ``k`` with ``conv = compress[k - 1]`` (a ``Conv1d(H_{k-1} F, H_k, 1)``)::

        z = torch.einsum("bhd,bfd->bhfd", hidden, e).reshape(B, H_{k-1} * F, D)
        xk = conv(z)                       # [B, H_k, D]; hidden = xk (or its first half)

    Here the work runs in a ``[B, D, H]`` layout: the outer product is then
    ``[B, D, H_{k-1} * F]`` and the 1x1 compression is one
    ``[B * D, H_{k-1} F] @ [H_{k-1} F, H_k]`` matmul, much faster on CPU than ``Conv1d`` over
    length-``D`` sequences (same weights and maths).
    """
    batch, embed_dim = e.shape[0], e.shape[2]
    # contiguous: the products below then come out in the [B, D, H, F] order, so the reshape
    # is a plain view and the compression one matmul; from a transposed view the product kept
    # e's order and, without gradients, matmul broadcast the weight to a [B, H*F, H_k] copy
    x0 = e.transpose(1, 2).contiguous()  # [B, D, F]
    hidden, outputs = x0, []
    for k, conv in enumerate(compress):
        z = hidden.unsqueeze(3) * x0.unsqueeze(2)  # [B, D, H_{k-1}, F]
        width = z.shape[2] * z.shape[3]  # H_{k-1} * F (not -1: an empty batch has no size)
        xk = nn.functional.linear(z.reshape(batch, embed_dim, width), conv.weight[:, :, 0])
        if conv.bias is not None:
            xk = xk + conv.bias
        outputs.append(xk.transpose(1, 2))  # [B, H_k, D]
        if split_half and k < len(compress) - 1:
            hidden = xk[:, :, : xk.shape[2] // 2]
        else:
            hidden = xk
    return outputs


def cin_pooled(e: torch.Tensor, compress: nn.ModuleList, split_half: bool) -> torch.Tensor:
    """CIN output ``[B, output_dim]``: every layer's output maps sum-pooled over ``D``, concatenated.

    Plain form: ``torch.cat([xk.sum(dim=2) for xk in cin_layer_outputs(...)], dim=1)``, with the
    split-half layers contributing only their second half. Computed here the same way up to the
    last layer; the last layer is only ever pooled, and pooling commutes with its compression::

        sum_d sum_{h,f} W[j, h, f] * hidden[b, d, h] * x0[b, d, f]
            = sum_{h,f} W[j, h, f] * G[b, h, f],   G[b] = hidden[b]^T x0[b]   ([H, F])

    so its ``[B, D, H * F]`` outer product and ``[B * D, H * F] @ [H * F, H_k]`` matmul become one
    ``[B, H, D] @ [B, D, F]`` batched product and a ``[B, H * F] @ [H * F, H_k]`` matmul: ``D``
    times fewer operations for what is usually the widest layer (a bias adds ``D * b``).
    """
    batch, embed_dim = e.shape[0], e.shape[2]
    x0 = e.transpose(1, 2).contiguous()  # [B, D, F]
    hidden, pooled = x0, []
    for k, conv in enumerate(compress):
        weight = conv.weight[:, :, 0]  # [H_k, H_{k-1} * F]
        if k == len(compress) - 1:
            gram = torch.bmm(hidden.transpose(1, 2), x0)  # [B, H_{k-1}, F]
            out = nn.functional.linear(gram.reshape(batch, weight.shape[1]), weight)
            if conv.bias is not None:
                out = out + embed_dim * conv.bias
            pooled.append(out)
            break
        z = hidden.unsqueeze(3) * x0.unsqueeze(2)  # [B, D, H_{k-1}, F]
        xk = nn.functional.linear(z.reshape(batch, embed_dim, weight.shape[1]), weight)
        if conv.bias is not None:
            xk = xk + conv.bias
        if split_half:
            half = xk.shape[2] // 2
            pooled.append(xk[:, :, half:].sum(dim=1))
            hidden = xk[:, :, :half]
        else:
            pooled.append(xk.sum(dim=1))
            hidden = xk
    return torch.cat(pooled, dim=1)


# ----------------------------------------------------------------------------- attention
def attention_weights(q: torch.Tensor, k: torch.Tensor, scale: float | None) -> torch.Tensor:
    """Softmax attention weights ``[B, H, F_query, F_key]`` from ``q, k: [B, H, F, d_h]``.

    Plain form: ``(q @ k.transpose(-1, -2) / scale).softmax(dim=-1)`` (no division when
    ``scale`` is None). The scores are laid out keys-first, ``[B, H, F_key, F_query]``: on CPU a
    softmax over a short last axis (``F`` is ~10-40 here) is several times slower than one over
    the second-last axis, so it runs over the keys there and the weights are read back
    transposed (a view, no copy).
    """
    scores_t = k @ q.transpose(-1, -2)  # [B, H, F_key, F_query]
    if scale is not None:
        scores_t = scores_t / scale
    return scores_t.softmax(dim=-2).transpose(-1, -2)  # [B, H, F_query, F_key]


# ----------------------------------------------------------------------------- field pairs
class _SelectFields(torch.autograd.Function):
    """``e[:, index]`` for ``e: [B, F, D]`` and a fixed field index ``[P]`` (a pair's left or
    right field), with a faster backward.

    The gradient of a field is the sum of the gradients of the pairs that selected it:
    ``grad_e = einsum("bpd,pf->bfd", grad, onehot)`` with the ``[P, F]`` one-hot selection
    matrix, one matrix product. Autograd's own backward for indexing is an accumulating
    ``index_put_``, several times slower on CPU; the forward is ``index_select``, also faster
    than ``e[:, index]``.
    """

    @staticmethod
    def forward(ctx, e: torch.Tensor, index: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(onehot)
        return torch.index_select(e, 1, index)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (onehot,) = ctx.saved_tensors
        return torch.einsum("bpd,pf->bfd", grad, onehot.to(grad.dtype)), None, None


def select_fields(e: torch.Tensor, index: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
    """``e[:, index]`` ``[B, P, D]``; ``onehot[p, f] = (index[p] == f)``, ``[P, F]``.

    Plain form: ``e[:, index]``; the gradient is :class:`_SelectFields`'s one matmul.
    """
    return _SelectFields.apply(e, index, onehot)


def to_autocast_dtype(e: torch.Tensor) -> torch.Tensor:
    """``e`` cast to the autocast dtype inside a ``torch.autocast`` region, else ``e`` itself.

    FiBiNet's bilinear pairs go straight into the MLP's first (low-precision) matmul under mixed
    precision: building them in bfloat16 halves the memory the ``[B, P, D]`` pairs move, at the
    rounding autocast applies to them anyway.
    """
    if torch.is_autocast_enabled(e.device.type):
        return e.to(torch.get_autocast_dtype(e.device.type))
    return e
