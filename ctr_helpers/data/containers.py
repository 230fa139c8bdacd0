"""The two containers every loader returns: :class:`CTRSplit` (one split) and :class:`CTRDataset`.

``x`` is a ``[N, F]`` LongTensor of **per-field local indices** (field ``f`` takes values
``0 .. field_dims[f] - 1``; models add the offsets) and ``y`` a ``[N]`` FloatTensor of 0/1.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

__all__ = ["CTRSplit", "CTRDataset"]


@dataclass(repr=False)
class CTRSplit:
    """One split: ``x`` LongTensor ``[N, F]`` of per-field local indices, ``y`` FloatTensor ``[N]``.

    ``x, y = split`` unpacks it, ``len(split)`` is N, ``split.subset(idx)`` selects rows
    (indices, a boolean mask or a slice) and ``split.positive_rate`` is the mean label.
    NumPy arrays are accepted and converted.

    >>> s = CTRSplit(torch.tensor([[0, 1], [1, 0], [1, 1]]), torch.tensor([1, 0, 1]))
    >>> s
    CTRSplit(3 rows x 2 fields, positive rate 0.6667)
    >>> x, y = s.subset([0, 2])
    >>> x.shape, y.tolist()
    (torch.Size([2, 2]), [1.0, 1.0])
    """

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        x = torch.as_tensor(self.x)
        y = torch.as_tensor(self.y)
        if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
            raise TypeError(f"CTRSplit.x must hold integer field indices, got dtype {x.dtype}")
        if x.dim() != 2:
            raise ValueError(f"CTRSplit.x must be 2-D [N, F], got shape {tuple(x.shape)}")
        if y.dim() != 1 or y.shape[0] != x.shape[0]:
            raise ValueError(
                f"CTRSplit.y must be 1-D with one label per row of x ({x.shape[0]} rows), "
                f"got shape {tuple(y.shape)}"
            )
        self.x = x.long()
        self.y = y.float()

    def __len__(self) -> int:
        return self.x.shape[0]

    def __iter__(self) -> Iterator[torch.Tensor]:
        yield self.x
        yield self.y

    def __repr__(self) -> str:
        return (
            f"CTRSplit({len(self):,} rows x {self.num_fields} fields, "
            f"positive rate {self.positive_rate:.4f})"
        )

    @property
    def num_fields(self) -> int:
        """F, the number of columns of ``x``."""
        return self.x.shape[1]

    @property
    def positive_rate(self) -> float:
        """Fraction of rows with label 1 (nan for an empty split)."""
        return float(self.y.mean()) if len(self) else float("nan")

    def subset(self, idx: Any) -> CTRSplit:
        """Rows ``idx`` (LongTensor / array / list of indices, boolean mask, slice or range)."""
        if isinstance(idx, range):
            idx = slice(idx.start, idx.stop, idx.step)
        if not isinstance(idx, slice):
            idx = torch.as_tensor(np.asarray(idx) if isinstance(idx, list) else idx)
            if idx.dtype != torch.bool:
                idx = idx.long()
        return CTRSplit(self.x[idx], self.y[idx])


@dataclass(repr=False)
class CTRDataset:
    """Train / validation / test splits that share one field schema.

    ``field_dims[f]`` is the number of values of field ``f``; every split's ``x[:, f]`` lies in
    ``0 .. field_dims[f] - 1`` (checked on construction). ``info`` holds extras: the fitted
    encoder (Criteo), the planted ground truth (synthetic data), the seed (Frappe).
    ``print(ds)`` gives a short summary.
    """

    train: CTRSplit
    val: CTRSplit
    test: CTRSplit
    field_names: list[str]
    field_dims: list[int]
    name: str
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.field_names = list(self.field_names)
        self.field_dims = [int(d) for d in self.field_dims]
        if len(self.field_names) != len(self.field_dims):
            raise ValueError(
                f"{len(self.field_names)} field names but {len(self.field_dims)} field dims"
            )
        dims = torch.tensor(self.field_dims)
        for split_name in ("train", "val", "test"):
            split = getattr(self, split_name)
            if isinstance(split, tuple):
                split = CTRSplit(*split)
                setattr(self, split_name, split)
            if split.num_fields != len(self.field_dims):
                raise ValueError(
                    f"{self.name}.{split_name} has {split.num_fields} fields, "
                    f"expected {len(self.field_dims)} ({', '.join(self.field_names)})"
                )
            if len(split) == 0:
                continue
            if split.x.amin().item() >= 0 and bool((split.x.amax(dim=0) < dims).all()):
                continue
            bad = (split.x < 0) | (split.x >= dims)
            if bad.any():
                row, f = (int(v) for v in bad.nonzero()[0])
                raise ValueError(
                    f"{self.name}.{split_name}: field {self.field_names[f]!r} has value "
                    f"{int(split.x[row, f])} at row {row}, outside 0..{self.field_dims[f] - 1}"
                )

    @property
    def num_features(self) -> int:
        """Total number of feature values, ``sum(field_dims)`` (rows of one embedding table)."""
        return sum(self.field_dims)

    def summary(self) -> str:
        """A few lines: rows and positive rate per split, then the fields with their sizes."""
        lines = [
            f"CTRDataset {self.name!r}: {len(self.field_dims)} fields, "
            f"{self.num_features:,} feature values"
        ]
        for split_name in ("train", "val", "test"):
            split = getattr(self, split_name)
            lines.append(
                f"  {split_name:<5} {len(split):>10,} rows   positive rate {split.positive_rate:.4f}"
            )
        fields = ", ".join(
            f"{n} ({d:,})" for n, d in zip(self.field_names, self.field_dims, strict=True)
        )
        lines.append(f"  fields: {fields}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()
