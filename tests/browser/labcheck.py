"""Open notebooks in JupyterLab in headless Chromium and check that they render.

Used by ``tests/browser/test_jupyterlab.py``; also a script::

    python tests/browser/labcheck.py notebooks --screenshots artifacts/screenshots

One JupyterLab page is loaded once; each notebook is opened from its file browser (as a learner
would) and its kernel shut down after the check. For each notebook: the title cell (the first markdown ``# ...`` heading) and at least one figure
(an ``img`` in an output area) must be visible, and no dialog or error notification may appear.
A screenshot with the first figure in view is saved as ``<screenshots>/<notebook stem>.png``.

The server is ``jupyter lab`` on 127.0.0.1 (free port, random token, ``--no-browser``) with
throw-away config, runtime, settings and workspace folders; notebooks are shown without
windowing (every cell in the page) and without the news prompt. The browser is Debian's
``/usr/bin/chromium`` driven by Playwright (``CHROMIUM`` overrides the path; no browser download).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
]
# JupyterLab user settings written into the throw-away settings folder.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
}
# Visible elements that mean something went wrong.
ERROR_SELECTORS = [".jp-Dialog", ".Toastify__toast--error"]


def chromium_path() -> str | None:
    """The Chromium binary: ``$CHROMIUM``, else ``chromium`` / ``chromium-browser`` on PATH."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    return shutil.which("chromium") or shutil.which("chromium-browser")


def notebook_title(path: Path) -> str:
    """Text of the first ``# `` heading in the notebook's first markdown cell that has one."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        for line in source.splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    raise ValueError(f"{path}: no markdown cell with a '# title' heading")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LabServer:
    """A running ``jupyter lab``: ``url`` (no trailing slash) and ``token``."""

    url: str
    token: str
    process: subprocess.Popen
    log: Path

    def api(self, method: str, path: str) -> object:
        req = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - local server
            body = resp.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Stop the kernels that opening notebooks started (keeps CPU free)."""
        for session in self.api("GET", "/api/sessions") or []:
            self.api("DELETE", f"/api/sessions/{session['id']}")


@contextlib.contextmanager
def jupyter_lab(root_dir: Path, startup_timeout: float = 90) -> Iterator[LabServer]:
    """Start ``jupyter lab`` serving ``root_dir`` with throw-away state; stop it on exit."""
    root_dir = Path(root_dir).resolve()
    with tempfile.TemporaryDirectory(prefix="ctr-lab-") as tmp:
        tmp = Path(tmp)
        settings = tmp / "settings"
        for rel, value in LAB_SETTINGS.items():
            (settings / rel).parent.mkdir(parents=True, exist_ok=True)
            (settings / rel).write_text(json.dumps(value), encoding="utf-8")
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(tmp / "config"),
            "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces"),
            "IPYTHONDIR": str(tmp / "ipython"),
        }
        port, token = _free_port(), secrets.token_hex(16)
        log = tmp / "lab.log"
        cmd = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--port-retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root_dir}",
            "--ServerApp.open_browser=False",
            "--allow-root",
            "--LabApp.extension_manager=readonly",  # never query PyPI
        ]
        with log.open("w") as log_file:
            proc = subprocess.Popen(cmd, env=env, stdout=log_file, stderr=subprocess.STDOUT)
            server = LabServer(f"http://127.0.0.1:{port}", token, proc, log)
            try:
                deadline = time.monotonic() + startup_timeout
                while True:
                    if proc.poll() is not None:
                        raise RuntimeError(
                            f"jupyter lab exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
                        )
                    try:
                        server.api("GET", "/api/status")
                        break
                    except OSError:
                        if time.monotonic() > deadline:
                            raise TimeoutError(
                                f"jupyter lab not up after {startup_timeout:g} s:\n"
                                f"{log.read_text()[-3000:]}"
                            ) from None
                        time.sleep(0.3)
                yield server
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@contextlib.contextmanager
def chromium_context(user_data_dir: Path | None = None) -> Iterator[object]:
    """A headless Chromium (Playwright persistent context) with a fresh user-data dir."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise FileNotFoundError("no chromium found: apt-get install chromium (or set CHROMIUM)")
    with contextlib.ExitStack() as stack:
        if user_data_dir is None:
            user_data_dir = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="ctr-chromium-"))
            )
        pw = stack.enter_context(sync_playwright())
        context = pw.chromium.launch_persistent_context(
            str(user_data_dir),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 1000},
        )
        stack.callback(context.close)
        yield context


def _visible_errors(page) -> list[str]:
    errors = []
    for selector in ERROR_SELECTORS:
        loc = page.locator(selector)
        for i in range(loc.count()):
            if loc.nth(i).is_visible():
                errors.append(" ".join(loc.nth(i).inner_text().split())[:300])
    return errors


def open_lab(context, server: LabServer, timeout_s: float = 60):
    """A page with JupyterLab loaded (fresh workspace) and its file browser listing shown."""
    page = context.new_page()
    page.set_default_timeout(timeout_s * 1000)
    page.goto(f"{server.url}/lab?token={server.token}&reset")
    page.locator(".jp-DirListing-item").first.wait_for(state="visible")
    return page


def check_notebook(
    page, server: LabServer, path: Path, screenshot: Path, timeout_s: float = 30
) -> None:
    """Open ``path`` from the file browser; assert title, figure and no error dialog; screenshot.

    ``page`` comes from ``open_lab``; ``path`` must sit at the top of the server's ``root_dir``.
    Raises ``AssertionError`` naming the notebook and what was missing (a screenshot is saved
    in every case). The kernel the notebook started is shut down afterwards.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    title, name = notebook_title(path), path.name
    ms = timeout_s * 1000
    screenshot.parent.mkdir(parents=True, exist_ok=True)

    def fail(what: str) -> None:
        page.screenshot(path=str(screenshot))
        errors = _visible_errors(page)
        for _ in errors:  # dismiss, so the next notebook starts clean
            page.keyboard.press("Escape")
        raise AssertionError(
            f"{name}: {what}" + (f"; dialog/error shown: {errors}" if errors else "")
        )

    try:
        item = page.locator(".jp-DirListing-item").filter(has=page.get_by_text(name, exact=True))
        try:
            item.dblclick(timeout=ms)
            tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
            tab = tab.filter(has_text=name)
            tab.wait_for(timeout=ms)
        except PlaywrightTimeout:
            fail(f"could not open it from the JupyterLab file browser in {timeout_s:g} s")
        panel = page.locator(f"[id='{tab.get_attribute('data-id')}']")
        heading = panel.locator(".jp-MarkdownOutput h1").filter(has_text=title).first
        try:
            heading.wait_for(state="visible", timeout=ms)
        except PlaywrightTimeout:
            fail(f"title heading {title!r} not visible after {timeout_s:g} s")
        figure = panel.locator(".jp-OutputArea-output img").first
        try:
            figure.wait_for(state="attached", timeout=ms / 2)
            figure.scroll_into_view_if_needed(timeout=ms)
            figure.wait_for(state="visible", timeout=ms)
            page.wait_for_function(
                "img => img.complete && img.naturalWidth > 0",
                arg=figure.element_handle(),
                timeout=ms,
            )
        except PlaywrightTimeout:
            fail("no figure (an img in an output area) visible")
        page.wait_for_timeout(300)  # give a dialog that opens on load the time to show
        if _visible_errors(page):
            fail("dialog or error notification shown in JupyterLab")
        page.screenshot(path=str(screenshot))
    finally:
        with contextlib.suppress(OSError):
            server.shutdown_kernels()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook_dir", type=Path, nargs="?", default=Path("notebooks"))
    parser.add_argument("--screenshots", type=Path, default=Path("artifacts/screenshots"))
    parser.add_argument("--timeout", type=float, default=30, help="seconds per notebook")
    args = parser.parse_args(argv)
    notebooks = sorted(args.notebook_dir.glob("*.ipynb"))
    if not notebooks:
        parser.error(f"no notebooks in {args.notebook_dir}")
    failures = 0
    with jupyter_lab(args.notebook_dir) as server, chromium_context() as context:
        page = open_lab(context, server)
        for nb in notebooks:
            shot = args.screenshots / f"{nb.stem}.png"
            start = time.monotonic()
            try:
                check_notebook(page, server, nb, shot, args.timeout)
                print(f"ok    {nb.name} ({time.monotonic() - start:.1f} s) -> {shot}")
            except AssertionError as exc:
                failures += 1
                print(f"FAIL  {exc} -> {shot}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
