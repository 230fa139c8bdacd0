"""Every model with plain PyTorch: built with its defaults, trained by ``torch.optim.Adam`` and
``AdamW`` on ``model.parameters()`` in a hand-written loop, and by ``fit``. Each lowers the loss.

Options only shrink the networks (hidden sizes, attention and CIN widths) to keep this fast;
the embedding tables keep their default: dense gradients.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ctr_helpers.data import make_pairwise
from ctr_helpers.models import MODELS, get_model
from ctr_helpers.train import evaluate, fit

SMALL = dict(hidden=(16, 16))
OPTIONS: dict[str, dict] = {
    "lr": {},
    "fm": {},
    "ffm": {},
    "dnn": SMALL,
    "deepfm": SMALL,
    "xdeepfm": dict(SMALL, cin_layers=(8,)),
    "dcn": dict(SMALL, num_cross_layers=2),
    "dcnv2": dict(SMALL, num_cross_layers=2),
    "autoint": dict(num_attention_layers=2, num_heads=2, attention_dim=8),
    "autoint+": dict(SMALL, num_attention_layers=2, num_heads=2, attention_dim=8),
    "fibinet": SMALL,
}
OPTIMIZERS = {"Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW}
STEPS = 30
# A model whose weights do not move keeps its loss exactly (the loss is measured with the same
# batch and dropout masks), so any fixed margin separates "learns" from "does not". 0.02 nats is
# a few percent of the starting loss (~0.69) and every model clears it several times over.
MARGIN = 0.02


@pytest.fixture(scope="module")
def data():
    return make_pairwise(3000, seed=11, n_fields=4, cardinality=12)


def build(name: str, data) -> nn.Module:
    torch.manual_seed(0)
    return get_model(name, data.field_dims, embed_dim=8, **OPTIONS[name])


def test_options_cover_every_model():
    assert set(OPTIONS) == set(MODELS)


@torch.no_grad()
def batch_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Training-mode loss with fixed dropout masks, so that before and after compare."""
    torch.manual_seed(123)
    return float(F.binary_cross_entropy_with_logits(model(x), y))


@pytest.mark.parametrize("opt_name", OPTIMIZERS)
@pytest.mark.parametrize("name", list(MODELS))
def test_plain_optimizer_lowers_the_loss(name, opt_name, data):
    model = build(name, data).train()
    assert not model.sparse  # the default: dense gradients
    opt = OPTIMIZERS[opt_name](model.parameters(), lr=1e-2)  # plain PyTorch
    x, y = data.train.x[:512], data.train.y[:512]
    before = batch_loss(model, x, y)
    for step in range(STEPS):
        loss = F.binary_cross_entropy_with_logits(model(x), y)
        opt.zero_grad()
        loss.backward()
        if step == 0:  # every weight gets a dense gradient; the embedding tables a non-zero one
            for pname, p in model.named_parameters():
                assert p.grad is not None and not p.grad.is_sparse, pname
            for m in model.modules():
                if isinstance(m, nn.Embedding):
                    assert m.weight.grad.abs().sum() > 0
        opt.step()
    after = batch_loss(model, x, y)
    assert after < before - MARGIN, (before, after)


@pytest.mark.parametrize("name", list(MODELS))
def test_fit_lowers_the_loss_and_leaves_a_plain_model(name, data):
    model = build(name, data)
    before = evaluate(model, data.train)["logloss"]
    hist = fit(model, data.train, epochs=6, batch_size=128, lr=3e-3, progress=False)
    after = evaluate(model, data.train)["logloss"]
    assert after < before - MARGIN, (before, after)
    assert hist.epochs[-1]["train_loss"] < hist.epochs[0]["train_loss"]
    # fit trained with sparse gradients and gave the tables back dense: plain Adam still works
    assert not model.sparse
    opt = torch.optim.Adam(model.parameters())
    model.train()
    F.binary_cross_entropy_with_logits(model(data.train.x[:64]), data.train.y[:64]).backward()
    opt.step()
