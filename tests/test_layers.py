"""Every fast layer against its slow twin in ``ctr_helpers.reference`` (shared weights), the
maths properties the notebooks rely on, and the known wrong versions the references reject."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from ctr_helpers import _kernels, layers, reference

BATCHES = [1, 64]
FIELD_COUNTS = [2, 10]
D = 4


def field_dims_for(num_fields: int) -> list[int]:
    return [3 + (7 * f) % 11 for f in range(num_fields)]  # 3, 10, 6, 13, ... (mixed sizes)


def random_x(field_dims: list[int], batch: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, d, (batch,), generator=g) for d in field_dims], dim=1)


def random_e(batch: int, num_fields: int, dim: int = D, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, num_fields, dim, generator=g, dtype=torch.float64)


def randomized(module: nn.Module, std: float = 0.5, seed: int = 1) -> nn.Module:
    """float64 copy with O(1) random weights, so comparisons are not trivially close to zero
    (the default embedding init N(0, 1e-4^2) would make any two answers agree)."""
    module = module.double()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * std)
    return module


cases = pytest.mark.parametrize("batch", BATCHES), pytest.mark.parametrize("F", FIELD_COUNTS)


def both(f):
    for mark in cases:
        f = mark(f)
    return f


# ----------------------------------------------------------------------------- fast == reference
@both
def test_features_embedding(batch, F):
    dims = field_dims_for(F)
    layer = randomized(layers.FeaturesEmbedding(dims, D))
    x = random_x(dims, batch)
    out = layer(x)
    assert out.shape == (batch, F, D)
    assert_close(out, reference.features_embedding(layer, x))


@both
def test_features_linear(batch, F):
    dims = field_dims_for(F)
    layer = randomized(layers.FeaturesLinear(dims))
    x = random_x(dims, batch)
    out = layer(x)
    assert out.shape == (batch,)
    assert_close(out, reference.linear(layer, x))


@pytest.mark.parametrize("sparse", [True, False])
def test_features_linear_gradient_is_the_lookup_gradient(sparse):
    """Training gives the optimiser the gradient of the [V, 1] embedding lookup: sparse with one
    entry per looked-up index (repeated rows included), or dense, with the same values."""
    dims = field_dims_for(10)
    layer = randomized(layers.FeaturesLinear(dims, sparse=sparse))
    x = random_x(dims, 64)
    x[1] = x[0]  # repeated rows
    weights = torch.randn(64)
    (layer(x) * weights).sum().backward()
    fast = layer.weight.embedding.weight.grad
    table = layer.weight.embedding.weight.detach().clone().requires_grad_()
    lookup = nn.functional.embedding(x + layer.weight.offsets, table, sparse=sparse)
    ((lookup.sum(dim=(1, 2)) + layer.bias.detach()) * weights).sum().backward()
    assert fast.is_sparse == sparse == table.grad.is_sparse
    if sparse:
        assert fast._indices().shape == table.grad._indices().shape == (1, 64 * 10)
    assert_close(fast.to_dense(), table.grad.to_dense())


@both
def test_fm_interaction(batch, F):
    e = random_e(batch, F)
    out = layers.FMInteraction()(e)
    assert out.shape == (batch,)
    assert_close(out, reference.fm(e))


@both
def test_fm_gradient_matches_the_reference(batch, F):
    e = random_e(batch, F).requires_grad_()
    upstream = torch.randn(batch)
    (layers.FMInteraction()(e) * upstream).sum().backward()
    fast = e.grad.clone()
    e.grad = None
    (reference.fm(e) * upstream).sum().backward()
    assert_close(fast, e.grad)


def test_fm_pair_sum_gradcheck():
    e = torch.randn(3, 4, 2, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(_kernels._FMPairSum.apply, (e,))


@both
@pytest.mark.parametrize("diagonal_slot", [True, False])  # F slots (libffm), F - 1 (FuxiCTR)
def test_ffm_interaction(batch, F, diagonal_slot):
    dims = field_dims_for(F)
    layer = randomized(layers.FFMInteraction(dims, D, diagonal_slot=diagonal_slot))
    x = random_x(dims, batch)
    out = layer(x)
    assert out.shape == (batch,)
    assert_close(out, reference.ffm(layer, x))
    with torch.no_grad():  # the inference path gathers only the pairs' vectors
        assert_close(layer(x), reference.ffm(layer, x))
        with torch.autocast("cpu", dtype=torch.bfloat16):  # its batched dot stays in float32
            assert_close(layer(x), reference.ffm(layer, x))


@both
@pytest.mark.parametrize("diagonal_slot", [True, False])
def test_ffm_interaction_gradient_matches_reference(batch, F, diagonal_slot):
    """The hand-written backward equals autograd through the pair-by-pair reference."""
    dims = field_dims_for(F)
    layer = randomized(layers.FFMInteraction(dims, D, sparse=False, diagonal_slot=diagonal_slot))
    weight = layer.embedding.embedding.embedding.weight
    x = random_x(dims, batch)
    upstream = torch.randn(batch)
    (layer(x) * upstream).sum().backward()
    fast = weight.grad.clone()
    weight.grad = None
    (reference.ffm(layer, x) * upstream).sum().backward()
    assert_close(fast, weight.grad)


def test_ffm_pair_sum_gradcheck():
    e = torch.randn(3, 4, 4, 2, dtype=torch.double, requires_grad=True)
    off_diagonal = 1.0 - torch.eye(4, dtype=torch.double)
    assert torch.autograd.gradcheck(_kernels._FFMPairSum.apply, (e, off_diagonal))


@pytest.mark.parametrize("F", [2, 3, 5])
def test_field_aware_embedding_with_f_minus_1_slots_is_fuxictrs_layout(F):
    """Slot ``g - (g > f)`` of feature f's row is its vector towards field g (FuxiCTR reads
    ``field_wise_emb_list[j - 1][:, i]`` for i < j), and the grid's diagonal is zero."""
    dims = field_dims_for(F)
    emb = randomized(layers.FieldAwareEmbedding(dims, D, diagonal_slot=False))
    x = random_x(dims, 7)
    table = emb.embedding.embedding.weight.view(-1, F - 1, D)  # [sum(dims), F - 1, D]
    rows = x + emb.embedding.offsets
    grid = emb(x)
    assert grid.shape == (7, F, F, D)
    for f in range(F):
        assert (grid[:, f, f] == 0).all()
        for g in range(F):
            if g != f:
                assert torch.equal(grid[:, f, g], table[rows[:, f], g - (g > f)])


@both
@pytest.mark.parametrize(
    "sizes, split_half, bias", [((3, 5), False, False), ((4, 6, 3), True, True)]
)
def test_cin(batch, F, sizes, split_half, bias):
    layer = randomized(layers.CIN(F, D, sizes, split_half=split_half, bias=bias), std=0.3)
    e = random_e(batch, F)
    out = layer(e)
    expected, expected_maps = reference.cin(layer, e, return_layers=True)
    assert out.shape == (batch, layer.output_dim)
    assert_close(out, expected)
    for fast_map, ref_map in zip(layer.layer_outputs(e), expected_maps, strict=True):
        assert_close(fast_map, ref_map)


@both
@pytest.mark.parametrize("bias", [True, False])
def test_cross_network(batch, F, bias):
    layer = randomized(layers.CrossNetwork(F * D, num_layers=3, bias=bias), std=0.3)
    x0 = random_e(batch, F).flatten(1)
    out = layer(x0)
    assert out.shape == (batch, F * D)
    assert_close(out, reference.cross(layer, x0))


@both
@pytest.mark.parametrize("low_rank", [None, 3])
def test_cross_network_v2(batch, F, low_rank):
    layer = randomized(layers.CrossNetworkV2(F * D, 3, low_rank=low_rank), std=0.3)
    x0 = random_e(batch, F).flatten(1)
    out = layer(x0)
    assert out.shape == (batch, F * D)
    assert_close(out, reference.cross_v2(layer, x0))


INTERACTING_OPTIONS = [
    dict(attention_dim=8, num_heads=2),  # residual through a projection (D != 8)
    dict(attention_dim=D, num_heads=2, scaled=True, layer_norm=True),  # identity residual
    dict(attention_dim=6, num_heads=3, use_residual=False),
]


@both
@pytest.mark.parametrize("options", INTERACTING_OPTIONS)
def test_interacting_layer(batch, F, options):
    layer = randomized(layers.InteractingLayer(D, **options))
    e = random_e(batch, F)
    out, attention = layer(e, return_attention=True)
    expected, expected_attention = reference.interacting(layer, e, return_attention=True)
    assert out.shape == (batch, F, options["attention_dim"])
    assert attention.shape == (batch, options["num_heads"], F, F)
    assert_close(out, expected)
    assert_close(attention, expected_attention)
    assert_close(layer(e), out)


@both
@pytest.mark.parametrize("activation", layers.SENet.ACTIVATIONS)
def test_senet(batch, F, activation):
    layer = randomized(layers.SENet(F, reduction_ratio=3, activation=activation))
    e = random_e(batch, F)
    out, gates = layer(e, return_gates=True)
    expected, expected_gates = reference.senet(layer, e, return_gates=True)
    assert out.shape == (batch, F, D) and gates.shape == (batch, F)
    assert_close(out, expected)
    assert_close(gates, expected_gates)


@both
@pytest.mark.parametrize("bilinear_type", layers.BilinearInteraction.TYPES)
def test_bilinear(batch, F, bilinear_type):
    layer = randomized(layers.BilinearInteraction(F, D, bilinear_type))
    e = random_e(batch, F)
    out = layer(e)
    assert out.shape == (batch, F * (F - 1) // 2, D)
    assert_close(out, reference.bilinear(layer, e))


@both
@pytest.mark.parametrize("bilinear_type", layers.BilinearInteraction.TYPES)
def test_bilinear_gradients_match_reference(batch, F, bilinear_type):
    """The pair gathers' hand-written backward equals autograd through the pair loop."""
    layer = randomized(layers.BilinearInteraction(F, D, bilinear_type))
    e = random_e(batch, F).requires_grad_()
    upstream = torch.randn(batch, F * (F - 1) // 2, D)
    fast = torch.autograd.grad((layer(e) * upstream).sum(), (e, layer.weight))
    slow = torch.autograd.grad((reference.bilinear(layer, e) * upstream).sum(), (e, layer.weight))
    for got, want in zip(fast, slow, strict=True):
        assert_close(got, want)


def test_select_fields_gradcheck():
    rows, _ = layers.pair_indices(4)
    onehot = torch.zeros(len(rows), 4, dtype=torch.double)
    onehot[torch.arange(len(rows)), rows] = 1.0
    e = torch.randn(3, 4, 2, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(_kernels._SelectFields.apply, (e, rows, onehot))


def test_bilinear_under_autocast_builds_pairs_in_bfloat16():
    layer = randomized(layers.BilinearInteraction(5, D, "field_all")).float()
    e = random_e(8, 5).float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(e)
    assert out.dtype == torch.bfloat16
    assert_close(out.float(), reference.bilinear(layer, e), rtol=0.03, atol=0.03)


def test_bilinear_parameter_counts():
    F, P = 10, 45
    counts = {
        t: sum(p.numel() for p in layers.BilinearInteraction(F, D, t).parameters())
        for t in layers.BilinearInteraction.TYPES
    }
    assert counts == {"field_all": D * D, "field_each": F * D * D, "field_interaction": P * D * D}


def test_mlp_shapes_and_blocks():
    mlp = layers.MLP(12, hidden=(8, 6), dropout=0.1, batch_norm=True, output_dim=1)
    assert mlp(torch.randn(5, 12)).shape == (5, 1)
    kinds = [type(m).__name__ for m in mlp.net]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Dropout"] * 2 + ["Linear"]
    assert layers.MLP(12, hidden=(8,), output_dim=None).output_dim == 8


def test_offsets_are_non_persistent_buffers():
    layer = layers.FeaturesEmbedding([3, 4, 5], D)
    assert layer.offsets.tolist() == [0, 3, 7]
    assert "offsets" not in layer.state_dict() and "embedding.weight" in layer.state_dict()
    assert all(p is not layer.offsets for p in layer.parameters())


# ----------------------------------------------------------------------------- maths properties
def test_fm_identity_equals_double_sum_explicitly():
    """0.5 * ((sum_i v_i)^2 - sum_i v_i^2), summed over d, is the double sum over pairs."""
    e = random_e(16, 7, dim=5, seed=3)
    trick = 0.5 * (e.sum(1).pow(2) - e.pow(2).sum(1)).sum(1)
    double_sum = sum((e[:, i] * e[:, j]).sum(1) for i in range(7) for j in range(7) if i < j)
    assert_close(trick, double_sum)
    assert_close(layers.FMInteraction()(e), double_sum)


@pytest.mark.parametrize("t", [2.0, 0.5, -1.5])
def test_cin_layer_k_is_homogeneous_of_degree_k_plus_1(t):
    F = 5
    layer = randomized(layers.CIN(F, D, (4, 4, 4), bias=False), std=0.3)
    e = random_e(8, F)
    maps, scaled = layer.layer_outputs(e), layer.layer_outputs(t * e)
    for k, (m, s) in enumerate(zip(maps, scaled, strict=True), start=1):
        assert m.abs().max() > 1e-3  # not trivially zero
        assert_close(s, t ** (k + 1) * m)
        # and not of the neighbouring degrees: the check can fail
        assert not torch.allclose(s, t**k * m) and not torch.allclose(s, t ** (k + 2) * m)


def test_cin_with_bias_is_not_homogeneous():
    """The homogeneity check is able to fail: a bias breaks it."""
    layer = randomized(layers.CIN(4, D, (4, 4), bias=True), std=0.3)
    e = random_e(8, 4)
    assert not torch.allclose(layer.layer_outputs(2 * e)[1], 8 * layer.layer_outputs(e)[1])


def polynomial_degree(f, x0: torch.Tensor, max_degree: int = 8) -> int:
    """Degree of ``t -> f(t * x0)`` (a vector polynomial in t), by finite differences.

    The n-th forward difference of a degree-p polynomial on t = 0, 1, ..., n is exactly zero for
    n > p and equals p! times the leading coefficient for n = p.
    """
    values = torch.stack([f(t * x0) for t in range(max_degree + 2)])  # [n, B, d]
    scale = values.abs().max()
    degree = 0
    for n in range(1, max_degree + 2):
        diff = sum(
            (-1) ** (n - i) * math.comb(n, i) * values[i] for i in range(n + 1)
        )  # n-th difference at t = 0
        if diff.abs().max() > 1e-9 * scale:
            degree = n
    return degree


@pytest.mark.parametrize("num_layers", [1, 2, 3, 4])
@pytest.mark.parametrize("version", ["v1", "v2", "v2-low-rank"])
def test_cross_network_degree_is_layers_plus_1(num_layers, version):
    d = 6
    if version == "v1":
        layer = layers.CrossNetwork(d, num_layers, bias=False)
    else:
        low_rank = 2 if version == "v2-low-rank" else None
        layer = layers.CrossNetworkV2(d, num_layers, low_rank=low_rank, bias=False)
    layer = randomized(layer, std=0.4)
    x0 = random_e(4, 1, dim=d).squeeze(1)
    with torch.no_grad():
        assert polynomial_degree(layer, x0) == num_layers + 1


def test_cross_network_log_log_slope():
    """Scaling x0 by t, |x_L| grows like t^(L+1) for large t: the log-log slope is ~L+1."""
    layer = randomized(layers.CrossNetwork(6, 3, bias=False), std=0.4)
    x0 = random_e(1, 1, dim=6).squeeze(1)
    ts = torch.tensor([1e3, 1e4], dtype=torch.float64)
    with torch.no_grad():
        norms = torch.stack([layer(t * x0).norm() for t in ts])
    slope = (norms.log()[1] - norms.log()[0]) / (ts.log()[1] - ts.log()[0])
    assert abs(float(slope) - 4.0) < 0.01


def test_polynomial_degree_helper_detects_degree():
    x0 = random_e(2, 1, dim=3).squeeze(1)
    assert polynomial_degree(lambda x: x**3 + x, x0) == 3
    assert polynomial_degree(lambda x: 2 * x, x0) == 1


def test_interacting_layer_starts_glorot_normal():
    """Projections start N(0, 2 / (fan_in + fan_out)), as FuxiCTR/BARS initialise them; the
    PyTorch default would have std 1 / sqrt(3 fan_in) (0.051 here, against 0.088)."""
    torch.manual_seed(0)
    layer = layers.InteractingLayer(128, 128, num_heads=4)
    expected = math.sqrt(2 / (128 + 128))
    for proj in (layer.query, layer.key, layer.value):
        w = proj.weight
        assert abs(w.mean().item()) < 0.005
        assert w.std().item() == pytest.approx(expected, rel=0.03)
    first = layers.InteractingLayer(10, 128, num_heads=4)  # with the residual projection
    assert first.residual.weight.std().item() == pytest.approx(math.sqrt(2 / 138), rel=0.1)


@pytest.mark.parametrize("F", FIELD_COUNTS)
def test_attention_weights_sum_to_one_per_query(F):
    layer = layers.InteractingLayer(D, 8, num_heads=2).double()
    _, attention = layer(random_e(16, F), return_attention=True)
    assert (attention >= 0).all()
    assert_close(attention.sum(dim=-1), torch.ones(16, 2, F, dtype=torch.float64))
    assert layer.last_attention is not None and layer.last_attention.shape == (16, 2, F, F)


@pytest.mark.parametrize("F", FIELD_COUNTS)
def test_senet_gates_in_open_unit_interval(F):
    layer = layers.SENet(F, reduction_ratio=2)
    _, gates = layer(torch.randn(32, F, D), return_gates=True)
    assert gates.shape == (32, F)
    assert ((gates > 0) & (gates < 1)).all()


def test_ffm_parameter_count_formula():
    dims, d = field_dims_for(6), 5
    layer = layers.FFMInteraction(dims, d)
    assert sum(p.numel() for p in layer.parameters()) == sum(dims) * len(dims) * d
    layer = layers.FFMInteraction(dims, d, diagonal_slot=False)
    assert sum(p.numel() for p in layer.parameters()) == sum(dims) * (len(dims) - 1) * d


# ------------------------------------------------ the known wrong versions the references reject
def test_fm_flattened_before_the_trick_is_wrong():
    """An FM that flattens [B, F*D] before the square-of-sum mixes embedding dimensions."""
    e = random_e(8, 5)
    flat = e.flatten(1)
    wrong = 0.5 * (flat.sum(1).pow(2) - flat.pow(2).sum(1))
    assert not torch.allclose(wrong, reference.fm(e))
    assert_close(layers.FMInteraction()(e), reference.fm(e))


def test_dcn_cross_layer_overwriting_x_l_is_wrong():
    """x_{l+1} = x0 (x_l . w) + b (no + x_l) drops the lower-degree terms."""
    layer = randomized(layers.CrossNetwork(12, 3), std=0.3)
    x0 = random_e(8, 3).flatten(1)
    x = x0
    for w, b in zip(layer.weight, layer.bias, strict=True):
        x = x0 * (x @ w).unsqueeze(1) + b
    assert not torch.allclose(x, reference.cross(layer, x0))
    assert_close(layer(x0), reference.cross(layer, x0))


def test_autoint_residual_once_after_the_stack_is_wrong():
    """The residual and ReLU belong to every interacting layer, not once after the stack."""
    stack = [randomized(layers.InteractingLayer(D, D, 2), seed=s) for s in range(3)]
    e = random_e(8, 5)
    right = e
    for layer in stack:
        right = reference.interacting(layer, right)
    wrong = e
    for layer in stack:  # attention only, no residual / ReLU inside the layers
        q, k, v = (lin(wrong) for lin in (layer.query, layer.key, layer.value))
        heads = []
        for h in range(2):
            cols = slice(2 * h, 2 * h + 2)
            a = (q[..., cols] @ k[..., cols].transpose(1, 2)).softmax(-1)
            heads.append(a @ v[..., cols])
        wrong = torch.cat(heads, dim=2)
    wrong = torch.relu(wrong + e)
    assert not torch.allclose(wrong, right)
    fast = e
    for layer in stack:
        fast = layer(fast)
    assert_close(fast, right)


# --------------------------------------------------------------------------- mixed precision


def test_logit_layers_stay_float32_under_bf16_autocast():
    torch.manual_seed(0)
    mlp = layers.MLP(20, (16, 8), batch_norm=False, output_dim=1).eval()
    h = torch.randn(64, 20)
    ref = mlp(h)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert mlp.net[0](h).dtype == torch.bfloat16  # the hidden layers do run in bf16
        out = mlp(h)
        lin = torch.nn.Linear(20, 1)
        assert layers.linear_fp32(lin, h.bfloat16()).dtype == torch.float32
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref, atol=0.05, rtol=0.05)
    torch.testing.assert_close(layers.linear_fp32(lin, h), lin(h))  # plain Linear outside autocast


def test_linear_of_cat_equals_linear_on_the_concatenation():
    torch.manual_seed(0)
    lin = torch.nn.Linear(7 + 5, 3)
    a, b = torch.randn(9, 7, requires_grad=True), torch.randn(9, 5, requires_grad=True)
    out = layers.linear_fp32_of_cat(lin, [a, b])
    ref = lin(torch.cat([a, b], dim=1))
    torch.testing.assert_close(out, ref)
    grads = torch.autograd.grad(out.square().sum(), (a, b, lin.weight, lin.bias))
    ref_grads = torch.autograd.grad(ref.square().sum(), (a, b, lin.weight, lin.bias))
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r)
    with torch.inference_mode():  # the in-place accumulation path
        torch.testing.assert_close(layers.linear_fp32_of_cat(lin, [a, b]), ref.detach())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = layers.linear_fp32_of_cat(lin, [a.bfloat16(), b.bfloat16()])
    assert low.dtype == torch.float32
    torch.testing.assert_close(low, ref.detach(), atol=0.05, rtol=0.05)
