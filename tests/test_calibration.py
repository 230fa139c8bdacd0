"""Calibration: the downsampling correction recovers true rates; Platt and isotonic repair a
deliberately miscalibrated model on held-out data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ctr_helpers.calibration import IsotonicCalibrator, PlattScaler, downsampling_correction
from ctr_helpers.metrics import auc, ece


def test_downsampling_correction_formula():
    p = np.array([0.0, 0.1, 0.5, 0.9, 1.0])
    w = 0.25
    q = downsampling_correction(p, w)
    np.testing.assert_allclose(q, p / (p + (1 - p) / w))
    # It divides the odds by 1 / w ...
    inner = slice(1, 4)
    np.testing.assert_allclose(q[inner] / (1 - q[inner]), w * p[inner] / (1 - p[inner]))
    # ... keeps 0 and 1, is the identity at w = 1 and works on tensors and floats.
    assert q[0] == 0 and q[-1] == 1
    np.testing.assert_allclose(downsampling_correction(p, 1.0), p)
    assert torch.is_tensor(downsampling_correction(torch.tensor([0.5]), 0.5))
    assert downsampling_correction(0.5, 0.5) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        downsampling_correction(p, 0.0)


def test_downsampling_correction_recovers_the_true_rate():
    # Three segments with known CTRs; keep every click and 5% of the non-clicks. The best a model
    # can learn on the downsampled data is each segment's rate there; correcting it must give
    # back the true CTR within sampling error.
    rng = np.random.default_rng(0)
    true = np.array([0.005, 0.02, 0.1])
    n = 400_000
    seg = rng.integers(0, 3, n)
    y = rng.random(n) < true[seg]
    w = 0.05
    keep = y | (rng.random(n) < w)
    seg_s, y_s = seg[keep], y[keep]
    p_down = np.array([y_s[seg_s == s].mean() for s in range(3)])
    assert np.all(p_down > 2 * true)  # downsampled rates are badly inflated
    q = downsampling_correction(p_down, w)
    # Standard error of the corrected estimate, by the delta method on p_down's binomial error:
    # dq/dp = w / (p w + 1 - p)^2.
    n_s = np.array([(seg_s == s).sum() for s in range(3)])
    se = np.sqrt(p_down * (1 - p_down) / n_s) * w / (p_down * w + 1 - p_down) ** 2
    assert np.all(np.abs(q - true) < 4 * se), (q, true, se)
    assert np.all(np.abs(q - true) / true < 0.1)


@pytest.fixture(scope="module")
def miscalibrated():
    """True probabilities, labels, and an over-confident, shifted model's predictions."""
    rng = np.random.default_rng(0)
    n = 40_000
    z = rng.normal(-1.5, 1.0, n)  # true logits
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(float)
    logits = 2.5 * z + 1.0  # same ranking, wrong probabilities
    half = n // 2
    return (logits[:half], y[:half]), (logits[half:], y[half:])


@pytest.mark.parametrize("cls", [PlattScaler, IsotonicCalibrator])
def test_calibrators_lower_ece_on_held_out_data(cls, miscalibrated):
    (fit_logits, fit_y), (test_logits, test_y) = miscalibrated
    before = 1 / (1 + np.exp(-test_logits))
    cal = cls().fit(fit_logits, fit_y)
    after = cal.transform(test_logits)
    assert ece(test_y, before) > 0.1
    assert ece(test_y, after) < 0.02
    assert auc(test_y, after) == pytest.approx(auc(test_y, before), abs=0.005)


def test_platt_recovers_the_distortion_and_accepts_probabilities(miscalibrated):
    (fit_logits, fit_y), _ = miscalibrated
    platt = PlattScaler().fit(fit_logits, fit_y)
    # logits = 2.5 z + 1, so z = 0.4 * logits - 0.4
    assert platt.a == pytest.approx(0.4, abs=0.03) and platt.b == pytest.approx(-0.4, abs=0.05)
    probs = 1 / (1 + np.exp(-fit_logits))
    from_probs = PlattScaler().fit(probs, fit_y)
    assert from_probs.a == pytest.approx(platt.a, rel=1e-3)
    np.testing.assert_allclose(
        from_probs.transform(probs), platt.transform(fit_logits), rtol=1e-3, atol=1e-6
    )


def test_calibrator_errors():
    with pytest.raises(RuntimeError, match="not fitted"):
        PlattScaler().transform([0.1])
    with pytest.raises(RuntimeError, match="not fitted"):
        IsotonicCalibrator().transform([0.1])
    with pytest.raises(ValueError, match="single class"):
        PlattScaler().fit([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="outside"):
        IsotonicCalibrator(scores="prob").fit([0.1, 1.5], [0, 1])


@pytest.mark.parametrize("cls", [PlattScaler, IsotonicCalibrator])
def test_what_the_calibrator_was_fitted_on_is_kept_for_every_transform(cls):
    # Fitted on logits (auto: the fit data reach outside [0, 1]), a calibrator must read later
    # scores as logits too, even ones that happen to lie in [0, 1]: 0.2 / 0.5 / 0.9 are logits
    # here, not probabilities (they once came back as 0.204 / 0.505 / 0.901).
    rng = np.random.default_rng(1)
    z = rng.normal(0.0, 2.0, 20_000)
    y = (rng.random(len(z)) < 1 / (1 + np.exp(-z))).astype(float)  # calibrated logits
    cal = cls().fit(z, y)
    assert cal.fitted_on_ == "logit"
    small = np.array([0.2, 0.5, 0.9])
    if cls is PlattScaler:
        expected = 1 / (1 + np.exp(-(cal.a * small + cal.b)))
        np.testing.assert_allclose(expected, 1 / (1 + np.exp(-small)), atol=0.03)  # a~1, b~0
    else:
        expected = cal.model_.predict(small)
    np.testing.assert_allclose(cal.transform(small), expected, rtol=1e-12)
    assert np.all(np.abs(cal.transform(small) - small) > 0.1)  # not read as probabilities
    # fitted on probabilities, scores outside [0, 1] are refused, not silently read as logits
    p = 1 / (1 + np.exp(-z))
    from_probs = cls().fit(p, y)
    assert from_probs.fitted_on_ == "prob"
    with pytest.raises(ValueError, match=r"row 1 has 1\.5, outside \[0, 1\]"):
        from_probs.transform([0.3, 1.5])
