"""One fixed matplotlib style for every notebook figure, so figures look alike and render the same."""

from __future__ import annotations

from typing import Any

__all__ = ["STYLE", "use_style"]

#: rcParams applied by :func:`use_style` (no fonts or backends that differ between machines).
STYLE: dict[str, Any] = {
    "figure.figsize": (9.0, 4.0),
    "figure.dpi": 80,
    "savefig.dpi": 100,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "font.family": "DejaVu Sans",
    "svg.hashsalt": "supreme",
    "image.cmap": "viridis",
}


def use_style() -> None:
    """Reset matplotlib to its defaults, then apply :data:`STYLE`."""
    import matplotlib as mpl
    from matplotlib import style

    mpl.rcdefaults()
    style.use(STYLE)
