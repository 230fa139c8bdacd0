"""Inputs are checked once per dataset where they enter ``fit`` / ``evaluate`` / ``predict_logits``
(the error naming the split, field, value and valid range), not per batch inside their loops;
a direct ``model(x)`` still checks, in any thread."""

from __future__ import annotations

import threading

import pytest
import torch

from ctr_helpers import train
from ctr_helpers.data import make_pairwise
from ctr_helpers.models import _inputs_validated, get_model

FIELDS = ["user", "item", "hour", "city"]


@pytest.fixture()
def data():
    return make_pairwise(3000, seed=2, n_fields=4, cardinality=6)  # val, test: 300 rows


def build(data):
    torch.manual_seed(0)
    return get_model("deepfm", data.field_dims, embed_dim=4, hidden=(8,), field_names=FIELDS)


def with_bad_index(split, row=7, field=2, value=99):
    x = split.x.clone()
    x[row, field] = value
    return x, split.y


def count_calls(monkeypatch, obj, name):
    calls = []
    original = getattr(obj, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(obj, name, counted)
    return calls


@pytest.mark.parametrize("split", ["train", "val"])
def test_fit_rejects_a_bad_index_before_the_first_step(split, data, monkeypatch):
    model = build(data)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    steps = count_calls(monkeypatch, train, "_train_step")
    splits = dict(train=data.train, val=data.val)
    splits[split] = with_bad_index(splits[split])
    msg = rf"^{split}\.x: field 2 \('hour'\): value 99 at row 7 is outside 0\.\.5$"
    with pytest.raises(ValueError, match=msg):
        train.fit(model, splits["train"], splits["val"], epochs=1, progress=False)
    assert steps == []
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_evaluate_and_predict_name_what_was_wrong(data):
    model = build(data)
    with pytest.raises(ValueError, match=r"^data\.x: field 2 \('hour'\): value 99 at row 7"):
        train.evaluate(model, with_bad_index(data.test))
    x = with_bad_index(data.test, row=3, field=0, value=-1)[0]
    with pytest.raises(ValueError, match=r"^x: field 0 \('user'\): value -1 at row 3"):
        train.predict_logits(model, x, batch_size=16)
    with pytest.raises(ValueError, match=r"^x: DeepFM expects x of shape \[B, F\] with F = 4"):
        train.predict_proba(model, x[:, :3])


def test_direct_calls_still_check(data):
    model = build(data)
    x = with_bad_index(data.test, row=1, field=3, value=6)[0][:4]
    with pytest.raises(ValueError, match=r"^field 3 \('city'\): value 6 at row 1 is outside"):
        model(x)
    model.eval()
    with torch.no_grad(), pytest.raises(ValueError, match="field 3"):
        model(x)


def test_the_package_loops_check_each_dataset_once(data, monkeypatch):
    model = build(data)
    calls = count_calls(monkeypatch, model, "check_input")
    steps = count_calls(monkeypatch, train, "_train_step")
    train.fit(model, data.train, data.val, epochs=2, batch_size=64, progress=False)
    assert len(steps) > 20  # many batches...
    assert [len(args[0]) for args in calls] == [len(data.train.x), len(data.val.x)]  # 2 checks
    calls.clear()
    train.evaluate(model, data.test, batch_size=16)
    train.predict_logits(model, data.test.x, batch_size=16)
    assert [len(args[0]) for args in calls] == [len(data.test.x)] * 2
    calls.clear()
    model(data.test.x[:5])  # outside the loops, every call checks again
    assert len(calls) == 1


def test_the_skip_is_undone_after_an_error_and_holds_only_in_its_thread(data):
    model = build(data)
    bad = with_bad_index(data.test, row=0, field=1, value=50)[0][:2]
    with pytest.raises(RuntimeError), _inputs_validated(model):
        with pytest.raises(IndexError):  # skipped: the loop vouches for its data; here it lied
            model(bad)
        raise RuntimeError
    with pytest.raises(ValueError, match="field 1"):
        model(bad)
    errors = []

    def other_thread():
        try:
            model(bad)
        except ValueError as e:
            errors.append(str(e))

    with _inputs_validated(model):
        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
    assert len(errors) == 1 and "field 1 ('item'): value 50" in errors[0]


def test_fit_leaves_direct_calls_checked_after_it_fails(data, monkeypatch):
    model = build(data)

    def failing_epoch(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "_train_epoch", failing_epoch)
    with pytest.raises(KeyboardInterrupt):
        train.fit(model, data.train, epochs=1, progress=False)
    with pytest.raises(ValueError, match="field 2"):
        model(with_bad_index(data.test)[0][:8])
