"""Every model in the registry: shapes, one training step, save/load, eval at batch 1, input
validation, parameter counts."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from ctr_helpers import models
from ctr_helpers.models import MODELS, count_parameters, get_model

FIELD_DIMS = [5, 7, 3, 4]
FIELD_NAMES = ["user", "item", "weekday", "city"]
FRAPPE_DIMS = [957, 4082, 7, 7, 2, 3, 2, 9, 80, 233]
NAMES = list(MODELS)


def batch(n: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.stack([torch.randint(0, d, (n,), generator=g) for d in FIELD_DIMS], dim=1)
    y = ((x[:, 0] + x[:, 1]) % 2).float()  # something learnable
    return x, y


def build(name: str, seed: int = 0, **options) -> models.CTRModel:
    torch.manual_seed(seed)
    return get_model(name, FIELD_DIMS, embed_dim=4, **options)


def make_optimizers(model: nn.Module, lr: float) -> list[torch.optim.Optimizer]:
    """SparseAdam for sparse embedding tables, Adam for everything else."""
    sparse = [m.weight for m in model.modules() if isinstance(m, nn.Embedding) and m.sparse]
    sparse_ids = {id(p) for p in sparse}
    dense = [p for p in model.parameters() if id(p) not in sparse_ids]
    opts: list[torch.optim.Optimizer] = []
    if sparse:
        opts.append(torch.optim.SparseAdam(sparse, lr=lr))
    if dense:
        opts.append(torch.optim.Adam(dense, lr=lr))
    return opts


def test_registry_keys_and_classes():
    assert NAMES == "lr fm ffm deepfm xdeepfm dcn dcnv2 autoint autoint+ fibinet dnn".split()
    for name, cls in MODELS.items():
        assert issubclass(cls, models.CTRModel)
        assert set(cls.bars) == {"emb_reg", "net_reg"}
        # BARS: LR, FM and FFM pass one `regularizer`, which FuxiCTR uses as both embedding and
        # net regulariser (so the bias gets it too); every deep model has net_regularizer 0
        if name in ("lr", "fm", "ffm"):
            assert cls.bars["net_reg"] == cls.bars["emb_reg"] > 0
        else:
            assert cls.bars["net_reg"] == 0.0


def test_get_model_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="unknown model 'deepfn'.*lr, fm, ffm.*autoint\\+"):
        get_model("deepfn", FIELD_DIMS)


@pytest.mark.parametrize("name", NAMES)
def test_finite_logits_of_shape_b(name):
    x, _ = batch(32)
    logits = build(name)(x)
    assert logits.shape == (32,) and logits.dtype == torch.float32
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("sparse", [True, False])
@pytest.mark.parametrize("name", NAMES)
def test_one_optimiser_step_lowers_the_loss(name, sparse):
    model = build(name, sparse=sparse)
    x, y = batch(64)
    loss_fn = nn.BCEWithLogitsLoss()
    # A small step: Adam moves every weight by ~lr at once, and the N(0, 1e-4^2) embeddings (and
    # AutoInt+'s layer norm, which amplifies their direction) make 1e-3 overshoot on step one.
    if sparse:
        opts = make_optimizers(model, lr=1e-4)
    else:
        opts = [torch.optim.Adam(model.parameters(), lr=1e-4)]
    torch.manual_seed(1)  # same dropout masks for both evaluations
    loss = loss_fn(model(x), y)
    loss.backward()
    for opt in opts:
        opt.step()
    with torch.no_grad():
        torch.manual_seed(1)
        after = loss_fn(model(x), y)
    assert float(after) < float(loss.detach())


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_gives_identical_outputs(name):
    model = build(name, seed=0).eval()
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh = build(name, seed=123).eval()
    x, _ = batch(16)
    assert not torch.equal(fresh(x), model(x))
    fresh.load_state_dict(torch.load(buffer))
    assert torch.equal(fresh(x), model(x))


@pytest.mark.parametrize("name", NAMES)
def test_eval_mode_at_batch_size_1(name):
    model = build(name).eval()
    x, _ = batch(8)
    with torch.no_grad():
        one = model(x[:1])
        many = model(x)
    assert one.shape == (1,)
    torch.testing.assert_close(one, many[:1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_empty_batch_gives_empty_logits(name):
    model = build(name)
    x, _ = batch(8)
    assert model(x[:0]).shape == (0,)  # training path
    model.eval()
    with torch.no_grad():  # inference path (FFM gathers differently there)
        assert model(x[:0]).shape == (0,)


# ----------------------------------------------------------------------------- input validation
@pytest.mark.parametrize("name", NAMES)
def test_out_of_range_index_names_field_value_row_and_range(name):
    model = get_model(name, FIELD_DIMS, embed_dim=4, field_names=FIELD_NAMES)
    x, _ = batch(20)
    x[17, 2] = 9
    x[18, 3] = 99  # a later offender: the message reports the first one
    with pytest.raises(ValueError) as info:
        model(x)
    assert str(info.value).startswith("field 2 ('weekday'): value 9 at row 17 is outside 0..2")
    assert "1 more" in str(info.value)


def test_negative_index_and_unnamed_fields():
    model = get_model("fm", FIELD_DIMS, embed_dim=4)
    x, _ = batch(5)
    x[3, 0] = -1
    with pytest.raises(ValueError, match=r"^field 0: value -1 at row 3 is outside 0\.\.4$"):
        model(x)


@pytest.mark.parametrize("num_fields", [3, 12, 13, 39])
def test_range_check_finds_offenders_at_any_number_of_fields(num_fields):
    # the check reduces x in one pass up to 12 fields and in two beyond: both must see every
    # kind of offender, in the first, a middle and the last field
    dims = [2 + (f % 5) for f in range(num_fields)]
    model = get_model("lr", dims)
    x = torch.stack([torch.arange(64) % d for d in dims], dim=1)
    model(x)  # in range: no error
    for f, value in [(0, -1), (num_fields // 2, dims[num_fields // 2]), (num_fields - 1, 10**9)]:
        bad = x.clone()
        bad[40, f] = value
        with pytest.raises(ValueError, match=rf"^field {f}: value {value} at row 40 is outside"):
            model(bad)


@pytest.mark.parametrize("name", ["lr", "deepfm", "autoint"])
def test_wrong_dtype_is_a_clear_type_error(name):
    model = build(name)
    x, _ = batch(4)
    with pytest.raises(TypeError, match="integer per-field indices.*torch.float32"):
        model(x.float())
    with pytest.raises(TypeError, match="torch.LongTensor"):
        model(x.tolist())


@pytest.mark.parametrize("name", ["lr", "ffm", "fibinet"])
def test_wrong_number_of_fields_says_expected_and_got(name):
    model = build(name)
    x, _ = batch(4)
    with pytest.raises(ValueError, match=r"F = 4 fields, got 3"):
        model(x[:, :3])
    with pytest.raises(ValueError, match=r"unsqueeze\(0\)"):
        model(x[0])


def test_int32_indices_are_accepted():
    model = build("fm").eval()
    x, _ = batch(4)
    torch.testing.assert_close(model(x.int()), model(x))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="field_dims"):
        models.FM([5, 0, 3])
    with pytest.raises(ValueError, match="field_names"):
        models.FM(FIELD_DIMS, field_names=["a"])
    with pytest.raises(ValueError, match="structure"):
        models.DCNv2(FIELD_DIMS, structure="diagonal")
    with pytest.raises(ValueError, match="divisible"):
        models.AutoInt(FIELD_DIMS, attention_dim=10, num_heads=4)


# ----------------------------------------------------------------------------- parameter counts
def test_parameter_count_formulas():
    n, F, D = sum(FIELD_DIMS), len(FIELD_DIMS), 4
    assert count_parameters(build("lr")) == n + 1
    assert count_parameters(build("fm")) == n * (D + 1) + 1
    assert count_parameters(build("ffm")) == n * (F - 1) * D + n + 1  # FuxiCTR's F - 1 slots
    assert count_parameters(build("ffm", diagonal_slot=True)) == n * F * D + n + 1  # libffm's F


# The Frappe_x1 counts against BARS's logged ones, exactly and with every difference explained,
# are in tests/test_bars_options.py (test_frappe_parameter_count_equals_bars_minus_explained).


def test_attention_maps_and_field_gates():
    x, _ = batch(6)
    maps = build("autoint").eval().attention_maps(x)
    assert len(maps) == 6 and all(m.shape == (6, 4, 4, 4) for m in maps)
    gates = build("fibinet").eval().field_gates(x)  # FuxiCTR's SENet ends in a ReLU
    assert gates.shape == (6, 4) and (gates >= 0).all()
    gates = build("fibinet", senet_activation="sigmoid").eval().field_gates(x)
    assert gates.shape == (6, 4) and ((gates > 0) & (gates < 1)).all()


def test_fibinet_with_one_field_says_it_needs_pairs():
    with pytest.raises(ValueError, match="at least 2"):
        models.get_model("fibinet", [5])
