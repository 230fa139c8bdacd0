"""Dense gradients by default, the sparse path inside ``fit``: ``sparse_embedding_grads`` switches
the tables and gives them back, ``fit`` trains a default model to the same numbers as a model
built with sparse gradients, and ``LazyAdam`` is correct Adam on dense embedding gradients."""

from __future__ import annotations

import contextlib

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ctr_helpers import train
from ctr_helpers.data import make_pairwise
from ctr_helpers.models import get_model
from ctr_helpers.optim import LazyAdam, make_optimizer, sparse_embedding_grads


def flags(model: nn.Module) -> list[bool]:
    return [m.sparse for m in model.modules() if isinstance(m, nn.Embedding | nn.EmbeddingBag)]


def test_context_switches_every_table_and_restores_each_ones_own_setting_on_error():
    model = nn.ModuleList(
        [nn.Embedding(5, 2, sparse=True), nn.Embedding(5, 2), nn.EmbeddingBag(5, 2)]
    )
    assert flags(model) == [True, False, False]
    with pytest.raises(RuntimeError, match="boom"), sparse_embedding_grads(model):
        assert flags(model) == [True, True, True]
        raise RuntimeError("boom")
    assert flags(model) == [True, False, False]
    with sparse_embedding_grads(model, False):
        assert flags(model) == [False, False, False]
    assert flags(model) == [True, False, False]


def test_model_sparse_property_reads_and_sets_the_tables():
    model = get_model("deepfm", [3, 4], embed_dim=2, hidden=(4,))
    assert not model.sparse and flags(model) == [False, False]
    model.sparse = True
    assert model.sparse and flags(model) == [True, True]


@pytest.fixture(scope="module")
def data():
    return make_pairwise(4000, seed=3)


FIT_CASES = [
    ("fm", {}, dict(emb_reg=0.0)),  # lazy row-wise steps
    ("fm", {}, dict(emb_reg=1e-3)),  # whole-table L2: dense Adam on the table
    ("deepfm", dict(hidden=(16, 16)), dict(emb_reg=0.0)),
    ("deepfm", dict(hidden=(16, 16)), dict(emb_reg=0.05, emb_l2="rows")),
]


def fitted(name, options, kw, data, **build):
    torch.manual_seed(0)
    model = get_model(name, data.field_dims, embed_dim=8, **options, **build)
    train.fit(model, data.train, data.val, epochs=2, batch_size=512, lr=3e-3, seed=0,
              progress=False, precision="fp32", **kw)  # fmt: skip
    return model


@pytest.mark.parametrize(("name", "options", "kw"), FIT_CASES)
def test_fit_trains_a_default_model_exactly_as_a_sparse_one(name, options, kw, data):
    """Same numbers as fit's path before dense became the default (models built sparse)."""
    dense = fitted(name, options, kw, data)
    sparse = fitted(name, options, kw, data, sparse=True)
    assert not dense.sparse and sparse.sparse  # each keeps its own setting
    a, b = dense.state_dict(), sparse.state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_without_the_sparse_path_the_numbers_differ(data, monkeypatch):
    """The check above can fail: fit on dense gradients (plain Adam) gives other weights."""
    monkeypatch.setattr(train, "_embedding_grads", lambda *a: contextlib.nullcontext())
    name, options, kw = FIT_CASES[0]
    dense = fitted(name, options, kw, data)
    monkeypatch.undo()
    sparse = fitted(name, options, kw, data, sparse=True)
    w = "embedding.embedding.weight"
    assert not torch.equal(dense.state_dict()[w], sparse.state_dict()[w])


def test_fit_with_a_plain_optimizer_keeps_dense_gradients(data):
    torch.manual_seed(0)
    model = get_model("fm", data.field_dims, embed_dim=4)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)  # fails on a sparse gradient
    hist = train.fit(model, data.train, epochs=2, optimizer=opt, progress=False)
    assert hist.epochs[-1]["train_loss"] < hist.epochs[0]["train_loss"]
    assert not model.sparse


def test_fit_gives_the_tables_back_after_an_error(data, monkeypatch):
    torch.manual_seed(0)
    model = get_model("fm", data.field_dims, embed_dim=4)
    seen = []

    def failing_epoch(model, *args):
        seen.append(flags(model))
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "_train_epoch", failing_epoch)
    with pytest.raises(KeyboardInterrupt):
        train.fit(model, data.train, epochs=2, progress=False)
    assert seen == [[True, True]] and flags(model) == [False, False]


def test_lazy_adam_on_dense_embedding_gradients_is_adam_with_l2():
    """A dense table gradient (the models' default): torch.optim.Adam with the same L2."""
    torch.manual_seed(0)
    ours_emb, ref_emb = nn.Embedding(8, 3), nn.Embedding(8, 3)
    ref_emb.load_state_dict(ours_emb.state_dict())
    ours = LazyAdam(ours_emb.parameters(), lr=0.05, weight_decay=0.1)
    ref = torch.optim.Adam(ref_emb.parameters(), lr=0.05, weight_decay=0.1)
    unused_before = ours_emb.weight.detach()[[5, 6, 7]].clone()
    for step in range(6):
        idx = torch.tensor([[0, 1, 1], [2, 3, 4]])[step % 2]  # rows 5..7 never used
        for emb, opt in ((ours_emb, ours), (ref_emb, ref)):
            opt.zero_grad()
            emb(idx).square().sum().backward()
            assert not emb.weight.grad.is_sparse
            opt.step()
    torch.testing.assert_close(ours_emb.weight, ref_emb.weight, rtol=1e-6, atol=1e-7)
    # L2 over the whole table: the rows no batch used shrink too
    assert (ours_emb.weight.detach()[[5, 6, 7]].abs() < unused_before.abs()).all()


def test_make_optimizer_on_a_default_model_is_adam_with_each_groups_l2():
    torch.manual_seed(0)
    ours_m = get_model("deepfm", [4, 5, 3], embed_dim=4, hidden=(8,), dropout=0.0)
    ref_m = get_model("deepfm", [4, 5, 3], embed_dim=4, hidden=(8,), dropout=0.0)
    ref_m.load_state_dict(ours_m.state_dict())
    ours = make_optimizer(ours_m, lr=1e-2, emb_reg=0.05, net_reg=1e-3)
    tables = {id(m.weight) for m in ref_m.modules() if isinstance(m, nn.Embedding)}
    ref = torch.optim.Adam(
        [
            dict(params=[p for p in ref_m.parameters() if id(p) in tables], weight_decay=0.05),
            dict(params=[p for p in ref_m.parameters() if id(p) not in tables], weight_decay=1e-3),
        ],
        lr=1e-2,
    )
    g = torch.Generator().manual_seed(1)
    for _ in range(5):
        x = torch.stack([torch.randint(0, d, (32,), generator=g) for d in (4, 5, 3)], 1)
        y = (x[:, 0] % 2).float()
        for model, opt in ((ours_m, ours), (ref_m, ref)):
            opt.zero_grad()
            F.binary_cross_entropy_with_logits(model(x), y).backward()
            opt.step()
    for (k, a), b in zip(ours_m.state_dict().items(), ref_m.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=k)


def test_row_wise_l2_on_a_dense_table_gradient_raises_before_any_weight_moves():
    torch.manual_seed(0)
    model = get_model("fm", [4, 5], embed_dim=3)
    opt = make_optimizer(model, lr=1e-2, emb_reg=0.01, emb_l2="rows")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = torch.tensor([[0, 1], [3, 4]]), torch.tensor([1.0, 0.0])
    F.binary_cross_entropy_with_logits(model(x), y).backward()
    with pytest.raises(ValueError, match=r"'embedding' group has l2_scope='rows'.*\(9, 1\)"):
        opt.step()
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    with sparse_embedding_grads(model):  # what the message suggests
        opt.zero_grad()
        F.binary_cross_entropy_with_logits(model(x), y).backward()
        opt.step()
    assert not torch.equal(model.embedding.embedding.weight, before["embedding.embedding.weight"])
