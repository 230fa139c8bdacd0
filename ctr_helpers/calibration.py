"""Turning scores into probabilities you can trust.

- :class:`PlattScaler`: fit ``q = sigmoid(a * logit(p) + b)`` on held-out data (Platt 1999).
  Two parameters; fixes a model that is uniformly over- or under-confident or shifted.
- :class:`IsotonicCalibrator`: fit the best non-decreasing step function from score to rate
  (Zadrozny & Elkan 2002). Fixes any monotone distortion; needs more held-out data.
- :func:`downsampling_correction`: the exact correction after keeping only a fraction ``w`` of
  the negatives when training: ``q = p / (p + (1 - p) / w)`` (He et al., ADKDD 2014).

Both calibrators share one API: ``.fit(scores, y)`` returns the calibrator, ``.transform(scores)``
returns probabilities (a NumPy array; empty for empty scores), and ``fit_transform``; ``fit`` on
no scores raises ``ValueError``. ``scores`` are probabilities or logits, decided once, at fit
time: with ``scores="auto"`` (the default) the fit data decide
(all within [0, 1]: probabilities, else logits), and every later ``transform`` reads its scores
the same way (``fitted_on_``, ``"prob"`` or ``"logit"``), whatever their range. Pass
``scores="logit"`` or ``scores="prob"`` to say which (logits that all happen to lie in [0, 1]
need ``"logit"``). Fit on a validation split, never on the data you report the calibrated
metrics on.
"""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from ctr_helpers.metrics import EPS, ArrayLike, _as_1d, _check

__all__ = ["IsotonicCalibrator", "PlattScaler", "downsampling_correction"]


def _scores_array(s: ArrayLike) -> np.ndarray:
    s = _as_1d(s, "scores")
    if np.isnan(s).any():
        raise ValueError(f"scores contain NaN at row {np.flatnonzero(np.isnan(s))[0]}")
    return s


def _to_logits(s: np.ndarray, kind: str) -> np.ndarray:
    """``s`` as logits: as it is for ``kind="logit"``, ``logit(clip(s))`` for ``"prob"``."""
    if kind == "logit":
        return s
    bad = np.flatnonzero((s < 0) | (s > 1))
    if len(bad):
        raise ValueError(
            f"scores are read as probabilities (scores='prob', or decided at fit time) but row "
            f"{bad[0]} has {float(s[bad[0]])!r}, outside [0, 1] ({len(bad)} row(s))"
        )
    s = np.clip(s, EPS, 1 - EPS)
    return np.log(s) - np.log1p(-s)


class _Calibrator:
    scores: str
    fitted_on_: str | None = None  # "prob" or "logit", decided by fit

    def fit_transform(self, s: ArrayLike, y: ArrayLike) -> np.ndarray:
        return self.fit(s, y).transform(s)

    def _fit_inputs(self, s: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        if self.scores not in ("auto", "prob", "logit"):
            raise ValueError(f"scores must be 'auto', 'prob' or 'logit', got {self.scores!r}")
        s = _scores_array(s)
        if len(s) == 0:
            raise ValueError(f"no scores to fit {type(self).__name__} on: scores is empty")
        kind = self.scores
        if kind == "auto":
            kind = "prob" if s.min() >= 0 and s.max() <= 1 else "logit"
        z = _to_logits(s, kind)
        y, _ = _check(y, np.zeros_like(z), both_classes=True)
        if len(y) != len(z):
            raise ValueError(f"scores and y have different lengths: {len(z)} vs {len(y)}")
        self.fitted_on_ = kind
        return z, y

    def _transform_inputs(self, s: ArrayLike) -> np.ndarray:
        """``s`` as logits, read as the fit data were (``fitted_on_``)."""
        return _to_logits(_scores_array(s), self.fitted_on_)


class PlattScaler(_Calibrator):
    """Platt scaling: ``q = sigmoid(a * z + b)`` where ``z`` is the model's logit.

    ``a`` and ``b`` are fitted by (unregularised) logistic regression of ``y`` on ``z``; after
    fitting they are ``self.a`` and ``self.b``. ``a < 1`` means the model was over-confident.
    """

    def __init__(self, scores: str = "auto") -> None:
        self.scores = scores
        self.a: float | None = None
        self.b: float | None = None

    def fit(self, s: ArrayLike, y: ArrayLike) -> PlattScaler:
        z, y = self._fit_inputs(s, y)
        lr = LogisticRegression(C=np.inf, solver="lbfgs", max_iter=1000)
        lr.fit(z[:, None], y)
        self.a, self.b = float(lr.coef_[0, 0]), float(lr.intercept_[0])
        return self

    def transform(self, s: ArrayLike) -> np.ndarray:
        if self.a is None:
            raise RuntimeError("PlattScaler is not fitted yet: call .fit(scores, y) first")
        z = self._transform_inputs(s)
        return 1.0 / (1.0 + np.exp(-(self.a * z + self.b)))


class IsotonicCalibrator(_Calibrator):
    """Isotonic regression: the non-decreasing step function of the score that best fits ``y``
    in squared error (scikit-learn's ``IsotonicRegression``); scores outside the fitted range are
    clipped to it. The fitted model is ``self.model_``."""

    def __init__(self, scores: str = "auto") -> None:
        self.scores = scores
        self.model_: IsotonicRegression | None = None

    def fit(self, s: ArrayLike, y: ArrayLike) -> IsotonicCalibrator:
        z, y = self._fit_inputs(s, y)
        self.model_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(z, y)
        return self

    def transform(self, s: ArrayLike) -> np.ndarray:
        if self.model_ is None:
            raise RuntimeError("IsotonicCalibrator is not fitted yet: call .fit(scores, y) first")
        z = self._transform_inputs(s)
        return self.model_.predict(z) if len(z) else np.zeros(0)  # sklearn refuses 0 rows


def downsampling_correction(p: ArrayLike, w: float) -> ArrayLike:
    """Undo negative downsampling: ``q = p / (p + (1 - p) / w)``.

    If a model was trained on data where each negative was kept with probability ``w`` (all
    positives kept), its odds are ``1 / w`` times too high; dividing the odds by ``1 / w`` gives
    the probability on the original data. ``p`` may be a float, NumPy array or torch tensor; the
    result has the same type. A ``p`` outside [0, 1] (a logit passed by mistake) or NaN raises
    ``ValueError`` naming the first such row (of ``p`` flattened).

    >>> downsampling_correction(0.5, 0.1)  # odds 1 -> 0.1
    0.09090909090909091
    """
    if not 0 < w <= 1:
        raise ValueError(f"w is the fraction of negatives kept, must be in (0, 1], got {w}")
    flat = p.detach().cpu().double().numpy() if hasattr(p, "detach") else p  # torch tensor
    flat = np.asarray(flat, dtype=np.float64).reshape(-1)
    bad = np.flatnonzero(~((flat >= 0) & (flat <= 1)))  # NaN included
    if len(bad):
        raise ValueError(
            f"p must be probabilities in [0, 1] (sigmoid of the logits); row {bad[0]} has "
            f"{float(flat[bad[0]])!r} ({len(bad)} row(s) outside [0, 1])"
        )
    return p / (p + (1 - p) / w)
