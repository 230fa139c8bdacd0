"""Tests for ctr_helpers.train: the lazy Adam, the losses, fit (early stopping, seeding, LR decay,
progress) and the prediction helpers. A tiny model defined here keeps them independent of
ctr_helpers.models and fast."""

from __future__ import annotations

import copy
import math
import os
import platform
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _threads import one_thread  # noqa: F401 (autouse: one torch thread here)
from torch import nn

import ctr_helpers.train as train_mod
from ctr_helpers import metrics, runtime
from ctr_helpers.train import (
    EarlyStopping,
    History,
    LazyAdam,
    _Batches,
    _demo_data,
    _make_loss,
    eval_batch_size,
    evaluate,
    fit,
    focal_loss,
    make_optimizer,
    precision_context,
    predict_logits,
    predict_proba,
    resolve_precision,
)


class TinyCTR(nn.Module):
    """Logistic term (width-1 embedding) + a small MLP over the field embeddings."""

    def __init__(self, field_dims, dim=4, hidden=16, dropout=0.1, sparse=True):
        super().__init__()
        offsets = torch.tensor([0, *np.cumsum(field_dims)[:-1].tolist()])
        self.register_buffer("offsets", offsets, persistent=False)
        n = int(sum(field_dims))
        self.linear = nn.Embedding(n, 1, sparse=sparse)
        self.emb = nn.Embedding(n, dim, sparse=sparse)
        self.bias = nn.Parameter(torch.zeros(1))
        self.mlp = nn.Sequential(
            nn.Linear(len(field_dims) * dim, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )

    def forward(self, x):
        x = x + self.offsets
        return self.linear(x).sum((1, 2)) + self.bias + self.mlp(self.emb(x).flatten(1)).squeeze(1)


FIELDS, VOCAB = 4, 12


@pytest.fixture(scope="module")
def data():
    x, y = _demo_data(6000, FIELDS, VOCAB, seed=7)
    return (x[:4000], y[:4000]), (x[4000:5000], y[4000:5000]), (x[5000:], y[5000:])


def new_model(seed=0, **kw):
    torch.manual_seed(seed)
    return TinyCTR([VOCAB] * FIELDS, **kw)


def assert_same_weights(a: nn.Module, b: nn.Module):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=0, atol=0, msg=k)


# --------------------------------------------------------------------------- optimiser


def test_lazy_adam_dense_matches_torch_adam():
    torch.manual_seed(0)
    w1 = nn.Parameter(torch.randn(5, 3))
    w2 = nn.Parameter(w1.detach().clone())
    ours = LazyAdam([w1], lr=0.01, weight_decay=0.1)
    ref = torch.optim.Adam([w2], lr=0.01, weight_decay=0.1)
    for step in range(5):
        target = torch.randn(5, 3, generator=torch.Generator().manual_seed(step))
        for w, opt in ((w1, ours), (w2, ref)):
            opt.zero_grad()
            ((w - target) ** 2).sum().backward()
            opt.step()
    torch.testing.assert_close(w1, w2)


@pytest.mark.parametrize("width", [1, 3])  # width 1 (the linear term) takes the flat path
def test_lazy_adam_sparse_equals_adam_when_every_row_is_used(width):
    torch.manual_seed(0)
    sparse = nn.Embedding(6, width, sparse=True)
    dense = nn.Embedding(6, width, sparse=False)
    dense.load_state_dict(sparse.state_dict())
    ours = LazyAdam(sparse.parameters(), lr=0.05, weight_decay=0.01)
    ref = torch.optim.Adam(dense.parameters(), lr=0.05, weight_decay=0.01)
    idx = torch.tensor([[0, 1, 2, 3, 4, 5, 2, 2]])  # every row, with repeats
    for _ in range(4):
        for emb, opt in ((sparse, ours), (dense, ref)):
            opt.zero_grad()
            (emb(idx) ** 3).sum().backward()
            opt.step()
    torch.testing.assert_close(sparse.weight, dense.weight)


@pytest.mark.parametrize("same_indices", [True, False])
def test_lazy_adam_tables_sharing_indices_step_as_if_alone(same_indices):
    # One optimiser over a linear table and an embedding of the same height (they share the
    # step's distinct-row bookkeeping when looked up with the same indices) must move both
    # exactly as one optimiser per table does; different indices of the same shape must not.
    torch.manual_seed(0)
    tables = [nn.Embedding(9, 1, sparse=True), nn.Embedding(9, 3, sparse=True)]
    alone = [copy.deepcopy(t) for t in tables]
    joint = LazyAdam([t.weight for t in tables], lr=0.05)
    single = [LazyAdam(t.parameters(), lr=0.05) for t in alone]
    g = torch.Generator().manual_seed(1)
    for _ in range(5):
        idx = torch.randint(0, 9, (12,), generator=g)
        other = idx if same_indices else torch.randint(0, 9, (12,), generator=g)
        for pair, opts in ((tables, [joint]), (alone, single)):
            for opt in opts:
                opt.zero_grad()
            ((pair[0](idx) ** 2).sum() + (pair[1](other) ** 3).sum()).backward()
            for opt in opts:
                opt.step()
    for t, a in zip(tables, alone, strict=True):
        torch.testing.assert_close(t.weight, a.weight, rtol=0, atol=0)


@pytest.mark.parametrize("width", [1, 2])
def test_lazy_adam_leaves_unused_rows_alone_and_regularises_used_rows(width):
    torch.manual_seed(0)
    emb = nn.Embedding(5, width, sparse=True)
    before = emb.weight.detach().clone()
    opt = LazyAdam(emb.parameters(), lr=0.1, weight_decay=1.0, l2_scope="rows")
    opt.zero_grad()
    (emb(torch.tensor([1, 3])) * 0).sum().backward()  # rows 1 and 3 present, zero data gradient
    opt.step()
    after = emb.weight.detach()
    unused = [0, 2, 4]
    torch.testing.assert_close(after[unused], before[unused], rtol=0, atol=0)
    assert torch.all(opt.state[emb.weight]["exp_avg"][unused] == 0)
    # The L2 gradient w pulls each used entry towards 0; Adam's first step moves it by ~lr.
    expected = before[[1, 3]] - 0.1 * torch.sign(before[[1, 3]])
    torch.testing.assert_close(after[[1, 3]], expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("width", [1, 3])
def test_whole_table_l2_on_sparse_grads_is_dense_adam_even_for_unused_rows(width):
    torch.manual_seed(0)
    sparse = nn.Embedding(8, width, sparse=True)
    dense = nn.Embedding(8, width, sparse=False)
    dense.load_state_dict(sparse.state_dict())
    unused_before = sparse.weight.detach()[[3, 4, 6]].clone()
    ours = LazyAdam(sparse.parameters(), lr=0.05, weight_decay=0.1)  # l2_scope="table"
    ref = torch.optim.Adam(dense.parameters(), lr=0.05, weight_decay=0.1)
    batches = [torch.tensor([0, 1, 1, 2]), torch.tensor([5, 5]), torch.tensor([0, 7, 2])]
    for idx in batches * 2:  # rows 3, 4 and 6 never appear: only the L2 term moves them
        for emb, opt in ((sparse, ours), (dense, ref)):
            opt.zero_grad()
            (emb(idx) ** 3).sum().backward()
            opt.step()
    torch.testing.assert_close(sparse.weight, dense.weight)
    # the L2 pull reached the rows no batch used, shrinking them towards 0
    assert (sparse.weight.detach()[[3, 4, 6]].abs() < unused_before.abs()).all()


def test_emb_l2_scope_is_checked_and_reaches_the_embedding_group():
    model = new_model()
    groups = {g["name"]: g for g in make_optimizer(model, emb_reg=0.1, emb_l2="rows").param_groups}
    assert groups["embedding"]["l2_scope"] == "rows"
    groups = {g["name"]: g for g in make_optimizer(model, emb_reg=0.1).param_groups}
    assert groups["embedding"]["l2_scope"] == "table"
    with pytest.raises(ValueError, match="emb_l2 must be 'table' or 'rows', got 'all'"):
        make_optimizer(model, emb_l2="all")
    with pytest.raises(ValueError, match="l2_scope"):
        LazyAdam(model.parameters(), l2_scope="everything")


def test_make_optimizer_groups_and_dense_models():
    model = new_model(sparse=False)
    opt = make_optimizer(model, lr=0.01, emb_reg=0.5, net_reg=0.25)
    emb_group, net_group = opt.param_groups
    assert {id(p) for p in emb_group["params"]} == {id(model.linear.weight), id(model.emb.weight)}
    assert emb_group["weight_decay"] == 0.5 and net_group["weight_decay"] == 0.25
    n_params = sum(len(g["params"]) for g in opt.param_groups)
    assert n_params == len(list(model.parameters()))
    state = opt.state_dict()
    assert [g["lr"] for g in state["param_groups"]] == [0.01, 0.01]
    make_optimizer(nn.Linear(3, 1))  # a model without embeddings is fine


# --------------------------------------------------------------------------- losses


def test_pos_weight_multiplies_the_loss_of_clicks():
    logits = torch.tensor([-2.0, -0.5, 0.3, 1.7, 0.0])
    y = torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0])
    p = torch.sigmoid(logits)
    k = 3.0
    by_hand = -(k * y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()
    torch.testing.assert_close(_make_loss("bce", k, 2.0)(logits, y), by_hand)
    # With pos_weight 1 it is plain BCE.
    torch.testing.assert_close(_make_loss("bce", 1.0, 2.0)(logits, y), F.binary_cross_entropy(p, y))


def test_focal_loss_follows_its_formula():
    logits = torch.tensor([-3.0, -0.5, 0.3, 2.5, 0.0, 4.0])
    y = torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0, 1.0])
    p = torch.sigmoid(logits)
    p_t = torch.where(y == 1, p, 1 - p)
    ce = F.binary_cross_entropy_with_logits(logits, y, reduction="none")
    for gamma in (0.0, 1.0, 2.0, 5.0):
        fl = focal_loss(logits, y, gamma=gamma, reduction="none")
        torch.testing.assert_close(fl, -((1 - p_t) ** gamma) * torch.log(p_t))
        torch.testing.assert_close(fl, (1 - p_t) ** gamma * ce)
    torch.testing.assert_close(focal_loss(logits, y, gamma=0.0), ce.mean())
    # Easy examples (p_t near 1) are down-weighted far more than hard ones.
    ratio = focal_loss(logits, y, gamma=2.0, reduction="none") / ce
    assert ratio[5] < 1e-3 < 0.5 < ratio[0]  # y=1 at logit 4 is easy, y=1 at logit -3 is hard
    # pos_weight multiplies the clicks' terms; fit's "focal" loss is this function.
    w = focal_loss(logits, y, gamma=2.0, pos_weight=4.0, reduction="none")
    torch.testing.assert_close(w, torch.where(y == 1, 4.0, 1.0) * (1 - p_t) ** 2 * ce)
    torch.testing.assert_close(_make_loss("focal", 4.0, 2.0)(logits, y), w.mean())
    with pytest.raises(ValueError, match="'bce' or 'focal'"):
        _make_loss("mse", None, 2.0)


def test_pos_weight_in_fit_scales_the_learned_odds():
    # One field of 5 values with known click rates; a logistic model trained with pos_weight k
    # converges to odds k times the true odds (the loss is that of data with k copies of each click).
    g = torch.Generator().manual_seed(0)
    rates = torch.tensor([0.05, 0.1, 0.2, 0.3, 0.5])
    x = torch.randint(0, 5, (5000, 1), generator=g)
    y = torch.bernoulli(rates[x[:, 0]], generator=g)
    emp = torch.stack([y[x[:, 0] == v].mean() for v in range(5)])
    grid = torch.arange(5)[:, None]
    for k in (1.0, 3.0):
        model = TinyCTR([5], dim=1, hidden=2, dropout=0.0)
        model.mlp[-1].weight.data.zero_()
        model.mlp[-1].bias.data.zero_()
        for p in model.mlp.parameters():
            p.requires_grad_(False)
        fit(model, (x, y), epochs=200, batch_size=len(x), lr=0.05, pos_weight=k, progress=False)
        q = torch.as_tensor(predict_proba(model, grid))
        odds_ratio = (q / (1 - q)) / (emp / (1 - emp))
        torch.testing.assert_close(odds_ratio, torch.full((5,), k), rtol=0.05, atol=0)


# --------------------------------------------------------------------------- fit


def test_fit_history_and_inputs(data):
    train, val, test = data
    split = SimpleNamespace(x=train[0], y=train[1])  # a CTRSplit-like object
    model = new_model()
    hist = fit(model, split, val, epochs=3, batch_size=512, lr=0.05, patience=5, progress=False)
    assert isinstance(hist, History) and len(hist.epochs) == 3
    frame = hist.to_frame()
    assert list(frame.columns) == ["train_loss", "val_auc", "val_logloss", "lr", "seconds"]
    assert frame.index.tolist() == [1, 2, 3]
    assert hist.best_val_auc == frame["val_auc"].max()
    assert hist.best_val_auc > 0.65  # the demo data has a strong signal
    assert not model.training
    res = evaluate(model, test)
    p = predict_proba(model, test[0])
    assert isinstance(p, np.ndarray) and p.shape == (len(test[0]),)
    assert res["auc"] == pytest.approx(metrics.auc(test[1], p))
    assert res["logloss"] == pytest.approx(metrics.logloss(test[1], p))
    torch.testing.assert_close(
        predict_logits(model, test[0], batch_size=7), predict_logits(model, test)
    )


def test_fit_without_validation_runs_all_epochs(data):
    train, _, _ = data
    hist = fit(new_model(), train, epochs=2, batch_size=1000, progress=False)
    assert len(hist.epochs) == 2 and hist.best_epoch == 2
    assert math.isnan(hist.epochs[0]["val_auc"])


def test_fit_rejects_bad_inputs(data):
    train, val, _ = data
    with pytest.raises(TypeError, match="LongTensor"):
        fit(new_model(), (train[0].float(), train[1]), progress=False)
    with pytest.raises(ValueError, match="shape"):
        fit(new_model(), (train[0], train[1][:-1]), progress=False)
    with pytest.raises(TypeError, match="CTRSplit"):
        fit(new_model(), train[0], progress=False)


def test_same_seed_same_run_different_seed_different_run(data):
    train, val, _ = data
    init = new_model()
    runs = []
    for seed in (3, 3, 4):
        model = copy.deepcopy(init)
        hist = fit(model, train, val, epochs=2, batch_size=500, lr=0.01, seed=seed, progress=False)
        runs.append((model, [{k: v for k, v in e.items() if k != "seconds"} for e in hist.epochs]))
    assert_same_weights(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]
    assert not torch.equal(runs[0][0].emb.weight, runs[2][0].emb.weight)


def test_early_stopping_restores_the_best_epochs_weights(data):
    # A large learning rate on a small training set overfits: validation AUC peaks early.
    train, val, _ = data
    small = (train[0][:600], train[1][:600])
    init = new_model(dim=8, hidden=64)
    kw = dict(batch_size=100, lr=0.05, patience=2, seed=1, progress=False)
    model = copy.deepcopy(init)
    hist = fit(model, small, val, epochs=40, **kw)
    assert hist.stopped_early
    last = len(hist.epochs)
    assert hist.best_epoch == last - 2  # patience 2: two epochs without improvement
    aucs = [e["val_auc"] for e in hist.epochs]
    assert hist.best_val_auc == max(aucs) and max(aucs) > aucs[-1]
    # LR x0.1 after each epoch without improvement.
    lrs = [e["lr"] for e in hist.epochs]
    # (each row logs the LR the epoch trained with: the best epoch's, then one decay)
    assert lrs[-2] == lrs[-3] and lrs[-1] == pytest.approx(lrs[-2] * 0.1)
    # The restored weights are exactly those of a run stopped at the best epoch.
    ref = copy.deepcopy(init)
    fit(ref, small, val, epochs=hist.best_epoch, **kw)
    assert_same_weights(model, ref)
    assert evaluate(model, val)["auc"] == pytest.approx(hist.best_val_auc, abs=1e-12)


def test_lr_never_goes_below_min_lr(data):
    train, val, _ = data
    small = (train[0][:300], train[1][:300])
    hist = fit(
        new_model(), small, val, epochs=8, lr=1e-3, lr_decay=0.1, min_lr=1e-5, patience=100,
        batch_size=100, progress=False,
    )  # fmt: skip
    assert min(e["lr"] for e in hist.epochs) >= 1e-5


# --------------------------------------------------------------------------- progress


def test_progress_is_one_updating_line(data, capsys, monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)  # CI sets it; this test needs the bar
    train, val, _ = data
    fit(new_model(), train, val, epochs=3, batch_size=200, progress=True)
    err = capsys.readouterr().err
    assert err.count("\n") <= 1  # one bar redrawn with \r, not a line per batch or epoch
    # tqdm throttles redraws (mininterval), so a fast machine may draw only the first and last
    # frames; the last frame must carry the final epoch's numbers on the same line.
    assert err.count("\r") >= 2
    last = err.rsplit("\r", 1)[-1]
    assert "epoch=3" in last and "val_auc" in last and "loss=" in last


def test_progress_off_when_not_interactive_or_disabled(data, capsys, monkeypatch):
    train, _, _ = data
    fit(new_model(), train, epochs=1, batch_size=1000)  # stderr is captured: not a terminal
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("TQDM_DISABLE", "1")
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    fit(new_model(), train, epochs=1, batch_size=1000)
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------- precision


def test_resolve_precision_explicit_env_and_errors(monkeypatch):
    assert resolve_precision("fp32") == "fp32"
    assert resolve_precision("bf16") == "bf16"
    with pytest.warns(FutureWarning, match='"auto".* deprecated and now means "fp32"'):
        assert resolve_precision("auto", "cuda") == "fp32"  # auto: a deprecated alias of fp32
    with pytest.warns(FutureWarning):
        assert resolve_precision("auto") in ("fp32", "bf16")
    monkeypatch.setenv("CTR_PRECISION", "fp32")
    assert resolve_precision() == "fp32"
    monkeypatch.setenv("CTR_PRECISION", "bf16")
    assert resolve_precision() == "bf16"
    monkeypatch.setenv("CTR_PRECISION", "half")
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision()
    with pytest.raises(ValueError, match="'fp16'"):
        resolve_precision("fp16")


def test_bf16_context_changes_matmuls_only_for_models_that_have_them():
    model = new_model().eval()
    with precision_context("bf16", model=model):
        assert torch.is_autocast_enabled("cpu")
        assert model.mlp[0](torch.randn(2, FIELDS * 4)).dtype == torch.bfloat16
    no_linear = nn.Sequential(nn.Embedding(5, 2))
    with precision_context("bf16", model=no_linear):
        assert not torch.is_autocast_enabled("cpu")
    with precision_context("fp32", model=model):
        assert not torch.is_autocast_enabled("cpu")


def test_bf16_predictions_stay_close_to_fp32_and_are_float32(data):
    train, val, _ = data
    model = new_model()
    fit(model, train, epochs=1, batch_size=500, progress=False, precision="fp32")
    p32 = predict_logits(model, val, precision="fp32")
    p16 = predict_logits(model, val, precision="bf16")
    assert p16.dtype == torch.float32
    assert not torch.equal(p32, p16)  # bf16 really ran
    torch.testing.assert_close(p16, p32, atol=0.05, rtol=0.02)


def test_fit_in_bf16_learns_like_fp32_and_records_its_precision(data):
    train, val, test = data
    scores = {}
    for precision in ("fp32", "bf16"):
        model = new_model()
        hist = fit(
            model, train, val, epochs=3, batch_size=512, lr=0.05, patience=5, progress=False,
            precision=precision,
        )  # fmt: skip
        assert hist.precision == precision
        scores[precision] = evaluate(model, test, precision=precision)["auc"]
    assert scores["fp32"] > 0.65
    assert abs(scores["bf16"] - scores["fp32"]) < 0.01, scores


# --------------------------------------------------------------------------- malloc

_GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

_FIT_SCRIPT = """
import sys, torch
from ctr_helpers.models import get_model
from ctr_helpers.train import _demo_data, fit, keep_freed_memory
(x, y), val = _demo_data(3000, 5, 7, seed=3), _demo_data(1000, 5, 7, seed=4)
torch.manual_seed(0)
model = get_model("xdeepfm", [7] * 5, embed_dim=4, hidden=(16,), cin_layers=(8, 8))
fit(model, (x, y), val, epochs=2, batch_size=512, seed=1, progress=False)
print(keep_freed_memory())
torch.save(model.state_dict(), sys.argv[1])
"""


@pytest.mark.skipif(not _GLIBC, reason="malloc tuning applies to Linux with glibc only")
def test_keep_freed_memory_applies_once_and_changes_no_number(tmp_path):
    # Each run in its own process: the tuning is process-wide and cannot be undone.
    results = {}
    for setting in ("1", "0"):
        out = tmp_path / f"weights_{setting}.pt"
        env = dict(os.environ, CTR_MALLOC_TUNING=setting, CTR_PRECISION="fp32")
        done = subprocess.run(
            [sys.executable, "-c", _FIT_SCRIPT, str(out)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        results[setting] = (done.stdout.split()[-1], torch.load(out))
    assert results["1"][0] == "True" and results["0"][0] == "False"
    tuned, plain = results["1"][1], results["0"][1]
    assert tuned.keys() == plain.keys()
    for name in tuned:
        assert torch.equal(tuned[name], plain[name]), name


# --------------------------------------------------------------------------- issue 16: precision


def test_precision_is_float32_by_default_even_on_a_cpu_with_native_bf16(data, monkeypatch):
    monkeypatch.delenv("CTR_PRECISION", raising=False)
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: True)  # a Xeon/EPYC with bf16
    assert resolve_precision() == "fp32"
    train, val, _ = data
    assert fit(new_model(), train, val, epochs=1, batch_size=1000, progress=False).precision == (
        "fp32"
    )
    monkeypatch.setenv("CTR_PRECISION", "bf16")  # the opt-in by environment ...
    assert fit(new_model(), train, epochs=1, batch_size=1000, progress=False).precision == "bf16"
    monkeypatch.delenv("CTR_PRECISION")  # ... or by argument
    hist = fit(new_model(), train, epochs=1, batch_size=1000, progress=False, precision="bf16")
    assert hist.precision == "bf16"


# --------------------------------------------------------------------------- issue 16: AUC


class FixedLogits(nn.Module):
    """Row ``i``'s logit is ``logits[x[i, 0]]``: one field whose value picks a stored logit."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.table = nn.Embedding(len(logits), 1)
        with torch.no_grad():
            self.table.weight.copy_(logits[:, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.table(x[:, 0]).squeeze(1)


def test_auc_comes_from_logits_so_saturated_probabilities_do_not_tie():
    n = 200
    z = torch.linspace(20.0, 30.0, n)  # distinct logits whose float32 sigmoids are all 1.0
    assert torch.all(torch.sigmoid(z) == 1.0)
    y = (torch.arange(n) >= n // 2).float()  # the larger logits are the clicks: perfect ranking
    x = torch.arange(n)[:, None]
    assert metrics.auc(y, torch.sigmoid(z)) == 0.5  # what the float32 probabilities would say
    model = FixedLogits(z)
    assert evaluate(model, (x, y))["auc"] == 1.0
    frozen = torch.optim.SGD(model.parameters(), lr=0.0)  # the logits stay as they are
    hist = fit(model, (x, y), (x, y), epochs=1, optimizer=frozen, progress=False)
    assert hist.epochs[0]["val_auc"] == 1.0
    torch.testing.assert_close(model.table.weight[:, 0], z, rtol=0, atol=0)


def test_logloss_comes_from_logits_in_float64():
    # Non-clicks at logits 9..15: their loss is softplus(z). float32 sigmoids keep 1 - p to
    # ~6e-8 absolute only, a relative error of up to ~1e-2 at z = 15.
    z = torch.linspace(9.0, 15.0, 64)
    y = torch.zeros(64)
    y[:2] = 1  # two clicks so that AUC is defined
    x = torch.arange(64)[:, None]
    exact = np.mean(np.where(y.numpy() == 1, 0, 1) * np.logaddexp(0, z.double().numpy())
                    + y.numpy() * np.logaddexp(0, -z.double().numpy()))  # fmt: skip
    got = evaluate(FixedLogits(z), (x, y))["logloss"]
    assert got == pytest.approx(exact, rel=1e-12)
    via_float32 = metrics.logloss(y, torch.sigmoid(z))
    assert abs(via_float32 - exact) > 1e-6  # the float32 route is measurably off


# --------------------------------------------------------------------------- issue 16: fit edges


@pytest.mark.parametrize(
    "n, batch_size, world, sizes",
    [
        (4000, 512, 1, [512] * 7 + [416]),  # a final batch of 416 rows: as before
        (202_027, 4096, 1, [4096] * 49 + [1323]),  # Frappe's training split: as before
        (4097, 4096, 1, [4097]),  # the single last row joins the batch before it
        (4097, 2048, 1, [2048, 2049]),
        (8195, 4096, 2, [2048, 2049]),  # per process under torchrun: 4,097 rows each
    ],
)
def test_batches_are_todays_slices_except_that_a_one_row_tail_joins_the_last(
    n, batch_size, world, sizes
):
    seed = 5
    for rank in range(world):
        rows = torch.arange(n)
        batches = _Batches(rows[:, None], rows.float(), batch_size, seed, rank, world)
        got = [xb[:, 0] for xb, _ in batches.epoch(torch.device("cpu"))]
        assert [len(b) for b in got] == sizes and batches.n_batches == len(sizes)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        expected = perm[rank::world][: n // world]  # the permutation, cut in order
        assert torch.equal(torch.cat(got), expected)
        if sizes[-1] != batch_size // world + 1:  # no merge: the same slices as before
            size = batch_size // world
            assert all(
                torch.equal(b, expected[i * size : (i + 1) * size]) for i, b in enumerate(got)
            )


def test_fit_trains_through_a_final_batch_of_one_row(monkeypatch):
    x, y = _demo_data(4097, FIELDS, VOCAB, seed=3)
    sizes = []
    real_step = train_mod._train_step

    def counting_step(net, opt, loss_fn, xb, yb, *rest):
        sizes.append(len(yb))
        return real_step(net, opt, loss_fn, xb, yb, *rest)

    monkeypatch.setattr(train_mod, "_train_step", counting_step)
    model = new_model()  # has batch norm: a 1-row training batch would crash it
    hist = fit(model, (x, y), epochs=2, batch_size=4096, progress=False)
    assert sizes == [4097, 4097] and math.isfinite(hist.epochs[-1]["train_loss"])


def test_fit_refuses_fewer_than_two_rows_per_process(monkeypatch):
    x, y = _demo_data(3, FIELDS, VOCAB, seed=3)
    y = torch.tensor([0.0, 1.0, 0.0])
    monkeypatch.setattr(train_mod.distributed, "setup", lambda: (0, 2, None))  # 2 processes
    with pytest.raises(ValueError, match=r"train has 3 row\(s\) for 2 process\(es\)"):
        fit(new_model(), (x, y), progress=False)


def test_a_split_with_one_class_or_other_labels_is_refused_by_name(data):
    train, val, _ = data
    with pytest.raises(ValueError, match=r"val split has a single class \(all 0, 1000 rows\)"):
        fit(new_model(), train, (val[0], torch.zeros(1000)), progress=False)
    with pytest.raises(ValueError, match=r"train split has a single class \(all 1, 4000 rows\)"):
        fit(new_model(), (train[0], torch.ones(4000)), val, progress=False)
    with pytest.raises(ValueError, match=r"data split has a single class \(all 0, 1000 rows\)"):
        evaluate(new_model(), (val[0], torch.zeros(1000)))
    labels = val[1].clone()
    labels[3] = 2
    with pytest.raises(ValueError, match=r"val\.y must hold 0/1 labels; row 3 has 2"):
        fit(new_model(), train, (val[0], labels), progress=False)


def test_early_stopping_refuses_a_nan_metric():
    model = nn.Linear(1, 1)
    stop = EarlyStopping(model, torch.optim.SGD(model.parameters(), lr=1.0))
    stop.step(1, 0.7)
    with pytest.raises(ValueError, match="validation metric of epoch 2 is NaN"):
        stop.step(2, float("nan"))


def _interrupt_in_epoch_3(monkeypatch, how: str) -> None:
    """Make ``fit`` fail in epoch 3, after that epoch's training changed the weights."""
    real_epoch, real_predict = train_mod._train_epoch, train_mod.predict_logits
    calls = {"epoch": 0, "predict": 0}

    def epoch(*args, **kw):
        loss = real_epoch(*args, **kw)
        calls["epoch"] += 1
        if calls["epoch"] == 3:
            if how == "ctrl-c":
                raise KeyboardInterrupt
            if how == "nan loss":
                return float("nan")
        return loss

    def predict(*args, **kw):
        logits = real_predict(*args, **kw)
        calls["predict"] += 1
        return logits * float("nan") if how == "nan logits" and calls["predict"] == 3 else logits

    monkeypatch.setattr(train_mod, "_train_epoch", epoch)
    monkeypatch.setattr(train_mod, "predict_logits", predict)


@pytest.mark.parametrize(
    "how, error",
    [
        ("ctrl-c", KeyboardInterrupt),
        ("nan loss", FloatingPointError),
        ("nan logits", FloatingPointError),
    ],
)
def test_interrupted_or_diverged_fit_restores_the_best_weights_and_keeps_the_history(
    data, monkeypatch, how, error
):
    train, val, _ = data
    init = new_model()
    kw = dict(batch_size=500, lr=0.02, patience=10, seed=2, progress=False)
    model = copy.deepcopy(init)
    _interrupt_in_epoch_3(monkeypatch, how)
    with pytest.raises(error) as info:
        fit(model, train, val, epochs=10, **kw)
    monkeypatch.undo()
    hist = info.value.history
    assert isinstance(hist, History) and [e["epoch"] for e in hist.epochs] == [1, 2]
    assert hist.interrupted.startswith(error.__name__)
    aucs = [e["val_auc"] for e in hist.epochs]
    assert hist.best_epoch == 1 + int(np.argmax(aucs)) and hist.best_val_auc == max(aucs)
    assert not model.training
    reference = copy.deepcopy(init)
    fit(reference, train, val, epochs=hist.best_epoch, **kw)
    state, ref_state = model.state_dict(), reference.state_dict()
    assert state.keys() == ref_state.keys()
    assert all(torch.equal(state[k], ref_state[k]) for k in state), "not the best epoch's weights"


# --------------------------------------------------------------------------- issue 16: eval batch


class WideHidden(nn.Module):
    """Its largest intermediates are ``[B, 1000]`` float32: 4,000 bytes per row."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 4)
        self.wide = nn.Linear(FIELDS * 4, 1000)
        self.out = nn.Linear(1000, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.wide(self.emb(x).flatten(1)))).squeeze(1)


def test_eval_batch_keeps_the_largest_intermediate_within_the_budget(monkeypatch):
    torch.manual_seed(0)
    model, (x, _) = WideHidden(), _demo_data(2000, FIELDS, VOCAB, seed=1)
    assert eval_batch_size(model, x, budget=4000 * 300) == 300
    assert eval_batch_size(model, x) == train_mod.EVAL_BATCH  # 256 MiB / 4 kB: the cap
    # predict_logits sizes its batches by the budget (one 256-row probe first)
    monkeypatch.setattr(runtime, "EVAL_MEMORY_BUDGET", 4000 * 300)
    seen = []
    model.register_forward_pre_hook(lambda m, args: seen.append(len(args[0])))
    logits = predict_logits(model, x)
    assert seen == [256] + [300] * 6 + [200]
    torch.testing.assert_close(logits, predict_logits(model, x, batch_size=7))


def test_cin_at_criteo_shape_gets_a_small_eval_batch():
    from ctr_helpers.models import get_model

    torch.manual_seed(0)
    dims = [10] * 39  # Criteo's 39 fields (the vocabulary does not change activation sizes)
    model = get_model("xdeepfm", dims, embed_dim=16, cin_layers=(200, 200, 200)).eval()
    x = torch.randint(0, 10, (2000, 39))
    assert eval_batch_size(model, x) < 1024  # ~0.5 MB per row of outer product
    budget = 32 * 2**20
    rows = eval_batch_size(model, x, budget=budget)
    for n, within in ((rows, True), (2 * rows, False)):  # the largest tensor fits, and tightly
        probe = runtime._LargestNewTensor()
        with torch.inference_mode(), probe:
            model(x[:n])
        assert (probe.nbytes <= budget) == within, (n, probe.nbytes, budget)


# --------------------------------------------------------------------------- issue 16: malloc

_MALLOC_PROBE = """
import os, torch
from ctr_helpers.models import get_model
from ctr_helpers.train import _demo_data, fit
(x, y), val = _demo_data(2000, 5, 7, seed=3), _demo_data(500, 5, 7, seed=4)
fit(get_model("fm", [7] * 5), (x, y), val, epochs=1, progress=False)
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
block = torch.ones(300 * 2**20 // 4)  # 300 MiB
before = rss()
del block
print((before - rss()) / 2**20)  # MiB given back to the system at once
"""


@pytest.mark.skipif(not _GLIBC, reason="malloc tuning applies to Linux with glibc only")
def test_fit_leaves_malloc_alone_unless_asked():
    returned = {}
    for setting in ("unset", "1"):
        env = {k: v for k, v in os.environ.items() if k != "CTR_MALLOC_TUNING"}
        if setting != "unset":
            env["CTR_MALLOC_TUNING"] = setting
        done = subprocess.run(
            [sys.executable, "-c", _MALLOC_PROBE], env=env, capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        returned[setting] = float(done.stdout.split()[-1])
    assert returned["unset"] > 250, returned  # glibc's default: a freed big block goes back
    assert returned["1"] < 50, returned  # opted in: fit tuned malloc, the block stays for reuse
