"""Build and execute the numbered notebooks: notebooks/py/NN_name.py (jupytext percent) -> NN_name.ipynb.

The ``.py`` files are the reviewable source; the ``.ipynb`` files are generated from them, executed
top to bottom with nbclient, and stored *with* their outputs, which ``pytest --nbval`` compares.

    .venv/bin/python notebooks/run_all.py            # every notebook
    .venv/bin/python notebooks/run_all.py 03 08      # those whose name starts with 03 or 08
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
KERNEL = "python3"


def build(source: Path, timeout: int = 600) -> tuple[Path, float]:
    """Execute ``source`` into ``notebooks/<stem>.ipynb``; returns the path and the seconds taken."""
    nb = jupytext.read(source)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": KERNEL}
    nb.metadata.pop("jupytext", None)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"c{i:02d}"  # stable ids keep diffs small
    client = NotebookClient(
        nb, timeout=timeout, kernel_name=KERNEL, resources={"metadata": {"path": str(HERE)}}
    )
    t0 = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - t0
    for cell in nb.cells:
        cell.get("metadata", {}).pop("execution", None)
    out = HERE / f"{source.stem}.ipynb"
    nbformat.write(nb, out)
    return out, seconds


def main(argv: list[str]) -> int:
    """Build the notebooks selected by the name prefixes in ``argv`` (all when empty)."""
    # the stored outputs are of the shipped measured book and the embedded back-ends, as nbval runs them
    book = HERE.parent / "sim" / "models" / "defaults" / "latency_book.json"
    os.environ["SUPREME_LATENCY_BOOK"] = str(book)
    for var in ("SUPREME_REDIS_URL", "SUPREME_DATABASE_URL"):
        os.environ.pop(var, None)
    sources = sorted((HERE / "py").glob("[0-9][0-9]_*.py"))
    if argv:
        sources = [s for s in sources if any(s.stem.startswith(a) for a in argv)]
    total = 0.0
    for src in sources:
        out, seconds = build(src)
        total += seconds
        print(f"{out.name:34s} {seconds:6.1f} s")
    print(f"{'total':34s} {total:6.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
