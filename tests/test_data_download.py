"""Download-cache tests against a real HTTP server on 127.0.0.1, started by the tests.

The server serves the data home ($CTR_DATA_HOME, for the tests marked ``needs_data``) or files
the test writes, with a registry of fake files patched in; every download goes into a temporary
data home, never into the real one.
"""

from __future__ import annotations

import hashlib
import socket
from functools import partial
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pytest
from _http import QuietHandler, serve

from ctr_helpers import data as D

# $CTR_DATA_HOME (CI sets it to a ready data home), else the default one that
# `python -m ctr_helpers.data fetch` fills; the real-data tests skip when it lacks the files.
DATA_HOME = D.get_data_home()
needs_data = pytest.mark.skipif(
    not (DATA_HOME / "criteo_sample" / "train.tiny.csv").exists(),
    reason=f"no data in {DATA_HOME} (run python -m ctr_helpers.data fetch, or set CTR_DATA_HOME)",
)

NAME = "criteo_sample/train.tiny.csv"


@pytest.fixture(autouse=True)
def _no_url_base(monkeypatch):
    monkeypatch.delenv("CTR_DATA_URL_BASE", raising=False)


def _serve_dir(directory: Path):
    return serve(partial(QuietHandler, directory=str(directory)))


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
    with serve(_cut_off_handler(payload, announce_length)) as base:
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


# ----------------------------------------------------------------------------------------------
# several files at once: fetch_all, the offline error of load_frappe, `python -m ctr_helpers.data`
# ----------------------------------------------------------------------------------------------

FRAPPE_NAMES = [
    "frappe/Mobile_Frappe.zip",
    "frappe/frappe.validation.libfm",
    "frappe/frappe.test.libfm",
]


@pytest.fixture
def fake_registry(tmp_path, monkeypatch):
    """Three small files served from ``tmp_path/served``, registered in place of the real ones."""
    served = tmp_path / "served"
    files = {"toy/a.csv": b"a,b\n1,2\n" * 300, "toy/b.bin": bytes(range(256)) * 40, "c.txt": b"c\n"}
    registry = {}
    for name, payload in files.items():
        (served / name).parent.mkdir(parents=True, exist_ok=True)
        (served / name).write_bytes(payload)
        registry[name] = _remote(name, payload)
    monkeypatch.setattr(D.download, "REMOTE_FILES", registry)
    return served, files


def _offline(monkeypatch, tmp_path) -> str:
    """Point every download at a port where nothing listens; an empty data home."""
    base = f"http://127.0.0.1:{_free_port()}"
    monkeypatch.setenv("CTR_DATA_URL_BASE", base)
    monkeypatch.setenv("CTR_DATA_HOME", str(tmp_path / "home"))
    return base


def test_fetch_command_downloads_every_file(fake_registry, tmp_path, monkeypatch, capsys):
    from ctr_helpers.data.__main__ import main

    served, files = fake_registry
    home = tmp_path / "home"
    with _serve_dir(served) as base:
        monkeypatch.setenv("CTR_DATA_URL_BASE", base)
        assert main(["fetch", "--data-home", str(home)]) == 0
    out = capsys.readouterr().out
    assert f"Data home: {home}" in out and "All 3 files are in" in out
    for name, payload in files.items():
        assert (home / name).read_bytes() == payload
        assert f"ok  {name}" in out
    assert sorted(_leftovers(home)) == ["a.csv", "b.bin", "c.txt"]  # no temporary file left
    assert main(["status", "--data-home", str(home)]) == 0  # all verified, no network needed
    assert capsys.readouterr().out.count("verified  ") == 3


def test_status_command_reports_missing_and_corrupt_files(fake_registry, tmp_path, capsys):
    from ctr_helpers.data.__main__ import main

    home = tmp_path / "home"
    (home / "toy").mkdir(parents=True)
    (home / "toy" / "a.csv").write_bytes(b"not the right bytes")
    assert main(["where", "--data-home", str(home)]) == 1
    out = capsys.readouterr().out
    assert f"Data home: {home}" in out
    assert "CORRUPT   toy/a.csv" in out and "missing   c.txt" in out
    assert "0 of 3 files verified" in out


def test_fetch_command_offline_names_every_file_and_fails(
    fake_registry, tmp_path, monkeypatch, capsys
):
    from ctr_helpers.data.__main__ import main

    served, files = fake_registry
    base = _offline(monkeypatch, tmp_path)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "c.txt").write_bytes(files["c.txt"])  # one file already there
    assert main(["fetch"]) == 1
    captured = capsys.readouterr()
    assert "ok  c.txt" in captured.out
    assert "Could not download 2 of the 3 data files needed" in captured.err
    for name in ("toy/a.csv", "toy/b.bin"):
        assert f"{base}/{name}" in captured.err and str(tmp_path / "home" / name) in captured.err
    assert "Traceback" not in captured.err
    assert _leftovers(tmp_path / "home") == ["c.txt"]


def test_the_command_runs_as_a_module(tmp_path):
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-m", "ctr_helpers.data", "status", "--data-home", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stderr  # an empty data home: every file missing
    assert f"Data home: {tmp_path}" in run.stdout
    assert run.stdout.count("missing ") == len(D.REMOTE_FILES)


def test_load_frappe_offline_error_fits_one_screen_and_names_all_three_files(tmp_path, monkeypatch):
    import traceback

    base = _offline(monkeypatch, tmp_path)
    with pytest.raises(D.DownloadError) as info:
        D.load_frappe(cache_dir=tmp_path / "derived", progress=False)
    err = info.value
    message = str(err)
    assert err.__cause__ is None and err.__suppress_context__  # no chained tracebacks
    assert "Could not download 3 of the 3 data files needed" in message
    assert [p.remote.name for p in err.problems] == FRAPPE_NAMES
    for name in FRAPPE_NAMES:
        remote = D.REMOTE_FILES[name]
        assert f"{base}/{name}" in message and remote.url in message  # mirror and official URL
        assert f"{remote.size:,} bytes" in message and remote.sha256 in message
        assert f"save as  {tmp_path / 'home' / name}" in message
    assert "%env CTR_DATA_HOME=/path/to/folder" in message
    assert "python -m ctr_helpers.data fetch" in message
    shown = "".join(traceback.format_exception(err))
    assert "During handling" not in shown and "direct cause" not in shown
    assert len(shown.splitlines()) < 40
    assert _leftovers(tmp_path / "home") == []


def test_only_the_missing_files_are_named(tmp_path, monkeypatch):
    """Two of Frappe's three files present: the error is about the third only."""
    needs = D.REMOTE_FILES["frappe/frappe.test.libfm"]
    monkeypatch.setattr(D.download, "sha256_file", lambda path: D.REMOTE_FILES[
        Path(path).relative_to(tmp_path / "home").as_posix()].sha256)  # fmt: skip
    _offline(monkeypatch, tmp_path)
    for name in FRAPPE_NAMES[:2]:
        (tmp_path / "home" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "home" / name).write_bytes(b"stand-in")
    with pytest.raises(D.DownloadError) as info:
        D.load_frappe(cache_dir=tmp_path / "derived", progress=False)
    message = str(info.value)
    assert message.startswith(f"Could not download {needs.name} from ")
    assert FRAPPE_NAMES[0] not in message and FRAPPE_NAMES[1] not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_keyboard_interrupt_mid_download_leaves_no_partial_file(tmp_path, monkeypatch):
    payload = b"x" * 200_000
    remote = _remote("toy/big.bin", payload)

    class Response:
        reads = 0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self, n):
            self.reads += 1
            if self.reads > 1:
                raise KeyboardInterrupt  # Ctrl-C in the middle of the transfer
            return payload[:n]

    monkeypatch.setattr(D.download, "urlopen", lambda *a, **k: Response())
    with pytest.raises(KeyboardInterrupt):
        D.fetch_all([remote], tmp_path, progress=False)
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("disable", ["1", ""])
def test_progress_bar_respects_tqdm_disable(tmp_path, monkeypatch, capsys, disable):
    payload = b"some bytes\n" * 1000
    (tmp_path / "served").mkdir()
    (tmp_path / "served" / "f.bin").write_bytes(payload)
    monkeypatch.setenv("TQDM_DISABLE", disable)
    with _serve_dir(tmp_path / "served") as base:
        D.fetch(_remote("toy/f.bin", payload), tmp_path / "home", url=f"{base}/f.bin")
    shown = "toy/f.bin" in capsys.readouterr().err
    assert shown == (not disable)


def test_data_readme_lists_every_file_with_url_size_and_checksum():
    text = (Path(__file__).resolve().parents[1] / "data" / "README.md").read_text()
    for name, remote in D.REMOTE_FILES.items():
        rows = [line for line in text.splitlines() if line.startswith(f"| `{name}` |")]
        assert len(rows) == 1, name
        assert remote.url in rows[0] and f"{remote.size:,}" in rows[0], name
        assert remote.sha256 in rows[0], name
