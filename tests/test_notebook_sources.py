"""Notebook sources: no empty cells, and jupytext pairs each notebooks/NN.ipynb with notebooks/py/NN.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jupytext
import nbformat
import pytest
from jupytext.config import find_jupytext_configuration_file, load_jupytext_configuration_file
from jupytext.paired_paths import paired_paths

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SOURCES = sorted((NOTEBOOKS / "py").glob("[0-9][0-9]_*.py"))


def _formats(source: Path) -> Any:
    config = load_jupytext_configuration_file(find_jupytext_configuration_file(str(source.parent)))
    return config.default_formats(str(source))


def test_there_are_notebook_sources() -> None:
    assert len(SOURCES) >= 9


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_source_and_notebook_have_no_empty_cells(source: Path) -> None:
    cells = jupytext.read(source).cells
    assert [i for i, c in enumerate(cells) if not c.source.strip()] == []
    stored = nbformat.read(NOTEBOOKS / f"{source.stem}.ipynb", as_version=4).cells
    assert [c.source for c in stored] == [c.source for c in cells]  # the .ipynb is built from this source


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_jupytext_pairs_the_source_with_the_real_notebook(source: Path) -> None:
    assert "formats" not in jupytext.read(source).metadata.get("jupytext", {})  # would override the toml
    formats = _formats(source)
    pairs = {Path(p).resolve() for p, _ in paired_paths(str(source), "py:percent", formats)}
    assert pairs == {source.resolve(), (NOTEBOOKS / f"{source.stem}.ipynb").resolve()}
