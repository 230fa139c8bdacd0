"""Every composite model's logit equals the sum of its parts, written out with
``ctr_helpers.reference`` and the model's own weights: the composition below *is* each model.

Shared weights (random, O(1), float64), eval mode, batch 1 and 64.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from ctr_helpers import models, reference

FIELD_DIMS = [3, 5, 2, 4]
D = 4
SMALL = dict(hidden=(8, 6))  # a small MLP keeps the test fast


def random_x(batch: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, d, (batch,), generator=g) for d in FIELD_DIMS], dim=1)


def randomized(model: models.CTRModel, std: float = 0.3, seed: int = 1) -> models.CTRModel:
    """float64, eval mode, O(1) random weights and batch-norm statistics (the default init of the
    embeddings, N(0, 1e-4^2), would make any two compositions agree)."""
    model = model.double().eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * std)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g, dtype=p.dtype))
                m.running_var.copy_(torch.rand(m.num_features, generator=g, dtype=p.dtype) + 0.5)
    return model


def logit(layer: nn.Linear, h: torch.Tensor) -> torch.Tensor:
    """A 1-output linear layer, written out: ``h @ w + b``, ``[B]``."""
    return h @ layer.weight[0] + layer.bias[0]


# ----------------------------------------------------------------------------- compositions
def lr(m: models.LR, x: torch.Tensor) -> torch.Tensor:
    return reference.linear(m.linear, x)


def fm(m: models.FM, x: torch.Tensor) -> torch.Tensor:
    e = reference.features_embedding(m.embedding, x)
    return reference.linear(m.linear, x) + reference.fm(e)


def ffm(m: models.FFM, x: torch.Tensor) -> torch.Tensor:
    return reference.linear(m.linear, x) + reference.ffm(m.ffm, x)


def dnn(m: models.DNN, x: torch.Tensor) -> torch.Tensor:
    e = reference.features_embedding(m.embedding, x)
    return m.mlp(e.flatten(1))[:, 0]


def deepfm(m: models.DeepFM, x: torch.Tensor) -> torch.Tensor:
    e = reference.features_embedding(m.embedding, x)
    return reference.linear(m.linear, x) + reference.fm(e) + m.mlp(e.flatten(1))[:, 0]


def xdeepfm(m: models.xDeepFM, x: torch.Tensor) -> torch.Tensor:
    e = reference.features_embedding(m.embedding, x)
    cin = logit(m.cin_out, reference.cin(m.cin, e))
    return reference.linear(m.linear, x) + cin + m.mlp(e.flatten(1))[:, 0]


def dcn(m: models.DCN, x: torch.Tensor) -> torch.Tensor:
    x0 = reference.features_embedding(m.embedding, x).flatten(1)
    return logit(m.out, torch.cat([reference.cross(m.cross, x0), m.mlp(x0)], dim=1))


def dcnv2(m: models.DCNv2, x: torch.Tensor) -> torch.Tensor:
    x0 = reference.features_embedding(m.embedding, x).flatten(1)
    if m.structure == "stacked":
        return logit(m.out, m.mlp(reference.cross_v2(m.cross, x0)))
    return logit(m.out, torch.cat([reference.cross_v2(m.cross, x0), m.mlp(x0)], dim=1))


def autoint(m: models.AutoInt, x: torch.Tensor) -> torch.Tensor:
    e = h = reference.features_embedding(m.embedding, x)
    for layer in m.attention:
        h = reference.interacting(layer, h)
    out = logit(m.attention_out, h.flatten(1))
    return out if m.mlp is None else out + m.mlp(e.flatten(1))[:, 0]


def fibinet(m: models.FiBiNet, x: torch.Tensor) -> torch.Tensor:
    e = reference.features_embedding(m.embedding, x)
    pairs = reference.bilinear(m.bilinear, e)  # [B, P, D]
    bilinear_se = m.bilinear if m.bilinear_se is None else m.bilinear_se  # shared (FuxiCTR)
    pairs_se = reference.bilinear(bilinear_se, reference.senet(m.senet, e))
    deep = m.mlp(torch.cat([pairs, pairs_se], dim=1).flatten(1))[:, 0]
    return reference.linear(m.linear, x) + deep


CASES: list[tuple[str, dict, Callable]] = [
    ("lr", {}, lr),
    ("fm", {}, fm),
    ("ffm", {}, ffm),
    ("ffm", dict(diagonal_slot=True), ffm),
    ("dnn", SMALL, dnn),
    ("deepfm", SMALL, deepfm),
    ("deepfm", dict(SMALL, linear_bias=True), deepfm),
    ("xdeepfm", dict(SMALL, cin_layers=(3, 5)), xdeepfm),
    ("xdeepfm", dict(SMALL, cin_layers=(3, 5), cin_bias=False, linear_bias=True), xdeepfm),
    ("xdeepfm", dict(SMALL, cin_layers=(4, 6, 3), split_half=True), xdeepfm),
    ("dcn", dict(SMALL, num_cross_layers=2), dcn),
    ("dcnv2", dict(SMALL, num_cross_layers=2), dcnv2),
    ("dcnv2", dict(SMALL, low_rank=3, structure="stacked"), dcnv2),
    ("autoint", dict(num_attention_layers=2, attention_dim=8, num_heads=2), autoint),
    ("autoint+", dict(SMALL, num_attention_layers=2, attention_dim=8, num_heads=2), autoint),
    ("fibinet", dict(SMALL, bilinear_type="field_all"), fibinet),
    ("fibinet", dict(SMALL, bilinear_type="field_each"), fibinet),
    ("fibinet", dict(SMALL, bilinear_type="field_interaction"), fibinet),
    ("fibinet", dict(SMALL, shared_bilinear=False, senet_activation="sigmoid"), fibinet),
    ("fibinet", dict(SMALL, bilinear_type="field_each", linear_bias=True), fibinet),
]


def test_every_model_has_a_composition():
    assert {name for name, _, _ in CASES} == set(models.MODELS)


@pytest.mark.parametrize("batch", [1, 64])
@pytest.mark.parametrize(
    "name, options, compose", CASES, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(CASES)]
)
def test_model_logit_is_the_sum_of_its_parts(name, options, compose, batch):
    torch.manual_seed(0)
    model = randomized(models.get_model(name, FIELD_DIMS, embed_dim=D, **options))
    x = random_x(batch)
    with torch.no_grad():
        out = model(x)  # the inference paths
        expected = compose(model, x)
    assert out.shape == (batch,)
    assert out.abs().max() > 1e-3  # not trivially zero
    assert_close(out, expected)
    assert_close(model(x).detach(), expected)  # the training paths (gradients on)
