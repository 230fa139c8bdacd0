"""Issue 21, training and calibration: the bad-input catalogue walked through the public API.

Each case asserts the error type, the words that locate the problem (split, row, field, value,
valid range) and that nothing was lost: a refusal before the first step leaves the weights as
they were; an interrupted or diverged run ends on its best epoch's weights, in eval mode, with
its History attached to the exception.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from _threads import one_thread  # noqa: F401 (autouse: one torch thread here)

from ctr_helpers import models
from ctr_helpers.calibration import IsotonicCalibrator, PlattScaler, downsampling_correction
from ctr_helpers.layers import MLP, FeaturesEmbedding
from ctr_helpers.train import EarlyStopping, History, fit

FIELDS, VOCAB, N_TRAIN, BATCH = 3, 6, 800, 200  # 4 training batches per epoch


def _data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Clicks driven by field 0 (a learnable signal), so validation AUC rises while training."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, VOCAB, (n, FIELDS), generator=g)
    logit = 1.5 * (x[:, 0].float() - (VOCAB - 1) / 2) + 0.5 * torch.randn(n, generator=g)
    return x, torch.bernoulli(torch.sigmoid(logit), generator=g)


TRAIN, VAL = _data(N_TRAIN, 1), _data(400, 2)
KW = dict(batch_size=BATCH, lr=0.02, seed=3, progress=False)


def _model(seed: int = 0) -> models.FM:
    torch.manual_seed(seed)
    return models.FM([VOCAB] * FIELDS, embed_dim=4)


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# --------------------------------------------------------------------------- labels and splits


def _bad_labels(kind: str, y: torch.Tensor) -> tuple[torch.Tensor, int, str]:
    """``y`` made bad as ``kind``; returns it, the first bad row and how its value prints."""
    y = y.clone()
    if kind == "-1/+1":
        y = 2 * y - 1
        return y, int(torch.nonzero(y == -1)[0, 0]), "-1"
    if kind == "x5":
        y = 5 * y
        return y, int(torch.nonzero(y == 5)[0, 0]), "5"
    value = {"2": 2.0, "0.5": 0.5}[kind]
    y[7] = value
    return y, 7, kind


@pytest.mark.parametrize("split", ["train", "val"])
@pytest.mark.parametrize("kind", ["-1/+1", "2", "0.5", "x5"])
def test_labels_other_than_0_1_are_refused_naming_split_and_row(split, kind):
    model = _model()
    init = copy.deepcopy(model)
    (x, y) = TRAIN if split == "train" else VAL
    bad, row, shown = _bad_labels(kind, y)
    train, val = ((x, bad), VAL) if split == "train" else (TRAIN, (x, bad))
    msg = rf"^{split}\.y must hold 0/1 labels; row {row} has {shown}$"
    with pytest.raises(ValueError, match=msg):
        fit(model, train, val, epochs=2, **KW)
    assert _same_weights(model, init), "a training step ran before the refusal"


def _val_case(case: str) -> tuple[tuple[torch.Tensor, torch.Tensor], str]:
    x, y = VAL
    if case == "one class":
        return (x, torch.zeros(len(x))), r"^val split has a single class \(all 0, 400 rows\)"
    if case == "empty":
        return (x[:0], y[:0]), r"^val is empty: pass val=None"
    x = x.clone()
    x[4, 2] = VOCAB
    return (x, y), rf"^val\.x: field 2: value {VOCAB} at row 4 is outside 0\.\.{VOCAB - 1}$"


@pytest.mark.parametrize("case", ["one class", "empty", "out-of-range index"])
def test_a_bad_validation_split_is_refused_before_the_first_step(case):
    model = _model()
    init = copy.deepcopy(model)
    val, msg = _val_case(case)
    with pytest.raises(ValueError, match=msg):
        fit(model, TRAIN, val, epochs=2, **KW)
    assert _same_weights(model, init), "a training step ran before the refusal"


# --------------------------------------------------------------------------- interrupted runs


class Tripwire(models.FM):
    """An FM whose ``trip``-th training forward raises Ctrl-C or returns NaN logits."""

    def __init__(self, how: str, trip: int) -> None:
        super().__init__([VOCAB] * FIELDS, embed_dim=4)
        self.how, self.trip, self.calls = how, trip, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = super().forward(x)
        if self.training and torch.is_grad_enabled():
            self.calls += 1
            if self.calls == self.trip:
                if self.how == "ctrl-c":
                    raise KeyboardInterrupt
                return z * float("nan")
        return z


@pytest.mark.parametrize("how, error", [("ctrl-c", KeyboardInterrupt), ("nan", FloatingPointError)])
def test_a_run_stopped_in_epoch_3_ends_on_its_best_weights_with_its_history(how, error):
    torch.manual_seed(0)
    init = Tripwire(how, trip=2 * (N_TRAIN // BATCH) + 3)  # the 3rd batch of epoch 3
    model = copy.deepcopy(init)
    with pytest.raises(error) as info:
        fit(model, TRAIN, VAL, epochs=10, patience=10, **KW)
    hist = info.value.history
    assert isinstance(hist, History) and [e["epoch"] for e in hist.epochs] == [1, 2]
    assert hist.interrupted.startswith(error.__name__)
    aucs = [e["val_auc"] for e in hist.epochs]
    assert hist.best_epoch == 1 + int(np.argmax(aucs)) and hist.best_val_auc == max(aucs)
    assert not model.training
    assert all(torch.isfinite(p).all() for p in model.parameters())
    reference = copy.deepcopy(init)  # the same run, stopped by epochs= at the best epoch
    fit(reference, TRAIN, VAL, epochs=hist.best_epoch, patience=10, **KW)
    assert _same_weights(model, reference), "not the best epoch's weights"


# --------------------------------------------------------------------------- patience


def test_negative_patience_is_refused_before_training():
    model = _model()
    init = copy.deepcopy(model)
    with pytest.raises(ValueError, match=r"^patience must be >= 0 .*got -1$"):
        fit(model, TRAIN, VAL, epochs=2, patience=-1, **KW)
    assert _same_weights(model, init)
    with pytest.raises(ValueError, match=r"^patience must be >= 0 .*got -1$"):
        EarlyStopping(model, torch.optim.SGD(model.parameters(), lr=1.0), patience=-1)


def test_patience_0_stops_at_the_first_epoch_without_improvement_not_before():
    model = torch.nn.Linear(1, 1)
    stop = EarlyStopping(model, torch.optim.SGD(model.parameters(), lr=1.0), patience=0)
    seen = []
    for epoch, auc in enumerate([0.60, 0.70, 0.80, 0.75], start=1):
        stop.step(epoch, auc)
        seen.append(stop.should_stop)
    assert seen == [False, False, False, True]


def test_fit_with_patience_0_keeps_training_while_validation_improves():
    hist = fit(_model(), TRAIN, VAL, epochs=3, patience=0, **{**KW, "lr": 0.005})
    aucs = [e["val_auc"] for e in hist.epochs]
    assert len(aucs) == 3, f"stopped after {len(aucs)} epoch(s) with AUCs {aucs}"
    assert aucs[0] < aucs[1] < aucs[2] and not hist.stopped_early


# --------------------------------------------------------------------------- calibration

P_FIT = np.array([0.1, 0.3, 0.4, 0.6, 0.8, 0.9])
Y_FIT = np.array([0, 0, 1, 0, 1, 1])
CALIBRATORS = [PlattScaler, IsotonicCalibrator]


@pytest.mark.parametrize("cls", CALIBRATORS)
def test_fit_on_no_scores_is_refused(cls):
    with pytest.raises(ValueError, match=rf"^no scores to fit {cls.__name__} on"):
        cls().fit([], [])


@pytest.mark.parametrize("scores", ["prob", "logit"])
@pytest.mark.parametrize("cls", CALIBRATORS)
def test_transform_of_no_scores_is_an_empty_float_array(cls, scores):
    s = P_FIT if scores == "prob" else np.log(P_FIT / (1 - P_FIT))
    out = cls().fit(s, Y_FIT).transform([])
    assert isinstance(out, np.ndarray) and out.shape == (0,) and out.dtype == np.float64


@pytest.mark.parametrize("cls", CALIBRATORS)
def test_a_probability_fitted_calibrator_refuses_1_0000001_naming_the_row(cls):
    cal = cls().fit(P_FIT, Y_FIT)
    assert cal.fitted_on_ == "prob"
    with pytest.raises(ValueError, match=r"row 2 has 1\.0000001, outside \[0, 1\] \(1 row"):
        cal.transform([0.2, 0.5, 1.0000001, 0.7])


def _as(kind: str, values: list[float]):
    if kind == "float":
        return values[0]
    return np.array(values) if kind == "numpy" else torch.tensor(values, dtype=torch.float64)


@pytest.mark.parametrize("kind", ["float", "numpy", "torch"])
@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan")])
def test_downsampling_correction_refuses_p_outside_0_1_naming_the_row(kind, bad):
    values = [bad] if kind == "float" else [0.2, 0.9, bad, 0.4]
    row = 0 if kind == "float" else 2
    with pytest.raises(ValueError, match=rf"^p must be probabilities in \[0, 1\].*row {row} has"):
        downsampling_correction(_as(kind, values), 0.1)


@pytest.mark.parametrize(
    "kind, cls", [("float", float), ("numpy", np.ndarray), ("torch", torch.Tensor)]
)
def test_downsampling_correction_keeps_the_type_and_accepts_0_and_1(kind, cls):
    values = [0.5, 0.0, 1.0]
    q = downsampling_correction(_as(kind, values), 0.1)
    assert isinstance(q, cls)
    expected = [0.5 / (0.5 + 0.5 / 0.1), 0.0, 1.0][: 1 if kind == "float" else 3]
    np.testing.assert_allclose(np.atleast_1d(np.asarray(q)), expected, rtol=1e-12)


# --------------------------------------------------------------------------- sizes


@pytest.mark.parametrize("name", sorted(models.MODELS))
def test_every_model_refuses_a_fractional_or_bool_field_size_naming_the_field(name):
    with pytest.raises(TypeError, match=r"^field_dims\[0\] = 5\.5 \(float\): .*must be an int"):
        models.get_model(name, [5.5, 3, 4])
    with pytest.raises(TypeError, match=r"^field_dims\[1\] = True \(bool\)"):
        models.get_model(name, [5, True, 4])
    with pytest.raises(ValueError, match=r"^field_dims\[2\] = 0: every field needs at least 1"):
        models.get_model(name, [5, 3, 0])


@pytest.mark.parametrize("name", sorted(models.MODELS))
@pytest.mark.parametrize("embed_dim", [4.0, 4.5, True, "4"])
def test_every_model_refuses_an_embed_dim_that_is_not_an_int(name, embed_dim):
    with pytest.raises(TypeError, match=rf"^embed_dim must be an int, got {embed_dim!r}"):
        models.get_model(name, [5, 3, 4], embed_dim=embed_dim)


def test_numpy_and_tensor_integers_are_sizes():
    model = models.get_model("deepfm", np.array([5, 3, 4]), embed_dim=np.int64(4), hidden=(8,))
    assert model.field_dims == [5, 3, 4] and all(type(d) is int for d in model.field_dims)
    assert model.embed_dim == 4 and type(model.embed_dim) is int
    emb = FeaturesEmbedding(torch.tensor([5, 3]), torch.tensor(2))
    assert emb.field_dims == [5, 3] and emb.embed_dim == 2
    with torch.no_grad():
        assert not math.isnan(float(model.eval()(torch.tensor([[4, 2, 3]]))))


def test_layers_refuse_float_sizes_by_name():
    with pytest.raises(TypeError, match=r"^field_dims\[1\] = 3\.0 \(float\)"):
        FeaturesEmbedding([5, 3.0], 4)
    with pytest.raises(TypeError, match=r"^embed_dim must be an int, got 4\.0"):
        FeaturesEmbedding([5, 3], 4.0)
    with pytest.raises(TypeError, match=r"^hidden layer size must be an int, got 8\.0"):
        MLP(6, (8.0,))
