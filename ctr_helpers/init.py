"""How every parameter in :mod:`ctr_helpers.layers` and :mod:`ctr_helpers.models` is initialised.

One policy, one place. Each layer builds its parameters and then calls one of the functions
below, so this list is the whole story:

- **Embedding tables** (``FeaturesEmbedding`` and everything built on it: FM, FFM, the deep
  models): ``N(0, std^2)`` with ``std = 1e-4`` -- :func:`init_embedding_`.
- **Linear term** (``FeaturesLinear``): the same, it is a 1-wide embedding; its bias is zero.
- **Dense layers** (``nn.Linear``: MLP, DCN-v2's cross matrices, SENet, the models' logit layers
  ``cin_out`` / ``out``) -- :func:`init_linear_`, by the *linear-init scheme* below:
  ``"glorot_normal"`` (the default): Glorot-normal weight ``N(0, 2 / (fan_in + fan_out))``, zero
  bias, as FuxiCTR/BARS re-initialise every ``nn.Linear``; ``"torch_default"``: PyTorch's
  default, weight kaiming-uniform with ``a = sqrt(5)`` (``U(+-1/sqrt(fan_in))``), bias
  ``U(+-1/sqrt(fan_in))``.
- **CIN's 1x1 compression** (an ``nn.Conv1d``): PyTorch's default under both schemes (FuxiCTR
  does not re-initialise it either).
- **DCN (v1) cross vectors** ``w_l`` (in FuxiCTR each an ``nn.Linear(d, 1, bias=False)``): by
  the same scheme, ``N(0, 2 / (d + 1))`` or ``U(+-1/sqrt(d))``; biases zero --
  :func:`init_cross_weight_`.
- **Attention projections** (AutoInt's query, key, value and residual) **and AutoInt's logit
  layer**: Glorot-normal ``N(0, 2 / (fan_in + fan_out))``, bias zero, under both schemes --
  :func:`init_glorot_normal_` (Glorot & Bengio, AISTATS 2010).
- **Bilinear matrices** (FiBiNet): ``N(0, 1 / D)``, Glorot-normal for a ``D x D`` matrix --
  :func:`init_bilinear_`.
- **Batch / layer norm**: weight one, bias zero (PyTorch's default).

With the default scheme this is what BARS / FuxiCTR v1.1.0 do (``BaseModel.reset_parameters``:
embeddings ``N(0, 1e-4^2)``, every ``nn.Linear`` Glorot-normal with zero bias, everything else
PyTorch's default). The scheme is read when a layer is built: build with the other one inside
:func:`linear_init` (or pass ``linear_init=`` to ``models.get_model``)::

    with linear_init("torch_default"):
        model = models.DeepFM(field_dims)  # the package's init before issue #17

The random draws happen in a fixed order that the benchmarks rely on (results are compared to
8 digits): the ``nn.Embedding`` / ``nn.Linear`` constructors draw their own defaults first, then
these functions draw again where the policy overrides them. Changing what a function draws, or
adding a call, changes every later number.

>>> table = torch.empty(5, 3)
>>> init_embedding_(table, std=1e-4).abs().max().item() < 1e-2
True
>>> with linear_init("torch_default"):
...     current_linear_init()
'torch_default'
>>> current_linear_init()
'glorot_normal'
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

__all__ = [
    "EMBEDDING_STD",
    "LINEAR_INITS",
    "current_linear_init",
    "linear_init",
    "init_embedding_",
    "init_linear_",
    "init_cross_weight_",
    "init_glorot_normal_",
    "init_bilinear_",
]

EMBEDDING_STD = 1e-4
"""Standard deviation of every embedding table (and of the linear term), as in FuxiCTR/BARS."""

LINEAR_INITS = ("glorot_normal", "torch_default")
"""The linear-init schemes: ``"glorot_normal"`` (FuxiCTR/BARS, the default) and
``"torch_default"`` (PyTorch's own init of ``nn.Linear``)."""

# The scheme layers are built with in this thread (a context variable, as models._VALIDATED).
_LINEAR_INIT: contextvars.ContextVar[str] = contextvars.ContextVar(
    "ctr_helpers_linear_init", default="glorot_normal"
)


def _check_scheme(scheme: str) -> str:
    if scheme not in LINEAR_INITS:
        raise ValueError(f"linear_init must be one of {LINEAR_INITS}, got {scheme!r}")
    return scheme


def current_linear_init() -> str:
    """The linear-init scheme layers built now get (``"glorot_normal"`` unless inside
    :func:`linear_init`)."""
    return _LINEAR_INIT.get()


@contextmanager
def linear_init(scheme: str) -> Iterator[None]:
    """Inside the block, in this thread, dense layers are built with ``scheme`` (one of
    :data:`LINEAR_INITS`); the previous scheme comes back on exit, also on an exception.
    Nests. Only construction reads it: a model built inside keeps its weights afterwards."""
    token = _LINEAR_INIT.set(_check_scheme(scheme))
    try:
        yield
    finally:
        _LINEAR_INIT.reset(token)


def init_embedding_(weight: torch.Tensor, std: float = EMBEDDING_STD) -> torch.Tensor:
    """Fill an embedding table ``[V, D]`` from ``N(0, std^2)`` in place; returns it."""
    return nn.init.normal_(weight, std=std)


def init_linear_(layer: nn.Linear | nn.Conv1d) -> nn.Linear | nn.Conv1d:
    """A dense layer by the current scheme (:func:`linear_init`), in place; returns it.

    ``"glorot_normal"`` (default): an ``nn.Linear`` gets :func:`init_glorot_normal_` (weight
    ``N(0, 2 / (fan_in + fan_out))``, zero bias), as FuxiCTR/BARS. ``"torch_default"``, and an
    ``nn.Conv1d`` (CIN's compression) under either scheme: nothing is drawn here, the layer keeps
    its constructor's default (kaiming-uniform with ``a = sqrt(5)``, ``U(+-1/sqrt(fan_in))``,
    bias ``U(+-1/sqrt(fan_in))``).
    """
    if isinstance(layer, nn.Linear) and current_linear_init() == "glorot_normal":
        init_glorot_normal_(layer)
    return layer


def init_cross_weight_(weight: torch.Tensor) -> torch.Tensor:
    """DCN (v1) cross vectors ``[L, d]`` in place, each ``w_l`` as the weight of an
    ``nn.Linear(d, 1)`` (FuxiCTR's form) by the current scheme: ``"glorot_normal"``
    ``N(0, 2 / (d + 1))``, ``"torch_default"`` ``U(+-1/sqrt(d))``; returns the tensor."""
    d = weight.shape[1]
    with torch.no_grad():
        if current_linear_init() == "glorot_normal":
            return weight.normal_(0.0, math.sqrt(2.0 / (d + 1)))
        bound = 1 / math.sqrt(d)
        return weight.uniform_(-bound, bound)


def init_glorot_normal_(layer: nn.Linear) -> nn.Linear:
    """Glorot-normal weight ``N(0, 2 / (fan_in + fan_out))`` and a zero bias (if any), in place.

    Glorot & Bengio, AISTATS 2010; how FuxiCTR/BARS initialise every linear layer.
    """
    nn.init.xavier_normal_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def init_bilinear_(weight: torch.Tensor) -> torch.Tensor:
    """Bilinear matrices ``[..., D, D]``: ``N(0, 1 / D)`` (Glorot-normal for a ``D x D``
    matrix), in place; returns the tensor."""
    with torch.no_grad():
        return weight.normal_().mul_(math.sqrt(1.0 / weight.shape[-1]))
