"""Slow, obvious versions of every layer in :mod:`ctr_helpers.layers`.

Each function reads the *weights of the fast layer* it mirrors, so a test (or a notebook) can
compare the two with shared weights::

    layer = layers.FFMInteraction(field_dims, embed_dim=4)
    torch.testing.assert_close(layer(x), reference.ffm(layer, x))

They follow the papers' formulas literally: one-hot products, loops over field pairs, over heads
and query fields, over CIN feature maps. That makes them easy to read and slow to run; the models
never import this module. Every tensor they create lives on the device (and has the dtype) of
the inputs and weights, so they run wherever the layer does.

>>> e = torch.ones(2, 3, 4)  # 3 field pairs, each <1, 1> = 4
>>> fm(e)
tensor([12., 12.])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F_

from ctr_helpers import layers

__all__ = [
    "features_embedding",
    "linear",
    "fm",
    "ffm",
    "cin",
    "cross",
    "cross_v2",
    "interacting",
    "senet",
    "bilinear",
]


def _per_field_tables(table: torch.Tensor, field_dims: list[int]) -> list[torch.Tensor]:
    """Cut the shared table back into one table per field (rows ``offset[f] .. offset[f+1]``)."""
    return list(torch.split(table, field_dims, dim=0))


def features_embedding(layer: layers.FeaturesEmbedding, x: torch.Tensor) -> torch.Tensor:
    """One embedding table per field, looked up field by field: ``[B, F] -> [B, F, D]``."""
    tables = _per_field_tables(layer.embedding.weight, layer.field_dims)
    return torch.stack([tables[f][x[:, f]] for f in range(len(tables))], dim=1)


def linear(layer: layers.FeaturesLinear, x: torch.Tensor) -> torch.Tensor:
    """Logistic-regression term from a dense one-hot matrix: ``one_hot(x) @ w + b``, ``[B]``.

    Builds the ``[B, sum(field_dims)]`` one-hot matrix explicitly: fine for a handful of rows,
    hopeless at Criteo scale (that is why :class:`layers.FeaturesLinear` gathers instead).
    """
    emb = layer.weight
    w = emb.embedding.weight[:, 0]  # [sum(field_dims)]
    one_hot = torch.zeros(x.shape[0], w.shape[0], dtype=w.dtype, device=w.device)
    rows = torch.arange(x.shape[0], device=x.device)
    for f, offset in enumerate(emb.offsets.tolist()):
        one_hot[rows, offset + x[:, f]] = 1.0
    return one_hot @ w if layer.bias is None else one_hot @ w + layer.bias


def fm(e: torch.Tensor) -> torch.Tensor:
    """FM pairwise term by the double sum: ``sum_{i<j} <e_i, e_j>``, ``[B, F, D] -> [B]``."""
    num_fields = e.shape[1]
    total = torch.zeros(e.shape[0], dtype=e.dtype, device=e.device)
    for i in range(num_fields):
        for j in range(i + 1, num_fields):
            total = total + (e[:, i] * e[:, j]).sum(dim=1)
    return total


def ffm(layer: layers.FFMInteraction, x: torch.Tensor) -> torch.Tensor:
    """FFM pairwise term, one field pair at a time: ``sum_{i<j} <v[x_i, j], v[x_j, i]>``, ``[B]``.

    ``v[x_i, j]`` is the vector of field ``i``'s feature reserved for meeting field ``j``: slot
    ``j`` of its row with ``F`` slots (libffm), slot ``j - (j > i)`` with ``F - 1`` (FuxiCTR, whose
    loop reads ``field_wise_emb_list[j - 1][:, i]`` and ``field_wise_emb_list[i][:, j]``).
    """
    ffm_emb = layer.embedding
    num_fields, dim = ffm_emb.num_fields, ffm_emb.embed_dim
    # v[row, s] = a feature's vector in slot s: [sum(field_dims), S, D]
    v = ffm_emb.embedding.embedding.weight.view(-1, ffm_emb.num_slots, dim)

    def slot(f: int, g: int) -> int:  # the slot of field f's feature towards field g
        return g if ffm_emb.diagonal_slot else g - int(g > f)

    rows = x + ffm_emb.embedding.offsets  # global row of each feature, [B, F]
    total = torch.zeros(x.shape[0], dtype=v.dtype, device=v.device)
    for i in range(num_fields):
        for j in range(i + 1, num_fields):
            v_i_towards_j = v[rows[:, i], slot(i, j)]  # [B, D]
            v_j_towards_i = v[rows[:, j], slot(j, i)]  # [B, D]
            total = total + (v_i_towards_j * v_j_towards_i).sum(dim=1)
    return total


def cin(
    layer: layers.CIN, e: torch.Tensor, return_layers: bool = False
) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
    """CIN from the paper's formula, one feature map at a time.

    ``X^k[h] = sum_{i,j} W^{k,h}[i, j] * (X^{k-1}[i] ∘ X^0[j])`` (``∘``: elementwise product of
    two ``D``-vectors), then ``p^k[h] = sum_d X^k[h, d]``; the output concatenates all ``p^k``.
    Returns ``[B, output_dim]`` (and the list of ``X^k``, ``[B, H_k, D]``, if asked).
    """
    x0 = e
    hidden = e
    pooled, maps = [], []
    last = len(layer.compress) - 1
    for k, conv in enumerate(layer.compress):
        h_prev = hidden.shape[1]
        num_fields = x0.shape[1]
        w = conv.weight[:, :, 0].view(-1, h_prev, num_fields)  # W^{k,h}[i, j]: [H_k, H_{k-1}, F]
        feature_maps = []
        for h in range(w.shape[0]):
            xh = torch.einsum("ij,bid,bjd->bd", w[h], hidden, x0)
            if conv.bias is not None:
                xh = xh + conv.bias[h]
            feature_maps.append(xh)
        xk = torch.stack(feature_maps, dim=1)  # [B, H_k, D]
        maps.append(xk)
        if layer.split_half and k < last:
            half = xk.shape[1] // 2
            hidden, to_output = xk[:, :half], xk[:, half:]
        else:
            hidden, to_output = xk, xk
        pooled.append(to_output.sum(dim=2))
    out = torch.cat(pooled, dim=1)
    return (out, maps) if return_layers else out


def cross(layer: layers.CrossNetwork, x0: torch.Tensor) -> torch.Tensor:
    """DCN cross layers as written in the paper: ``x_{l+1} = x0 x_l^T w_l + b_l + x_l``.

    Forms the ``[B, d, d]`` outer product ``x0 x_l^T`` explicitly.
    """
    x = x0
    for layer_index in range(layer.num_layers):
        w = layer.weight[layer_index]  # [d]
        outer = x0.unsqueeze(2) * x.unsqueeze(1)  # x0 x_l^T, [B, d, d]
        new_x = outer @ w + x
        if layer.bias is not None:
            new_x = new_x + layer.bias[layer_index]
        x = new_x
    return x


def cross_v2(layer: layers.CrossNetworkV2, x0: torch.Tensor) -> torch.Tensor:
    """DCN-v2 cross layers with the matrix built explicitly: ``x0 ⊙ (W_l x_l + b_l) + x_l``.

    For the low-rank version ``W_l = U_l V_l^T`` is multiplied out to a ``d x d`` matrix first.
    """
    x = x0
    for block in layer.layers:
        if layer.low_rank is None:
            w, b = block.weight, block.bias
        else:
            v_t, u = block[0], block[1]
            w, b = u.weight @ v_t.weight, u.bias  # U V^T: [d, d]
        wx = x @ w.T
        if b is not None:
            wx = wx + b
        x = x0 * wx + x
    return x


def interacting(
    layer: layers.InteractingLayer, e: torch.Tensor, return_attention: bool = False
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """AutoInt's interacting layer, head by head and query field by query field.

    For head ``h`` and query field ``i``: ``a_ij = exp(s_ij) / sum_m exp(s_im)`` with
    ``s_ij = <q_i, k_j>`` (divided by ``sqrt(d_h)`` if scaled), ``out_i = sum_j a_ij v_j``;
    heads are concatenated, then ``ReLU(out + residual)`` (with layer norm before the ReLU if the
    layer has one). Returns ``[B, F, attention_dim]`` (and weights ``[B, H, F, F]`` if asked).
    The layer's attention dropout is left out: compare in eval mode, where it is off.
    """
    num_fields, d_h = e.shape[1], layer.head_dim
    q_all, k_all, v_all = layer.query(e), layer.key(e), layer.value(e)  # [B, F, A]
    heads, weights = [], []
    for h in range(layer.num_heads):
        cols = slice(h * d_h, (h + 1) * d_h)
        q, k, v = q_all[..., cols], k_all[..., cols], v_all[..., cols]  # [B, F, d_h]
        head_out, head_weights = [], []
        for i in range(num_fields):
            scores = (q[:, i : i + 1] * k).sum(dim=2)  # s_ij for all j: [B, F]
            if layer.scaled:
                scores = scores / math.sqrt(d_h)
            exp = torch.exp(scores - scores.max(dim=1, keepdim=True).values)
            a = exp / exp.sum(dim=1, keepdim=True)  # [B, F]
            head_out.append((a.unsqueeze(2) * v).sum(dim=1))  # [B, d_h]
            head_weights.append(a)
        heads.append(torch.stack(head_out, dim=1))  # [B, F, d_h]
        weights.append(torch.stack(head_weights, dim=1))  # [B, F, F]
    out = torch.cat(heads, dim=2)  # [B, F, A]
    if layer.use_residual:
        out = out + (e if layer.residual is None else e @ layer.residual.weight.T)
    if layer.layer_norm is not None:
        ln = layer.layer_norm
        out = F_.layer_norm(out, ln.normalized_shape, ln.weight, ln.bias, ln.eps)
    out = torch.clamp(out, min=0.0)  # ReLU
    attention = torch.stack(weights, dim=1)  # [B, H, F, F]
    return (out, attention) if return_attention else out


def senet(
    layer: layers.SENet, e: torch.Tensor, return_gates: bool = False
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """SENet step by step: squeeze (mean over ``D``), excite (FC, ReLU, FC, then sigmoid or ReLU
    as the layer's ``activation``), reweight."""
    w1 = layer.excite[0].weight  # [F/r, F]
    w2 = layer.excite[2].weight  # [F, F/r]
    z = e.mean(dim=2)  # squeeze: one number per field, [B, F]
    a = torch.clamp(z @ w1.T, min=0.0)  # [B, F/r]
    if layer.activation == "sigmoid":
        gates = 1.0 / (1.0 + torch.exp(-(a @ w2.T)))  # [B, F], each in (0, 1)
    else:
        gates = torch.clamp(a @ w2.T, min=0.0)  # [B, F], each >= 0 (FuxiCTR)
    out = e * gates.unsqueeze(2)  # reweight every field's embedding
    return (out, gates) if return_gates else out


def bilinear(layer: layers.BilinearInteraction, e: torch.Tensor) -> torch.Tensor:
    """Bilinear interaction, one field pair at a time: ``p_ij = (e_i W) ⊙ e_j``, ``[B, P, D]``.

    ``W`` is the shared matrix (field_all), field ``i``'s matrix (field_each) or the pair's own
    matrix (field_interaction).
    """
    num_fields = e.shape[1]
    out, pair = [], 0
    for i in range(num_fields):
        for j in range(i + 1, num_fields):
            if layer.bilinear_type == "field_all":
                w = layer.weight
            elif layer.bilinear_type == "field_each":
                w = layer.weight[i]
            else:
                w = layer.weight[pair]
            out.append((e[:, i] @ w) * e[:, j])
            pair += 1
    return torch.stack(out, dim=1)
