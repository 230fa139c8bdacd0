"""Splits of a :class:`CTRSplit`: :func:`random_split` (shuffled with a seed) and
:func:`time_split` (earliest rows first). The loaders use :func:`_split_indices` too."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .containers import CTRSplit

__all__ = ["random_split", "time_split"]

_SPLIT_NAMES = ("train", "val", "test")


def _split_indices(
    n: int, fractions: Sequence[float], *, seed: int | None = None
) -> list[np.ndarray]:
    """Row indices of consecutive parts of sizes ``fractions * n``; shuffled first if ``seed``."""
    fr = np.asarray(fractions, dtype=np.float64)
    if fr.ndim != 1 or len(fr) < 2 or (fr < 0).any() or abs(fr.sum() - 1.0) > 1e-6:
        raise ValueError(
            f"fractions must be >= 2 non-negative numbers summing to 1, got {fractions}"
        )
    bounds = np.round(np.cumsum(fr) * n).astype(np.int64)
    bounds[-1] = n
    rows = np.arange(n) if seed is None else np.random.default_rng(seed).permutation(n)
    return [np.sort(p) if seed is not None else p for p in np.split(rows, bounds[:-1])]


def _as_split(data: CTRSplit | tuple) -> CTRSplit:
    return data if isinstance(data, CTRSplit) else CTRSplit(*data)


def random_split(
    data: CTRSplit | tuple[torch.Tensor, torch.Tensor],
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    *,
    seed: int,
) -> tuple[CTRSplit, ...]:
    """Shuffle rows with ``seed`` (required, so the split is reproducible) and cut by fractions.

    Each part keeps its rows in their original relative order. Returns one CTRSplit per fraction.

    >>> data = CTRSplit(torch.zeros(10, 3, dtype=torch.long), torch.zeros(10))
    >>> [len(part) for part in random_split(data, (0.6, 0.2, 0.2), seed=0)]
    [6, 2, 2]
    """
    data = _as_split(data)
    return tuple(data.subset(idx) for idx in _split_indices(len(data), fractions, seed=seed))


def time_split(
    data: CTRSplit | tuple[torch.Tensor, torch.Tensor],
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    *,
    time: Any = None,
) -> tuple[CTRSplit, ...]:
    """Earliest rows first: train is the past, test the future. No shuffling, no seed.

    ``time`` (one value per row) orders the rows (ties keep their order); without it the rows
    are taken to be in time order already.

    >>> data = CTRSplit(torch.arange(5).view(5, 1), torch.zeros(5))
    >>> past, future = time_split(data, (0.6, 0.4), time=[40, 30, 20, 10, 0])
    >>> past.x.view(-1).tolist(), future.x.view(-1).tolist()
    ([4, 3, 2], [1, 0])
    """
    data = _as_split(data)
    parts = _split_indices(len(data), fractions)
    if time is not None:
        t = np.asarray(time)
        if t.shape != (len(data),):
            raise ValueError(f"time must have one value per row ({len(data)}), got shape {t.shape}")
        order = np.argsort(t, kind="stable")
        parts = [order[p] for p in parts]
    return tuple(data.subset(idx) for idx in parts)
