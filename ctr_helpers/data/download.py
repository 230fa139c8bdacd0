"""The download cache: where files live, the :data:`REMOTE_FILES` registry, :func:`fetch`.

Two folders, never the same one:

* the **data home** (:func:`get_data_home`, ``$CTR_DATA_HOME``) holds the downloads exactly as
  published, each checked against the sha256 in :data:`REMOTE_FILES`; it may be shared and
  read-only;
* the **cache dir** (:func:`get_cache_dir`, ``$CTR_CACHE_DIR``) holds files derived from them
  (the rebuilt Frappe train split).

Every file is written to a temporary name beside its destination and renamed into place only
when complete, so an interrupted write never leaves a half file behind; the temporary file of a
process that was killed (SIGKILL, SIGTERM) is removed by the next :func:`fetch` of that file.
A derived ``.npz`` carries a sha256 of its arrays and is checked on every load, so a damaged
one is rebuilt rather than trusted. :func:`fetch_all` (and
``python -m ctr_helpers.data fetch``) gets several files at once and reports every one it could
not get in a single error.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping
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
    "fetch_all",
    "MissingFile",
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


@dataclass(frozen=True)
class MissingFile:
    """One file that could not be had: what, from where, where it should go, and why not."""

    remote: RemoteFile
    url: str
    dest: Path
    reason: str  # one line


class DownloadError(OSError):
    """A file could not be downloaded (offline, HTTP error, cut-off transfer, read-only home).

    ``problems`` lists every :class:`MissingFile` the error is about (several for
    :func:`fetch_all`).
    """

    def __init__(self, message: str, problems: Iterable[MissingFile] = ()) -> None:
        super().__init__(message)
        self.problems: list[MissingFile] = list(problems)


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


# (resolved path, size, mtime_ns, ctime_ns, inode) -> sha256 already computed. The ctime is
# what makes it safe: any write or os.utime() moves it and no call can set it back, so a file
# rewritten in place with the same size and a restored mtime is hashed again. A file whose
# ctime is under _RACY_NS old is not memoised at all: file systems stamp times from a coarse
# clock (ms to s), so a second write in the same tick would keep the same ctime ("racy git").
_VERIFIED: dict[tuple[str, int, int, int, int], str] = {}
_RACY_NS = 2_000_000_000


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file (memoised in-process until the file's size, mtime, ctime or inode
    changes, so a file changed in place is always hashed again)."""
    path = Path(path)
    st = path.stat()  # before reading: a change during the read gives a new key next time
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    if key in _VERIFIED:
        return _VERIFIED[key]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    if time.time_ns() - st.st_ctime_ns >= _RACY_NS:  # old enough for its ctime to show a change
        _VERIFIED[key] = digest
    return digest


def _home_source(data_home: str | os.PathLike | None) -> str:
    """How the data home was chosen, for the error messages."""
    if data_home is not None:
        return "from the data_home argument"
    if os.environ.get(ENV_DATA_HOME):
        return f"from ${ENV_DATA_HOME}"
    return f"the default; ${ENV_DATA_HOME} is not set"


def _missing_message(
    problems: list[MissingFile], home: Path, source: str, needed: int | None = None
) -> str:
    """The one-screen message for files that could not be had: each file's URL, size, sha256
    and destination, then how to point the loaders at a folder that holds them."""
    if len(problems) == 1:
        p = problems[0]
        lines = [f"Could not download {p.remote.name} from {p.url}: {p.reason}."]
    else:
        of = f" of the {needed}" if needed else ""
        lines = [f"Could not download {len(problems)}{of} data files needed:"]
        lines += [f"  {p.remote.name}: {p.reason}" for p in problems]
    lines += ["", "To install by hand, download each file and save it at the path shown:"]
    for p in problems:
        official = f"  (official source: {p.remote.url})" if p.url != p.remote.url else ""
        lines += [
            f"  {p.remote.name}  ({p.remote.size:,} bytes, sha256 {p.remote.sha256})",
            f"      from     {p.url}{official}",
            f"      save as  {p.dest}",
        ]
    lines += [
        "",
        f"Data home: {home} ({source}).",
        "If a folder already holds these files, point the loaders at it and call again:",
        f"  in a notebook:  %env {ENV_DATA_HOME}=/path/to/folder"
        "   (read on every call: no kernel restart needed)",
        f"  in a terminal:  export {ENV_DATA_HOME}=/path/to/folder"
        "  (or pass data_home=... to the loader)",
        "Once online, `python -m ctr_helpers.data fetch` downloads every course file at once.",
    ]
    return "\n".join(lines)


def _progress_wanted(progress: bool) -> bool:
    """``progress``, unless ``$TQDM_DISABLE`` is set (read on every call, like the data home)."""
    disabled = os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no")
    return progress and not disabled


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
    ``force=True`` downloads again even when a verified copy is cached. ``progress`` shows a tqdm
    bar (unless ``$TQDM_DISABLE`` is set).

    The download goes to a temporary file next to the destination and is renamed into place only
    when complete and verified, so an interrupted or tampered download never leaves a file behind
    and never touches a good cached copy.

    Raises :class:`DownloadError` (naming the file, the URL, its size and sha256, where to put it
    by hand and how to set the data home) when the download fails, and :class:`ChecksumError`
    when the bytes are wrong (downloaded or cached). Neither is chained to the low-level error,
    whose text is in the message.
    """
    remote = _lookup(name)
    home = get_data_home(data_home)
    dest = home.joinpath(*remote.name.split("/"))
    if url is None:
        url = _default_url(remote)
    _remove_stale_parts(dest)
    try:
        if dest.exists() and not force:
            return _check_cached(remote, url, dest)
        _download(remote, url, dest, home, progress=_progress_wanted(progress), timeout=timeout)
    except _Failed as failed:
        problem = MissingFile(remote, url, dest, failed.reason)
        message = failed.detail or _missing_message([problem], home, _home_source(data_home))
        raise failed.kind(message, [problem]) from None
    return dest


def fetch_all(
    names: Iterable[str | RemoteFile] | None = None,
    data_home: str | os.PathLike | None = None,
    *,
    force: bool = False,
    progress: bool = True,
    timeout: float = 30.0,
    on_file: Callable[[RemoteFile, Path], None] | None = None,
) -> list[Path]:
    """:func:`fetch` every file in ``names`` (default: all of :data:`REMOTE_FILES`): their paths.

    Every file is tried, even after one fails; then a single :class:`DownloadError` (a
    :class:`ChecksumError` if every failure was a checksum mismatch) names every file that could
    not be had, with its URL, size, sha256 and destination. ``on_file(remote, path)`` is called
    after each file that is in place.

    >>> fetch_all([])
    []
    """
    remotes = [_lookup(n) for n in (REMOTE_FILES if names is None else names)]
    paths, errors = [], []
    for remote in remotes:
        try:
            path = fetch(remote, data_home, force=force, progress=progress, timeout=timeout)
        except DownloadError as err:
            errors.append(err)
            continue
        paths.append(path)
        if on_file is not None:
            on_file(remote, path)
    if errors:
        problems = [p for err in errors for p in err.problems]
        kind = ChecksumError if all(isinstance(e, ChecksumError) for e in errors) else DownloadError
        if len(errors) == 1:  # the single-file message says more (e.g. what a checksum gave)
            raise kind(str(errors[0]), problems) from None
        home = get_data_home(data_home)
        message = _missing_message(problems, home, _home_source(data_home), len(remotes))
        raise kind(message, problems) from None
    return paths


class _Failed(Exception):
    """Internal: why a file could not be had (``fetch`` turns it into the public error)."""

    def __init__(self, reason: str, kind: type[DownloadError] = DownloadError, detail: str = ""):
        super().__init__(reason)
        self.reason, self.kind, self.detail = reason, kind, detail


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
    """``dest`` if its sha256 is the expected one; raises :class:`_Failed` otherwise."""
    digest = sha256_file(dest)
    if digest != remote.sha256:
        size = dest.stat().st_size
        raise _Failed(
            f"the cached copy is corrupt or another version (sha256 {digest}, {size:,} bytes); "
            "delete it and call again",
            ChecksumError,
            f"The cached file {dest} is corrupt or a different version: expected sha256 "
            f"{remote.sha256} ({remote.size:,} bytes), found {digest} ({size:,} bytes). "
            f"Delete it and call again to re-download it from {url}.",
        )
    return dest


def _download(
    remote: RemoteFile, url: str, dest: Path, home: Path, *, progress: bool, timeout: float
) -> None:
    """Download ``url`` to a temporary file beside ``dest``, check it, rename it into place.

    The temporary file is deleted whatever happens (error, Ctrl-C). Raises :class:`_Failed`.
    """
    tmp, fd = _temp_file_beside(dest, home)
    out = os.fdopen(fd, "wb")
    try:
        digest, received = _download_into(out, remote, url, progress=progress, timeout=timeout)
        if digest != remote.sha256:
            cut = " (the transfer looks cut short)" if received < remote.size else ""
            kept = " and the cached copy left untouched." if dest.exists() else "."
            raise _Failed(
                f"wrong bytes: sha256 {digest} ({received:,} bytes){cut}; nothing was saved",
                ChecksumError,
                f"Checksum mismatch for {remote.name} downloaded from {url}: expected sha256 "
                f"{remote.sha256} ({remote.size:,} bytes), got {digest} ({received:,} bytes)"
                f"{cut}. The download was deleted{kept}",
            )
        _publish(tmp, dest)
    finally:
        out.close()
        tmp.unlink(missing_ok=True)


def _temp_file_beside(dest: Path, home: Path) -> tuple[Path, int]:
    """A new temporary file in ``dest``'s folder (created if needed): its path and descriptor.

    Raises :class:`_Failed` when the data home is not writable.
    """
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = _mkstemp_part(dest)
    except OSError as err:
        raise _Failed(f"the data home {home} is not writable ({err})") from None
    return Path(tmp_name), fd


def _download_into(
    out: IO[bytes], remote: RemoteFile, url: str, *, progress: bool, timeout: float
) -> tuple[str, int]:
    """Stream ``url`` into ``out`` (closed on return): the sha256 and the number of bytes.

    Any network or write error becomes a :class:`_Failed` saying how far it got.
    """
    from tqdm.auto import tqdm

    h = hashlib.sha256()
    received = 0
    try:
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
        if received:
            reason += f" (after {received:,} of {remote.size:,} bytes; nothing was saved)"
        raise _Failed(reason) from None
    return h.hexdigest(), received


def _publish(tmp: Path, dest: Path) -> None:
    """Rename a finished temporary file into place, with the usual permissions (umask)."""
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o666 & ~umask)
    os.replace(tmp, dest)


# ----------------------------------------------------------------------------------------------
# temporary ".part" files: named after their process, removed once that process is gone
# ----------------------------------------------------------------------------------------------

_PART_MAX_AGE_S = 3600.0  # a live download writes its part file at least every `timeout` s


def _part_owner() -> str:
    """``<host>-<pid>`` of this process, as it appears in its temporary file names."""
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"
    return f"{host}-{os.getpid()}"


def _mkstemp_part(dest: Path) -> tuple[int, str]:
    """``mkstemp`` beside ``dest``: ``.<dest name>.<host>-<pid>.<random>.part``."""
    return tempfile.mkstemp(
        prefix=f".{dest.name}.{_part_owner()}.", suffix=".part", dir=dest.parent
    )


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (True when it cannot be told)."""
    if os.name == "nt":  # os.kill(pid, 0) would terminate it on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: alive, under another user
        return True
    return True


def _remove_stale_parts(dest: Path) -> list[Path]:
    """Delete the temporary files beside ``dest`` left by a write that was killed; return them.

    A part file ``.<dest name>.<host>-<pid>.<random>.part`` is stale when its process is gone
    (same host), or in any case once it has not been written for an hour (a reused pid, another
    host, or a name from before the pid was recorded). A live write's file is never touched.
    Errors (a read-only or missing folder) are ignored: this is housekeeping.
    """
    pattern = re.compile(
        rf"\.{re.escape(dest.name)}\.(?:(?P<host>[A-Za-z0-9-]+)-(?P<pid>\d+)\.)?[a-z0-9_]+\.part"
    )
    host = _part_owner().rsplit("-", 1)[0]
    removed = []
    try:
        candidates = [p for p in dest.parent.iterdir() if pattern.fullmatch(p.name)]
    except OSError:
        return removed
    for part in candidates:
        match = pattern.fullmatch(part.name)
        try:
            age = time.time() - part.stat().st_mtime
            dead = match["host"] == host and not _pid_alive(int(match["pid"]))
            if dead or age > _PART_MAX_AGE_S:
                part.unlink()
                removed.append(part)
        except OSError:
            continue
    return removed


# ----------------------------------------------------------------------------------------------
# derived .npz files: written atomically with a sha256 of their arrays, checked on load
# ----------------------------------------------------------------------------------------------

_NPZ_CHECKSUM = "sha256"  # the member holding the checksum (absent from files before it was added)


class _BadCache(Exception):
    """Internal: a derived file that cannot be trusted, and why (one line)."""


def _arrays_sha256(arrays: Mapping[str, np.ndarray], file_name: str) -> str:
    """sha256 over the file's name and every array's name, dtype, shape and bytes.

    The name (which carries the seed and the input checksums) is included, so a derived file
    copied or renamed from another seed or input version does not pass either.
    """
    h = hashlib.sha256(file_name.encode())
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(f"\0{key}\0{a.dtype.str}\0{a.shape}\0".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _atomic_save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Write an ``.npz`` (plus a ``sha256`` member, see :func:`_load_npz`) to a temporary file
    in the same folder and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_parts(path)
    checksum = np.array(_arrays_sha256(arrays, path.name))
    fd, tmp_name = _mkstemp_part(path)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays, **{_NPZ_CHECKSUM: checksum})
        _publish(Path(tmp_name), path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)


def _load_npz(path: Path, expected: Mapping[str, tuple[np.dtype, tuple[int, ...]]]) -> dict:
    """The arrays of an ``.npz`` written by :func:`_atomic_save_npz`, checked against
    ``expected`` (member -> dtype, shape) before any data is read, then against its ``sha256``
    member (files written before that member existed are checked by structure only).

    Raises :class:`_BadCache` saying what is wrong (empty, not an npz, a member missing or of
    the wrong dtype or shape, a checksum mismatch); :class:`FileNotFoundError` when absent.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise
    except OSError as err:
        raise _BadCache(f"unreadable ({type(err).__name__}: {err})") from None
    if size == 0:
        raise _BadCache("the file is empty (0 bytes)")
    try:
        with zipfile.ZipFile(path) as zf:
            members = {n.removesuffix(".npy"): n for n in zf.namelist()}
            for key in [*expected, *sorted(set(members) - set(expected))]:
                if key not in members:
                    raise _BadCache(f"member {key!r} is missing")
                spec = expected.get(key) or _checksum_spec(key)
                _check_npy_header(zf, members[key], key, *spec)
            arrays = {}
            for key, member in members.items():
                with zf.open(member) as f:
                    arrays[key] = np.lib.format.read_array(f, allow_pickle=False)
    except _BadCache:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as err:
        raise _BadCache(f"not a readable npz ({size:,} bytes): {err}") from None
    except (OSError, ValueError, EOFError, KeyError, NotImplementedError) as err:
        raise _BadCache(f"unreadable ({type(err).__name__}: {err})") from None
    stored = arrays.pop(_NPZ_CHECKSUM, None)
    if stored is not None and str(stored) != _arrays_sha256(arrays, path.name):
        raise _BadCache("its arrays do not match the sha256 stored with them")
    return arrays


def _checksum_spec(key: str) -> tuple[np.dtype, tuple[int, ...]]:
    """The one member allowed besides the expected ones: the 64-hex-digit checksum."""
    if key != _NPZ_CHECKSUM:
        raise _BadCache(f"unexpected member {key!r}")
    return np.dtype("<U64"), ()


def _check_npy_header(
    zf: zipfile.ZipFile, member: str, key: str, dtype: np.dtype, shape: tuple[int, ...]
) -> None:
    """Raise :class:`_BadCache` unless ``member``'s npy header says ``dtype`` and ``shape``
    (read first, so a garbage header never makes numpy allocate its claimed size)."""
    fmt = np.lib.format
    with zf.open(member) as f:
        version = fmt.read_magic(f)
        if version == (1, 0):
            got_shape, _, got_dtype = fmt.read_array_header_1_0(f)
        elif version == (2, 0):
            got_shape, _, got_dtype = fmt.read_array_header_2_0(f)
        else:
            raise _BadCache(f"member {key!r} has npy format version {version}")
    if got_dtype != np.dtype(dtype) or tuple(got_shape) != tuple(shape):
        raise _BadCache(
            f"member {key!r} is {got_dtype} {tuple(got_shape)}, expected "
            f"{np.dtype(dtype)} {tuple(shape)}"
        )
