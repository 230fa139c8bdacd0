"""Datasets for the course: containers, download cache, Frappe, Criteo, synthetic data, splits.

Every dataset comes out the same way: a :class:`CTRDataset` holding three :class:`CTRSplit` s
whose ``x`` is a ``[N, F]`` LongTensor of **per-field local indices** (field ``f`` takes values
``0 .. field_dims[f] - 1``; models add the offsets) and whose ``y`` is a ``[N]`` FloatTensor of 0/1.

Modules, in reading order (every name below is importable from ``ctr_helpers.data`` itself):

* ``containers``: :class:`CTRSplit`, :class:`CTRDataset`;
* ``download``: :func:`get_data_home`, :func:`get_cache_dir`, :func:`fetch`, :func:`fetch_all`,
  :func:`sha256_file`, the :data:`REMOTE_FILES` registry, :class:`DownloadError`,
  :class:`ChecksumError` (``python -m ctr_helpers.data fetch`` downloads every file);
* ``frappe``: :func:`load_frappe` (the BARS Frappe_x1 split, train rebuilt from the raw log),
  :func:`read_libfm`;
* ``encoding``: :class:`FieldEncoder`, :func:`bucketize_counts`;
* ``criteo``: :func:`read_criteo_dac`, :func:`read_criteo_csv`, :func:`read_criteo_sample`,
  :func:`load_criteo_sample`;
* ``synthetic``: data with known ground truth, :func:`make_xor`, :func:`make_pairwise`,
  :func:`make_third_order`, :func:`make_planted_crosses`, :func:`make_drift`,
  :func:`make_field_importance`;
* ``splits``: :func:`random_split`, :func:`time_split`.

``data/README.md`` in the repository explains the data home, the sources and the licences.
"""

from __future__ import annotations

from .containers import CTRDataset, CTRSplit
from .criteo import (
    CRITEO_CAT_COLUMNS,
    CRITEO_INT_COLUMNS,
    load_criteo_sample,
    read_criteo_csv,
    read_criteo_dac,
    read_criteo_sample,
)
from .download import ENV_CACHE_DIR as ENV_CACHE_DIR  # "as": public, though not in __all__
from .download import ENV_DATA_HOME as ENV_DATA_HOME
from .download import ENV_URL_BASE as ENV_URL_BASE
from .download import (
    REMOTE_FILES,
    ChecksumError,
    DownloadError,
    RemoteFile,
    fetch,
    fetch_all,
    get_cache_dir,
    get_data_home,
    sha256_file,
)
from .encoding import FieldEncoder, bucketize_counts
from .frappe import FRAPPE_DIMS, FRAPPE_FIELDS, load_frappe, read_libfm
from .splits import random_split, time_split
from .synthetic import (
    make_drift,
    make_field_importance,
    make_pairwise,
    make_planted_crosses,
    make_third_order,
    make_xor,
)

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
    "fetch_all",
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
    "make_planted_crosses",
    "make_drift",
    "make_field_importance",
    "random_split",
    "time_split",
]
