"""environment.yml (conda) and pyproject.toml (pip) must describe the same environment, and
environment.yml must be what ``conda env create -f environment.yml`` accepts.

The file is read the way conda reads it (YAML; PyYAML comes with JupyterLab, through
jupyter_events), and its ``pip:`` block the way pip reads it: conda writes those lines to a
requirements file and runs ``pip install -r`` on it from the folder of environment.yml.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from the PyPI names (conda-forge's "playwright" is the Node.js
# tool; its Python bindings are "playwright-python")
CONDA_TO_PYPI = {"pytorch": "torch", "playwright-python": "playwright"}
CONDA_ONLY = {"python", "pip"}


def _split(requirement: str) -> tuple[str, str]:
    m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*", requirement)
    assert m, f"cannot parse requirement {requirement!r}"
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def _pyproject() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    return dict(_split(r) for r in reqs)


def _environment() -> dict:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert isinstance(env, dict) and env.get("name") and env.get("channels"), env
    return env


def _conda() -> dict[str, str]:
    """The conda packages of environment.yml, by PyPI name."""
    out = {}
    for dep in _environment()["dependencies"]:
        if isinstance(dep, str):
            name, spec = _split(dep)
            out[CONDA_TO_PYPI.get(name, name)] = spec
    return out


def _pip_block() -> list[str]:
    blocks = [d["pip"] for d in _environment()["dependencies"] if isinstance(d, dict)]
    assert len(blocks) == 1, "environment.yml needs exactly one pip: block"
    assert all(isinstance(line, str) for line in blocks[0]), blocks[0]
    return blocks[0]


def test_environment_yml_matches_pyproject():
    conda = {k: v for k, v in _conda().items() if k not in CONDA_ONLY}
    pip = _pyproject()
    assert conda, "no dependencies parsed from environment.yml"
    missing_in_conda = sorted(set(pip) - set(conda))
    missing_in_pip = sorted(set(conda) - set(pip))
    assert not missing_in_conda, f"in pyproject.toml but not environment.yml: {missing_in_conda}"
    assert not missing_in_pip, f"in environment.yml but not pyproject.toml: {missing_in_pip}"
    differing = {k: (pip[k], conda[k]) for k in pip if pip[k] != conda[k]}
    assert not differing, f"version ranges differ (pyproject, conda): {differing}"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pip's vendored pkg_resources
def test_pip_block_is_a_valid_requirements_file(tmp_path, monkeypatch):
    """Every line is one pip accepts in a requirements file (``--no-deps`` is not one), and the
    block installs this repository in editable mode."""
    req_file = pytest.importorskip("pip._internal.req.req_file")
    constructors = pytest.importorskip("pip._internal.req.constructors")
    session = pytest.importorskip("pip._internal.network.session")

    path = tmp_path / "condaenv.requirements.txt"
    path.write_text("\n".join(_pip_block()) + "\n")
    monkeypatch.chdir(ROOT)  # conda runs pip from the folder of environment.yml
    parsed = req_file.parse_requirements(str(path), session=session.PipSession())
    reqs = [constructors.install_req_from_parsed_requirement(r) for r in parsed]
    assert len(reqs) == len(_pip_block())
    editable = [r for r in reqs if r.editable]
    assert editable, "environment.yml must pip-install the package (- -e .)"
    assert any(Path(r.link.file_path) == ROOT for r in editable), [r.link for r in editable]
