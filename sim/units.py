"""Units of the models' summary figures, for printing: simulated seconds as ms or s, ratios, counts.

The models' ``summarize`` returns plain numbers in SI units (times in simulated seconds).  A
figure's unit follows from its key: percentiles and waits are latencies (in ms below 1 s), times and
delays are durations (shown in s), ratios and rates are dimensionless.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["format_figure", "unit_of"]

_LATENCY = re.compile(r"(^|_)(p\d{2,3}|wait|latency)(_|$)")
_DURATION = re.compile(r"(^|_)(time|delay|duration)(_|$)|_time_|^time_")
_RATIO = re.compile(r"(ratio|rate|accuracy|coverage|timeliness)$")


def unit_of(key: str) -> str:
    """``"ms"``, ``"s"``, ``"ratio"`` or ``""`` (a count or a label) for a summary key."""
    if _LATENCY.search(key):
        return "ms"
    if _DURATION.search(key):
        return "s"
    if _RATIO.search(key):
        return "ratio"
    return ""


def format_figure(key: str, value: Any) -> str:
    """``value`` of summary ``key`` as text with its unit (``p50`` 7.86e-05 is ``0.0786 ms``)."""
    if isinstance(value, bool) or value is None or not isinstance(value, int | float):
        return "-" if value is None else str(value)
    if isinstance(value, float) and math.isnan(value):
        return "-"
    unit = unit_of(key)
    if unit == "ms" and abs(value) < 1.0:
        return f"{value * 1e3:.4g} ms"
    if unit == "ms":  # a latency of a second or more reads better in s than as 1.036e+04 ms
        unit = "s"
    if unit == "s":
        return f"{value:.4g} s"
    if unit == "ratio":
        return f"{value:.4f}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:.4g}" if isinstance(value, float) else str(value)
