"""CTR models from logistic regression to FiBiNet, each a short composition of :mod:`layers`.

Every model takes ``x: LongTensor[B, F]`` of per-field indices and returns **logits** ``[B]``
(use ``BCEWithLogitsLoss``; ``torch.sigmoid`` only at the edge). Constructor shape for all::

    Model(field_dims, embed_dim=10, *, sparse=False, field_names=None, **options)

Defaults are what BARS ran on Frappe_x1 (FuxiCTR v1.1.0; v1.2.2 for AutoInt and AutoInt+): its
configurations (MLP [400, 400, 400] with batch norm, per-model dropout, CIN [64], 3 cross
layers, ...) and FuxiCTR's forms where they differ from the papers or from this package's
earlier forms, each one argument away: ``FFM(diagonal_slot=...)``, ``DeepFM/xDeepFM/FiBiNet
(linear_bias=...)``, ``xDeepFM(cin_bias=...)``, ``AutoInt(attention_dropout=...)``,
``FiBiNet(senet_activation=..., shared_bilinear=...)``, and the dense layers' init
(``get_model(..., linear_init=...)``, :mod:`ctr_helpers.init`). ``docs/deviations.md`` lists
them all, with what each paper says. Each class's ``bars`` attribute gives the regularisation
BARS used (``emb_reg`` on the embedding tables, ``net_reg`` on the rest) for ``train.fit``.
The embedding tables give dense gradients by default, so any ``torch.optim`` optimiser works on
``model.parameters()``. ``train.fit`` switches them to sparse gradients while it trains (its
fast path, :func:`ctr_helpers.optim.sparse_embedding_grads`) and back afterwards;
``sparse=True`` builds them sparse (then use ``train.make_optimizer``, ``torch.optim.SGD`` or
``SparseAdam``).

Inputs are checked where they enter: a direct ``model(x)`` runs :meth:`CTRModel.check_input` on
``x``; ``fit``, ``evaluate`` and ``predict_logits`` check each dataset once, whole, and then skip
the check in their batch loops.

Models are also reachable by name: ``get_model("deepfm", field_dims)``; see ``MODELS``.
Parameters are initialised by the policy in :mod:`ctr_helpers.init` (``get_model``'s
``linear_init`` picks the dense layers' scheme).

>>> model = get_model("deepfm", [3, 5, 2], embed_dim=4, hidden=(8,))
>>> model(torch.tensor([[0, 4, 1], [2, 0, 0]])).shape
torch.Size([2])
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import torch
from torch import nn

from ctr_helpers import init
from ctr_helpers.init import init_glorot_normal_, init_linear_
from ctr_helpers.layers import (
    CIN,
    MLP,
    BilinearInteraction,
    CrossNetwork,
    CrossNetworkV2,
    FeaturesEmbedding,
    FeaturesLinear,
    FFMInteraction,
    FMInteraction,
    InteractingLayer,
    SENet,
    _check_field_dims,
    _check_positive,
    linear_fp32,
    linear_fp32_of_cat,
)

__all__ = [
    "CTRModel",
    "LR",
    "FM",
    "FFM",
    "DNN",
    "DeepFM",
    "xDeepFM",
    "DCN",
    "DCNv2",
    "AutoInt",
    "AutoIntPlus",
    "FiBiNet",
    "MODELS",
    "get_model",
    "count_parameters",
]

MLP_400x3 = (400, 400, 400)

# The models whose inputs the current thread's package loop has already checked whole (ids; see
# _inputs_validated). A context variable: another thread calling the same model still checks.
_VALIDATED: contextvars.ContextVar[frozenset[int]] = contextvars.ContextVar(
    "ctr_helpers_validated_models", default=frozenset()
)


@contextmanager
def _inputs_validated(model: nn.Module) -> Iterator[None]:
    """Inside the block, in this thread, ``model``'s forward skips :meth:`CTRModel.check_input`.

    For the package's own loops (``train.fit``, ``evaluate``, ``predict_logits``), which check a
    whole dataset once where it enters and then feed it batch by batch. Nests; the previous
    state comes back on exit, also on an exception.
    """
    token = _VALIDATED.set(_VALIDATED.get() | {id(model)})
    try:
        yield
    finally:
        _VALIDATED.reset(token)


def _is_validated(model: nn.Module) -> bool:
    """Whether ``model`` is inside :func:`_inputs_validated` in this thread."""
    return id(model) in _VALIDATED.get()


# ``aminmax(x, dim=0)`` beats ``x.min()`` + ``x.amax(dim=0)`` for few fields and falls far behind
# for many (timings in benchmarks/README.md); the range check picks by the number of fields.
_ONE_PASS_MAX_FIELDS = 12


class CTRModel(nn.Module):
    """Base class: keeps the schema and validates ``x`` at the boundary.

    ``check_input(x)`` raises a clear error on a non-integer dtype, a wrong shape or number of
    fields, or an index outside its field's range (naming field, value, row and valid range).
    The range check is vectorised (per-field max and min, in one or two passes over ``x``
    depending on the number of fields); the offender is searched only on the error path.
    Every direct call ``model(x)`` runs it; ``train.fit``/``evaluate``/``predict_logits`` run it
    once on each whole dataset and not again per batch. It is skipped while tracing / compiling
    (``torch.export``, ``torch.compile``), where a data-dependent branch cannot be traced; set
    ``validate_inputs = False`` to skip the range check in a timing loop.

    ``sparse``: whether the embedding tables give sparse gradients (reading it asks the tables;
    setting it switches every table).
    """

    bars: ClassVar[dict[str, float]] = dict(emb_reg=0.0, net_reg=0.0)
    validate_inputs: bool = True

    def __init__(
        self,
        field_dims: Sequence[int],
        embed_dim: int = 10,
        *,
        sparse: bool = False,
        field_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        dims = _check_field_dims(field_dims)  # ints >= 1; TypeError naming a field of 5.5
        embed_dim = _check_positive("embed_dim", embed_dim)  # an int >= 1 (4.0 is refused)
        if field_names is not None and len(field_names) != len(dims):
            raise ValueError(
                f"got {len(field_names)} field_names for {len(dims)} fields in field_dims"
            )
        self.field_dims = dims
        self.num_fields = len(dims)
        self.embed_dim = int(embed_dim)
        self.field_names = list(field_names) if field_names is not None else None
        self.register_buffer("_dims", torch.tensor(dims, dtype=torch.long), persistent=False)

    def _tables(self) -> list[nn.Embedding | nn.EmbeddingBag]:
        return [m for m in self.modules() if isinstance(m, nn.Embedding | nn.EmbeddingBag)]

    @property
    def sparse(self) -> bool:
        """Whether any embedding table of the model gives sparse gradients."""
        return any(m.sparse for m in self._tables())

    @sparse.setter
    def sparse(self, value: bool) -> None:
        for m in self._tables():
            m.sparse = bool(value)

    def _field_label(self, f: int) -> str:
        if self.field_names is None:
            return f"field {f}"
        return f"field {f} ({self.field_names[f]!r})"

    def check_input(self, x: torch.Tensor, name: str | None = None) -> None:
        """Raise ``TypeError``/``ValueError`` unless ``x`` is an integer ``[B, F]`` in range.

        ``name`` (e.g. ``"val.x"``) starts the message, to say which dataset was wrong."""
        where = f"{name}: " if name else ""
        if not isinstance(x, torch.Tensor):
            raise TypeError(
                f"{where}{type(self).__name__} expects a torch.LongTensor [B, {self.num_fields}] of "
                f"per-field indices, got {type(x).__name__}"
            )
        if x.dtype.is_floating_point or x.dtype.is_complex or x.dtype == torch.bool:
            raise TypeError(
                f"{where}{type(self).__name__} expects integer per-field indices (torch.long), got "
                f"dtype {x.dtype}; convert with x.long() if the values are whole numbers"
            )
        if x.dim() != 2 or x.shape[1] != self.num_fields:
            hint = " (for a single row use x.unsqueeze(0))" if x.dim() == 1 else ""
            got = x.shape[1] if x.dim() == 2 else f"a {x.dim()}-D tensor"
            raise ValueError(
                f"{where}{type(self).__name__} expects x of shape [B, F] with F = {self.num_fields} "
                f"fields, got {got} (shape {tuple(x.shape)}){hint}"
            )
        if not self.validate_inputs or torch.jit.is_tracing() or torch.compiler.is_compiling():
            return
        if x.shape[0] == 0:
            return
        if x.shape[1] <= _ONE_PASS_MAX_FIELDS:
            lo, hi = torch.aminmax(x, dim=0)  # per-field min and max in one pass over [B, F]
        else:  # the global min and the per-field max: two passes, each faster at this width
            lo, hi = x.min(), x.amax(dim=0)
        if bool(((lo < 0) | (hi >= self._dims)).any()):
            bad = (x < 0) | (x >= self._dims)  # error path only: find the offenders
            row, f = (int(i) for i in bad.nonzero()[0])
            n_bad = int(bad.sum())
            more = f" ({n_bad - 1} more out-of-range values)" if n_bad > 1 else ""
            raise ValueError(
                f"{where}{self._field_label(f)}: value {int(x[row, f])} at row {row} is outside "
                f"0..{self.field_dims[f] - 1}{more}"
            )

    def _check_batch(self, x: torch.Tensor) -> None:
        """``forward``'s check: :meth:`check_input`, unless a package loop checked all of ``x``'s
        dataset already (:func:`_inputs_validated`)."""
        if not _is_validated(self):
            self.check_input(x)

    def _mlp(
        self,
        input_dim: int,
        hidden: Sequence[int],
        dropout: float,
        batch_norm: bool,
        output_dim: int | None = 1,
    ) -> MLP:
        return MLP(input_dim, hidden, dropout=dropout, batch_norm=batch_norm, output_dim=output_dim)


class LR(CTRModel):
    """Logistic regression: ``logit = b + sum_f w[x_f]`` (``embed_dim`` is unused).

    ``bars``: BARS passes one ``regularizer`` that FuxiCTR applies to the embedding tables and,
    as net regulariser, to everything else, so the bias ``b`` gets the same L2 (likewise FM, FFM).
    """

    bars = dict(emb_reg=1e-5, net_reg=1e-5)

    def __init__(
        self,
        field_dims: Sequence[int],
        embed_dim: int = 10,
        *,
        sparse: bool = False,
        field_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__(field_dims, embed_dim, sparse=sparse, field_names=field_names)
        self.linear = FeaturesLinear(field_dims, sparse=sparse)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_batch(x)
        return self.linear(x)


class FM(CTRModel):
    """Factorization machine: linear term + ``sum_{i<j} <v_i, v_j>`` (Rendle, ICDM 2010)."""

    bars = dict(emb_reg=5e-6, net_reg=5e-6)  # one `regularizer`, the bias too (see LR)

    def __init__(
        self,
        field_dims: Sequence[int],
        embed_dim: int = 10,
        *,
        sparse: bool = False,
        field_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__(field_dims, embed_dim, sparse=sparse, field_names=field_names)
        self.linear = FeaturesLinear(field_dims, sparse=sparse)
        self.embedding = FeaturesEmbedding(field_dims, embed_dim, sparse=sparse)
        self.fm = FMInteraction()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_batch(x)
        return self.linear(x) + self.fm(self.embedding(x))


class FFM(CTRModel):
    """Field-aware FM: linear term + ``sum_{i<j} <v[x_i, j], v[x_j, i]>`` (Juan et al., 2016).

    ``diagonal_slot=False`` (FuxiCTR, BARS): ``F - 1`` vectors per feature, one per other field,
    ``sum(field_dims) * (F - 1) * D`` weights; ``True``: ``F`` (libffm's layout and the paper's
    ``n f k`` count; the own-field vector is never used). See :class:`layers.FieldAwareEmbedding`.
    """

    bars = dict(emb_reg=1e-6, net_reg=1e-6)  # one `regularizer`, the bias too (see LR)

    def __init__(
        self,
        field_dims: Sequence[int],
        embed_dim: int = 10,
        *,
        sparse: bool = False,
        field_names: Sequence[str] | None = None,
        diagonal_slot: bool = False,
    ) -> None:
        super().__init__(field_dims, embed_dim, sparse=sparse, field_names=field_names)
        self.linear = FeaturesLinear(field_dims, sparse=sparse)
        self.ffm = FFMInteraction(field_dims, embed_dim, sparse=sparse, diagonal_slot=diagonal_slot)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_batch(x)
        return self.linear(x) + self.ffm(x)


class DNN(CTRModel):
    """Plain deep network: concatenated embeddings ``[B, F*D]`` -> MLP -> logit."""

    bars = dict(emb_reg=0.05, net_reg=0.0)

    def __init__(
        self,
        field_dims: Sequence[int],
        embed_dim: int = 10,
        *,
        sparse: bool = False,
        field_names: Sequence[str] | None = None,
        hidden: Sequence[int] = MLP_400x3,
        dropout: float = 0.2,
        batch_norm: bool = True,
    ) -> None:
        super().__init__(field_dims, embed_dim, sparse=sparse, field_names=field_names)
        self.embedding = FeaturesEmbedding(field_dims, embed_dim, sparse=sparse)
        self.mlp = self._mlp(self.num_fields * embed_dim, hidden, dropout, batch_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_batch(x)
        e = self.embedding(x)
        return self.mlp(e.flatten(1)).squeeze(1)


class DeepFM(CTRModel):
    """DeepFM: one shared embedding feeding an FM and an MLP in parallel; logits add.

    ``linear_bias=False`` (FuxiCTR's ``FM_Layer(use_bias=False)``, BARS; the paper's ``y_FM`` has
    no bias either): the MLP's output layer holds the model's only bias; ``True`` adds a second,
    redundant global bias to the first-order term.
    Guo et al., "DeepFM", IJCAI 2017.
    """

    bars = dict(emb_reg=0.05, net_reg=0.0)

    def __init__(
        self,
        field_dims: Sequence[int],
        embed_dim: int = 10,
        *,
        sparse: bool = False,
        field_names: Sequence[str] | None = None,
        hidden: Sequence[int] = MLP_400x3,
        dropout: float = 0.2,
        batch_norm: bool = True,
        linear_bias: bool = False,
    ) -> None:
        super().__init__(field_dims, embed_dim, sparse=sparse, field_names=field_names)
        self.linear = FeaturesLinear(field_dims, sparse=sparse, bias=linear_bias)
        self.embedding = FeaturesEmbedding(field_dims, embed_dim, sparse=sparse)
        self.fm = FMInteraction()
        self.mlp = self._mlp(self.num_fields * embed_dim, hidden, dropout, batch_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_batch(x)
        e = self.embedding(x)
        return self.linear(x) + self.fm(e) + self.mlp(e.flatten(1)).squeeze(1)


class xDeepFM(CTRModel):  # the paper's spelling
    """xDeepFM: linear + CIN (explicit vector-wise crosses) + MLP; logits add.

    ``cin_bias=True`` (FuxiCTR's ``Conv1d`` compression with its default bias, BARS): one bias per
    CIN feature map; ``False``: the paper's formula (homogeneous layers, :class:`layers.CIN`'s
    default). ``linear_bias=False`` (FuxiCTR, BARS): no global bias in the first-order term (the
    CIN and MLP logit layers have theirs); ``True`` adds one.
    Lian et al., "xDeepFM", KDD 2018.
    """

    bars = dict(emb_reg=0.1, net_reg=0.0)

    def __init__(
        self,
        field_dims: Sequence[int],
        embed_dim: int = 10,
        *,
        sparse: bool = False,
        field_names: Sequence[str] | None = None,
        hidden: Sequence[int] = MLP_400x3,
        dropout: float = 0.2,
        batch_norm: bool = True,
        cin_layers: Sequence[int] = (64,),
        split_half: bool = False,
        cin_bias: bool = True,
        linear_bias: bool = False,
    ) -> None:
        super().__init__(field_dims, embed_dim, sparse=sparse, field_names=field_names)
        self.linear = FeaturesLinear(field_dims, sparse=sparse, bias=linear_bias)
        self.embedding = FeaturesEmbedding(field_dims, embed_dim, sparse=sparse)
        self.cin = CIN(self.num_fields, embed_dim, cin_layers, split_half=split_half, bias=cin_bias)
        self.cin_out = init_linear_(nn.Linear(self.cin.output_dim, 1))
        self.mlp = self._mlp(self.num_fields * embed_dim, hidden, dropout, batch_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_batch(x)
        e = self.embedding(x)
        cin = linear_fp32(self.cin_out, self.cin(e)).squeeze(1)
        return self.linear(x) + cin + self.mlp(e.flatten(1)).squeeze(1)


class DCN(CTRModel):
    """Deep & Cross Network: cross network and MLP side by side, concatenated, one linear logit.

    Wang et al., "Deep & Cross Network for Ad Click Predictions", ADKDD 2017.
    """

    bars = dict(emb_reg=0.05, net_reg=0.0)

    def __init__(
        self,
        field_dims: Sequence[int],
        embed_dim: int = 10,
        *,
        sparse: bool = False,
        field_names: Sequence[str] | None = None,
        hidden: Sequence[int] = MLP_400x3,
        dropout: float = 0.2,
        batch_norm: bool = True,
        num_cross_layers: int = 3,
    ) -> None:
        super().__init__(field_dims, embed_dim, sparse=sparse, field_names=field_names)
        d = self.num_fields * embed_dim
        self.embedding = FeaturesEmbedding(field_dims, embed_dim, sparse=sparse)
        self.cross = CrossNetwork(d, num_cross_layers)
        self.mlp = self._mlp(d, hidden, dropout, batch_norm, output_dim=None)
        self.out = init_linear_(nn.Linear(d + self.mlp.output_dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_batch(x)
        x0 = self.embedding(x).flatten(1)
        return linear_fp32_of_cat(self.out, [self.cross(x0), self.mlp(x0)]).squeeze(1)


class DCNv2(CTRModel):
    """DCN-v2: matrix (or low-rank) cross layers and an MLP.

    ``structure="parallel"`` (BARS Frappe default): cross and MLP side by side, concatenated,
    one linear logit; ``"stacked"``: the MLP reads the cross network's output. The default full
    matrices are what BARS ran (``use_low_rank_mixture: False``). ``low_rank=r`` is a plain
    ``W = U V^T`` per layer, *not* FuxiCTR's ``CrossNetMix`` (a gated mixture of low-rank experts
    with a ``tanh`` and an inner ``r x r`` matrix), which this package does not have.
    Wang et al., "DCN V2", WWW 2021.
    """

    bars = dict(emb_reg=0.05, net_reg=0.0)

    def __init__(
        self,
        field_dims: Sequence[int],
        embed_dim: int = 10,
        *,
        sparse: bool = False,
        field_names: Sequence[str] | None = None,
        hidden: Sequence[int] = MLP_400x3,
        dropout: float = 0.4,
        batch_norm: bool = True,
        num_cross_layers: int = 4,
        low_rank: int | None = None,
        structure: str = "parallel",
    ) -> None:
        super().__init__(field_dims, embed_dim, sparse=sparse, field_names=field_names)
        if structure not in ("parallel", "stacked"):
            raise ValueError(f"structure must be 'parallel' or 'stacked', got {structure!r}")
        d = self.num_fields * embed_dim
        self.structure = structure
        self.embedding = FeaturesEmbedding(field_dims, embed_dim, sparse=sparse)
        self.cross = CrossNetworkV2(d, num_cross_layers, low_rank=low_rank)
        self.mlp = self._mlp(d, hidden, dropout, batch_norm, output_dim=None)
        out_dim = self.mlp.output_dim + (d if structure == "parallel" else 0)
        self.out = init_linear_(nn.Linear(out_dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_batch(x)
        x0 = self.embedding(x).flatten(1)
        if self.structure == "stacked":
            return linear_fp32(self.out, self.mlp(self.cross(x0))).squeeze(1)
        return linear_fp32_of_cat(self.out, [self.cross(x0), self.mlp(x0)]).squeeze(1)


class AutoInt(CTRModel):
    """AutoInt: fields as tokens through stacked multi-head self-attention, then one linear logit.

    Every interacting layer has its own residual and ReLU. With ``hidden`` non-empty an MLP on the
    raw embeddings adds its logit (that is AutoInt+, see :class:`AutoIntPlus`).
    ``attention_dropout``: dropout on every layer's attention weights after the softmax;
    ``None`` (FuxiCTR v1.2.2, BARS) means the model's ``dropout``, which FuxiCTR passes to every
    attention layer as well as to the MLP; ``0.0``: none (the paper's, and this package's form
    before issue #17). ``attention_maps(x)`` returns each layer's weights ``[B, H, F, F]`` for
    heatmaps. Song et al., "AutoInt", CIKM 2019.
    """

    bars = dict(emb_reg=0.05, net_reg=0.0)

    def __init__(
        self,
        field_dims: Sequence[int],
        embed_dim: int = 10,
        *,
        sparse: bool = False,
        field_names: Sequence[str] | None = None,
        num_attention_layers: int = 6,
        num_heads: int = 4,
        attention_dim: int = 128,
        use_residual: bool = True,
        scaled: bool = False,
        layer_norm: bool = False,
        hidden: Sequence[int] = (),
        dropout: float = 0.0,
        batch_norm: bool = True,
        attention_dropout: float | None = None,
    ) -> None:
        super().__init__(field_dims, embed_dim, sparse=sparse, field_names=field_names)
        self.embedding = FeaturesEmbedding(field_dims, embed_dim, sparse=sparse)
        dims = [embed_dim] + [attention_dim] * num_attention_layers
        p_attention = dropout if attention_dropout is None else attention_dropout
        self.attention = nn.ModuleList(
            InteractingLayer(
                d_in, attention_dim, num_heads, use_residual, scaled, layer_norm, p_attention
            )
            for d_in in dims[:-1]
        )
        # Glorot-normal, zero bias: as the attention layers (and BARS)
        self.attention_out = init_glorot_normal_(nn.Linear(self.num_fields * dims[-1], 1))
        self.mlp = (
            self._mlp(self.num_fields * embed_dim, hidden, dropout, batch_norm) if hidden else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_batch(x)
        e = h = self.embedding(x)
        for layer in self.attention:
            h = layer(h)
        logit = linear_fp32(self.attention_out, h.flatten(1)).squeeze(1)
        if self.mlp is not None:
            logit = logit + self.mlp(e.flatten(1)).squeeze(1)
        return logit

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Attention weights of every layer for ``x``: a list of ``[B, H, F, F]`` tensors."""
        self.check_input(x)
        h, maps = self.embedding(x), []
        for layer in self.attention:
            h, weights = layer(h, return_attention=True)
            maps.append(weights)
        return maps


class AutoIntPlus(AutoInt):
    """AutoInt+: AutoInt (5 scaled, layer-normed attention layers) plus an MLP; logits add.

    Its ``dropout`` (0.1) also drops attention weights in every layer unless
    ``attention_dropout`` says otherwise (see :class:`AutoInt`).
    """

    bars = dict(emb_reg=0.1, net_reg=0.0)

    def __init__(
        self,
        field_dims: Sequence[int],
        embed_dim: int = 10,
        *,
        sparse: bool = False,
        field_names: Sequence[str] | None = None,
        num_attention_layers: int = 5,
        num_heads: int = 4,
        attention_dim: int = 128,
        use_residual: bool = True,
        scaled: bool = True,
        layer_norm: bool = True,
        hidden: Sequence[int] = MLP_400x3,
        dropout: float = 0.1,
        batch_norm: bool = True,
        attention_dropout: float | None = None,
    ) -> None:
        super().__init__(
            field_dims,
            embed_dim,
            sparse=sparse,
            field_names=field_names,
            num_attention_layers=num_attention_layers,
            num_heads=num_heads,
            attention_dim=attention_dim,
            use_residual=use_residual,
            scaled=scaled,
            layer_norm=layer_norm,
            hidden=hidden,
            dropout=dropout,
            batch_norm=batch_norm,
            attention_dropout=attention_dropout,
        )


class FiBiNet(CTRModel):
    """FiBiNet: SENet-reweighted and raw embeddings, each through a bilinear interaction.

    ``[bilinear(e), bilinear(senet(e))]`` ``[B, 2 P D]`` -> MLP -> logit, plus the linear term.
    ``field_gates(x)`` returns the SENet gates ``[B, F]`` (learned field importance).

    FuxiCTR v1.1.0's forms (BARS) by default, the others one argument away:
    ``senet_activation="relu"`` (FuxiCTR's SENet ends in a ReLU: gates ``>= 0``, unbounded) or
    ``"sigmoid"`` (Hu et al.'s SENet: gates in ``(0, 1)``); ``shared_bilinear=True`` (one bilinear
    layer for both branches, ``self.bilinear``; ``self.bilinear_se`` is ``None``) or ``False``
    (a second one for the SENet branch, as DeepCTR); ``linear_bias=False`` (FuxiCTR's
    ``LR_Layer(use_bias=False)``: the MLP's output layer holds the only bias) or ``True``.
    Huang et al., "FiBiNET", RecSys 2019.
    """

    bars = dict(emb_reg=0.05, net_reg=0.0)

    def __init__(
        self,
        field_dims: Sequence[int],
        embed_dim: int = 10,
        *,
        sparse: bool = False,
        field_names: Sequence[str] | None = None,
        hidden: Sequence[int] = MLP_400x3,
        dropout: float = 0.3,
        batch_norm: bool = True,
        bilinear_type: str = "field_all",
        reduction_ratio: float = 2,
        senet_activation: str = "relu",
        shared_bilinear: bool = True,
        linear_bias: bool = False,
    ) -> None:
        super().__init__(field_dims, embed_dim, sparse=sparse, field_names=field_names)
        if self.num_fields < 2:
            raise ValueError(
                f"FiBiNet models pairs of fields and needs at least 2, got {self.num_fields}"
            )
        num_pairs = self.num_fields * (self.num_fields - 1) // 2
        self.linear = FeaturesLinear(field_dims, sparse=sparse, bias=linear_bias)
        self.embedding = FeaturesEmbedding(field_dims, embed_dim, sparse=sparse)
        self.senet = SENet(self.num_fields, reduction_ratio, activation=senet_activation)
        self.bilinear = BilinearInteraction(self.num_fields, embed_dim, bilinear_type)
        self.bilinear_se = (
            None
            if shared_bilinear
            else BilinearInteraction(self.num_fields, embed_dim, bilinear_type)
        )
        self.mlp = self._mlp(2 * num_pairs * embed_dim, hidden, dropout, batch_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_batch(x)
        e = self.embedding(x)
        bilinear_se = self.bilinear if self.bilinear_se is None else self.bilinear_se
        pairs = torch.cat([self.bilinear(e), bilinear_se(self.senet(e))], dim=1)
        return self.linear(x) + self.mlp(pairs.flatten(1)).squeeze(1)

    @torch.no_grad()
    def field_gates(self, x: torch.Tensor) -> torch.Tensor:
        """SENet gates ``[B, F]`` for ``x``: each in ``(0, 1)`` with ``senet_activation="sigmoid"``,
        ``>= 0`` with ``"relu"``."""
        self.check_input(x)
        return self.senet(self.embedding(x), return_gates=True)[1]


MODELS: dict[str, type[CTRModel]] = {
    "lr": LR,
    "fm": FM,
    "ffm": FFM,
    "deepfm": DeepFM,
    "xdeepfm": xDeepFM,
    "dcn": DCN,
    "dcnv2": DCNv2,
    "autoint": AutoInt,
    "autoint+": AutoIntPlus,
    "fibinet": FiBiNet,
    "dnn": DNN,
}


def get_model(
    name: str,
    field_dims: Sequence[int],
    embed_dim: int = 10,
    *,
    linear_init: str | None = None,
    **options: Any,
) -> CTRModel:
    """Build a model by registry name (case-insensitive), e.g. ``get_model("dcnv2", dims)``.

    ``linear_init``: how the dense layers start, ``"glorot_normal"`` (FuxiCTR/BARS) or
    ``"torch_default"`` (PyTorch's own); ``None`` keeps the current scheme (``"glorot_normal"``
    unless inside :func:`ctr_helpers.init.linear_init`). See :mod:`ctr_helpers.init`.
    """
    key = name.lower()
    if key not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODELS)}")
    if linear_init is None:
        return MODELS[key](field_dims, embed_dim, **options)
    with init.linear_init(linear_init):
        return MODELS[key](field_dims, embed_dim, **options)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (buffers such as offsets are not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
