"""Datasets for the course: containers, download cache, Frappe, Criteo, synthetic data, splits.

Every dataset comes out the same way: a :class:`CTRDataset` holding three :class:`CTRSplit` s
whose ``x`` is a ``[N, F]`` LongTensor of **per-field local indices** (field ``f`` takes values
``0 .. field_dims[f] - 1``; models add the offsets) and whose ``y`` is a ``[N]`` FloatTensor of 0/1.

Sections, in order:

1. containers: :class:`CTRSplit`, :class:`CTRDataset`;
2. download cache: :func:`get_data_home`, :func:`fetch`, the :data:`REMOTE_FILES` registry;
3. Frappe: :func:`load_frappe` (the BARS Frappe_x1 split, train rebuilt from the raw log);
4. Criteo: :func:`read_criteo_dac`, :func:`read_criteo_csv`, :func:`bucketize_counts`,
   :class:`FieldEncoder`, :func:`load_criteo_sample`;
5. synthetic data with known ground truth: :func:`make_xor`, :func:`make_pairwise`,
   :func:`make_third_order`, :func:`make_drift`;
6. splits: :func:`random_split`, :func:`time_split`.

``data/README.md`` in the repository explains the data home, the sources and the licences.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

import numpy as np
import pandas as pd
import torch

__all__ = [
    "CTRSplit",
    "CTRDataset",
    "RemoteFile",
    "REMOTE_FILES",
    "DownloadError",
    "ChecksumError",
    "get_data_home",
    "get_cache_dir",
    "sha256_file",
    "fetch",
    "FRAPPE_FIELDS",
    "FRAPPE_DIMS",
    "load_frappe",
    "read_libfm",
    "CRITEO_INT_COLUMNS",
    "CRITEO_CAT_COLUMNS",
    "read_criteo_dac",
    "read_criteo_csv",
    "read_criteo_sample",
    "bucketize_counts",
    "FieldEncoder",
    "load_criteo_sample",
    "make_xor",
    "make_pairwise",
    "make_third_order",
    "make_drift",
    "random_split",
    "time_split",
]

# ----------------------------------------------------------------------------------------------
# 1. Containers
# ----------------------------------------------------------------------------------------------


@dataclass(repr=False)
class CTRSplit:
    """One split: ``x`` LongTensor ``[N, F]`` of per-field local indices, ``y`` FloatTensor ``[N]``.

    ``x, y = split`` unpacks it, ``len(split)`` is N, ``split.subset(idx)`` selects rows
    (indices, a boolean mask or a slice) and ``split.positive_rate`` is the mean label.
    NumPy arrays are accepted and converted.
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


# ----------------------------------------------------------------------------------------------
# 2. Download cache
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteFile:
    """A file the course downloads: where it lives in the data home, its URL, size and sha256."""

    name: str  # relative path inside the data home, "/"-separated
    url: str
    size: int
    sha256: str


REMOTE_FILES: dict[str, RemoteFile] = {
    f.name: f
    for f in [
        RemoteFile(
            "frappe/Mobile_Frappe.zip",
            "https://www.baltrunas.info/_files/archives/"
            "be17b7_474755a5e9684a749a012516d04fb456.zip?dn=Mobile_Frappe.zip",
            3_372_404,
            "4adc616de57170f282397f6e6e30215f97fa7ad1b7f40bd12ef5dceaaf3e9b4e",
        ),
        RemoteFile(
            "frappe/frappe.validation.libfm",
            "https://raw.githubusercontent.com/hexiangnan/neural_factorization_machine/"
            "master/data/frappe/frappe.validation.libfm",
            4_163_044,
            "fdf4be563a7dd9b15f7a6e8b32671e90e6e7a2a2bd3af4e10bf13c5ad7e76e9e",
        ),
        RemoteFile(
            "frappe/frappe.test.libfm",
            "https://raw.githubusercontent.com/hexiangnan/neural_factorization_machine/"
            "master/data/frappe/frappe.test.libfm",
            2_081_389,
            "a2ebaef3a9af8e55f8bb0d08bc4923965e42e43760ebd7635ac2f8c5db99e097",
        ),
        RemoteFile(
            "criteo_sample/train.tiny.csv",
            "https://raw.githubusercontent.com/guestwalk/kaggle-2014-criteo/master/train.tiny.csv",
            502_818,
            "68f7852149b089e7929ba9e1acd6debbc986cbd498107a7c4dc9f2e716500b18",
        ),
        RemoteFile(
            "criteo_sample/deepctr_criteo_sample.csv",
            "https://raw.githubusercontent.com/shenweichen/DeepCTR/master/examples/criteo_sample.txt",
            52_518,
            "08b84f12a22438fb534e989a5e4fa245726b2bda001983556bc2aea2f094f724",
        ),
    ]
}
"""Every file :func:`fetch` knows, keyed by its path inside the data home."""

ENV_DATA_HOME = "CTR_DATA_HOME"
ENV_CACHE_DIR = "CTR_CACHE_DIR"
ENV_URL_BASE = "CTR_DATA_URL_BASE"


class DownloadError(OSError):
    """A file could not be downloaded (offline, HTTP error, cut-off transfer, read-only home)."""


class ChecksumError(DownloadError):
    """A file's bytes do not match the sha256 in :data:`REMOTE_FILES`."""


def _user_cache_root() -> Path:
    """The per-user cache folder of this OS, plus ``ctr-course``."""
    if sys.platform.startswith("win"):
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ctr-course"


def get_data_home(data_home: str | os.PathLike | None = None) -> Path:
    """Where downloaded files live: ``data_home``, else ``$CTR_DATA_HOME``, else a per-user cache.

    The default is ``~/.cache/ctr-course/data`` on Linux (``$XDG_CACHE_HOME`` respected),
    ``~/Library/Caches/ctr-course/data`` on macOS, ``%LOCALAPPDATA%\\ctr-course\\data`` on Windows.
    """
    if data_home is None:
        data_home = os.environ.get(ENV_DATA_HOME) or _user_cache_root() / "data"
    return Path(data_home).expanduser()


def get_cache_dir() -> Path:
    """Where derived files (the rebuilt Frappe train split) go: ``$CTR_CACHE_DIR`` if set, else
    the per-user cache (``~/.cache/ctr-course/derived`` on Linux).

    Never inside the data home, which stays an exact mirror of the downloads and may be a
    shared, read-only folder.
    """
    env = os.environ.get(ENV_CACHE_DIR)
    return Path(env).expanduser() if env else _user_cache_root() / "derived"


_VERIFIED: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256 already computed


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file (memoised per path, size and modification time)."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _VERIFIED:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _VERIFIED[key] = h.hexdigest()
    return _VERIFIED[key]


def _by_hand(remote: RemoteFile, url: str, dest: Path, home: Path) -> str:
    official = f" (official source: {remote.url})" if url != remote.url else ""
    return (
        f"To install it by hand, download {url}{official}\n"
        f"and save it as {dest}\n"
        f"(expected {remote.size:,} bytes, sha256 {remote.sha256}). "
        f"The data home is {home}; set {ENV_DATA_HOME} to use another folder."
    )


def fetch(
    name: str | RemoteFile,
    data_home: str | os.PathLike | None = None,
    url: str | None = None,
    *,
    force: bool = False,
    progress: bool = True,
    timeout: float = 30.0,
) -> Path:
    """Path of a cached file, downloading and sha256-checking it first if it is not there yet.

    ``name`` is a key of :data:`REMOTE_FILES` (e.g. ``"frappe/Mobile_Frappe.zip"``) or a
    :class:`RemoteFile`. ``url`` overrides where it is downloaded from (tests point it at a local
    server); otherwise ``$CTR_DATA_URL_BASE/<name>`` if that variable is set, else the official URL.
    ``force=True`` downloads again even when a verified copy is cached.

    The download goes to a temporary file next to the destination and is renamed into place only
    when complete and verified, so an interrupted or tampered download never leaves a file behind
    and never touches a good cached copy.

    Raises :class:`DownloadError` (naming the file, the URL and where to put it by hand) when the
    download fails, and :class:`ChecksumError` when the bytes are wrong (downloaded or cached).
    """
    if isinstance(name, RemoteFile):
        remote = name
    elif name in REMOTE_FILES:
        remote = REMOTE_FILES[name]
    else:
        raise KeyError(f"unknown data file {name!r}; known files: {', '.join(REMOTE_FILES)}")
    home = get_data_home(data_home)
    dest = home.joinpath(*remote.name.split("/"))
    if url is None:
        base = os.environ.get(ENV_URL_BASE)
        url = f"{base.rstrip('/')}/{remote.name}" if base else remote.url

    if dest.exists() and not force:
        digest = sha256_file(dest)
        if digest != remote.sha256:
            raise ChecksumError(
                f"The cached file {dest} is corrupt or a different version: expected sha256 "
                f"{remote.sha256} ({remote.size:,} bytes), found {digest} "
                f"({dest.stat().st_size:,} bytes). Delete it and call again to re-download "
                f"it from {url}."
            )
        return dest

    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as err:
        raise DownloadError(
            f"Cannot download {remote.name}: the data home {home} is not writable ({err}).\n"
            + _by_hand(remote, url, dest, home)
        ) from err
    tmp = Path(tmp_name)
    out = os.fdopen(fd, "wb")
    try:
        h = hashlib.sha256()
        received = 0
        try:
            from tqdm.auto import tqdm

            request = Request(url, headers={"User-Agent": "ctr-course (python urllib)"})
            with (
                out,
                urlopen(request, timeout=timeout) as response,
                tqdm(
                    total=remote.size,
                    unit="B",
                    unit_scale=True,
                    desc=remote.name,
                    disable=not progress,
                    leave=False,
                ) as bar,
            ):
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    h.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        except (URLError, http.client.HTTPException, OSError) as err:
            if isinstance(err, HTTPError):
                reason = f"HTTP {err.code} {err.reason}"
            else:
                reason = f"{type(err).__name__}: {getattr(err, 'reason', None) or err}"
            raise DownloadError(
                f"Could not download {remote.name} from {url}: {reason} "
                f"(after {received:,} of {remote.size:,} bytes; nothing was saved).\n"
                + _by_hand(remote, url, dest, home)
            ) from err
        digest = h.hexdigest()
        if digest != remote.sha256:
            cut = " (the transfer looks cut short)" if received < remote.size else ""
            raise ChecksumError(
                f"Checksum mismatch for {remote.name} downloaded from {url}: expected sha256 "
                f"{remote.sha256} ({remote.size:,} bytes), got {digest} ({received:,} bytes)"
                f"{cut}. The download was deleted"
                + (" and the cached copy left untouched." if dest.exists() else ".")
            )
        _publish(tmp, dest)
        return dest
    finally:
        out.close()
        tmp.unlink(missing_ok=True)


def _publish(tmp: Path, dest: Path) -> None:
    """Rename a finished temporary file into place, with the usual permissions (umask)."""
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o666 & ~umask)
    os.replace(tmp, dest)


def _atomic_save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Write an ``.npz`` to a temporary file in the same folder and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        _publish(Path(tmp_name), path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)


# ----------------------------------------------------------------------------------------------
# 3. Frappe (BARS Frappe_x1)
# ----------------------------------------------------------------------------------------------

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
_FRAPPE_OFFSETS = np.concatenate([[0], np.cumsum(FRAPPE_DIMS)[:-1]])
_FRAPPE_CSV = "Mobile_Frappe/frappe/frappe.csv"
_FRAPPE_REBUILD_VERSION = 2  # bump when the rebuild rule changes, so old caches are ignored


def read_libfm(
    path: str | os.PathLike, field_dims: Sequence[int] = FRAPPE_DIMS
) -> tuple[np.ndarray, np.ndarray]:
    """Read a libFM file with one ``idx:1`` per field, in field order (the NFM Frappe files).

    Returns ``(x, y)``: int64 ``[N, F]`` per-field local indices (global index minus the field's
    offset) and int64 ``[N]`` labels in {0, 1} (libFM's -1 becomes 0).
    """
    field_dims = list(field_dims)
    n_fields = len(field_dims)
    text = Path(path).read_text().replace(":1", " ")
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


def _frappe_raw(zip_path: Path) -> np.ndarray:
    """The raw log as int64 ``[96203, 10]`` local indices, NFM's mapping (see data/README.md)."""
    with zipfile.ZipFile(zip_path) as zf, zf.open(_FRAPPE_CSV) as f:
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
    n_raw = len(raw)
    dims = FRAPPE_DIMS
    # positives: drop one raw row per held-out positive with the same 10 values
    raw_key = _pack(raw, dims)
    held_pos_key = _pack(held_x[held_y == 1], dims)
    keep = _rank_within_key(raw_key) >= _count_of(raw_key, held_pos_key)
    if n_raw - keep.sum() != len(held_pos_key):
        raise ValueError(
            "validation/test positives do not all match rows of the raw Frappe log; "
            "the input files are not the NFM Frappe files"
        )
    # negative slots: two per raw row, keyed by (user, context) = every field but the item
    ctx_cols = [0, *range(2, len(dims))]
    ctx_dims = [dims[f] for f in ctx_cols]
    slot_row = np.repeat(np.arange(n_raw), 2)
    slot_key = _pack(raw[slot_row][:, ctx_cols], ctx_dims)
    held_neg_key = _pack(held_x[held_y == 0][:, ctx_cols], ctx_dims)
    free = _rank_within_key(slot_key) >= _count_of(slot_key, held_neg_key)
    if (~free).sum() != len(held_neg_key):
        raise ValueError(
            "validation/test negatives do not all keep the (user, context) of a raw Frappe row"
        )
    neg_slot = np.flatnonzero(free)
    neg_x = raw[slot_row[neg_slot]].copy()

    # items: NFM never repeats a (user, item) pair among a user's negatives (the 57,983 held-out
    # negatives are all distinct pairs; independent draws would repeat ~1,600 of them). So each
    # user's train negatives take distinct items, drawn without replacement from the items the
    # user never used and that none of the user's held-out negatives took: give every (user,
    # item) a random key, drop the forbidden ones, and take each user's smallest keys.
    n_users, n_items = dims[0], dims[1]
    held_neg = held_x[held_y == 0]
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

    # raw-log order: row i's positive (if kept) then its train negatives
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

    Files are fetched into the data home (see :func:`fetch`); the rebuilt split is cached as an
    ``.npz`` in :func:`get_cache_dir` (or ``cache_dir``), keyed by the seed and the input
    checksums, so later calls only read it back.

    Fields: user, item, daytime, weekday, isweekend, homework, cost, weather, country, city with
    ``field_dims`` 957, 4082, 7, 7, 2, 3, 2, 9, 80, 233.
    """
    names = [
        "frappe/Mobile_Frappe.zip",
        "frappe/frappe.validation.libfm",
        "frappe/frappe.test.libfm",
    ]
    paths = [fetch(n, data_home, progress=progress) for n in names]
    tag = hashlib.sha256(
        f"v{_FRAPPE_REBUILD_VERSION}:{seed}:".encode()
        + b"".join(sha256_file(p).encode() for p in paths)
    ).hexdigest()[:16]
    cache_root = Path(cache_dir).expanduser() if cache_dir is not None else get_cache_dir()
    cache = cache_root / f"frappe_x1_seed{seed}_{tag}.npz"

    arrays: dict[str, np.ndarray] | None = None
    if cache.exists():
        try:
            with np.load(cache) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError, zipfile.BadZipFile):
            arrays = None  # unreadable cache: rebuild it
    if arrays is None:
        val_x, val_y = read_libfm(paths[1])
        test_x, test_y = read_libfm(paths[2])
        train_x, train_y = _rebuild_frappe_train(
            _frappe_raw(paths[0]),
            np.concatenate([val_x, test_x]),
            np.concatenate([val_y, test_y]),
            seed,
        )
        arrays = {
            "train_x": train_x.astype(np.int16),
            "train_y": train_y.astype(np.int8),
            "val_x": val_x.astype(np.int16),
            "val_y": val_y.astype(np.int8),
            "test_x": test_x.astype(np.int16),
            "test_y": test_y.astype(np.int8),
        }
        try:
            _atomic_save_npz(cache, **arrays)
        except OSError:
            pass  # caching is an optimisation; an unwritable cache folder only costs a rebuild

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


# ----------------------------------------------------------------------------------------------
# 4. Criteo
# ----------------------------------------------------------------------------------------------

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


def bucketize_counts(values: Any) -> np.ndarray:
    """Bucket Criteo's integer counts with the BARS / FuxiCTR ``convert_to_bucket`` rule.

    ``floor(ln(v) ** 2)`` for ``v > 2``, else ``int(v)`` (so 0, 1, 2 and the negative values of
    I2 keep their own value). It comes from the 2014 Criteo winners; the buckets widen with v
    (1,382 -> 52, 1,000,000 -> 190). Note that 3 and 4 land in bucket 1 with v = 1, as in BARS.
    Missing values (NaN) stay NaN: :class:`FieldEncoder` gives them their own index.
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
        return self.numeric + self.categorical

    @property
    def is_fitted(self) -> bool:
        return self.vocab_ is not None

    @property
    def field_dims(self) -> list[int]:
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
        return self.fit(frame).transform(frame)


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


# ----------------------------------------------------------------------------------------------
# 5. Synthetic data with known ground truth
# ----------------------------------------------------------------------------------------------

_SPLIT_NAMES = ("train", "val", "test")


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _bias_for_rate(logit: np.ndarray, positive_rate: float | None) -> float:
    """The bias b with mean(sigmoid(logit + b)) = positive_rate (0 when positive_rate is None)."""
    if positive_rate is None:
        return 0.0
    if not 0.0 < positive_rate < 1.0:
        raise ValueError(f"positive_rate must be strictly between 0 and 1, got {positive_rate}")
    lo, hi = -30.0, 30.0
    for _ in range(60):  # bisection: the mean is increasing in b
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _sigmoid(logit + mid).mean() < positive_rate else (lo, mid)
    return (lo + hi) / 2


def _finish(
    name: str,
    x: np.ndarray,
    logit: np.ndarray,
    rng: np.random.Generator,
    parts: Sequence[np.ndarray],
    field_names: list[str],
    field_dims: list[int],
    info: dict[str, Any],
) -> CTRDataset:
    """Draw labels from the true logits and package rows ``parts`` as train / val / test."""
    p = _sigmoid(logit)
    y = (rng.random(len(p)) < p).astype(np.float32)
    info = {**info, "p_true": {}, "logit_true": {}}
    splits = []
    for split_name, idx in zip(_SPLIT_NAMES, parts, strict=True):
        splits.append(CTRSplit(torch.from_numpy(x[idx]), torch.from_numpy(y[idx])))
        info["p_true"][split_name] = p[idx]
        info["logit_true"][split_name] = logit[idx]
    return CTRDataset(*splits, field_names, field_dims, name, info=info)


def _purify(table: np.ndarray) -> np.ndarray:
    """Remove every lower-order part of a table (ANOVA): all its marginal means become 0.

    Under independent uniform fields the result carries a pure interaction of order
    ``table.ndim``: averaging it over any one field gives 0, so no smaller set of fields sees it.
    """
    pure = table.astype(np.float64)
    for axis in range(table.ndim):
        pure = pure - pure.mean(axis=axis, keepdims=True)
    return pure


def make_xor(
    n: int = 20_000,
    seed: int = 0,
    *,
    strength: float = 4.0,
    positive_rate: float | None = None,
    n_noise_fields: int = 0,
    noise_cardinality: int = 10,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
) -> CTRDataset:
    """XOR clicks over two fields: young users click action films, old users click comedies.

    Fields ``age`` (0 young, 1 old) and ``genre`` (0 action, 1 comedy), uniform and independent,
    plus ``n_noise_fields`` irrelevant fields. True logit ``b + strength/2 * (+1 if age == genre
    else -1)``: each field alone carries no signal (LR's AUC ~0.5) while the cross age x genre
    carries it all. ``positive_rate`` sets b (None: b = 0, rate 0.5).
    ``info``: ``prob_table`` [2, 2] (click probability by age, genre), ``p_true`` /
    ``logit_true`` per split, ``value_names``.
    """
    rng = np.random.default_rng(seed)
    cols = [rng.integers(0, 2, n), rng.integers(0, 2, n)]
    cols += [rng.integers(0, noise_cardinality, n) for _ in range(n_noise_fields)]
    x = np.stack(cols, axis=1).astype(np.int64)
    effect = strength / 2 * np.where(x[:, 0] == x[:, 1], 1.0, -1.0)
    bias = _bias_for_rate(effect, positive_rate)
    names = ["age", "genre"] + [f"noise{i}" for i in range(n_noise_fields)]
    dims = [2, 2] + [noise_cardinality] * n_noise_fields
    table = _sigmoid(bias + strength / 2 * np.array([[1.0, -1.0], [-1.0, 1.0]]))
    info = {
        "bias": bias,
        "prob_table": table,
        "value_names": {"age": ["young", "old"], "genre": ["action", "comedy"]},
    }
    parts = _split_indices(n, fractions, seed=seed)
    return _finish("xor", x, bias + effect, rng, parts, names, dims, info)


def make_pairwise(
    n: int = 50_000,
    seed: int = 0,
    *,
    n_fields: int = 4,
    cardinality: int = 20,
    rank: int = 4,
    strength: float = 1.5,
    first_order: float = 0.5,
    unseen_fraction: float = 0.25,
    positive_rate: float | None = None,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
) -> CTRDataset:
    """Planted low-rank pairwise effects, with value pairs of fields 0 and 1 never seen in train.

    True logit (an FM with known weights): ``b + sum_f w_f[x_f] + sum_{f<g} <V_f[x_f], V_g[x_g]>``
    with ``V`` of width ``rank`` scaled so the pairwise part has standard deviation ~``strength``.
    A random ``unseen_fraction`` of the (field0, field1) value pairs never occurs in train or
    val: rows drawn there get field 1 redrawn. Test rows come from the full distribution, and
    ``info["test_unseen"]`` (bool [N_test]) marks those with an unseen pair: a cross feature
    learned in train has no weight for them, an FM still scores them through ``V``.
    ``info``: ``unseen_pairs`` [K, 2], ``w``, ``V``, ``bias``, ``p_true`` / ``logit_true``.
    """
    if n_fields < 2:
        raise ValueError(f"make_pairwise needs n_fields >= 2, got {n_fields}")
    if not 0.0 <= unseen_fraction < 1.0:
        raise ValueError(f"unseen_fraction must be in [0, 1), got {unseen_fraction}")
    rng = np.random.default_rng(seed)
    c = cardinality
    n_pairs = len(list((f, g) for f in range(n_fields) for g in range(f + 1, n_fields)))
    w = rng.normal(0.0, first_order, (n_fields, c))
    V = rng.normal(0.0, np.sqrt(strength / np.sqrt(rank * n_pairs)), (n_fields, c, rank))
    unseen = np.zeros((c, c), dtype=bool)
    n_unseen = int(round(unseen_fraction * c * c))
    unseen.flat[rng.choice(c * c, n_unseen, replace=False)] = True
    if n_unseen and (unseen.all(axis=1).any()):
        raise ValueError("unseen_fraction too large: a value of field 0 would have no partner")

    x = rng.integers(0, c, (n, n_fields))
    parts = _split_indices(n, fractions, seed=seed)
    seen_rows = np.concatenate(parts[:2])
    while True:  # redraw field 1 where a train/val row landed on an unseen pair
        redo = seen_rows[unseen[x[seen_rows, 0], x[seen_rows, 1]]]
        if len(redo) == 0:
            break
        x[redo, 1] = rng.integers(0, c, len(redo))

    emb = V[np.arange(n_fields), x]  # [N, F, rank]
    s = emb.sum(axis=1)
    pair = 0.5 * ((s**2).sum(-1) - (emb**2).sum(axis=(1, 2)))
    effect = w[np.arange(n_fields), x].sum(axis=1) + pair
    bias = _bias_for_rate(effect, positive_rate)
    info = {
        "bias": bias,
        "w": w,
        "V": V,
        "unseen_pairs": np.argwhere(unseen),
        "test_unseen": unseen[x[parts[2], 0], x[parts[2], 1]],
    }
    names = [f"f{i}" for i in range(n_fields)]
    return _finish("pairwise", x, bias + effect, rng, parts, names, [c] * n_fields, info)


def make_third_order(
    n: int = 50_000,
    seed: int = 0,
    *,
    n_fields: int = 5,
    cardinality: int = 4,
    triple: tuple[int, int, int] = (0, 1, 2),
    strength: float = 2.0,
    first_order: float = 0.5,
    positive_rate: float | None = None,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
) -> CTRDataset:
    """A planted pure third-order effect over three fields, invisible to any pairwise model.

    True logit ``b + sum_f w_f[x_f] + T[x_a, x_b, x_c]`` for ``(a, b, c) = triple``, where ``T``
    is a random table with every one- and two-field average removed (ANOVA purification) and
    scaled to standard deviation ``strength``. With uniform fields no pair of fields predicts
    any of it; models with explicit third-order terms (CIN, 2 cross layers, deep nets) can.
    With ``cardinality=2`` it is a three-way XOR (parity).
    ``info``: ``table`` (T), ``triple``, ``w``, ``bias``, ``p_true`` / ``logit_true``.
    """
    if len(set(triple)) != 3 or not all(0 <= f < n_fields for f in triple):
        raise ValueError(f"triple must name 3 distinct fields in 0..{n_fields - 1}, got {triple}")
    rng = np.random.default_rng(seed)
    c = cardinality
    table = _purify(rng.normal(size=(c, c, c)))
    table *= strength / table.std()
    w = rng.normal(0.0, first_order, (n_fields, c))
    x = rng.integers(0, c, (n, n_fields))
    a, b, d = triple
    effect = w[np.arange(n_fields), x].sum(axis=1) + table[x[:, a], x[:, b], x[:, d]]
    bias = _bias_for_rate(effect, positive_rate)
    info = {"bias": bias, "table": table, "triple": tuple(triple), "w": w}
    parts = _split_indices(n, fractions, seed=seed)
    names = [f"f{i}" for i in range(n_fields)]
    return _finish("third_order", x, bias + effect, rng, parts, names, [c] * n_fields, info)


def make_drift(
    n: int = 60_000,
    seed: int = 0,
    *,
    split: str = "time",
    n_users: int = 100,
    n_items: int = 200,
    n_contexts: int = 4,
    drift: float = 1.0,
    rate_drift: float = 1.0,
    strength: float = 1.5,
    positive_rate: float | None = 0.2,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
) -> CTRDataset:
    """Clicks whose rate and item appeal drift over time, for time-ordered vs random splits.

    Each row has a time ``t`` in [0, 1) (rows are generated in time order) and fields user,
    item, context. True logit ``b + rate_drift * (t - 1/2) + u[user] + c[context] +
    strength * (A[item] cos(theta t) + B[item] sin(theta t))`` with ``theta = drift * pi / 2``:
    the overall click rate rises over time and each item's appeal rotates from ``A`` towards
    ``B`` (``drift=1``: the appeal at the end is uncorrelated with the appeal at the start).
    ``split="time"`` puts the earliest rows in train and the latest in test (what deployment
    sees); ``split="random"`` shuffles with ``seed`` (which flatters the model). Both use the
    same rows for the same seed. ``info``: ``time`` per split, ``p_true`` / ``logit_true``.
    """
    if split not in ("time", "random"):
        raise ValueError(f"split must be 'time' or 'random', got {split!r}")
    rng = np.random.default_rng(seed)
    t = np.sort(rng.random(n))
    x = np.stack(
        [rng.integers(0, n_users, n), rng.integers(0, n_items, n), rng.integers(0, n_contexts, n)],
        axis=1,
    )
    u = rng.normal(0.0, 0.5, n_users)
    ctx = rng.normal(0.0, 0.3, n_contexts)
    A, B = rng.normal(0.0, 1.0, (2, n_items))
    theta = drift * np.pi / 2
    item = strength * (A[x[:, 1]] * np.cos(theta * t) + B[x[:, 1]] * np.sin(theta * t))
    effect = rate_drift * (t - 0.5) + u[x[:, 0]] + ctx[x[:, 2]] + item
    bias = _bias_for_rate(effect, positive_rate)
    if split == "time":
        parts = _split_indices(n, fractions)
    else:
        parts = _split_indices(n, fractions, seed=seed)
    info = {
        "bias": bias,
        "split": split,
        "time": {s: t[idx] for s, idx in zip(_SPLIT_NAMES, parts, strict=True)},
    }
    # the split draws from its own generator, so rows and labels are the same for both choices
    names, dims = ["user", "item", "context"], [n_users, n_items, n_contexts]
    return _finish(f"drift_{split}", x, bias + effect, rng, parts, names, dims, info)


# ----------------------------------------------------------------------------------------------
# 6. Splits
# ----------------------------------------------------------------------------------------------


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
