"""The notebooks render in JupyterLab in a real (headless Chromium) browser.

Select or deselect with ``-m browser`` / ``-m "not browser"``. Skipped, with the reason, only
when Chromium or Playwright is missing and ``CI`` is not set; in CI a missing browser fails.
``CTR_BROWSER_NOTEBOOKS`` (default ``notebooks/``) picks the folder, ``CTR_SCREENSHOTS`` (default
``artifacts/screenshots/``) where ``<notebook stem>.png`` goes. ``test_self_check`` runs the same
check on notebooks made here, so the machinery is tested before the course notebooks exist.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import nbformat
import pytest
from labcheck import check_notebook, chromium_context, chromium_path, jupyter_lab, open_lab

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = Path(os.environ.get("CTR_BROWSER_NOTEBOOKS", REPO / "notebooks"))
SCREENSHOTS = Path(os.environ.get("CTR_SCREENSHOTS", REPO / "artifacts" / "screenshots"))


def _missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install playwright)"
    if chromium_path() is None:
        return "chromium is not installed (apt-get install chromium)"
    return None


@pytest.fixture(scope="module")
def browser():
    reason = _missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set, so the browser check must run, but {reason}")
        pytest.skip(reason)
    with chromium_context() as context:
        yield context


def _demo_notebook(path: Path, title: str, figure: bool) -> None:
    """A small notebook with a title and (optionally) a matplotlib figure executed by nbclient."""
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    plot = (
        "import matplotlib.pyplot as plt\n"
        "fig, ax = plt.subplots(figsize=(5, 3))\n"
        "ax.plot([0, 1, 2], [0.93, 0.967, 0.984], marker='o')\n"
        "ax.set(title='AUC grows with interactions', xlabel='model', ylabel='AUC')\n"
        "plt.show()"
    )
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# {title}\n\nA notebook made by the browser self-test."),
        nbformat.v4.new_code_cell(plot if figure else "print('no figure here')"),
    ]
    if figure:  # nothing to execute otherwise
        NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    nbformat.write(nb, path)


def test_self_check(browser, tmp_path):
    """The check passes on a rendered notebook with a figure and fails on one without."""
    _demo_notebook(tmp_path / "01_demo.ipynb", "Demo: a title and a figure", figure=True)
    _demo_notebook(tmp_path / "02_no_figure.ipynb", "Demo without a figure", figure=False)
    shots = tmp_path / "screenshots"
    with jupyter_lab(tmp_path) as server:
        page = open_lab(browser, server)
        check_notebook(page, server, tmp_path / "01_demo.ipynb", shots / "01_demo.png")
        with pytest.raises(AssertionError, match="02_no_figure.ipynb: no figure"):
            nb = tmp_path / "02_no_figure.ipynb"
            check_notebook(page, server, nb, shots / "02_no_figure.png", timeout_s=6)
        page.close()
    png = (shots / "01_demo.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


@pytest.fixture(scope="module")
def course_lab(browser):
    with jupyter_lab(NOTEBOOKS) as server:
        page = open_lab(browser, server)
        yield server, page
        page.close()


@pytest.mark.parametrize("notebook", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_notebook_renders(course_lab, notebook):
    server, page = course_lab
    check_notebook(page, server, notebook, SCREENSHOTS / f"{notebook.stem}.png")
