"""Packaging metadata: one version source, an SPDX license with its file, py.typed, and pins that
cover every declared dependency (requirements/constraints.txt, used by `make` and environment.yml)."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import supreme

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
CONSTRAINTS = ROOT / "requirements" / "constraints.txt"


def _pins() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;]+)", line)
        if match:
            pins[canonicalize_name(match.group(1))] = match.group(3)
    return pins


def test_the_version_has_one_source() -> None:
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "supreme.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", supreme.__version__)
    assert importlib.metadata.version("supreme") == supreme.__version__


def test_license_is_an_spdx_expression_with_its_file() -> None:
    project = PYPROJECT["project"]
    assert project["license"] == "MIT"  # a string (PEP 639), not the deprecated {text = ...} table
    assert "license-files" not in project  # the default patterns find LICENSE (and tolerate its absence)
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert not [c for c in project["classifiers"] if c.startswith("License ::")]  # PEP 639: no both


def test_the_package_is_typed() -> None:
    assert (ROOT / "supreme" / "py.typed").exists()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["supreme"]


def test_every_declared_dependency_is_pinned() -> None:
    pins = _pins()
    declared = list(PYPROJECT["project"]["dependencies"])
    for extra in PYPROJECT["project"]["optional-dependencies"].values():
        declared += extra
    missing, outside = [], []
    for text in declared:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        if name == "supreme":
            continue  # the dev extra names the other extras through the project itself
        if name not in pins:
            missing.append(req.name)
        elif not req.specifier.contains(pins[name], prereleases=True):
            outside.append(f"{req} vs =={pins[name]}")
    assert missing == [] and outside == []


def test_the_installs_use_the_pins() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "CONSTRAINTS := requirements/constraints.txt" in makefile
    assert "-c $(CONSTRAINTS)" in makefile
    assert "-c requirements/constraints.txt" in (ROOT / "environment.yml").read_text()
    assert '-c "$ROOT/requirements/constraints.txt"' in (ROOT / ".ci" / "wheel_check.sh").read_text()
