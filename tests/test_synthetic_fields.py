"""make_field_importance: informative fields drive the logit, noise fields never do."""

from __future__ import annotations

import numpy as np
import pytest

from ctr_helpers.data.synthetic import make_field_importance


def _all_rows(ds):
    x = np.concatenate([s.x.numpy() for s in (ds.train, ds.val, ds.test)])
    logit = np.concatenate([ds.info["logit_true"][k] for k in ("train", "val", "test")])
    return x, logit


def test_schema_and_flags():
    ds = make_field_importance(n=2_000, n_informative=3, n_noise=4, cardinality=7)
    assert ds.field_names == ["signal0", "signal1", "signal2"] + [f"noise{i}" for i in range(4)]
    assert ds.field_dims == [7] * 7
    assert ds.info["informative"].tolist() == [True] * 3 + [False] * 4
    assert sum(len(s) for s in (ds.train, ds.val, ds.test)) == 2_000


def test_logit_is_the_planted_fm_over_informative_fields_only():
    ds = make_field_importance(n=3_000, n_informative=3, n_noise=2, strength=2.0, seed=1)
    x, logit = _all_rows(ds)
    w, V, k = ds.info["w"], ds.info["V"], 3
    emb = V[np.arange(k), x[:, :k]]  # [N, k, 4]
    pairs = sum((emb[:, f] * emb[:, g]).sum(-1) for f in range(k) for g in range(f + 1, k))
    expected = ds.info["bias"] + w[np.arange(k), x[:, :k]].sum(1) + pairs
    np.testing.assert_allclose(logit, expected, rtol=1e-10, atol=1e-10)
    assert abs(logit.std() - 2.0) < 1e-6  # the effect is scaled to `strength`
    # rows that agree on the informative fields share a logit, whatever their noise fields say
    key = x[:, :k] @ np.array([1, 100, 10_000])
    for value in np.unique(key)[:50]:
        assert np.ptp(logit[key == value]) < 1e-9


def test_positive_rate_and_seed():
    a = make_field_importance(n=5_000, positive_rate=0.2, seed=3)
    b = make_field_importance(n=5_000, positive_rate=0.2, seed=3)
    p = np.concatenate([a.info["p_true"][k] for k in ("train", "val", "test")])
    assert abs(p.mean() - 0.2) < 1e-6
    assert (a.train.x == b.train.x).all() and (a.train.y == b.train.y).all()


@pytest.mark.parametrize("kwargs", [dict(n_informative=0), dict(n_noise=-1)])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="n_informative"):
        make_field_importance(n=100, **kwargs)
