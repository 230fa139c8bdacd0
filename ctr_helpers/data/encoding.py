"""Field encoding: raw columns -> per-field local indices (:class:`FieldEncoder`), and the
BARS bucketing of integer counts (:func:`bucketize_counts`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

__all__ = ["bucketize_counts", "FieldEncoder"]


def bucketize_counts(values: Any) -> np.ndarray:
    """Bucket Criteo's integer counts with the BARS / FuxiCTR ``convert_to_bucket`` rule.

    ``floor(ln(v) ** 2)`` for ``v > 2``, else ``int(v)`` (so 0, 1, 2 and the negative values of
    I2 keep their own value). It comes from the 2014 Criteo winners; the buckets widen with v
    (1,382 -> 52, 1,000,000 -> 190). Note that 3 and 4 land in bucket 1 with v = 1, as in BARS.
    Missing values (NaN) stay NaN: :class:`FieldEncoder` gives them their own index.

    >>> bucketize_counts([-1, 0, 2, 3, 4, 5, 1382, float("nan")])
    array([-1.,  0.,  2.,  1.,  1.,  2., 52., nan])
    """
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        big = np.floor(np.log(np.where(v > 2, v, 3.0)) ** 2)
    return np.where(np.isnan(v), np.nan, np.where(v > 2, big, np.trunc(v)))


class FieldEncoder:
    """Turn raw columns into per-field local indices; fitted on the training split only.

    ``numeric`` columns are bucketed with :func:`bucketize_counts` and then treated like
    categoricals; ``categorical`` columns are used as they are. In every field index 0 is
    out-of-vocabulary (a value unseen in ``fit``, or seen fewer than ``min_count`` times) and
    index 1 is "missing"; known values get 2, 3, ... in order of decreasing training count.
    With ``hash_buckets=K`` the categorical columns skip the vocabulary and use the hashing
    trick instead: index ``2 + hash(value) % K`` (a fixed, process-independent hash), so their
    dims are ``K + 2`` whatever the data, and 0 is never used.

    ``fit(frame)`` then ``transform(frame) -> LongTensor [N, F]``; ``field_names`` and
    ``field_dims`` describe the output, in the order numeric then categorical.

    >>> train = pd.DataFrame({"site": ["a", "b", "a", None]})
    >>> enc = FieldEncoder(categorical=["site"]).fit(train)
    >>> enc.field_dims, enc.transform(pd.DataFrame({"site": ["a", "b", "z", None]})).tolist()
    ([4], [[2], [3], [0], [1]])
    """

    OOV = 0
    MISSING = 1

    def __init__(
        self,
        numeric: Sequence[str] = (),
        categorical: Sequence[str] = (),
        *,
        min_count: int = 1,
        hash_buckets: int | None = None,
    ) -> None:
        self.numeric = list(numeric)
        self.categorical = list(categorical)
        if isinstance(numeric, str) or isinstance(categorical, str):
            raise TypeError("numeric and categorical must be lists of column names, not a string")
        if not self.numeric and not self.categorical:
            raise ValueError("FieldEncoder needs at least one numeric or categorical column")
        both = set(self.numeric) & set(self.categorical)
        if both:
            raise ValueError(f"columns listed as both numeric and categorical: {sorted(both)}")
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"min_count must be an integer >= 1, got {min_count!r}")
        if hash_buckets is not None and (
            isinstance(hash_buckets, bool) or not isinstance(hash_buckets, int) or hash_buckets < 1
        ):
            raise ValueError(f"hash_buckets must be None or an integer >= 1, got {hash_buckets!r}")
        self.min_count = min_count
        self.hash_buckets = hash_buckets
        self.vocab_: dict[str, pd.Index] | None = None

    @property
    def field_names(self) -> list[str]:
        """The output columns: the numeric columns, then the categorical ones."""
        return self.numeric + self.categorical

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` has run."""
        return self.vocab_ is not None

    @property
    def field_dims(self) -> list[int]:
        """Values per output field: 2 (OOV, missing) plus the vocabulary or ``hash_buckets``."""
        self._check_fitted("field_dims")
        dims = [2 + len(self.vocab_[c]) for c in self.numeric]
        if self.hash_buckets is None:
            return dims + [2 + len(self.vocab_[c]) for c in self.categorical]
        return dims + [2 + self.hash_buckets] * len(self.categorical)

    def __repr__(self) -> str:
        state = "fitted" if self.is_fitted else "not fitted"
        hashing = f", hash_buckets={self.hash_buckets}" if self.hash_buckets else ""
        return (
            f"FieldEncoder({len(self.numeric)} numeric, {len(self.categorical)} categorical, "
            f"min_count={self.min_count}{hashing}; {state})"
        )

    def _check_fitted(self, what: str) -> None:
        if self.vocab_ is None:
            raise RuntimeError(
                f"FieldEncoder.{what} needs a fitted encoder: call .fit(train_frame) first "
                "(fit on the training split only)"
            )

    def _check_frame(self, frame: Any, method: str) -> None:
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(
                f"FieldEncoder.{method} expects a pandas DataFrame, got {type(frame).__name__}"
            )
        missing = [c for c in self.field_names if c not in frame.columns]
        if missing:
            raise KeyError(
                f"FieldEncoder.{method}: column(s) {missing} not in the frame; "
                f"it has {list(frame.columns)}"
            )

    def _tokens(self, frame: pd.DataFrame, column: str) -> tuple[pd.Series, np.ndarray]:
        """The values to look up for ``column`` (bucketed if numeric) and its missing mask."""
        col = frame[column]
        missing = col.isna().to_numpy()
        if column in self.numeric:
            values = pd.to_numeric(col, errors="coerce")
            bad = values.isna().to_numpy() & ~missing
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise TypeError(
                    f"numeric column {column!r} holds a non-number, {col.iloc[row]!r} at row "
                    f"{frame.index[row]!r}; list it as categorical or clean it"
                )
            return pd.Series(bucketize_counts(values.to_numpy())), missing
        if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
            # ids stored as numbers: compare as floats, so 369 (int column) == 369.0 (a float
            # column, as pandas makes it when the same ids have gaps) in every split
            return pd.Series(col.to_numpy(dtype=np.float64, na_value=np.nan)), missing
        return pd.Series(col.astype(object).to_numpy()).astype(str), missing

    def fit(self, frame: pd.DataFrame) -> FieldEncoder:
        """Learn each field's vocabulary from ``frame`` (the training split). Returns self."""
        self._check_frame(frame, "fit")
        vocab = {}
        for column in self.field_names:
            if column in self.categorical and self.hash_buckets is not None:
                vocab[column] = pd.Index([])
                continue
            tokens, missing = self._tokens(frame, column)
            counts = tokens[~missing].value_counts()
            counts = counts[counts >= self.min_count]
            # decreasing count, ties broken by value so the result does not depend on row order
            table = pd.DataFrame({"value": counts.index, "count": counts.to_numpy()})
            table = table.sort_values(["count", "value"], ascending=[False, True], kind="stable")
            vocab[column] = pd.Index(table["value"].to_numpy())
        self.vocab_ = vocab
        return self

    def transform(self, frame: pd.DataFrame) -> torch.Tensor:
        """LongTensor ``[N, F]`` of local indices (0 = OOV, 1 = missing) for ``frame``'s rows."""
        self._check_fitted("transform")
        self._check_frame(frame, "transform")
        out = np.empty((len(frame), len(self.field_names)), dtype=np.int64)
        for f, column in enumerate(self.field_names):
            tokens, missing = self._tokens(frame, column)
            if column in self.categorical and self.hash_buckets is not None:
                hashed = pd.util.hash_array(tokens.astype(str).to_numpy(dtype=object))
                idx = 2 + (hashed % np.uint64(self.hash_buckets)).astype(np.int64)
            else:
                pos = self.vocab_[column].get_indexer(tokens)
                idx = np.where(pos >= 0, pos + 2, self.OOV)
            out[:, f] = np.where(missing, self.MISSING, idx)
        return torch.from_numpy(out)

    def fit_transform(self, frame: pd.DataFrame) -> torch.Tensor:
        """``fit(frame)`` then ``transform(frame)`` (only for the training split)."""
        return self.fit(frame).transform(frame)
