"""One fixed matplotlib style for every notebook figure, so figures look alike and render the same.

:func:`figure_problems` is the legibility check the figure test runs on every notebook figure: tick
labels that overlap each other or a neighbouring panel, text labels that overlap each other, legends
drawn over plotted data, heat-map annotations that contrast poorly with their cell, and axes without
a label or title.  :func:`text_color_on` picks black or
white annotation text for a background colour (heat-map cells).
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

__all__ = ["STYLE", "figure_problems", "label_marks", "text_color_on", "use_style"]

#: rcParams applied by :func:`use_style` (no fonts or backends that differ between machines).
STYLE: dict[str, Any] = {
    "figure.figsize": (9.0, 4.0),
    "figure.dpi": 100,  # inline figures: legible at a browser's default zoom
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


def text_color_on(rgba: Any) -> str:
    """``"black"`` or ``"white"``, whichever contrasts more with ``rgba`` (WCAG relative luminance)."""
    return "black" if _contrast("black", rgba) >= _contrast("white", rgba) else "white"


def label_marks(ax: Any, marks: list[tuple[float, str]], *, color: str = "gray", alpha: float = 1.0,
                gap: float = 0.16) -> int:
    """Vertical lines at each ``(time, label)`` with the labels above the plot, staggered in rows so that
    marks closer than ``gap`` of the x range never collide; returns the number of label rows."""
    from matplotlib.transforms import blended_transform_factory

    lo, hi = ax.get_xlim()
    span = (hi - lo) or 1.0
    last: list[float] = []  # per row, the time of its latest label
    above = blended_transform_factory(ax.transData, ax.transAxes)
    for t, label in sorted(marks):
        row = next((i for i, x in enumerate(last) if t - x >= gap * span), len(last))
        if row == len(last):
            last.append(t)
        last[row] = t
        ax.axvline(t, color=color, alpha=alpha, lw=0.8)
        ax.text(t, 1.02 + 0.08 * row, label, transform=above, ha="center", va="bottom", fontsize=7,
                clip_on=False)
    return len(last)


def _overlap(a: Any, b: Any, pad: float = 0.5) -> bool:
    """Whether two display-space boxes overlap by more than ``pad`` pixels both ways."""
    return (min(a.x1, b.x1) - max(a.x0, b.x0) > pad) and (min(a.y1, b.y1) - max(a.y0, b.y0) > pad)


def _corners(text: Any, renderer: Any) -> Any:
    """The four display-space corners of a text's own (possibly rotated) box."""
    import numpy as np

    box = text.get_window_extent(renderer)
    angle = text.get_rotation() % 180
    if angle % 90 == 0:
        return np.array([[box.x0, box.y0], [box.x1, box.y0], [box.x1, box.y1], [box.x0, box.y1]])
    text.set_rotation(0)  # the unrotated size; the rotated box shares its centre with its bounding box
    flat = text.get_window_extent(renderer)
    text.set_rotation(angle)
    w, h, a = flat.width / 2, flat.height / 2, np.radians(angle)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    local = np.array([[-w, -h], [w, -h], [w, h], [-w, h]])
    return local @ rot.T + [(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2]


def _polys_overlap(p: Any, q: Any, pad: float = 0.5) -> bool:
    """Whether two convex quadrilaterals overlap by more than ``pad`` pixels (separating axes)."""
    import numpy as np

    for poly in (p, q):
        for i in range(len(poly)):
            edge = poly[(i + 1) % len(poly)] - poly[i]
            axis = np.array([-edge[1], edge[0]])
            norm = np.hypot(*axis)
            if norm == 0:
                continue
            axis = axis / norm
            a, b = p @ axis, q @ axis
            if min(a.max(), b.max()) - max(a.min(), b.min()) <= pad:
                return False
    return True


def _tick_labels(ax: Any) -> list[list[Any]]:
    """The visible tick labels (major and minor, as Text) of the x axis, then of the y axis."""
    return [[t for t in axis.get_ticklabels(which="both") if t.get_visible() and t.get_text().strip()]
            for axis in (ax.xaxis, ax.yaxis)]


def _legend_over_data(ax: Any, renderer: Any) -> list[str]:
    """Plotted points or bars that fall inside the axes legend's box."""
    import numpy as np
    from matplotlib.patches import Rectangle

    legend = ax.get_legend()
    if legend is None or not legend.get_visible():
        return []
    box = legend.get_window_extent(renderer)
    hits = []
    for line in ax.get_lines():
        if not line.get_visible():
            continue
        xy = np.asarray(line.get_xydata(), float)  # converted by the axis units (dates are floats here)
        xy = xy[np.isfinite(xy).all(axis=1)]
        if not len(xy):
            continue
        pts = line.get_transform().transform(xy)
        if len(pts) > 1:  # points along each segment too: a line may cross the box between vertices
            f = np.linspace(0.0, 1.0, 25)[:, None, None]
            pts = (pts[:-1] * (1 - f) + pts[1:] * f).reshape(-1, 2)
        inside = (pts[:, 0] > box.x0) & (pts[:, 0] < box.x1) & (pts[:, 1] > box.y0) & (pts[:, 1] < box.y1)
        if inside.any():
            hits.append(f"legend over line {line.get_label()!r}")
    for patch in ax.patches:
        if (isinstance(patch, Rectangle) and patch.get_visible() and patch.get_height() != 0
                and _overlap(patch.get_window_extent(renderer), box, pad=1.0)):
            hits.append(f"legend over bar {patch.get_label()!r}")
            break
    return hits


def _contrast(a: Any, b: Any) -> float:
    """WCAG contrast ratio of two colours (1 to 21)."""
    from matplotlib.colors import to_rgba

    def lum(c: Any) -> float:
        r, g, b, _ = to_rgba(c)
        f = [x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4 for x in (r, g, b)]
        return 0.2126 * f[0] + 0.7152 * f[1] + 0.0722 * f[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _low_contrast(ax: Any, minimum: float = 3.0) -> list[str]:
    """Annotations on heat-map cells whose colour contrasts less than ``minimum`` with the cell."""
    import numpy as np

    out = []
    for im in ax.get_images():
        arr = np.ma.asarray(im.get_array())
        for t in ax.texts:
            if t.get_transform() is not ax.transData or not t.get_text().strip():
                continue
            x, y = t.get_position()
            i, j = round(float(y)), round(float(x))
            if 0 <= i < arr.shape[0] and 0 <= j < arr.shape[1] and arr[i, j] is not np.ma.masked:
                cell = im.cmap(im.norm(arr[i, j]))
                ratio = _contrast(t.get_color(), cell)
                if ratio < minimum:
                    out.append(f"label {t.get_text()!r} contrasts {ratio:.1f}:1 with its cell")
    return out


def figure_problems(fig: Any) -> list[str]:
    """What makes ``fig`` hard to read, one sentence each (empty: none found); draws the figure."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    axes = [ax for ax in fig.get_axes() if ax.get_visible() and ax.axison]
    problems: list[str] = []
    for n, ax in enumerate(axes):
        name = ax.get_title() or ax.get_title(loc="left") or f"axes {n}"
        per_axis = _tick_labels(ax)
        for ticks in per_axis:
            for a, b in combinations(ticks, 2):
                # bounding boxes first (cheap), then the rotated boxes themselves
                if _overlap(a.get_window_extent(renderer), b.get_window_extent(renderer)) and _polys_overlap(
                        _corners(a, renderer), _corners(b, renderer)):
                    problems.append(f"{name}: tick labels {a.get_text()!r} and {b.get_text()!r} overlap")
        labels = [(t.get_text(), t.get_window_extent(renderer)) for t in per_axis[0] + per_axis[1]]
        for other in axes:
            if other is ax or other.get_label() == "<colorbar>":
                continue
            frame = other.get_window_extent(renderer)
            for text, box in labels:
                if _overlap(box, frame, pad=1.0):
                    problems.append(f"{name}: tick label {text!r} runs into {other.get_title() or 'a panel'}")
        titles = [ax.title, ax._left_title, ax._right_title]
        texts = [(t.get_text(), t.get_window_extent(renderer)) for t in [*ax.texts, *titles]
                 if t.get_visible() and t.get_text().strip()]
        legend = ax.get_legend()
        if legend is not None and legend.get_visible():
            texts.append(("the legend", legend.get_window_extent(renderer)))
        for (ta, a), (tb, b) in combinations(texts, 2):
            if _overlap(a, b):
                problems.append(f"{name}: labels {ta!r} and {tb!r} overlap")
        problems.extend(f"{name}: {p}" for p in _legend_over_data(ax, renderer))
        problems.extend(f"{name}: {p}" for p in _low_contrast(ax))
        if ax.get_label() != "<colorbar>":
            missing = [a for a, text in (("x", ax.get_xlabel()), ("y", ax.get_ylabel())) if not text]
            shared = ax.get_shared_y_axes().get_siblings(ax)
            if "y" in missing and any(o is not ax and o.get_ylabel() for o in shared):
                missing.remove("y")  # a row of panels sharing y: one label names it
            shared = ax.get_shared_x_axes().get_siblings(ax)
            if "x" in missing and any(o is not ax and o.get_xlabel() for o in shared):
                missing.remove("x")
            if missing:
                problems.append(f"{name}: no axis label on {' and '.join(missing)}")
    return problems
