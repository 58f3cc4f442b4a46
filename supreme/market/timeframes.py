"""Timeframe strings (ccxt's ``"1m"``, ``"5m"``, ``"1h"``, ``"1d"`` …) and their length in milliseconds."""

from __future__ import annotations

import numpy as np

__all__ = ["infer_timeframe", "ms_to_timeframe", "timeframe_ms"]

_UNITS_MS = {
    "s": 1_000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
}


def timeframe_ms(timeframe: str) -> int:
    """Length of ``timeframe`` in ms; raises ``ValueError`` naming a malformed one."""
    text = str(timeframe).strip()
    if len(text) < 2 or not text[:-1].isdigit() or text[-1] not in _UNITS_MS:
        raise ValueError(
            f"timeframe {timeframe!r} is not a number followed by one of s, m, h, d, w (e.g. '1m', '4h')"
        )
    amount = int(text[:-1])
    if amount <= 0:
        raise ValueError(f"timeframe {timeframe!r} must be positive")
    return amount * _UNITS_MS[text[-1]]


def ms_to_timeframe(ms: int) -> str:
    """The shortest timeframe string for a period of ``ms`` milliseconds."""
    if ms <= 0:
        raise ValueError(f"period must be positive, got {ms} ms")
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNITS_MS[unit]
        if ms % size == 0:
            return f"{ms // size}{unit}"
    raise ValueError(f"period {ms} ms is not a whole number of seconds")


def infer_timeframe(timestamps_ms: np.ndarray) -> str | None:
    """The most common spacing of sorted timestamps as a timeframe (``None`` if under two rows)."""
    ts = np.asarray(timestamps_ms, dtype=np.int64)
    if ts.size < 2:
        return None
    diffs = np.diff(ts)
    diffs = diffs[diffs > 0]
    if diffs.size == 0:
        return None
    values, counts = np.unique(diffs, return_counts=True)
    mode = int(values[np.argmax(counts)])
    # Sub-second jitter (e.g. funding times stamped at +17 ms) rounds to the whole second.
    mode = max(1_000, round(mode / 1_000) * 1_000)
    return ms_to_timeframe(mode)
