"""Criteo: readers for the raw DAC / Kaggle layout and the CSV samples, and
:func:`load_criteo_sample` (the 1,999-row public sample, encoded and split)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .containers import CTRDataset, CTRSplit
from .download import fetch
from .encoding import FieldEncoder
from .splits import _SPLIT_NAMES, _split_indices

__all__ = [
    "CRITEO_INT_COLUMNS",
    "CRITEO_CAT_COLUMNS",
    "read_criteo_dac",
    "read_criteo_csv",
    "read_criteo_sample",
    "load_criteo_sample",
]

CRITEO_INT_COLUMNS: list[str] = [f"I{i}" for i in range(1, 14)]
CRITEO_CAT_COLUMNS: list[str] = [f"C{i}" for i in range(1, 27)]


def _criteo_dtypes() -> dict[str, Any]:
    return {
        **dict.fromkeys(CRITEO_INT_COLUMNS, "float64"),
        **dict.fromkeys(CRITEO_CAT_COLUMNS, str),
    }


def read_criteo_dac(
    path: str | os.PathLike, *, nrows: int | None = None, has_label: bool = True
) -> pd.DataFrame:
    """Read the raw Kaggle / DAC layout: ``label<TAB>I1..I13<TAB>C1..C26``, no header.

    Empty fields are missing (NaN). Counts come back as float64 (NaN needs a float), the hashed
    categoricals as strings. ``has_label=False`` reads Kaggle's ``test.txt`` (no label column).
    Columns: ``label`` (if present), ``I1`` .. ``I13``, ``C1`` .. ``C26``.
    """
    names = (["label"] if has_label else []) + CRITEO_INT_COLUMNS + CRITEO_CAT_COLUMNS
    dtypes = _criteo_dtypes() | ({"label": "int64"} if has_label else {})
    frame = pd.read_csv(
        path,
        sep="\t",
        header=None,
        names=names,
        dtype=dtypes,
        nrows=nrows,
        na_values=[""],
        keep_default_na=False,
    )
    return frame


def read_criteo_csv(path: str | os.PathLike, *, nrows: int | None = None) -> pd.DataFrame:
    """Read a comma-separated Criteo sample with a header (``train.tiny.csv``, DeepCTR's sample).

    An ``Id`` column is dropped and ``Label`` renamed ``label``, so the result has the same
    columns as :func:`read_criteo_dac`.
    """
    frame = pd.read_csv(
        path, dtype=_criteo_dtypes(), nrows=nrows, keep_default_na=False, na_values=[""]
    )
    frame = frame.rename(columns={"Label": "label"}).drop(columns=["Id"], errors="ignore")
    frame["label"] = frame["label"].astype(np.int64)
    return frame[["label", *CRITEO_INT_COLUMNS, *CRITEO_CAT_COLUMNS]]


def read_criteo_sample(
    data_home: str | os.PathLike | None = None, *, progress: bool = True
) -> pd.DataFrame:
    """The first 1,999 rows of the Criteo Kaggle train set (``train.tiny.csv``), as a DataFrame.

    Downloaded from the public URL in :data:`REMOTE_FILES` and sha256-checked on first use.
    """
    return read_criteo_csv(fetch("criteo_sample/train.tiny.csv", data_home, progress=progress))


def load_criteo_sample(
    data_home: str | os.PathLike | None = None,
    *,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 2021,
    min_count: int = 2,
    hash_buckets: int | None = None,
    frame: pd.DataFrame | None = None,
    progress: bool = True,
) -> CTRDataset:
    """The real Criteo sample (1,999 rows, 39 fields) encoded, split at random with ``seed``.

    A :class:`FieldEncoder` (I1..I13 bucketed, C1..C26 with ``min_count`` and an OOV index, or
    hashed into ``hash_buckets``) is fitted on the train rows only and kept in
    ``info["encoder"]``; ``info["frame"]`` holds the raw rows. Pass ``frame`` (e.g. from
    :func:`read_criteo_dac` on the full data set) to encode other rows the same way.
    """
    if frame is None:
        frame = read_criteo_sample(data_home, progress=progress)
    frame = frame.reset_index(drop=True)
    parts = _split_indices(len(frame), fractions, seed=seed)
    if len(parts) != 3:
        raise ValueError(f"fractions must give train, val and test, got {list(fractions)}")
    encoder = FieldEncoder(
        CRITEO_INT_COLUMNS, CRITEO_CAT_COLUMNS, min_count=min_count, hash_buckets=hash_buckets
    )
    encoder.fit(frame.iloc[parts[0]])
    y = frame["label"].to_numpy(dtype=np.float32)
    splits = [CTRSplit(encoder.transform(frame.iloc[idx]), y[idx]) for idx in parts]
    return CTRDataset(
        *splits,
        encoder.field_names,
        encoder.field_dims,
        "criteo_sample",
        info={
            "encoder": encoder,
            "frame": frame,
            "indices": dict(zip(_SPLIT_NAMES, parts, strict=True)),
        },
    )
