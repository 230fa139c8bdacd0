"""make_planted_crosses: pure crosses of known order, random or low-rank, and the true logits."""

from __future__ import annotations

import numpy as np
import pytest

from ctr_helpers import data
from ctr_helpers.data.synthetic import make_planted_crosses


def _all_rows(ds):
    xs = [s.x.numpy() for s in (ds.train, ds.val, ds.test)]
    logits = [ds.info["logit_true"][name] for name in ("train", "val", "test")]
    return np.concatenate(xs), np.concatenate(logits)


def test_exported_from_the_data_package():
    assert data.make_planted_crosses is make_planted_crosses
    assert "make_planted_crosses" in data.__all__


def test_shapes_splits_and_info():
    ds = make_planted_crosses(
        n=2_000, seed=1, n_fields=5, cardinality=4, crosses=[(0, 1), (2, 3, 4)]
    )
    assert ds.field_dims == [4] * 5
    assert ds.field_names == ["f0", "f1", "f2", "f3", "f4"]
    assert [len(s) for s in (ds.train, ds.val, ds.test)] == [1_600, 200, 200]
    assert ds.info["crosses"] == [(0, 1), (2, 3, 4)]
    assert {c: t.shape for c, t in ds.info["tables"].items()} == {
        (0, 1): (4, 4),
        (2, 3, 4): (4, 4, 4),
    }
    assert ds.info["w"].shape == (5, 4)
    assert set(ds.info["p_true"]) == {"train", "val", "test"}


@pytest.mark.parametrize("rank", [None, 1, 3])
def test_tables_are_pure_and_scaled(rank):
    ds = make_planted_crosses(
        n=500, seed=0, cardinality=6, crosses=[(0, 1), (1, 2, 3)], rank=rank, strength=1.5
    )
    for table in ds.info["tables"].values():
        np.testing.assert_allclose(table.std(), 1.5)
        for axis in range(table.ndim):  # averaging over any one field leaves nothing
            np.testing.assert_allclose(table.mean(axis=axis), 0.0, atol=1e-12)


def test_low_rank_tables_have_that_rank():
    ds = make_planted_crosses(n=500, seed=3, cardinality=8, crosses=[(0, 1), (2, 3, 4)], rank=2)
    pair, triple = ds.info["tables"][(0, 1)], ds.info["tables"][(2, 3, 4)]
    assert np.linalg.matrix_rank(pair) == 2
    assert np.linalg.matrix_rank(triple.reshape(8, 64)) == 2  # each unfolding has rank <= 2
    full = make_planted_crosses(n=500, seed=3, cardinality=8, crosses=[(0, 1)]).info["tables"]
    assert np.linalg.matrix_rank(full[(0, 1)]) == 7  # a random pure 8 x 8 table: 8 - 1


def test_true_logit_is_bias_plus_main_effects_plus_crosses():
    ds = make_planted_crosses(
        n=3_000, seed=2, n_fields=4, cardinality=5, crosses=[(0, 2), (1, 2, 3)]
    )
    x, logit = _all_rows(ds)
    expect = ds.info["bias"] + ds.info["w"][np.arange(4), x].sum(axis=1)
    for cross, table in ds.info["tables"].items():
        expect = expect + table[tuple(x[:, f] for f in cross)]
    np.testing.assert_allclose(logit, expect)


def test_positive_rate_and_labels():
    ds = make_planted_crosses(n=20_000, seed=0, positive_rate=0.2)
    y = np.concatenate([s.y.numpy() for s in (ds.train, ds.val, ds.test)])
    assert set(np.unique(y)) == {0.0, 1.0}
    assert abs(y.mean() - 0.2) < 0.02


def test_a_pure_cross_is_invisible_to_each_of_its_fields():
    # with the main effects off, the mean true logit per value of a crossed field is constant
    ds = make_planted_crosses(n=50_000, seed=0, cardinality=4, crosses=[(0, 1)], first_order=0.0)
    x, logit = _all_rows(ds)
    per_value = [logit[x[:, 0] == v].mean() for v in range(4)]
    assert np.ptp(per_value) < 0.1 * logit.std()


def test_same_seed_same_data_other_seed_other_data():
    a, b = make_planted_crosses(n=300, seed=5), make_planted_crosses(n=300, seed=5)
    c = make_planted_crosses(n=300, seed=6)
    assert (a.train.x == b.train.x).all() and (a.train.y == b.train.y).all()
    assert not np.allclose(a.info["tables"][(0, 1)], c.info["tables"][(0, 1)])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(crosses=[(0,)]), "2 or more distinct fields"),
        (dict(crosses=[(1, 1)]), "2 or more distinct fields"),
        (dict(crosses=[(0, 6)]), r"in 0\.\.5"),
        (dict(rank=0), "rank must be None or a positive int"),
    ],
)
def test_bad_arguments_name_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_planted_crosses(n=100, seed=0, **kwargs)
