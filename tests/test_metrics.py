"""Metrics against their definitions, computed the slow, obvious way."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from ctr_helpers.metrics import auc, ece, logloss, normalized_entropy, reliability_curve


def auc_by_pairs(y, p):
    """P(score of a click > score of a non-click), ties counting half, over all pairs."""
    pos = [pi for yi, pi in zip(y, p, strict=True) if yi == 1]
    neg = [pi for yi, pi in zip(y, p, strict=True) if yi == 0]
    wins = sum((a > b) + 0.5 * (a == b) for a, b in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_auc_is_the_pairwise_ranking_probability():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    p = np.round(rng.random(60), 1)  # rounding makes ties
    assert auc(y, p) == pytest.approx(auc_by_pairs(y, p))
    assert auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert auc([0, 0, 1, 1], [0.4, 0.3, 0.2, 0.1]) == 0.0
    assert auc(torch.tensor([0.0, 1.0]), torch.tensor([0.5, 0.5])) == 0.5


def test_logloss_and_normalized_entropy():
    y = np.array([1, 0, 1, 1, 0])
    p = np.array([0.9, 0.2, 0.6, 0.4, 0.5])
    by_hand = -np.mean([np.log(0.9), np.log(0.8), np.log(0.6), np.log(0.4), np.log(0.5)])
    assert logloss(y, p) == pytest.approx(by_hand)
    assert np.isfinite(logloss([1], [0.0]))  # clipped, not infinite
    # NE: predicting the base rate everywhere scores exactly 1.
    r = y.mean()
    assert normalized_entropy(y, np.full(5, r)) == pytest.approx(1.0)
    assert normalized_entropy(y, p) == pytest.approx(
        by_hand / -(r * np.log(r) + (1 - r) * np.log(1 - r))
    )


def test_reliability_curve_and_ece_by_hand():
    p = np.array([0.05, 0.05, 0.15, 0.85, 0.85, 0.85, 0.85])
    y = np.array([0, 1, 0, 1, 1, 1, 0])
    mean_pred, frac_pos, count = reliability_curve(y, p, n_bins=10)
    np.testing.assert_allclose(mean_pred, [0.05, 0.15, 0.85])  # empty bins are left out
    np.testing.assert_allclose(frac_pos, [0.5, 0.0, 0.75])
    np.testing.assert_array_equal(count, [2, 1, 4])
    expected = (2 * 0.45 + 1 * 0.15 + 4 * 0.1) / 7
    assert ece(y, p) == pytest.approx(expected)
    assert reliability_curve([1], [1.0], n_bins=4)[2].tolist() == [1]  # p = 1 in the last bin


def test_ece_small_when_calibrated_large_when_not():
    rng = np.random.default_rng(1)
    p = rng.beta(1, 4, 50_000)
    y = rng.random(50_000) < p
    assert ece(y, p) < 0.01
    assert ece(y, np.clip(p + 0.2, 0, 1)) == pytest.approx(0.2, abs=0.02)


@pytest.mark.parametrize("fn", [auc, logloss, normalized_entropy, ece, reliability_curve])
def test_clear_errors(fn):
    with pytest.raises(ValueError, match="different lengths"):
        fn([0, 1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="NaN prediction.*row 1"):
        fn([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match=r"\[0, 1\].*logits"):
        fn([0, 1], [0.1, 2.5])
    with pytest.raises(ValueError, match="0/1 labels"):
        fn([0, 2], [0.1, 0.2])


@pytest.mark.parametrize("fn", [auc, normalized_entropy])
def test_single_class_is_an_error_where_it_matters(fn):
    with pytest.raises(ValueError, match="single class"):
        fn([1, 1, 1], [0.1, 0.2, 0.3])
