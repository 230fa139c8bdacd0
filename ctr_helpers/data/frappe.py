"""Frappe: the BARS Frappe_x1 split, :func:`load_frappe` (train rebuilt from the raw log).

Validation and test are NFM's libFM files exactly; NFM's train file is not published, so
:func:`load_frappe` rebuilds it from the raw log in ``Mobile_Frappe.zip`` with the rule in
:func:`_rebuild_frappe_train` and caches the result (``data/README.md`` has the details).
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .containers import CTRDataset, CTRSplit
from .download import (
    REMOTE_FILES,
    ChecksumError,
    MissingFile,
    _atomic_save_npz,
    _BadCache,
    _load_npz,
    fetch_all,
    get_cache_dir,
)

__all__ = ["FRAPPE_FIELDS", "FRAPPE_DIMS", "load_frappe", "read_libfm"]

FRAPPE_FIELDS: list[str] = [
    "user",
    "item",
    "daytime",
    "weekday",
    "isweekend",
    "homework",
    "cost",
    "weather",
    "country",
    "city",
]
FRAPPE_DIMS: list[int] = [957, 4082, 7, 7, 2, 3, 2, 9, 80, 233]
_FRAPPE_CSV = "Mobile_Frappe/frappe/frappe.csv"
_FRAPPE_REBUILD_VERSION = 2  # bump when the rebuild rule changes, so old caches are ignored
_FRAPPE_FILES = (
    "frappe/Mobile_Frappe.zip",
    "frappe/frappe.validation.libfm",
    "frappe/frappe.test.libfm",
)
# rows and positives of each split: what every valid cache file holds (the docstring's sizes)
_FRAPPE_SIZES: dict[str, tuple[int, int]] = {
    "train": (202_027, 67_604),
    "val": (57_722, 19_063),
    "test": (28_860, 9_536),
}


def read_libfm(
    path: str | os.PathLike, field_dims: Sequence[int] = FRAPPE_DIMS
) -> tuple[np.ndarray, np.ndarray]:
    """Read a libFM file with one ``idx:1`` per field, in field order (the NFM Frappe files).

    Returns ``(x, y)``: int64 ``[N, F]`` per-field local indices (global index minus the field's
    offset) and int64 ``[N]`` labels in {0, 1} (libFM's -1 becomes 0).
    """
    return _parse_libfm(Path(path).read_text(), path, field_dims)


def _parse_libfm(
    text: str, path: str | os.PathLike, field_dims: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`read_libfm` of a file's text (``path`` only names it in the errors)."""
    field_dims = list(field_dims)
    n_fields = len(field_dims)
    text = text.replace(":1", " ")
    tokens = np.array(text.split(), dtype=np.int64)
    if tokens.size % (n_fields + 1):
        raise ValueError(f"{path}: expected {n_fields} features on every line")
    table = tokens.reshape(-1, n_fields + 1)
    y = (table[:, 0] > 0).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(field_dims)[:-1]])
    x = table[:, 1:] - offsets
    bad = (x < 0) | (x >= np.asarray(field_dims))
    if bad.any():
        row, f = np.argwhere(bad)[0]
        lo, hi = offsets[f], offsets[f] + field_dims[f] - 1
        raise ValueError(
            f"{path}, line {row + 1}: feature {table[row, f + 1]} is in position {f + 1} but "
            f"outside that field's index range {lo}..{hi}"
        )
    return x, y


def _frappe_raw(zip_path: Path, content: bytes | None = None) -> np.ndarray:
    """The raw log as int64 ``[96203, 10]`` local indices, NFM's mapping (see data/README.md).

    ``content``: the zip's bytes, already read (``zip_path`` then only names it in errors).
    """
    source = zip_path if content is None else io.BytesIO(content)
    with zipfile.ZipFile(source) as zf, zf.open(_FRAPPE_CSV) as f:
        df = pd.read_csv(f, sep="\t", dtype=str)
    cols = []
    for name, dim in zip(FRAPPE_FIELDS, FRAPPE_DIMS, strict=True):
        if name in ("user", "item"):
            codes = df[name].astype(np.int64).to_numpy()
            n_values = int(codes.max()) + 1
        else:  # numbered in order of first appearance in frappe.csv
            codes, uniques = pd.factorize(df[name])
            n_values = len(uniques)
        if n_values != dim or codes.min() < 0:
            raise ValueError(f"{zip_path}: field {name!r} has {n_values} values, expected {dim}")
        cols.append(codes)
    return np.stack(cols, axis=1).astype(np.int64)


def _pack(x: np.ndarray, dims: Sequence[int]) -> np.ndarray:
    """One int64 key per row (mixed-radix number of its field values)."""
    key = np.zeros(len(x), dtype=np.int64)
    for f, d in enumerate(dims):
        key = key * int(d) + x[:, f]
    return key


def _rank_within_key(key: np.ndarray) -> np.ndarray:
    """For each position, how many earlier positions hold the same key (0 for the first)."""
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    rank = np.empty(len(key), dtype=np.int64)
    rank[order] = np.arange(len(key)) - np.searchsorted(sorted_key, sorted_key, side="left")
    return rank


def _count_of(key: np.ndarray, other: np.ndarray) -> np.ndarray:
    """For each entry of ``key``, how many times it occurs in ``other``."""
    values, counts = np.unique(other, return_counts=True)
    pos = np.minimum(np.searchsorted(values, key), len(values) - 1)
    return np.where(values[pos] == key, counts[pos], 0)


def _rebuild_frappe_train(
    raw: np.ndarray,
    held_x: np.ndarray,
    held_y: np.ndarray,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Rebuild NFM's Frappe train split from the raw log and the validation + test rows.

    Positives: the raw rows left after removing the held-out positives (as a multiset).
    Negatives: NFM gave every raw row 2 negatives with the row's user and context, so each
    (user, context) owns 2 x (its raw rows) negative slots; the held-out negatives fill some of
    them, train gets the rest. Each train negative gets an item drawn (with ``seed``) from the
    items its user never used anywhere in the log, without replacement per user and avoiding
    the user's held-out negative items. Rows come in raw-log order, each raw row followed by
    its train negatives.
    """
    keep = _kept_positives(raw, held_x[held_y == 1])
    slot_row, neg_slot = _free_negative_slots(raw, held_x[held_y == 0])
    neg_x = raw[slot_row[neg_slot]].copy()
    _draw_negative_items(neg_x, raw, held_x[held_y == 0], seed)
    return _in_log_order(raw, keep, neg_x, slot_row, neg_slot)


def _kept_positives(raw: np.ndarray, held_pos: np.ndarray) -> np.ndarray:
    """Mask of the raw rows that stay train positives: one dropped per held-out positive."""
    dims = FRAPPE_DIMS
    raw_key = _pack(raw, dims)
    held_pos_key = _pack(held_pos, dims)
    keep = _rank_within_key(raw_key) >= _count_of(raw_key, held_pos_key)
    if len(raw) - keep.sum() != len(held_pos_key):
        raise ValueError(
            "validation/test positives do not all match rows of the raw Frappe log; "
            "the input files are not the NFM Frappe files"
        )
    return keep


def _free_negative_slots(raw: np.ndarray, held_neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The raw row of every negative slot (two per row) and the slots left for train.

    A slot is keyed by (user, context) = every field but the item; each held-out negative
    takes one slot with its key.
    """
    dims = FRAPPE_DIMS
    ctx_cols = [0, *range(2, len(dims))]
    ctx_dims = [dims[f] for f in ctx_cols]
    slot_row = np.repeat(np.arange(len(raw)), 2)
    slot_key = _pack(raw[slot_row][:, ctx_cols], ctx_dims)
    held_neg_key = _pack(held_neg[:, ctx_cols], ctx_dims)
    free = _rank_within_key(slot_key) >= _count_of(slot_key, held_neg_key)
    if (~free).sum() != len(held_neg_key):
        raise ValueError(
            "validation/test negatives do not all keep the (user, context) of a raw Frappe row"
        )
    return slot_row, np.flatnonzero(free)


def _draw_negative_items(
    neg_x: np.ndarray, raw: np.ndarray, held_neg: np.ndarray, seed: int
) -> None:
    """Fill ``neg_x[:, 1]`` (in place) with items drawn with ``seed``, distinct per user.

    NFM never repeats a (user, item) pair among a user's negatives (the 57,983 held-out
    negatives are all distinct pairs; independent draws would repeat ~1,600 of them). So each
    user's train negatives take distinct items, drawn without replacement from the items the
    user never used and that none of the user's held-out negatives took: give every (user,
    item) a random key, drop the forbidden ones, and take each user's smallest keys.
    """
    n_users, n_items = FRAPPE_DIMS[0], FRAPPE_DIMS[1]
    allowed = np.ones((n_users, n_items), dtype=bool)
    allowed[raw[:, 0], raw[:, 1]] = False
    allowed[held_neg[:, 0], held_neg[:, 1]] = False
    need = np.bincount(neg_x[:, 0], minlength=n_users)
    short = np.flatnonzero(need > allowed.sum(axis=1))
    if len(short):
        raise ValueError(f"Frappe user {short[0]} has too few unused items for its negatives")
    rng = np.random.default_rng(seed)
    keys = np.where(allowed, rng.random((n_users, n_items)), 2.0)
    ranked = np.argsort(keys, axis=1)  # per user: allowed items in random order first
    items = ranked[np.arange(n_items) < need[:, None]]  # user-major, need[u] items each
    by_user = np.argsort(neg_x[:, 0], kind="stable")
    neg_x[by_user, 1] = items


def _in_log_order(
    raw: np.ndarray,
    keep: np.ndarray,
    neg_x: np.ndarray,
    slot_row: np.ndarray,
    neg_slot: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Train rows in raw-log order: row i's positive (if kept), then its train negatives."""
    pos_rows = np.flatnonzero(keep)
    order_key = np.concatenate([pos_rows * 3, slot_row[neg_slot] * 3 + 1 + neg_slot % 2])
    order = np.argsort(order_key, kind="stable")
    x = np.concatenate([raw[pos_rows], neg_x])[order]
    y = np.concatenate([np.ones(len(pos_rows)), np.zeros(len(neg_slot))])[order]
    return x, y.astype(np.int64)


def load_frappe(
    data_home: str | os.PathLike | None = None,
    seed: int = 2021,
    *,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> CTRDataset:
    """The Frappe_x1 split of BARS (train 202,027 / val 57,722 / test 28,860 rows, 10 fields).

    Validation and test are NFM's files exactly (the rows the BARS leaderboard reports on).
    Train is rebuilt from the raw log in ``Mobile_Frappe.zip``: its 67,604 positives are the raw
    rows not used as validation/test positives; its 134,423 negatives keep a raw row's user and
    context and swap in an item that user never used, drawn with ``seed`` (NFM's own draw is
    lost), so that every raw row has 2 negatives across the three splits.

    The three files are fetched into the data home (see :func:`fetch_all`: one error names every
    file that could not be had); the rebuilt split is cached as an ``.npz`` in
    :func:`get_cache_dir` (or ``cache_dir``), keyed by the seed and the input checksums, so later
    calls only read it back. A cached file is checked on every load (its members, dtypes, shapes,
    split sizes and value ranges, and the sha256 stored with its arrays); one that fails is
    rebuilt, with a warning naming it.

    Fields: user, item, daytime, weekday, isweekend, homework, cost, weather, country, city with
    ``field_dims`` 957, 4082, 7, 7, 2, 3, 2, 9, 80, 233.
    """
    paths = fetch_all(_FRAPPE_FILES, data_home, progress=progress)
    cache = _frappe_cache_path(seed, cache_dir)
    arrays, bad = _read_frappe_cache(cache)
    if arrays is None:
        arrays = _build_frappe_arrays(paths, seed)
        try:
            _atomic_save_npz(cache, **arrays)
            saved = ""
        except OSError as err:  # caching is an optimisation: an unwritable folder costs a rebuild
            saved = f" (could not save it: {err})"
        if bad:
            warnings.warn(
                f"{cache}: {bad}; rebuilt it from the data files{saved}", UserWarning, stacklevel=2
            )

    def split(prefix: str) -> CTRSplit:
        return CTRSplit(
            torch.from_numpy(arrays[f"{prefix}_x"].astype(np.int64)),
            torch.from_numpy(arrays[f"{prefix}_y"].astype(np.float32)),
        )

    return CTRDataset(
        split("train"),
        split("val"),
        split("test"),
        list(FRAPPE_FIELDS),
        list(FRAPPE_DIMS),
        "frappe_x1",
        info={"seed": seed, "cache": cache},
    )


def _frappe_cache_path(seed: int, cache_dir: str | os.PathLike | None) -> Path:
    """``frappe_x1_seed<seed>_<tag>.npz``, tag = hash of the rebuild version, seed and inputs.

    The inputs enter by the sha256 that :func:`fetch_all` verified them against (and that
    :func:`_build_frappe_arrays` checks again on the bytes it parses), never by a memo.
    """
    tag = hashlib.sha256(
        f"v{_FRAPPE_REBUILD_VERSION}:{seed}:".encode()
        + b"".join(REMOTE_FILES[name].sha256.encode() for name in _FRAPPE_FILES)
    ).hexdigest()[:16]
    cache_root = Path(cache_dir).expanduser() if cache_dir is not None else get_cache_dir()
    return cache_root / f"frappe_x1_seed{seed}_{tag}.npz"


def _read_frappe_cache(path: Path) -> tuple[dict[str, np.ndarray] | None, str]:
    """The six arrays of a cached split, or None and why it cannot be used ("" when absent).

    Checks the members, dtypes and shapes (before reading any data), the sha256 stored with the
    arrays (files written before it existed have none), the labels, the index ranges and the
    positives of every split.
    """
    expected = {}
    for split, (rows, _) in _FRAPPE_SIZES.items():
        expected[f"{split}_x"] = (np.dtype(np.int16), (rows, len(FRAPPE_DIMS)))
        expected[f"{split}_y"] = (np.dtype(np.int8), (rows,))
    try:
        arrays = _load_npz(path, expected)
    except FileNotFoundError:
        return None, ""
    except _BadCache as err:
        return None, " ".join(str(err).split())
    for split, (_, positives) in _FRAPPE_SIZES.items():
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if ((y != 0) & (y != 1)).any():
            return None, f"{split}_y holds labels other than 0 and 1"
        out = (x < 0) | (x >= np.asarray(FRAPPE_DIMS))
        if out.any():
            row, f = np.argwhere(out)[0]
            return None, f"{split}_x row {row}: {FRAPPE_FIELDS[f]} {x[row, f]} is out of range"
        if int(y.sum()) != positives:
            return None, f"{split} has {int(y.sum()):,} positives, expected {positives:,}"
    return arrays, ""


def _verified_bytes(path: Path, name: str) -> bytes:
    """The bytes of data file ``name`` at ``path``, checked against its registry sha256 (so the
    split is built from exactly the content its cache tag names, even if the file was changed
    after :func:`fetch_all` checked it)."""
    remote = REMOTE_FILES[name]
    content = path.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    if digest != remote.sha256:
        reason = f"changed after it was verified: sha256 {digest} ({len(content):,} bytes)"
        raise ChecksumError(
            f"The data file {path} {reason}, expected {remote.sha256} ({remote.size:,} bytes). "
            "Restore it (or delete it and call again to re-download it).",
            [MissingFile(remote, remote.url, path, reason)],
        )
    return content


def _build_frappe_arrays(paths: Sequence[Path], seed: int) -> dict[str, np.ndarray]:
    """Read validation and test, rebuild train: the six arrays, in the compact cached dtypes."""
    zip_path, val_path, test_path = paths
    zip_bytes, val_bytes, test_bytes = map(_verified_bytes, paths, _FRAPPE_FILES)
    val_x, val_y = _parse_libfm(val_bytes.decode(), val_path, FRAPPE_DIMS)
    test_x, test_y = _parse_libfm(test_bytes.decode(), test_path, FRAPPE_DIMS)
    train_x, train_y = _rebuild_frappe_train(
        _frappe_raw(zip_path, zip_bytes),
        np.concatenate([val_x, test_x]),
        np.concatenate([val_y, test_y]),
        seed,
    )
    return {
        "train_x": train_x.astype(np.int16),
        "train_y": train_y.astype(np.int8),
        "val_x": val_x.astype(np.int16),
        "val_y": val_y.astype(np.int8),
        "test_x": test_x.astype(np.int16),
        "test_y": test_y.astype(np.int8),
    }
