"""Download-cache tests against a real HTTP server on 127.0.0.1, started by the tests.

The server serves the ready data home (../shared/data) or files the test writes; every download
goes into a temporary data home, never into the shared one.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ctr_helpers import data as D

DATA_HOME = Path(
    os.environ.get("CTR_DATA_HOME") or Path(__file__).resolve().parents[2] / "shared" / "data"
)
needs_data = pytest.mark.skipif(
    not (DATA_HOME / "criteo_sample" / "train.tiny.csv").exists(),
    reason=f"no ready data home at {DATA_HOME} (set CTR_DATA_HOME)",
)

NAME = "criteo_sample/train.tiny.csv"


@pytest.fixture(autouse=True)
def _no_url_base(monkeypatch):
    monkeypatch.delenv("CTR_DATA_URL_BASE", raising=False)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest output clean
        pass


@contextmanager
def _serve(handler) -> Iterator[str]:
    """Run ``handler`` on 127.0.0.1 in a thread; yield the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _serve_dir(directory: Path):
    return _serve(partial(_QuietHandler, directory=str(directory)))


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def _remote(name: str, payload: bytes) -> D.RemoteFile:
    """A registry entry for test bytes (the URL is always overridden)."""
    return D.RemoteFile(name, "http://example.invalid/" + name, len(payload), _sha(payload))


def _sha(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


@needs_data
def test_good_download_lands_in_the_cache_with_the_right_checksum(tmp_path):
    home = tmp_path / "home"
    with _serve_dir(DATA_HOME) as base:
        path = D.fetch(NAME, home, url=f"{base}/{NAME}", progress=False)
    assert path == home / "criteo_sample" / "train.tiny.csv"
    assert _sha(path.read_bytes()) == D.REMOTE_FILES[NAME].sha256
    assert path.read_bytes() == (DATA_HOME / NAME).read_bytes()
    assert _leftovers(home) == ["train.tiny.csv"]  # no temporary file left behind


@needs_data
def test_url_base_from_the_environment(tmp_path, monkeypatch):
    name = "criteo_sample/deepctr_criteo_sample.csv"
    with _serve_dir(DATA_HOME) as base:
        monkeypatch.setenv("CTR_DATA_URL_BASE", base + "/")
        path = D.fetch(name, tmp_path, progress=True)
    assert _sha(path.read_bytes()) == D.REMOTE_FILES[name].sha256


def test_cached_file_is_used_without_network(tmp_path):
    payload = b"cached bytes\n"
    remote = _remote("toy/file.txt", payload)
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "file.txt").write_bytes(payload)
    # nothing listens on this URL: a cached, verified file must not need it
    assert D.fetch(remote, tmp_path, url="http://127.0.0.1:9/none") == tmp_path / "toy/file.txt"


def test_tampered_file_raises_and_leaves_nothing(tmp_path):
    good = b"label,value\n1,2\n" * 100
    tampered = bytearray(good)
    tampered[17] ^= 1  # same size, one bit flipped
    served = tmp_path / "served"
    served.mkdir()
    (served / "file.csv").write_bytes(bytes(tampered))
    home = tmp_path / "home"
    remote = _remote("toy/file.csv", good)
    with _serve_dir(served) as base:
        with pytest.raises(D.ChecksumError) as info:
            D.fetch(remote, home, url=f"{base}/file.csv", progress=False)
    message = str(info.value)
    assert "toy/file.csv" in message and f"{base}/file.csv" in message
    assert f"expected sha256 {_sha(good)}" in message
    assert f"got {_sha(bytes(tampered))} ({len(good):,} bytes)" in message
    assert _leftovers(home) == []


def test_tampered_download_keeps_a_good_cached_copy(tmp_path):
    good = b"the right bytes\n" * 50
    served = tmp_path / "served"
    served.mkdir()
    (served / "file.bin").write_bytes(b"the wrong bytes\n" * 50)
    home = tmp_path / "home"
    (home / "toy").mkdir(parents=True)
    (home / "toy" / "file.bin").write_bytes(good)
    with _serve_dir(served) as base:
        with pytest.raises(D.ChecksumError, match="cached copy left untouched"):
            D.fetch(_remote("toy/file.bin", good), home, url=f"{base}/file.bin", force=True)
    assert (home / "toy" / "file.bin").read_bytes() == good
    assert _leftovers(home) == ["file.bin"]


def test_corrupt_cached_file_is_reported(tmp_path):
    good = b"good\n"
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "file.txt").write_bytes(b"evil\n")
    with pytest.raises(D.ChecksumError, match=r"file\.txt is corrupt .* Delete it"):
        D.fetch(_remote("toy/file.txt", good), tmp_path, url="http://127.0.0.1:9/x")


def _cut_off_handler(payload: bytes, announce_length: bool):
    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if announce_length:
                self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.close_connection = True  # hang up mid-transfer

    return Handler


@pytest.mark.parametrize("announce_length", [True, False])
def test_server_closing_mid_transfer_leaves_no_partial_file(tmp_path, announce_length):
    payload = bytes(range(256)) * 2000  # 512 kB
    remote = _remote("toy/big.bin", payload)
    with _serve(_cut_off_handler(payload, announce_length)) as base:
        with pytest.raises(D.DownloadError) as info:
            D.fetch(remote, tmp_path, url=f"{base}/big.bin", progress=False)
    message = str(info.value)
    assert "toy/big.bin" in message and f"{base}/big.bin" in message
    if not announce_length:  # only the checksum can tell the file is short
        assert isinstance(info.value, D.ChecksumError) and "cut short" in message
    assert _leftovers(tmp_path) == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_nothing_listening_gives_the_offline_message(tmp_path):
    url = f"http://127.0.0.1:{_free_port()}/{NAME}"
    with pytest.raises(D.DownloadError) as info:
        D.fetch(NAME, tmp_path, url=url, progress=False)
    message = str(info.value)
    assert f"Could not download {NAME} from {url}" in message
    assert "by hand" in message and str(tmp_path / "criteo_sample" / "train.tiny.csv") in message
    assert D.REMOTE_FILES[NAME].sha256 in message
    assert _leftovers(tmp_path) == []


def test_http_error_is_a_download_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with _serve_dir(tmp_path / "empty") as base:
        with pytest.raises(D.DownloadError, match="404"):
            D.fetch(NAME, tmp_path / "home", url=f"{base}/missing.csv", progress=False)
    assert _leftovers(tmp_path / "home") == []


def test_unknown_name():
    with pytest.raises(KeyError, match="unknown data file 'nope'"):
        D.fetch("nope")


def test_registry_matches_the_data_home_layout():
    for name, remote in D.REMOTE_FILES.items():
        assert (
            remote.name == name and len(remote.sha256) == 64 and remote.url.startswith("https://")
        )
        local = DATA_HOME / name
        if local.exists():
            assert local.stat().st_size == remote.size
            assert D.sha256_file(local) == remote.sha256
