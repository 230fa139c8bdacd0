"""How every parameter in :mod:`ctr_helpers.layers` and :mod:`ctr_helpers.models` is initialised.

One policy, one place. Each layer builds its parameters and then calls one of the functions
below, so this list is the whole story:

- **Embedding tables** (``FeaturesEmbedding`` and everything built on it: FM, FFM, the deep
  models): ``N(0, std^2)`` with ``std = 1e-4`` -- :func:`init_embedding_`.
- **Linear term** (``FeaturesLinear``): the same, it is a 1-wide embedding; its bias is zero.
- **Dense layers** (MLP, CIN's 1x1 compression, DCN-v2's cross matrices, SENet, the models'
  logit layers ``cin_out`` / ``out``): PyTorch's default, weight kaiming-uniform with
  ``a = sqrt(5)`` (``U(+-1/sqrt(fan_in))``), bias ``U(+-1/sqrt(fan_in))`` -- :func:`init_linear_`.
- **DCN (v1) cross vectors** ``w_l``: ``U(+-1/sqrt(d))`` (the ``nn.Linear(d, 1)`` default),
  biases zero -- :func:`init_cross_weight_`.
- **Attention projections** (AutoInt's query, key, value and residual) **and AutoInt's logit
  layer**: Glorot-normal ``N(0, 2 / (fan_in + fan_out))``, bias zero -- :func:`init_glorot_normal_`
  (Glorot & Bengio, AISTATS 2010).
- **Bilinear matrices** (FiBiNet): ``N(0, 1 / D)``, Glorot-normal for a ``D x D`` matrix --
  :func:`init_bilinear_`.
- **Batch / layer norm**: weight one, bias zero (PyTorch's default).

Where BARS / FuxiCTR differ: the embeddings agree (``N(0, 1e-4^2)``), but BARS initialises
*every* linear layer Glorot-normal with zero bias, where this package keeps PyTorch's default
for all dense layers except the attention ones listed above.

The random draws happen in a fixed order that the benchmarks rely on (results are compared to
8 digits): the ``nn.Embedding`` / ``nn.Linear`` constructors draw their own defaults first, then
these functions draw again where the policy overrides them. Changing what a function draws, or
adding a call, changes every later number.

>>> table = torch.empty(5, 3)
>>> init_embedding_(table, std=1e-4).abs().max().item() < 1e-2
True
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = [
    "EMBEDDING_STD",
    "init_embedding_",
    "init_linear_",
    "init_cross_weight_",
    "init_glorot_normal_",
    "init_bilinear_",
]

EMBEDDING_STD = 1e-4
"""Standard deviation of every embedding table (and of the linear term), as in FuxiCTR/BARS."""


def init_embedding_(weight: torch.Tensor, std: float = EMBEDDING_STD) -> torch.Tensor:
    """Fill an embedding table ``[V, D]`` from ``N(0, std^2)`` in place; returns it."""
    return nn.init.normal_(weight, std=std)


def init_linear_(layer: nn.Linear | nn.Conv1d) -> nn.Linear | nn.Conv1d:
    """A dense layer keeps PyTorch's default init (drawn by its constructor); returns it.

    Weight kaiming-uniform with ``a = sqrt(5)`` (``U(+-1/sqrt(fan_in))``), bias
    ``U(+-1/sqrt(fan_in))``. Nothing is drawn here: this is where the policy for MLP, CIN,
    DCN-v2, SENet and logit layers would change (BARS: Glorot-normal, zero bias).
    """
    return layer


def init_cross_weight_(weight: torch.Tensor) -> torch.Tensor:
    """DCN (v1) cross vectors ``[L, d]``: ``U(+-1/sqrt(d))`` in place, the ``nn.Linear(d, 1)``
    default for each ``w_l``; returns the tensor."""
    bound = 1 / math.sqrt(weight.shape[1])
    with torch.no_grad():
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
