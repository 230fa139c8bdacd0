"""Every option that switches between what BARS ran (FuxiCTR v1.1.0; v1.2.2 for AutoInt and
AutoInt+) and the other form (the paper's, or this package's before issue #17): its default, the
parameters it adds or removes (exactly those, nothing else), and where it acts in the forward
pass (shared weights: equal outputs once the option's part is neutralised, different otherwise).
Then the training protocol (gradient clipping, ``min_delta``, what ``bench`` passes) and the
Frappe_x1 parameter counts against BARS's logged ones, exactly, every difference explained.
``docs/deviations.md`` is the table of all of them.
"""

from __future__ import annotations

import copy
import inspect
import math

import pytest
import torch
import torch.nn.functional as F_
from torch import nn
from torch.testing import assert_close

from ctr_helpers import bench, init, layers, models, optim
from ctr_helpers import data as D
from ctr_helpers.data.frappe import FRAPPE_DIMS
from ctr_helpers.models import count_parameters, get_model
from ctr_helpers.train import EarlyStopping, _demo_data, fit

FIELD_DIMS = [3, 5, 2, 4]
D_EMB = 4
SMALL = dict(hidden=(8, 6))
N_FEATURES = sum(FIELD_DIMS)


def build(name: str, seed: int = 0, **options) -> models.CTRModel:
    torch.manual_seed(seed)
    return get_model(name, FIELD_DIMS, embed_dim=D_EMB, **options)


def random_x(batch: int = 32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, d, (batch,), generator=g) for d in FIELD_DIMS], dim=1)


def randomized(model: nn.Module, std: float = 0.3, seed: int = 1) -> nn.Module:
    """float64, eval mode, O(1) random weights and batch-norm statistics (the N(0, 1e-4^2)
    embeddings would make any two forms agree)."""
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


def shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {name: tuple(p.shape) for name, p in model.named_parameters()}


def numel(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


# ------------------------------------------------------------------ defaults and parameter sets
# (model, option, BARS's value = the default, the other value, options for both builds)
OPTIONS = [
    ("ffm", "diagonal_slot", False, True, {}),
    ("deepfm", "linear_bias", False, True, SMALL),
    ("xdeepfm", "linear_bias", False, True, dict(SMALL, cin_layers=(3, 5))),
    ("xdeepfm", "cin_bias", True, False, dict(SMALL, cin_layers=(3, 5))),
    ("fibinet", "linear_bias", False, True, SMALL),
    ("fibinet", "shared_bilinear", True, False, SMALL),
    ("fibinet", "senet_activation", "relu", "sigmoid", SMALL),
    ("autoint", "attention_dropout", None, 0.0, dict(num_attention_layers=2, attention_dim=8)),
    ("autoint+", "attention_dropout", None, 0.0, dict(SMALL, num_attention_layers=2)),
]
IDS = [f"{name}-{option}" for name, option, *_ in OPTIONS]

# What the other value adds (+) to or removes (-) from the BARS form: {parameter: shape}
EXPECTED_CHANGE = {
    # one more slot per feature: [n, (F - 1) D] -> [n, F D]
    "ffm-diagonal_slot": "table",
    "deepfm-linear_bias": {"+linear.bias": ()},
    "xdeepfm-linear_bias": {"+linear.bias": ()},
    "xdeepfm-cin_bias": {"-cin.compress.0.bias": (3,), "-cin.compress.1.bias": (5,)},
    "fibinet-linear_bias": {"+linear.bias": ()},
    "fibinet-shared_bilinear": {"+bilinear_se.weight": (D_EMB, D_EMB)},  # field_all: D x D
    "fibinet-senet_activation": {},
    "autoint-attention_dropout": {},
    "autoint+-attention_dropout": {},
}


@pytest.mark.parametrize("name, option, bars, other, options", OPTIONS, ids=IDS)
def test_the_default_is_what_bars_ran(name, option, bars, other, options):
    assert inspect.signature(models.MODELS[name]).parameters[option].default == bars
    assert shapes(build(name, **options)) == shapes(build(name, **options, **{option: bars}))


@pytest.mark.parametrize("name, option, bars, other, options", OPTIONS, ids=IDS)
def test_the_option_changes_exactly_its_own_parameters(name, option, bars, other, options):
    ours, theirs = shapes(build(name, **options)), shapes(build(name, **options, **{option: other}))
    change = EXPECTED_CHANGE[f"{name}-{option}"]
    if change == "table":  # FFM: the same parameters, the field-aware table one slot wider
        key = "ffm.embedding.embedding.embedding.weight"
        F = len(FIELD_DIMS)
        assert ours.pop(key) == (N_FEATURES, (F - 1) * D_EMB)
        assert theirs.pop(key) == (N_FEATURES, F * D_EMB)
        assert ours == theirs
        delta = N_FEATURES * D_EMB  # n * D: one D-vector per feature
    else:
        added = {k[1:]: s for k, s in change.items() if k[0] == "+"}
        removed = {k[1:]: s for k, s in change.items() if k[0] == "-"}
        assert {k: s for k, s in theirs.items() if k not in ours} == added
        assert {k: s for k, s in ours.items() if k not in theirs} == removed
        assert {k: s for k, s in ours.items() if k in theirs} == {
            k: s for k, s in theirs.items() if k in ours
        }
        delta = sum(map(numel, added.values())) - sum(map(numel, removed.values()))
    assert (
        count_parameters(build(name, **options, **{option: other}))
        - count_parameters(build(name, **options))
        == delta
    )


# ------------------------------------------------------------------------------ forward passes
@pytest.mark.parametrize("name", ["deepfm", "xdeepfm", "fibinet"])
def test_linear_bias_only_shifts_the_logit(name):
    bars = randomized(build(name, **SMALL))
    other = build(name, **SMALL, linear_bias=True).double().eval()
    missing, unexpected = other.load_state_dict(bars.state_dict(), strict=False)
    assert missing == ["linear.bias"] and unexpected == []
    x = random_x()
    with torch.no_grad():
        other.linear.bias.zero_()
        assert_close(other(x), bars(x))  # bias 0: the same model
        other.linear.bias.fill_(0.7)
        assert_close(other(x) - bars(x), torch.full((len(x),), 0.7, dtype=torch.float64))


def test_cin_bias_acts_only_through_the_compression_biases():
    options = dict(SMALL, cin_layers=(3, 5))
    bars = randomized(build("xdeepfm", **options))  # cin_bias=True
    paper = build("xdeepfm", **options, cin_bias=False).double().eval()
    missing, unexpected = paper.load_state_dict(bars.state_dict(), strict=False)
    assert missing == [] and unexpected == ["cin.compress.0.bias", "cin.compress.1.bias"]
    x = random_x()
    with torch.no_grad():
        assert not torch.allclose(bars(x), paper(x))  # non-zero biases: different
        for conv in bars.cin.compress:
            conv.bias.zero_()
        assert_close(bars(x), paper(x))  # zero biases: the paper's formula


def test_shared_bilinear_is_two_bilinear_layers_with_equal_weights():
    # sigmoid gates keep the SENet branch alive (random ReLU gates can all be 0 on 4 fields)
    options = dict(SMALL, senet_activation="sigmoid")
    bars = randomized(build("fibinet", **options))  # one layer for both branches
    assert bars.bilinear_se is None
    two = build("fibinet", **options, shared_bilinear=False).double().eval()
    missing, unexpected = two.load_state_dict(bars.state_dict(), strict=False)
    assert missing == ["bilinear_se.weight"] and unexpected == []
    x = random_x()
    with torch.no_grad():
        two.bilinear_se.weight.copy_(bars.bilinear.weight)
        assert_close(two(x), bars(x))
        two.bilinear_se.weight.add_(0.1)  # only the SENet branch's matrix differs
        assert not torch.allclose(two(x), bars(x))
        two.bilinear.weight.add_(0.1)  # then the raw branch's too: equal again
        bars.bilinear.weight.add_(0.1)
        assert_close(two(x), bars(x))


def test_senet_activation_is_the_last_activation_only():
    bars = randomized(build("fibinet", **SMALL))  # ReLU
    sigmoid = build("fibinet", **SMALL, senet_activation="sigmoid").double().eval()
    sigmoid.load_state_dict(bars.state_dict())  # the same parameters
    x = random_x()
    with torch.no_grad():
        assert not torch.allclose(bars(x), sigmoid(x))
        z = bars.embedding(x).mean(dim=2)
        pre = torch.relu(z @ bars.senet.excite[0].weight.T) @ bars.senet.excite[2].weight.T
        assert_close(bars.field_gates(x), torch.relu(pre))
        assert_close(sigmoid.field_gates(x), torch.sigmoid(pre))
        bars.senet.excite[3] = nn.Sigmoid()  # swap the last activation: the other model
        assert_close(bars(x), sigmoid(x))


def test_relu_gates_start_near_zero_sigmoid_gates_at_one_half():
    # at the N(0, 1e-4^2) init the squeeze is ~1e-4, so ReLU gates start ~1e-4 (the SENet branch
    # nearly silent), sigmoid gates at 0.5 (BARS's FiBiNET starts from the former)
    x = random_x()
    relu_gates = build("fibinet", **SMALL).eval().field_gates(x)
    sigmoid_gates = build("fibinet", **SMALL, senet_activation="sigmoid").eval().field_gates(x)
    assert relu_gates.max() < 1e-2
    assert_close(sigmoid_gates, torch.full_like(sigmoid_gates, 0.5), atol=1e-3, rtol=0)


def test_ffm_diagonal_slot_holds_an_unused_vector():
    bars = randomized(build("ffm"))  # F - 1 slots
    libffm = build("ffm", diagonal_slot=True).double().eval()
    F = len(FIELD_DIMS)
    small = bars.ffm.embedding.embedding.embedding.weight.view(N_FEATURES, F - 1, D_EMB)
    field_of_row = torch.repeat_interleave(torch.arange(F), torch.tensor(FIELD_DIMS))
    with torch.no_grad():
        libffm.linear.load_state_dict(bars.linear.state_dict())
        big = libffm.ffm.embedding.embedding.embedding.weight.view(N_FEATURES, F, D_EMB)
        big.normal_(0, 5.0)  # the diagonal slots keep these: never read
        for r, f in enumerate(field_of_row.tolist()):
            for g in range(F):
                if g != f:
                    big[r, g] = small[r, g - (g > f)]
        x = random_x()
        assert_close(libffm(x), bars(x))
        libffm.train()  # the training path (gradients on) agrees too
    assert_close(libffm(x), bars(x).detach())
    with torch.no_grad():
        big[0, 1] += 1.0  # an off-diagonal slot (row 0 is field 0's): now they differ
        assert not torch.allclose(libffm(x), bars(x))


def test_attention_dropout_defaults_to_the_models_dropout_in_every_layer():
    plus = build("autoint+")  # dropout 0.1 (BARS AutoInt+ net_dropout)
    for layer in plus.attention:
        assert isinstance(layer.attention_dropout, nn.Dropout) and layer.attention_dropout.p == 0.1
    assert all(
        isinstance(layer.attention_dropout, nn.Identity) for layer in build("autoint").attention
    )
    for model in (
        build("autoint+", attention_dropout=0.0),
        build("autoint", attention_dropout=0.0),
    ):
        assert all(isinstance(layer.attention_dropout, nn.Identity) for layer in model.attention)
    assert all(
        layer.attention_dropout.p == 0.25
        for layer in build("autoint", attention_dropout=0.25).attention
    )
    # the MLP keeps the model's dropout whatever attention_dropout says
    mlp = build("autoint+", attention_dropout=0.0).mlp
    assert [m.p for m in mlp.modules() if isinstance(m, nn.Dropout)] == [0.1] * 3


def test_attention_dropout_acts_only_while_training():
    options = dict(SMALL, num_attention_layers=2, attention_dim=8)
    bars = randomized(build("autoint+", **options))
    none = build("autoint+", **options, attention_dropout=0.0).double().eval()
    none.load_state_dict(bars.state_dict())  # no parameters of its own
    x = random_x()
    with torch.no_grad():
        assert_close(bars(x), none(x))  # eval: dropout off, the same model
        bars.train(), none.train()
        torch.manual_seed(5)
        a = bars(x)
        torch.manual_seed(5)
        b = none(x)
    assert not torch.allclose(a, b)


def test_attention_dropout_falls_on_the_weights_after_the_softmax():
    """FuxiCTR: ``attention = dropout(scores.softmax(-1)); output = attention @ V``. The layer's
    dropout module is swapped for a fixed mask to see where it acts."""
    torch.manual_seed(0)
    layer = randomized(layers.InteractingLayer(D_EMB, 8, 2, scaled=True, dropout=0.5))
    e = torch.randn(6, 4, D_EMB, dtype=torch.float64)
    mask = (torch.rand(6, 2, 4, 4, generator=torch.Generator().manual_seed(3)) > 0.5).double() * 2

    class FixedMask(nn.Module):
        def forward(self, a):
            return a * mask

    layer.attention_dropout = FixedMask()
    out, weights = layer(e, return_attention=True)

    def heads(t):  # [B, F, 8] -> [B, 2, F, 4]
        return t.view(6, 4, 2, 4).transpose(1, 2)

    q, k, v = heads(layer.query(e)), heads(layer.key(e)), heads(layer.value(e))
    a = (q @ k.transpose(-1, -2) / math.sqrt(4)).softmax(dim=-1)
    mixed = ((a * mask) @ v).transpose(1, 2).reshape(6, 4, 8)
    expected = torch.relu(mixed + layer.residual(e))  # no layer norm here
    assert_close(out, expected)
    assert_close(weights, a)  # the weights returned are the softmax's (rows sum to 1)


# ------------------------------------------------------------------------------ linear init
def test_linear_init_glorot_normal_is_the_default_torch_default_is_pytorchs():
    assert init.current_linear_init() == "glorot_normal"
    torch.manual_seed(0)
    mlp = layers.MLP(300, (500,), output_dim=1)
    first, out = mlp.net[0], mlp.net[-1]
    assert first.weight.std().item() == pytest.approx(math.sqrt(2 / 800), rel=0.03)
    assert (first.bias == 0).all() and (out.bias == 0).all()
    with init.linear_init("torch_default"):
        assert init.current_linear_init() == "torch_default"
        torch.manual_seed(0)
        mlp_t = layers.MLP(300, (500,), output_dim=1)
    assert init.current_linear_init() == "glorot_normal"  # restored
    torch.manual_seed(0)
    plain = nn.Linear(300, 500)  # PyTorch's own default, drawn the same way
    assert torch.equal(mlp_t.net[0].weight, plain.weight)
    assert torch.equal(mlp_t.net[0].bias, plain.bias)


def test_linear_init_dcn_cross_vectors_as_fuxictrs_linear_d_to_1():
    d = 400
    torch.manual_seed(0)
    glorot = layers.CrossNetwork(d, 3).weight
    assert glorot.std().item() == pytest.approx(math.sqrt(2 / (d + 1)), rel=0.05)
    with init.linear_init("torch_default"):
        torch.manual_seed(0)
        uniform = layers.CrossNetwork(d, 3).weight
    assert uniform.abs().max() <= 1 / math.sqrt(d)
    assert uniform.std().item() == pytest.approx(1 / math.sqrt(3 * d), rel=0.05)


def test_linear_init_leaves_the_cin_convolution_and_autoint_alone():
    # FuxiCTR re-initialises nn.Linear only: CIN's Conv1d keeps PyTorch's default under both;
    # AutoInt (no MLP) is all Glorot already, so both schemes build the very same model
    bars = build("xdeepfm", **SMALL)
    other = build("xdeepfm", **SMALL, linear_init="torch_default")
    assert torch.equal(bars.cin.compress[0].weight, other.cin.compress[0].weight)
    assert not torch.equal(bars.mlp.net[0].weight, other.mlp.net[0].weight)
    a, b = build("autoint").state_dict(), build("autoint", linear_init="torch_default").state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name", list(models.MODELS))
def test_linear_init_changes_no_parameter_and_zeroes_every_linear_bias(name):
    glorot = build(name)
    torch_default = build(name, linear_init="torch_default")
    assert shapes(glorot) == shapes(torch_default)
    for m in glorot.modules():
        if isinstance(m, nn.Linear) and m.bias is not None:
            assert (m.bias == 0).all()
    with init.linear_init("torch_default"):  # the context manager is what get_model uses
        torch.manual_seed(0)
        direct = models.MODELS[name](FIELD_DIMS, D_EMB)
    a, b = direct.state_dict(), torch_default.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_linear_init_rejects_an_unknown_scheme():
    with pytest.raises(ValueError, match="linear_init must be one of"):
        get_model("deepfm", FIELD_DIMS, linear_init="kaiming")
    assert init.current_linear_init() == "glorot_normal"


# ------------------------------------------------------------------ training: clipping, min_delta
def _data(n: int = 256, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.stack([torch.randint(0, d, (n,), generator=g) for d in FIELD_DIMS], dim=1)
    y = ((x[:, 0] + x[:, 1]) % 2).double()
    return x, y


def _tables(model: nn.Module) -> list[torch.Tensor]:
    return [m.weight for m in model.modules() if isinstance(m, nn.Embedding)]


@pytest.mark.parametrize("sparse_grads", [False, True])
def test_clipping_is_clip_grad_norm_of_the_regularised_loss(sparse_grads):
    """FuxiCTR: ``loss = bce + reg``, ``loss.backward()``, ``clip_grad_norm_(params, 10)``,
    ``Adam.step()``. LazyAdam (data loss only, L2 as weight decay) takes the same steps."""
    emb_reg, net_reg, max_norm, lr = 0.05, 0.01, 0.05, 1e-2
    torch.manual_seed(0)
    model = get_model("deepfm", FIELD_DIMS, D_EMB, hidden=(8,), dropout=0.0).double()
    with torch.no_grad():
        for t in _tables(model):
            t.normal_(0, 0.3)
    ref = copy.deepcopy(model)
    opt = optim.make_optimizer(model, lr, emb_reg, net_reg, max_grad_norm=max_norm)
    opt_ref = torch.optim.Adam(ref.parameters(), lr=lr)
    table_ids = {id(t) for t in _tables(ref)}
    x, y = _data()
    for step in range(3):
        xb, yb = x[step * 64 : (step + 1) * 64], y[step * 64 : (step + 1) * 64]
        with optim.sparse_embedding_grads(model, sparse_grads):
            opt.zero_grad()
            F_.binary_cross_entropy_with_logits(model(xb), yb).backward()
            opt.step()
        opt_ref.zero_grad()
        reg = sum(
            (emb_reg if id(p) in table_ids else net_reg) / 2 * p.square().sum()
            for p in ref.parameters()
        )
        (F_.binary_cross_entropy_with_logits(ref(xb), yb) + reg).backward()
        norm = nn.utils.clip_grad_norm_(ref.parameters(), max_norm)
        opt_ref.step()
        assert norm > max_norm  # the clip binds in this test
        assert_close(opt.last_grad_norm, norm)
    for p, q in zip(model.parameters(), ref.parameters(), strict=True):
        assert_close(p, q)


def test_clipping_within_bounds_changes_nothing():
    x, y = _data()
    states = []
    for max_norm in (None, 1e9):
        torch.manual_seed(0)
        model = get_model("deepfm", FIELD_DIMS, D_EMB, hidden=(8,), dropout=0.0)
        opt = optim.make_optimizer(model, 1e-2, 0.05, 0.0, max_grad_norm=max_norm)
        with optim.sparse_embedding_grads(model):
            for _ in range(2):
                opt.zero_grad()
                F_.binary_cross_entropy_with_logits(model(x), y.float()).backward()
                opt.step()
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_fit_passes_max_grad_norm_and_refuses_it_with_its_own_optimizer():
    x, y = _demo_data(800, len(FIELD_DIMS), 2, seed=0)
    train, val = (x[:600], y[:600]), (x[600:], y[600:])
    results = {}
    for max_norm in (None, 1e9, 1e-4):
        torch.manual_seed(0)
        model = get_model("fm", [2] * len(FIELD_DIMS), D_EMB)
        fit(model, train, val, epochs=1, batch_size=128, lr=1e-2, emb_reg=1e-3,
            max_grad_norm=max_norm, progress=False)  # fmt: skip
        results[max_norm] = model.state_dict()
    same = lambda a, b: all(torch.equal(a[k], b[k]) for k in a)  # noqa: E731
    assert same(results[None], results[1e9])
    assert not same(results[None], results[1e-4])
    model = get_model("fm", [2] * len(FIELD_DIMS), D_EMB)
    with pytest.raises(ValueError, match="clip there"):
        fit(model, train, val, epochs=1, optimizer=torch.optim.Adam(model.parameters()),
            max_grad_norm=10.0, progress=False)  # fmt: skip
    with pytest.raises(ValueError, match="max_grad_norm must be positive"):
        fit(model, train, val, epochs=1, max_grad_norm=0.0, progress=False)


def test_min_delta_is_fuxictrs_improvement_threshold():
    assert inspect.signature(EarlyStopping).parameters["min_delta"].default == 1e-6
    assert inspect.signature(fit).parameters["min_delta"].default == 1e-6
    assert inspect.signature(fit).parameters["max_grad_norm"].default is None
    model = nn.Linear(1, 1)
    for min_delta, expected in ((1e-6, [True, False, True]), (0.0, [True, True, True])):
        opt = torch.optim.SGD(model.parameters(), lr=1.0)
        stop = EarlyStopping(model, opt, patience=5, min_delta=min_delta)
        got = [stop.step(epoch, auc) for epoch, auc in enumerate([0.9, 0.9 + 5e-7, 0.9 + 2e-6])]
        assert got == expected
    with pytest.raises(ValueError, match="min_delta"):
        EarlyStopping(model, opt, min_delta=-1.0)


def test_bench_passes_the_bars_protocol(monkeypatch):
    """bench.run_one passes clipping 10, min_delta 1e-6 and the Glorot init (PROTOCOL) and each
    model's ``bars`` regularisation (LR: net_reg = emb_reg = 1e-5, the bias included)."""
    assert bench.PROTOCOL["max_grad_norm"] == 10.0 and bench.PROTOCOL["min_delta"] == 1e-6
    assert bench.PROTOCOL["linear_init"] == "glorot_normal"
    seen = {}
    real_get_model = models.get_model

    def spy_get_model(name, field_dims, embed_dim=10, **kw):
        seen["linear_init"] = kw.get("linear_init")
        return real_get_model(name, field_dims, embed_dim, **kw)

    class Stop(Exception):
        pass

    def spy_fit(model, train, val, **kw):
        seen.update(kw)
        raise Stop

    monkeypatch.setattr(models, "get_model", spy_get_model)
    monkeypatch.setattr(bench.T, "fit", spy_fit)
    ds = type("DS", (), dict(field_dims=FIELD_DIMS, train=None, val=None))()
    with pytest.raises(Stop):
        bench.run_one("lr", ds, seed=1)
    assert seen["max_grad_norm"] == 10.0 and seen["min_delta"] == 1e-6
    assert seen["linear_init"] == "glorot_normal"
    assert seen["emb_reg"] == seen["net_reg"] == 1e-5


# ------------------------------------------------------------------ Frappe_x1 counts against BARS
# BARS's Frappe_x1 vocabulary has 5,389 rows, ours 5,382 (sum(FRAPPE_DIMS)). FuxiCTR's tokenizer
# adds one __OOV__ row per field (+10) and builds the vocabulary from train.csv only, which lacks
# 3 users whose every row is in validation or test (-3; test_three_users_never_appear_in_train
# checks it on the data). So every embedding table of BARS's has 7 rows more than ours, and that
# is the whole difference for every model but DNN.
OOV_ROWS = len(FRAPPE_DIMS)  # one per field
UNSEEN_IN_TRAIN = 3
EXTRA_ROWS = OOV_ROWS - UNSEEN_IN_TRAIN  # 7

# Our counts with the defaults, pinned (BARS's logged count in bench.BARS minus the explanation)
OURS = {
    "lr": 5_383,  # 5,390 - 7 x 1 (the first-order table)
    "fm": 59_203,  # 59,280 - 7 x (1 + 10)
    "ffm": 489_763,  # 490,400 - 7 x (1 + 9 x 10): F - 1 = 9 slots of 10
    "deepfm": 423_203,  # 423,280 - 7 x (1 + 10)
    "xdeepfm": 429_732,  # 429,809 - 7 x (1 + 10)
    "dcn": 418_521,  # 418,591 - 7 x 10
    "dcnv2": 458_321,  # 458,391 - 7 x 10
    "autoint": 305_981,  # 306,051 - 7 x 10
    "autoint+": 622_110,  # 622,180 - 7 x 10
    "fibinet": 743_403,  # 743,480 - 7 x (1 + 10)
    "dnn": 417_821,  # 781,892 - 7 x 10 - 364,001 (the MLP, counted twice in BARS's log)
}


def test_every_model_has_a_pinned_count():
    assert set(OURS) == set(models.MODELS) == set(bench.BARS["frappe"])


@pytest.mark.parametrize("name", list(OURS))
def test_frappe_parameter_count_equals_bars_minus_explained(name):
    model = get_model(name, FRAPPE_DIMS, embed_dim=10)
    ours, bars = count_parameters(model), bench.BARS["frappe"][name]["params"]
    assert ours == OURS[name]
    widths = sum(m.embedding_dim for m in model.modules() if isinstance(m, nn.Embedding))
    explained = EXTRA_ROWS * widths  # BARS's 7 extra rows in each of its tables
    if name == "dnn":
        # BARS logged 781,892 for DNN, but FuxiCTR v1.1.0's DNN has 53,890 + 364,001 = 417,891;
        # the logged figure is embeddings + 2 x MLP, which no FuxiCTR DNN builds (a log anomaly)
        explained += count_parameters(model.mlp)
        assert count_parameters(model.mlp) == 364_001
    assert ours == bars - explained, (
        f"{name}: ours {ours:,}, BARS {bars:,}, explained {explained:,} "
        f"({EXTRA_ROWS} vocabulary rows x {widths} table columns)"
    )


_DATA_HOME = D.get_data_home()


@pytest.mark.skipif(
    not (_DATA_HOME / "frappe" / "Mobile_Frappe.zip").exists(),
    reason=f"no data in {_DATA_HOME} (run python -m ctr_helpers.data fetch, or set CTR_DATA_HOME)",
)
def test_three_users_never_appear_in_train(tmp_path):
    """The -3 of the vocabulary difference: values our field sizes hold (from the whole log) that
    a train-only vocabulary, as FuxiCTR's, lacks. Only users; train negatives keep their row's
    user and context, so this does not depend on the seed of the rebuilt negatives."""
    ds = D.load_frappe(_DATA_HOME, cache_dir=tmp_path, progress=False)
    unseen = {
        name: size - int(torch.unique(ds.train.x[:, f]).numel())
        for f, (name, size) in enumerate(zip(ds.field_names, ds.field_dims, strict=True))
    }
    assert sum(unseen.values()) == UNSEEN_IN_TRAIN and unseen["user"] == UNSEEN_IN_TRAIN
    assert sum(ds.field_dims) - UNSEEN_IN_TRAIN + OOV_ROWS == 5_389  # BARS's vocabulary
