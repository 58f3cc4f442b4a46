"""Every SimPy model of ``supreme sim list`` is run by at least one notebook (scanned from the sources).

A notebook runs a model when its source, or a ``lab`` module it imports, names the model in quotes
(``run_model("x")``, ``run_models(["x", ...])``, ``get_model("x")``).
"""

from __future__ import annotations

import re
from pathlib import Path

from sim.runner import MODELS

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "notebooks" / "py").glob("[0-9][0-9]_*.py"))
IMPORT = re.compile(r"^\s*(?:from lab import ([\w, ]+)|from lab\.(\w+) import|import lab\.(\w+))", re.M)


def _texts(source: Path) -> list[str]:
    text = source.read_text()
    mods: set[str] = set()
    for m in IMPORT.finditer(text):
        names = m.group(1).split(",") if m.group(1) else [m.group(2) or m.group(3)]
        mods.update(n.strip() for n in names)
    return [text] + [(ROOT / "lab" / f"{mod}.py").read_text() for mod in sorted(mods)
                     if (ROOT / "lab" / f"{mod}.py").exists()]


def _runs(name: str, texts: list[str]) -> bool:
    return any(re.search(rf"[\"']{re.escape(name)}[\"']", t) for t in texts)


def test_every_model_is_run_by_a_notebook() -> None:
    assert len(MODELS) >= 16
    texts = {s.stem: _texts(s) for s in SOURCES}
    missing = [n for n in sorted(MODELS) if not any(_runs(n, t) for t in texts.values())]
    assert missing == [], f"models run by no notebook: {missing}"


def test_the_scan_sees_the_gateway_notebook_models() -> None:
    gateway = _texts(ROOT / "notebooks" / "py" / "10_gateway.py")
    assert [n for n in ("trading_signal", "request_pipeline", "api_key_auth", "session_auth")
            if not _runs(n, gateway)] == []
    assert not _runs("blue_green", gateway)  # the scan can fail
