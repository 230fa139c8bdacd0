"""Building blocks of the CTR models: each layer does one job on ``[B, F, D]`` tensors.

Shape legend used in every docstring:

- ``B``: batch size (rows)
- ``F``: number of fields (user, item, weekday, ...)
- ``D``: embedding dimension
- ``P = F (F - 1) / 2``: number of field pairs ``i < j``
- ``H``: number of attention heads, or of CIN feature maps

Inputs ``x`` are ``LongTensor[B, F]`` of *per-field* indices (field ``f`` takes values in
``0 .. field_dims[f] - 1``); the embedding layers add the per-field offsets themselves.
Nothing here loops over rows, fields or field pairs inside ``forward``: pairs come from cached
``triu_indices`` buffers. The slow, obvious twin of every layer lives in
:mod:`ctr_helpers.reference`, and the tests check that both agree with shared weights.
Where a forward calls ``_kernels.<name>``, the comment beside it gives the plain expression it
computes; the fused autograd Functions and layout tricks live in :mod:`ctr_helpers._kernels`.
Parameters are initialised by the policy in :mod:`ctr_helpers.init`.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ctr_helpers import _kernels
from ctr_helpers.init import (
    EMBEDDING_STD,
    init_bilinear_,
    init_cross_weight_,
    init_embedding_,
    init_glorot_normal_,
    init_linear_,
)

__all__ = [
    "FeaturesEmbedding",
    "FeaturesLinear",
    "FMInteraction",
    "FieldAwareEmbedding",
    "FFMInteraction",
    "CIN",
    "CrossNetwork",
    "CrossNetworkV2",
    "InteractingLayer",
    "SENet",
    "BilinearInteraction",
    "MLP",
    "field_offsets",
    "linear_fp32",
    "pair_indices",
]


def _as_int(value: object) -> int | None:
    """``value`` as an ``int`` when it is an integer (Python, NumPy or a 0-d integer tensor),
    else ``None``: floats (even ``4.0``), bools and strings are not sizes."""
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, torch.Tensor) and (value.is_floating_point() or value.dtype == torch.bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def _check_field_dims(field_dims: Sequence[int]) -> list[int]:
    given = list(field_dims)
    if len(given) == 0:
        raise ValueError("field_dims is empty: need at least one field")
    dims = [_as_int(d) for d in given]
    for f, (d, raw) in enumerate(zip(dims, given, strict=True)):
        if d is None:
            raise TypeError(
                f"field_dims[{f}] = {raw!r} ({type(raw).__name__}): every field size must be an "
                "int (the number of values the field takes)"
            )
        if d < 1:
            raise ValueError(f"field_dims[{f}] = {d}: every field needs at least 1 value")
    return dims


def _check_positive(name: str, value: int) -> int:
    v = _as_int(value)
    if v is None:
        raise TypeError(
            f"{name} must be an int, got {value!r} ({type(value).__name__}); pass a positive int"
        )
    if v < 1:
        raise ValueError(f"{name} must be a positive integer, got {v}")
    return v


def linear_fp32(layer: nn.Linear, h: torch.Tensor) -> torch.Tensor:
    """``layer(h)`` computed in float32 even inside a bfloat16 ``torch.autocast`` region.

    The models' last layer (the logit) goes through here: under mixed precision the wide hidden
    layers run in bfloat16, but a logit rounded to bfloat16's 8-bit mantissa would create ties
    that cost AUC, and the layer is tiny. Outside autocast this is just ``layer(h)``.
    """
    if torch.is_autocast_enabled(h.device.type):
        with torch.autocast(h.device.type, enabled=False):
            return layer(h.float())
    return layer(h)


def linear_fp32_of_cat(layer: nn.Linear, parts: Sequence[torch.Tensor]) -> torch.Tensor:
    """``linear_fp32(layer, torch.cat(parts, dim=1))`` without building the concatenation.

    Each part meets its own column block of the weight: ``sum_i parts[i] @ W[:, block_i]^T + b``
    (the DCN heads concatenate a ``[B, F * D]`` cross output and a ``[B, 400]`` MLP output only
    to read them once).
    """
    if torch.is_autocast_enabled(parts[0].device.type):
        with torch.autocast(parts[0].device.type, enabled=False):
            return linear_fp32_of_cat(layer, [p.float() for p in parts])
    blocks = layer.weight.split([p.shape[1] for p in parts], dim=1)
    out = nn.functional.linear(parts[0], blocks[0], layer.bias)
    for part, block in zip(parts[1:], blocks[1:], strict=True):
        out = (
            out.addmm_(part, block.t())
            if not torch.is_grad_enabled()
            else out.addmm(part, block.t())
        )
    return out


def field_offsets(field_dims: Sequence[int]) -> torch.Tensor:
    """Start row of each field in the shared table: ``[0, d0, d0 + d1, ...]``, shape ``[F]``."""
    dims = torch.as_tensor(list(field_dims), dtype=torch.long)
    return torch.cumsum(dims, 0) - dims


def pair_indices(num_fields: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column indices of the ``P = F (F - 1) / 2`` field pairs ``i < j``, each ``[P]``."""
    rows, cols = torch.triu_indices(num_fields, num_fields, offset=1)
    return rows, cols


class FeaturesEmbedding(nn.Module):
    """One embedding table for all fields, with per-field offsets.

    ``x: [B, F]`` per-field indices -> ``[B, F, D]``; ``e[b, f] = W[offset[f] + x[b, f]]``.

    A single ``nn.Embedding(sum(field_dims), D)`` plus an offsets buffer is the same as one table
    per field, but one gather instead of ``F`` (pytorch-fm, torchrec). The offsets are a
    non-persistent buffer: they follow ``.to(device)`` and never enter the ``state_dict``.
    Gradients are dense by default (any ``torch.optim`` optimiser works); ``sparse=True`` gives
    sparse ones (only the rows a batch used), which need a sparse-aware optimiser
    (``ctr_helpers.train.make_optimizer`` or ``torch.optim.SGD``/``SparseAdam``). ``fit`` switches
    the tables to sparse gradients while it trains (``optim.sparse_embedding_grads``).
    Init ``N(0, init_std^2)`` with ``init_std = 1e-4``, as in FuxiCTR/BARS.

    >>> FeaturesEmbedding([3, 4, 5], embed_dim=8)(torch.tensor([[0, 3, 4], [2, 0, 0]])).shape
    torch.Size([2, 3, 8])
    """

    def __init__(
        self,
        field_dims: Sequence[int],
        embed_dim: int,
        sparse: bool = False,
        init_std: float = EMBEDDING_STD,
    ) -> None:
        super().__init__()
        self.field_dims = _check_field_dims(field_dims)
        self.embed_dim = _check_positive("embed_dim", embed_dim)
        self.embedding = nn.Embedding(sum(self.field_dims), self.embed_dim, sparse=sparse)
        init_embedding_(self.embedding.weight, std=init_std)
        self.register_buffer("offsets", field_offsets(self.field_dims), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding(x + self.offsets)


class FeaturesLinear(nn.Module):
    """The linear (logistic-regression) term as a 1-wide embedding plus a bias.

    ``x: [B, F]`` -> ``[B]``; ``y = b + sum_f w[offset[f] + x[b, f]]``.

    This is exactly ``one_hot(x) @ w + b`` (the dot product of the ``sum(field_dims)``-long
    one-hot row with the weight vector): a one-hot row has one 1 per field, so the product just
    picks ``F`` weights and adds them. Gathering those ``F`` weights avoids building the huge,
    almost-all-zero one-hot matrix (see ``reference.linear`` for the one-hot version).
    ``bias=False`` drops ``b`` (``self.bias`` is then ``None``, as in ``nn.Linear``): for a model
    whose other branch already ends in a biased layer, as FuxiCTR's DeepFM, xDeepFM and FiBiNET.
    """

    def __init__(
        self,
        field_dims: Sequence[int],
        sparse: bool = False,
        init_std: float = EMBEDDING_STD,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.weight = FeaturesEmbedding(field_dims, 1, sparse=sparse, init_std=init_std)
        if bias:
            self.bias = nn.Parameter(torch.zeros(()))
        else:
            self.register_parameter("bias", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # self.weight(x).sum(dim=(1, 2)) (+ self.bias)
        out = _kernels.features_linear_sum(self.weight, x)
        return out if self.bias is None else out + self.bias


class FMInteraction(nn.Module):
    """Factorization-machine pairwise term in O(F D).

    ``e: [B, F, D]`` -> ``[B]``;
    ``sum_{i<j} <e_i, e_j> = 0.5 * sum_d ((sum_f e_fd)^2 - sum_f e_fd^2)``.

    The identity holds per embedding dimension ``d``, so the field sum runs over dim 1 and only
    then over ``d``; flattening to ``[B, F * D]`` first would mix dimensions and is wrong. (The
    second term is the same either way: every square counted once.) The gradient is fused by
    hand (``_kernels.fm_pair_sum``). Rendle, "Factorization Machines", ICDM 2010.

    >>> FMInteraction()(torch.ones(2, 3, 4))  # 3 pairs of <1, 1> = 4 each
    tensor([12., 12.])
    """

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        # 0.5 * (e.sum(dim=1).square() - e.square().sum(dim=1)).sum(dim=1)
        return _kernels.fm_pair_sum(e)


class FieldAwareEmbedding(nn.Module):
    """Field-aware embeddings: each feature has one vector per *opposite* field.

    ``x: [B, F]`` -> ``[B, F, F, D]`` with ``e[b, f, g]`` = the vector that field ``f``'s feature
    uses when it meets field ``g``.

    Layout: one table ``[sum(field_dims), S * D]`` with offsets, so one gather gives all ``S``
    vectors (slots) of a feature. Two layouts:

    - ``diagonal_slot=True`` (the default here; libffm's, the paper's ``n f k`` count): ``S = F``
      slots, slot ``g`` towards field ``g``; the ``f == g`` slot is never used in a pair, it keeps
      the indexing plain. Parameters: ``sum(field_dims) * F * D``.
    - ``diagonal_slot=False`` (FuxiCTR's, which BARS ran; ``models.FFM``'s default): ``S = F - 1``
      slots, field ``g`` in slot ``g - (g > f)``. Parameters: ``sum(field_dims) * (F - 1) * D``;
      the ``[B, F, F, D]`` output then has zeros on its diagonal ``e[:, f, f]``.

    Juan et al., "Field-aware Factorization Machines for CTR Prediction", RecSys 2016.
    """

    def __init__(
        self,
        field_dims: Sequence[int],
        embed_dim: int,
        sparse: bool = False,
        init_std: float = EMBEDDING_STD,
        diagonal_slot: bool = True,
    ) -> None:
        super().__init__()
        self.field_dims = _check_field_dims(field_dims)
        self.num_fields = len(self.field_dims)
        self.embed_dim = _check_positive("embed_dim", embed_dim)
        if not diagonal_slot and self.num_fields < 2:
            raise ValueError(
                "diagonal_slot=False keeps F - 1 vectors per feature and needs at least 2 "
                f"fields, got {self.num_fields}"
            )
        self.diagonal_slot = bool(diagonal_slot)
        self.num_slots = self.num_fields if diagonal_slot else self.num_fields - 1
        self.embedding = FeaturesEmbedding(
            self.field_dims, self.num_slots * self.embed_dim, sparse=sparse, init_std=init_std
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.embedding(x)  # [B, F, S * D]
        num_fields, dim = self.num_fields, self.embed_dim
        if self.diagonal_slot:
            return e.view(x.shape[0], num_fields, num_fields, dim)
        # Read row-major, the off-diagonal cells of an F x F grid are F - 1 runs of F cells, each
        # followed by a diagonal cell, after the first diagonal cell (0, 0); and the F - 1 slots
        # of every feature in order are exactly those runs. So: a zero after each run, a zero in
        # front, and the [B, F * F, D] result is the grid.
        grid = e.new_zeros(x.shape[0], num_fields * num_fields, dim)
        cells = grid[:, 1:].view(x.shape[0], num_fields - 1, num_fields + 1, dim)
        cells[:, :, :num_fields] = e.view(x.shape[0], num_fields - 1, num_fields, dim)
        return grid.view(x.shape[0], num_fields, num_fields, dim)


class FFMInteraction(nn.Module):
    """FFM pairwise term, vectorised over the ``P`` field pairs.

    ``x: [B, F]`` -> ``[B]``; ``sum_{i<j} <e[i, j], e[j, i]>`` where ``e[i, j]`` is field ``i``'s
    vector towards field ``j`` (see :class:`FieldAwareEmbedding`).

    ``_kernels.ffm_pair_sum`` computes it two ways, the same number (tested against
    ``reference.ffm``): while training, one ``[B, F, F, D]`` lookup and a hand-written backward;
    without gradients, a gather of only the ``2 P`` vectors the pairs use. ``diagonal_slot``
    chooses the table layout (:class:`FieldAwareEmbedding`: ``F`` slots per feature, or ``F - 1``
    as FuxiCTR); both paths take either layout.
    Juan et al., RecSys 2016.
    """

    def __init__(
        self,
        field_dims: Sequence[int],
        embed_dim: int,
        sparse: bool = False,
        init_std: float = EMBEDDING_STD,
        diagonal_slot: bool = True,
    ) -> None:
        super().__init__()
        self.embedding = FieldAwareEmbedding(
            field_dims, embed_dim, sparse=sparse, init_std=init_std, diagonal_slot=diagonal_slot
        )
        num_fields = self.embedding.num_fields
        rows, cols = pair_indices(num_fields)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)
        off_diagonal = 1.0 - torch.eye(num_fields)
        self.register_buffer("off_diagonal", off_diagonal, persistent=False)  # [F, F]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # e = self.embedding(x); (e[:, rows, cols] * e[:, cols, rows]).sum(dim=(1, 2))
        return _kernels.ffm_pair_sum(self.embedding, x, self.rows, self.cols, self.off_diagonal)


class CIN(nn.Module):
    """Compressed Interaction Network (xDeepFM), explicit vector-wise crosses.

    ``e: [B, F, D]`` -> ``[B, output_dim]`` (``output_dim = sum(layer_sizes)`` without split-half).
    Layer k: ``X^k[h] = sum_{i,j} W^k[h, i, j] * (X^{k-1}[i] ∘ X^0[j])`` (outer product over fields
    by broadcasting, then a 1x1 compression as one matmul), then each feature map is sum-pooled
    over ``D``.

    Layer ``k = 1, 2, ...`` (``layer_outputs(e)[k - 1]``) is a polynomial of degree ``k + 1`` in
    the embeddings; with ``bias=False`` (the paper's formula, the default) it is homogeneous:
    scaling ``e`` by ``t`` scales layer ``k``'s maps by ``t^(k + 1)``.
    ``split_half=True`` sends half of each hidden layer's maps to the output and half to the next
    layer (as in the xDeepFM code). Lian et al., "xDeepFM", KDD 2018.
    """

    def __init__(
        self,
        num_fields: int,
        embed_dim: int,
        layer_sizes: Sequence[int] = (64,),
        split_half: bool = False,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.num_fields = _check_positive("num_fields", num_fields)
        self.embed_dim = _check_positive("embed_dim", embed_dim)
        self.layer_sizes = [_check_positive("CIN layer size", h) for h in layer_sizes]
        if not self.layer_sizes:
            raise ValueError("CIN needs at least one layer")
        self.split_half = split_half
        self.compress = nn.ModuleList()
        prev, out_dim = self.num_fields, 0
        for k, size in enumerate(self.layer_sizes):
            last = k == len(self.layer_sizes) - 1
            if split_half and not last and size % 2:
                raise ValueError(f"split_half needs even hidden CIN layer sizes, got {size}")
            conv = nn.Conv1d(prev * self.num_fields, size, kernel_size=1, bias=bias)
            self.compress.append(init_linear_(conv))
            prev = size // 2 if split_half and not last else size
            out_dim += size // 2 if split_half and not last else size
        self.output_dim = out_dim

    def layer_outputs(self, e: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps of every layer, before pooling: a list of ``[B, H_k, D]`` tensors.

        Entry ``k - 1`` is the full output ``X^k`` of layer ``k`` (before any split-half), a
        polynomial of degree ``k + 1`` in ``e``: without bias, scaling ``e`` by ``t`` scales it by
        ``t^(k + 1)``.
        """
        # per layer: z = einsum("bhd,bfd->bhfd", hidden, e).reshape(B, H * F, D); conv(z)
        return _kernels.cin_layer_outputs(e, self.compress, self.split_half)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        # plain form: each layer_outputs(e) map (with split-half its second half, the one not
        # fed forward) summed over D, concatenated; the last layer is pooled before its
        # compression (the same sum, D times cheaper)
        return _kernels.cin_pooled(e, self.compress, self.split_half)


class CrossNetwork(nn.Module):
    """DCN (v1) cross network: explicit bounded-degree crosses at ``O(d)`` parameters per layer.

    ``x0: [B, d]`` -> ``[B, d]``; ``x_{l+1} = x0 * (x_l . w_l) + b_l + x_l`` for ``l < L``.

    ``x0 * (x_l . w_l)`` equals the paper's ``x0 x_l^T w_l`` without forming the ``d x d`` outer
    product. The residual ``+ x_l`` keeps the lower-degree terms; without biases the output is a
    polynomial of degree ``L + 1`` in ``x0``. Wang et al., "Deep & Cross Network", ADKDD 2017.
    """

    def __init__(self, input_dim: int, num_layers: int, bias: bool = True) -> None:
        super().__init__()
        self.input_dim = _check_positive("input_dim", input_dim)
        self.num_layers = _check_positive("num_layers", num_layers)
        self.weight = nn.Parameter(init_cross_weight_(torch.empty(num_layers, input_dim)))
        self.bias = nn.Parameter(torch.zeros(num_layers, input_dim)) if bias else None

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        x = x0
        for layer in range(self.num_layers):
            cross = x0 * (x @ self.weight[layer]).unsqueeze(1)  # [B, d]
            if self.bias is not None:
                cross = cross + self.bias[layer]
            x = cross + x
        return x


class CrossNetworkV2(nn.Module):
    """DCN-v2 cross network: a full (or low-rank) matrix per layer.

    ``x0: [B, d]`` -> ``[B, d]``; ``x_{l+1} = x0 ⊙ (W_l x_l + b_l) + x_l``, with
    ``W_l = U_l V_l^T`` (rank ``r``) when ``low_rank=r``: ``d^2`` or ``2 d r`` weights per layer.
    Wang et al., "DCN V2", WWW 2021.
    """

    def __init__(
        self,
        input_dim: int,
        num_layers: int,
        low_rank: int | None = None,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.input_dim = _check_positive("input_dim", input_dim)
        self.num_layers = _check_positive("num_layers", num_layers)
        self.low_rank = None if low_rank is None else _check_positive("low_rank", low_rank)
        if low_rank is None:
            self.layers = nn.ModuleList(
                init_linear_(nn.Linear(input_dim, input_dim, bias=bias)) for _ in range(num_layers)
            )
        else:
            self.layers = nn.ModuleList(
                nn.Sequential(
                    init_linear_(nn.Linear(input_dim, low_rank, bias=False)),  # V_l^T
                    init_linear_(nn.Linear(low_rank, input_dim, bias=bias)),  # U_l (+ b_l)
                )
                for _ in range(num_layers)
            )

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        x = x0
        for layer in self.layers:
            x = x0 * layer(x) + x
        return x


class InteractingLayer(nn.Module):
    """AutoInt interacting layer: multi-head self-attention over fields, residual, ReLU.

    ``e: [B, F, D_in]`` -> ``[B, F, attention_dim]``; per head ``h`` (width
    ``attention_dim / H``): ``a = softmax(Q_h K_h^T [/ sqrt(d_h)])`` ``[B, F, F]``,
    ``out = ReLU(concat_h(a V_h) + W_res e)``.

    The residual (identity when ``D_in == attention_dim``, else a projection ``W_res``) and the
    ReLU belong to *every* layer, as in the paper. Optional ``scaled`` dot products and
    ``layer_norm`` (applied before the ReLU) follow FuxiCTR's AutoInt+. ``dropout > 0`` drops
    attention weights after the softmax while training (``a V_h`` with ``dropout(a)``), as
    FuxiCTR's ``ScaledDotProductAttention``. With ``return_attention=True`` the forward also
    returns the weights ``[B, H, F, F]`` (before dropout: each query row sums to 1); the last
    weights are also kept in ``self.last_attention`` (detached).
    Song et al., "AutoInt", CIKM 2019.
    """

    def __init__(
        self,
        embed_dim: int,
        attention_dim: int,
        num_heads: int,
        use_residual: bool = True,
        scaled: bool = False,
        layer_norm: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.embed_dim = _check_positive("embed_dim", embed_dim)
        self.attention_dim = _check_positive("attention_dim", attention_dim)
        self.num_heads = _check_positive("num_heads", num_heads)
        if attention_dim % num_heads:
            raise ValueError(
                f"attention_dim ({attention_dim}) must be divisible by num_heads ({num_heads})"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.head_dim = attention_dim // num_heads
        self.scaled = scaled
        # on the attention weights; no module (and no random draw) without dropout
        self.attention_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.query = nn.Linear(embed_dim, attention_dim, bias=False)
        self.key = nn.Linear(embed_dim, attention_dim, bias=False)
        self.value = nn.Linear(embed_dim, attention_dim, bias=False)
        self.use_residual = use_residual
        self.residual = (
            nn.Linear(embed_dim, attention_dim, bias=False)
            if use_residual and embed_dim != attention_dim
            else None
        )
        self.layer_norm = nn.LayerNorm(attention_dim) if layer_norm else None
        self.last_attention: torch.Tensor | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot-normal projections (Glorot & Bengio, AISTATS 2010), as FuxiCTR/BARS initialise
        every linear layer. PyTorch's default (uniform, std ``1/sqrt(3 fan_in)``) makes a deep
        stack of these layers start smaller and learn visibly slower under the BARS protocol.
        The package's whole policy is in :mod:`ctr_helpers.init`."""
        for proj in (self.query, self.key, self.value, self.residual):
            if proj is not None:
                init_glorot_normal_(proj)

    def _heads(self, t: torch.Tensor) -> torch.Tensor:  # [B, F, H * d_h] -> [B, H, F, d_h]
        return t.view(t.shape[0], t.shape[1], self.num_heads, self.head_dim).transpose(1, 2)

    def forward(
        self, e: torch.Tensor, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        q, k, v = self._heads(self.query(e)), self._heads(self.key(e)), self._heads(self.value(e))
        # (q @ k.transpose(-1, -2) [/ sqrt(d_h)]).softmax(dim=-1): [B, H, F_query, F_key]
        attention = _kernels.attention_weights(
            q, k, math.sqrt(self.head_dim) if self.scaled else None
        )
        out = (self.attention_dropout(attention) @ v).transpose(1, 2)
        out = out.reshape(e.shape[0], e.shape[1], self.attention_dim)
        if self.use_residual:
            out = out + (e if self.residual is None else self.residual(e))
        if self.layer_norm is not None:
            out = self.layer_norm(out)
        out = torch.relu(out)
        self.last_attention = attention.detach()
        return (out, attention) if return_attention else out


class SENet(nn.Module):
    """Squeeze-and-excitation over fields (FiBiNet): learn one gate per field and row.

    ``e: [B, F, D]`` -> ``[B, F, D]``; ``z = mean_d e`` ``[B, F]`` (squeeze),
    ``g = act(W2 relu(W1 z))`` ``[B, F]`` (excite, ``W1: F -> max(1, F // r)``), ``out = g * e``.

    ``activation="sigmoid"`` (the default here; Hu et al.'s SENet): gates in ``(0, 1)``.
    ``"relu"`` (FuxiCTR's ``SqueezeExcitationLayer``, which BARS ran; ``models.FiBiNet``'s
    default): gates ``>= 0`` and unbounded, proportional to the embeddings' scale (near 0 at the
    ``N(0, 1e-4^2)`` init). ``return_gates=True`` also returns them (for bar charts of field
    importance), and the last ones are kept in ``self.last_gates`` (detached).
    Huang et al., "FiBiNET", RecSys 2019 (squeeze by mean pooling).
    """

    ACTIVATIONS = ("sigmoid", "relu")

    def __init__(
        self, num_fields: int, reduction_ratio: float = 3, activation: str = "sigmoid"
    ) -> None:
        super().__init__()
        self.num_fields = _check_positive("num_fields", num_fields)
        if reduction_ratio <= 0:
            raise ValueError(f"reduction_ratio must be positive, got {reduction_ratio}")
        if activation not in self.ACTIVATIONS:
            raise ValueError(f"activation must be one of {self.ACTIVATIONS}, got {activation!r}")
        self.activation = activation
        self.reduced = max(1, int(num_fields // reduction_ratio))
        self.excite = nn.Sequential(
            init_linear_(nn.Linear(num_fields, self.reduced, bias=False)),
            nn.ReLU(),
            init_linear_(nn.Linear(self.reduced, num_fields, bias=False)),
            nn.Sigmoid() if activation == "sigmoid" else nn.ReLU(),
        )
        self.last_gates: torch.Tensor | None = None

    def forward(
        self, e: torch.Tensor, return_gates: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        gates = self.excite(e.mean(dim=2))  # [B, F]
        self.last_gates = gates.detach()
        out = e * gates.unsqueeze(2)
        return (out, gates) if return_gates else out


class BilinearInteraction(nn.Module):
    """FiBiNet bilinear interaction, one vector per field pair.

    ``e: [B, F, D]`` -> ``[B, P, D]``; ``p_ij = (e_i W) ⊙ e_j`` for ``i < j``, with ``W`` shared
    (``"field_all"``: ``D^2`` weights), one per left field (``"field_each"``: ``F D^2``) or one per
    pair (``"field_interaction"``: ``P D^2``).

    ``e_i W`` is one einsum over all fields (or pairs); pairs come from cached ``triu_indices``
    and are gathered by ``_kernels.select_fields`` (``e[:, index]`` with a faster backward).
    Under ``torch.autocast`` the pairs are built in the autocast dtype (they feed the MLP's
    first matmul, which rounds them to it anyway). Huang et al., "FiBiNET", RecSys 2019.
    """

    TYPES = ("field_all", "field_each", "field_interaction")

    def __init__(self, num_fields: int, embed_dim: int, bilinear_type: str = "field_all") -> None:
        super().__init__()
        self.num_fields = _check_positive("num_fields", num_fields)
        self.embed_dim = _check_positive("embed_dim", embed_dim)
        if bilinear_type not in self.TYPES:
            raise ValueError(f"bilinear_type must be one of {self.TYPES}, got {bilinear_type!r}")
        self.bilinear_type = bilinear_type
        rows, cols = pair_indices(num_fields)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)
        shape = {
            "field_all": (embed_dim, embed_dim),
            "field_each": (num_fields, embed_dim, embed_dim),
            "field_interaction": (len(rows), embed_dim, embed_dim),
        }[bilinear_type]
        self.weight = nn.Parameter(init_bilinear_(torch.empty(shape)))
        pairs = torch.arange(len(rows))
        for name, index in (("rows", rows), ("cols", cols)):
            onehot = torch.zeros(len(rows), num_fields)
            onehot[pairs, index] = 1.0
            self.register_buffer(f"{name}_onehot", onehot, persistent=False)  # [P, F]

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        e = _kernels.to_autocast_dtype(e)  # bfloat16 inside torch.autocast, else unchanged
        weight = self.weight.to(e.dtype)
        right = _kernels.select_fields(e, self.cols, self.cols_onehot)  # e[:, cols]: [B, P, D]
        if self.bilinear_type == "field_all":  # (e @ W)[:, rows]
            left = _kernels.select_fields(e @ weight, self.rows, self.rows_onehot)
        elif self.bilinear_type == "field_each":  # einsum("bfd,fde->bfe", e, W)[:, rows]
            left = torch.einsum("bfd,fde->bfe", e, weight)
            left = _kernels.select_fields(left, self.rows, self.rows_onehot)
        else:  # einsum("bpd,pde->bpe", e[:, rows], W)
            left = _kernels.select_fields(e, self.rows, self.rows_onehot)
            left = torch.einsum("bpd,pde->bpe", left, weight)
        return left * right


class MLP(nn.Module):
    """Multi-layer perceptron: ``[Linear -> BatchNorm -> ReLU -> Dropout] * len(hidden)``.

    ``x: [B, input_dim]`` -> ``[B, output_dim]`` (or ``[B, hidden[-1]]`` without ``output_dim``;
    ``[B]`` is *not* squeezed here). ``self.output_dim`` gives the width of the result.
    """

    def __init__(
        self,
        input_dim: int,
        hidden: Sequence[int] = (400, 400, 400),
        dropout: float = 0.0,
        batch_norm: bool = True,
        output_dim: int | None = None,
    ) -> None:
        super().__init__()
        _check_positive("input_dim", input_dim)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        blocks: list[nn.Module] = []
        width = input_dim
        for size in hidden:
            size = _check_positive("hidden layer size", size)
            blocks.append(init_linear_(nn.Linear(width, size)))
            if batch_norm:
                blocks.append(nn.BatchNorm1d(size))
            # in place: neither Linear's nor BatchNorm's backward needs its output
            blocks.append(nn.ReLU(inplace=True))
            if dropout > 0:
                blocks.append(nn.Dropout(dropout))
            width = size
        if output_dim is not None:
            blocks.append(init_linear_(nn.Linear(width, _check_positive("output_dim", output_dim))))
            width = output_dim
        self.net = nn.Sequential(*blocks)
        self.output_dim = width
        self._has_output = output_dim is not None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._has_output:
            return self.net(x)
        *hidden, out = self.net
        for layer in hidden:
            x = layer(x)
        return linear_fp32(out, x)  # the output (a logit) stays float32 under autocast
