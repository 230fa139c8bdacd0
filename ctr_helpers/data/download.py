"""The download cache: where files live, the :data:`REMOTE_FILES` registry, :func:`fetch`.

Two folders, never the same one:

* the **data home** (:func:`get_data_home`, ``$CTR_DATA_HOME``) holds the downloads exactly as
  published, each checked against the sha256 in :data:`REMOTE_FILES`; it may be shared and
  read-only;
* the **cache dir** (:func:`get_cache_dir`, ``$CTR_CACHE_DIR``) holds files derived from them
  (the rebuilt Frappe train split).

Every file is written to a temporary name beside its destination and renamed into place only
when complete, so an interrupted write never leaves a half file behind.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

import numpy as np

__all__ = [
    "RemoteFile",
    "REMOTE_FILES",
    "ENV_DATA_HOME",
    "ENV_CACHE_DIR",
    "ENV_URL_BASE",
    "DownloadError",
    "ChecksumError",
    "get_data_home",
    "get_cache_dir",
    "sha256_file",
    "fetch",
]


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
    remote = _lookup(name)
    home = get_data_home(data_home)
    dest = home.joinpath(*remote.name.split("/"))
    if url is None:
        url = _default_url(remote)
    if dest.exists() and not force:
        return _check_cached(remote, url, dest)

    tmp, fd = _temp_file_beside(remote, url, dest, home)
    out = os.fdopen(fd, "wb")
    try:
        digest, received = _download_into(
            out, remote, url, dest, home, progress=progress, timeout=timeout
        )
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


def _lookup(name: str | RemoteFile) -> RemoteFile:
    """The :class:`RemoteFile` for a registry key (or the RemoteFile itself)."""
    if isinstance(name, RemoteFile):
        return name
    if name in REMOTE_FILES:
        return REMOTE_FILES[name]
    raise KeyError(f"unknown data file {name!r}; known files: {', '.join(REMOTE_FILES)}")


def _default_url(remote: RemoteFile) -> str:
    """``$CTR_DATA_URL_BASE/<name>`` if that variable is set, else the official URL."""
    base = os.environ.get(ENV_URL_BASE)
    return f"{base.rstrip('/')}/{remote.name}" if base else remote.url


def _check_cached(remote: RemoteFile, url: str, dest: Path) -> Path:
    """``dest`` if its sha256 is the expected one; :class:`ChecksumError` otherwise."""
    digest = sha256_file(dest)
    if digest != remote.sha256:
        raise ChecksumError(
            f"The cached file {dest} is corrupt or a different version: expected sha256 "
            f"{remote.sha256} ({remote.size:,} bytes), found {digest} "
            f"({dest.stat().st_size:,} bytes). Delete it and call again to re-download "
            f"it from {url}."
        )
    return dest


def _temp_file_beside(remote: RemoteFile, url: str, dest: Path, home: Path) -> tuple[Path, int]:
    """A new temporary file in ``dest``'s folder (created if needed): its path and descriptor.

    Raises :class:`DownloadError` when the data home is not writable.
    """
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as err:
        raise DownloadError(
            f"Cannot download {remote.name}: the data home {home} is not writable ({err}).\n"
            + _by_hand(remote, url, dest, home)
        ) from err
    return Path(tmp_name), fd


def _download_into(
    out: IO[bytes],
    remote: RemoteFile,
    url: str,
    dest: Path,
    home: Path,
    *,
    progress: bool,
    timeout: float,
) -> tuple[str, int]:
    """Stream ``url`` into ``out`` (closed on return): the sha256 and the number of bytes.

    Any network or write error becomes a :class:`DownloadError` saying how far it got.
    """
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
    return h.hexdigest(), received


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
