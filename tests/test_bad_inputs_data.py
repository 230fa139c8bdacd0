"""The data-cache part of the bad-input catalogue (issue #21): every case ends in a clear outcome.

* a damaged derived file (the cached Frappe split) is rebuilt, with one warning naming it;
* a data file changed in-process (same size, mtime put back) raises a ChecksumError naming it;
* the ``.part`` file of a download that was killed is removed by the next fetch of that file;

and in every case nothing good on disk is lost: the data home is byte-for-byte as it was.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import numpy as np
import pytest
from _http import QuietHandler, serve

from ctr_helpers import data as D

DATA_HOME = D.get_data_home()
needs_frappe = pytest.mark.skipif(
    not (DATA_HOME / "frappe" / "Mobile_Frappe.zip").exists(),
    reason=f"no data in {DATA_HOME} (run python -m ctr_helpers.data fetch, or set CTR_DATA_HOME)",
)
FRAPPE_NAMES = [
    "frappe/Mobile_Frappe.zip",
    "frappe/frappe.validation.libfm",
    "frappe/frappe.test.libfm",
]
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    monkeypatch.setenv("CTR_CACHE_DIR", str(tmp_path / "derived"))
    monkeypatch.delenv("CTR_DATA_URL_BASE", raising=False)
    monkeypatch.setenv("TQDM_DISABLE", "1")


def _snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (hidden ones too), by relative path."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as npz:
        return {k: npz[k] for k in npz.files}


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


@contextmanager
def warnings_as_errors() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# ----------------------------------------------------------------------------------------------
# derived files: every damaged cache is rebuilt, with a warning naming it
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_caches(tmp_path_factory) -> dict[int, Path]:
    """A good cached split for seeds 2021 and 7, built once for the module."""
    folder = tmp_path_factory.mktemp("good_cache")
    return {
        seed: D.load_frappe(DATA_HOME, seed, cache_dir=folder, progress=False).info["cache"]
        for seed in (2021, 7)
    }


def _without_checksum(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v for k, v in arrays.items() if k != "sha256"}


def _one_positive_fewer(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What the stale-memo bug wrote: test with 9,535 positives, in the format before checksums."""
    y = arrays["test_y"].copy()
    y[np.flatnonzero(y == 1)[0]] = 0
    return {**_without_checksum(arrays), "test_y": y}


def _flip_one_byte(data: bytes) -> bytes:
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x01
    return bytes(flipped)


# case -> (how to damage the good file: (its bytes, its arrays, the seed-7 file) -> bytes,
#          words the warning must carry)
DERIVED_CASES: dict[str, tuple[Callable[[bytes, dict, Path], bytes], str]] = {
    "zero bytes": (lambda b, a, other: b"", "empty (0 bytes)"),
    "garbage bytes": (
        lambda b, a, other: np.random.default_rng(0).bytes(4096),
        "not a readable npz",
    ),
    "cut in half": (lambda b, a, other: b[: len(b) // 2], "not a readable npz"),
    "one flipped byte": (lambda b, a, other: _flip_one_byte(b), "Bad CRC-32"),
    "a member missing": (
        lambda b, a, other: _npz_bytes({k: v for k, v in a.items() if k != "test_y"}),
        "member 'test_y' is missing",
    ),
    "a shortened member": (
        lambda b, a, other: _npz_bytes({**a, "test_y": a["test_y"][:-1]}),
        "member 'test_y' is int8 (28859,), expected int8 (28860,)",
    ),
    "a member of the wrong dtype": (
        lambda b, a, other: _npz_bytes({**a, "val_x": a["val_x"].astype(np.int64)}),
        "member 'val_x' is int64",
    ),
    "an extra member": (
        lambda b, a, other: _npz_bytes({**a, "note": np.zeros(3)}),
        "unexpected member 'note'",
    ),
    "an .npy instead of an .npz": (
        lambda b, a, other: _npy_bytes(a["train_x"]),
        "not a readable npz",
    ),
    "an array changed, checksum kept": (
        lambda b, a, other: _npz_bytes({**a, "test_y": _one_positive_fewer(a)["test_y"]}),
        "do not match the sha256 stored with them",
    ),
    "the seed-7 split renamed to seed 2021": (
        lambda b, a, other: other.read_bytes(),
        "do not match the sha256 stored with them",
    ),
    "old format (no checksum), one test positive lost": (
        lambda b, a, other: _npz_bytes(_one_positive_fewer(a)),
        "test has 9,535 positives, expected 9,536",
    ),
    "old format (no checksum), label out of range": (
        lambda b, a, other: _npz_bytes(
            {**_without_checksum(a), "val_y": np.where(a["val_y"] == 1, 2, 0).astype(np.int8)}
        ),
        "val_y holds labels other than 0 and 1",
    ),
    "old format (no checksum), index out of range": (
        lambda b, a, other: _npz_bytes(
            {**_without_checksum(a), "train_x": np.where(a["train_x"] == 0, -1, a["train_x"])}
        ),
        "train_x row 0: ",
    ),
}


@needs_frappe
@pytest.mark.parametrize("case", list(DERIVED_CASES))
def test_a_bad_derived_file_is_rebuilt_with_a_warning_naming_it(case, good_caches, tmp_path):
    good = good_caches[2021]
    damage, words = DERIVED_CASES[case]
    cache_dir = tmp_path / "derived"
    cache_dir.mkdir()
    bad = cache_dir / good.name
    bad.write_bytes(damage(good.read_bytes(), _arrays(good), good_caches[7]))
    neighbour = cache_dir / good_caches[7].name  # another good derived file, must stay as it is
    shutil.copyfile(good_caches[7], neighbour)
    home_before = _snapshot(DATA_HOME)

    with pytest.warns(UserWarning) as caught:
        ds = D.load_frappe(DATA_HOME, cache_dir=cache_dir, progress=False)
    (warning,) = [w for w in caught if str(bad) in str(w.message)]
    message = str(warning.message)
    assert "\n" not in message and "rebuilt it from the data files" in message
    assert words in message, message

    want = _arrays(good)
    got = {"train": ds.train, "val": ds.val, "test": ds.test}
    for split, data in got.items():  # the rebuild is the good split, bit for bit
        assert np.array_equal(data.x.numpy(), want[f"{split}_x"])
        assert np.array_equal(data.y.numpy(), want[f"{split}_y"])
    assert np.array_equal(_arrays(bad)["train_x"], want["train_x"])  # and it replaced the bad file
    with warnings_as_errors():
        D.load_frappe(DATA_HOME, cache_dir=cache_dir, progress=False)  # now read back silently
    assert neighbour.read_bytes() == good_caches[7].read_bytes()
    assert sorted(p.name for p in cache_dir.iterdir()) == sorted([bad.name, neighbour.name])
    assert _snapshot(DATA_HOME) == home_before


@needs_frappe
def test_a_good_derived_file_from_before_the_checksum_loads_without_a_rebuild(
    good_caches, tmp_path
):
    """Caches written before the checksum member existed stay valid (checked by structure)."""
    good = good_caches[2021]
    old = tmp_path / good.name
    old.write_bytes(_npz_bytes(_without_checksum(_arrays(good))))
    before = old.stat().st_mtime_ns
    with warnings_as_errors():
        ds = D.load_frappe(DATA_HOME, cache_dir=tmp_path, progress=False)
    assert old.stat().st_mtime_ns == before  # read, not rebuilt
    assert np.array_equal(ds.test.y.numpy(), _arrays(good)["test_y"])


# ----------------------------------------------------------------------------------------------
# data files changed in-process: the sha256 memo cannot be fooled by size and mtime
# ----------------------------------------------------------------------------------------------


def _same_size_same_mtime_edit(path: Path, old: bytes, new: bytes) -> None:
    """Replace the first ``old`` in ``path`` by ``new`` (same length), then put its mtime back."""
    assert len(old) == len(new)
    st = path.stat()
    data = path.read_bytes()
    assert old in data
    path.write_bytes(data.replace(old, new, 1))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns


@pytest.mark.parametrize("memoised", [True, False], ids=["memoised", "fresh file"])
def test_a_file_changed_with_the_same_size_and_mtime_fails_its_checksum(
    memoised, tmp_path, monkeypatch
):
    """The in-process memo is keyed by ctime and inode too (os.utime cannot set ctime back);
    a file too recent for its ctime to tell a same-tick change apart is not memoised at all."""
    payload = b"label,value\n1,2\n0,3\n"
    remote = D.RemoteFile("toy/file.csv", "http://example.invalid/toy/file.csv", len(payload),
                          hashlib.sha256(payload).hexdigest())  # fmt: skip
    home = tmp_path / "home"
    dest = home / "toy" / "file.csv"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(payload)
    if memoised:  # pretend the file is old, so that it is memoised; leave the clock tick
        monkeypatch.setattr(D.download, "_RACY_NS", 0)
    assert D.fetch(remote, home) == dest  # verified
    memo = [k for k in D.download._VERIFIED if k[0] == str(dest.resolve())]
    assert len(memo) == memoised
    time.sleep(0.05)  # past the file system's timestamp tick: the edit gets a new ctime

    _same_size_same_mtime_edit(dest, b"1,2", b"0,2")
    with pytest.raises(D.ChecksumError, match="corrupt or a different version") as info:
        D.fetch(remote, home)
    assert str(dest) in str(info.value)
    assert D.sha256_file(dest) == hashlib.sha256(dest.read_bytes()).hexdigest()


@pytest.fixture
def frappe_copy(tmp_path) -> Path:
    """A private data home holding copies of the three Frappe files."""
    home = tmp_path / "home"
    for name in FRAPPE_NAMES:
        (home / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(DATA_HOME / name, home / name)
    return home


@needs_frappe
def test_a_frappe_file_changed_in_process_is_refused_and_caches_nothing(
    frappe_copy, good_caches, tmp_path
):
    """The issue's case: the test file edited after a load; a later load must not cache it."""
    first = tmp_path / "first"
    first.mkdir()
    shutil.copyfile(good_caches[2021], first / good_caches[2021].name)
    assert D.load_frappe(frappe_copy, cache_dir=first, progress=False).test.y.sum() == 9_536
    home_before = _snapshot(DATA_HOME)

    test_file = frappe_copy / "frappe" / "frappe.test.libfm"
    _same_size_same_mtime_edit(test_file, b"\n1 ", b"\n0 ")  # one positive becomes a negative
    second = tmp_path / "second"
    with pytest.raises(D.ChecksumError) as info:
        D.load_frappe(frappe_copy, cache_dir=second, progress=False)
    assert str(test_file) in str(info.value)
    assert not second.exists() or list(second.iterdir()) == []  # nothing cached under its tag

    shutil.copy2(DATA_HOME / "frappe" / "frappe.test.libfm", test_file)  # the good file back
    assert D.load_frappe(frappe_copy, cache_dir=second, progress=False).test.y.sum() == 9_536
    assert _snapshot(DATA_HOME) == home_before


@needs_frappe
def test_the_split_is_built_only_from_bytes_that_match_the_cache_tag(
    frappe_copy, tmp_path, monkeypatch
):
    """Even if the memo were stale (faked here), the rebuild re-hashes what it parses."""
    monkeypatch.setattr(D.download, "sha256_file", lambda path: D.REMOTE_FILES[
        Path(path).relative_to(frappe_copy).as_posix()].sha256)  # fmt: skip
    test_file = frappe_copy / "frappe" / "frappe.test.libfm"
    _same_size_same_mtime_edit(test_file, b"\n1 ", b"\n0 ")
    with pytest.raises(D.ChecksumError, match="changed after it was verified") as info:
        D.load_frappe(frappe_copy, cache_dir=tmp_path / "derived", progress=False)
    assert str(test_file) in str(info.value)
    assert not (tmp_path / "derived").exists()


# ----------------------------------------------------------------------------------------------
# .part files of killed downloads: removed by the next fetch of that file
# ----------------------------------------------------------------------------------------------

PAYLOAD = bytes(range(256)) * 800  # 204,800 bytes
REMOTE = D.RemoteFile("toy/big.bin", "http://example.invalid/toy/big.bin", len(PAYLOAD),
                      hashlib.sha256(PAYLOAD).hexdigest())  # fmt: skip


def _served_payload(tmp_path: Path):
    root = tmp_path / "served"
    (root / "toy").mkdir(parents=True)
    (root / "toy" / "big.bin").write_bytes(PAYLOAD)
    return serve(partial(QuietHandler, directory=str(root)))


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _host() -> str:
    return D.download._part_owner().rsplit("-", 1)[0]


HOUR = 3600
# case -> (part file name, its age in seconds, whether the fetch must remove it)
PART_CASES: dict[str, tuple[Callable[[], str], float, bool]] = {
    "dead pid on this host": (lambda: f".big.bin.{_host()}-{_dead_pid()}.abcd1234.part", 0, True),
    "live pid (this process)": (
        lambda: f".big.bin.{_host()}-{os.getpid()}.abcd1234.part",
        0,
        False,
    ),
    "live pid, untouched for two hours": (
        lambda: f".big.bin.{_host()}-{os.getpid()}.abcd1234.part",
        2 * HOUR,
        True,
    ),
    "another host, fresh": (lambda: ".big.bin.otherhost-12345.abcd1234.part", 0, False),
    "another host, two hours old": (
        lambda: ".big.bin.otherhost-12345.abcd1234.part",
        2 * HOUR,
        True,
    ),
    "name without a pid, fresh": (lambda: ".big.bin.abcd1234.part", 0, False),
    "name without a pid, two hours old": (lambda: ".big.bin.abcd1234.part", 2 * HOUR, True),
}


@pytest.mark.parametrize("case", list(PART_CASES))
def test_fetch_removes_stale_part_files_of_its_destination_only(case, tmp_path):
    make_name, age, removed = PART_CASES[case]
    home = tmp_path / "home"
    folder = home / "toy"
    folder.mkdir(parents=True)
    part = folder / make_name()
    part.write_bytes(PAYLOAD[:1000])
    os.utime(part, (time.time() - age, time.time() - age))
    other_part = folder / f".other.bin.{_host()}-{_dead_pid()}.abcd1234.part"  # another file's
    other_part.write_bytes(b"x")
    keep = folder / "other.bin"  # a good file already in the data home
    keep.write_bytes(b"good bytes")
    before = _snapshot(home)

    with _served_payload(tmp_path) as base:
        dest = D.fetch(REMOTE, home, url=f"{base}/toy/big.bin", progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert part.exists() is not removed
    after = _snapshot(home)
    assert after.pop("toy/big.bin") == REMOTE.sha256
    if removed:
        before.pop(f"toy/{part.name}")
    assert after == before  # everything else, including another file's part, byte for byte


class _StallingHandler(BaseHTTPRequestHandler):
    """Sends half the payload, then waits (until the test ends) for the client to be killed."""

    sent: threading.Event
    release: threading.Event

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(PAYLOAD[: len(PAYLOAD) // 2])
        self.wfile.flush()
        self.sent.set()
        self.release.wait(60)

    def log_message(self, *args) -> None:
        pass


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL/SIGTERM of a child process: POSIX only")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_the_part_file_of_a_killed_download_is_removed_by_the_next_fetch(sig, tmp_path):
    home = tmp_path / "home"
    (home / "toy").mkdir(parents=True)
    keep = home / "toy" / "other.bin"
    keep.write_bytes(b"good bytes")
    code = (
        "import sys\nfrom ctr_helpers.data import download as d\n"
        "r = d.RemoteFile(*sys.argv[1:3], int(sys.argv[3]), sys.argv[4])\n"
        "d.fetch(r, sys.argv[5], url=sys.argv[6], progress=False)\n"
    )
    handler = type("Stall", (_StallingHandler,), {"sent": threading.Event(),
                                                  "release": threading.Event()})  # fmt: skip
    with serve(handler) as base:
        url = f"{base}/toy/big.bin"
        args = [REMOTE.name, REMOTE.url, str(REMOTE.size), REMOTE.sha256, str(home), url]
        child = subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO)
        try:
            assert handler.sent.wait(120), "the child never started its download"
            time.sleep(0.3)  # let it write what it received
            os.kill(child.pid, sig)
            assert child.wait(30) == -sig
        finally:
            child.kill()
            child.wait()
            handler.release.set()
    (part,) = (home / "toy").glob(".big.bin.*.part")  # what the killed download left
    assert f"-{child.pid}." in part.name

    with _served_payload(tmp_path) as base:
        dest = D.fetch(REMOTE, home, url=f"{base}/toy/big.bin", progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert not part.exists()
    assert sorted(p.name for p in (home / "toy").iterdir()) == ["big.bin", "other.bin"]
    assert keep.read_bytes() == b"good bytes"


def test_a_killed_cache_write_leaves_nothing_after_the_next_write(tmp_path):
    """The same housekeeping for derived files: a dead writer's .npz part file goes."""
    path = tmp_path / "derived" / "toy.npz"
    path.parent.mkdir()
    stale = path.parent / f".toy.npz.{_host()}-{_dead_pid()}.abcd1234.part"
    stale.write_bytes(b"half an npz")
    D.download._atomic_save_npz(path, a=np.arange(3))
    assert sorted(p.name for p in path.parent.iterdir()) == ["toy.npz"]
    assert np.array_equal(D.download._load_npz(path, {"a": (np.arange(3).dtype, (3,))})["a"],
                          np.arange(3))  # fmt: skip


def test_nothing_listening_still_means_a_clean_error(tmp_path):
    """Housekeeping never hides the real error (here: offline) nor leaves a part file."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(D.DownloadError, match="Could not download toy/big.bin"):
        D.fetch(REMOTE, tmp_path, url=f"http://127.0.0.1:{port}/toy/big.bin", progress=False)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
