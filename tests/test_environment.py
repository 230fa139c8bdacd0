"""environment.yml (conda) and pyproject.toml (pip) must describe the same environment."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from the PyPI names
CONDA_TO_PYPI = {"pytorch": "torch"}
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


def _conda() -> dict[str, str]:
    """The conda dependency lines of environment.yml (a flat list, so no YAML parser needed)."""
    out = {}
    in_deps = False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if line.startswith("dependencies:"):
            in_deps = True
            continue
        if in_deps and re.match(r"^\S", line):
            break
        m = re.match(r"^  - (\S+)\s*$", line)  # top-level items only, not the pip: block
        if in_deps and m:
            name, spec = _split(m.group(1))
            out[CONDA_TO_PYPI.get(name, name)] = spec
    return out


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


def test_environment_yml_installs_the_package():
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^\s+- -e \.\s*$", text, re.M), "environment.yml must pip-install the package"
