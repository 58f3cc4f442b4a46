"""Compiled score bookkeeping of :class:`~supreme.cache.policies.lrfu_tracked.TrackedLRFU` (numba, cached).

The tracked LRFU ranks by one half-life and keeps every key's score at the others for a later
retune.  Only the ranking is needed per request; the other scores are needed at a retune.  So each
request appends one integer (``row * 4 + kind``) to a buffer, and this pass applies a buffer in
request order with the very multiply-and-add the per-request form does (the same floating-point
operations in the same order, hence the same values): per request every horizon's weight grows by
its step; when the shortest half-life's weight passes ``2^64`` every weight above it and every
stored score at that horizon is scaled by a power of two (exact).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["ADD", "ADD_HALF", "SET", "SET_HALF", "apply_references"]

#: what a buffered request does to its row: add the weight (a hit, or a key back from the history),
#: add half of it (a low-priority insert back from the history), or start the row at it (a new key)
ADD, ADD_HALF, SET, SET_HALF = 0, 1, 2, 3


@njit(cache=True, nogil=True)
def _apply(codes: np.ndarray, scores: np.ndarray, ws: np.ndarray, steps: np.ndarray,
           rescale_at: float) -> None:
    n_h = ws.shape[0]
    for c in codes:
        for j in range(n_h):
            ws[j] *= steps[j]
        if ws[0] > rescale_at:  # the shortest half-life's weight grows fastest
            for j in range(n_h):
                w = ws[j]
                if w > rescale_at:
                    scale = 2.0 ** -math.frexp(w)[1]
                    ws[j] = w * scale
                    for r in range(scores.shape[0]):
                        scores[r, j] *= scale
        row = c >> 2
        kind = c & 3
        if kind == 0:
            for j in range(n_h):
                scores[row, j] += ws[j]
        elif kind == 1:
            for j in range(n_h):
                scores[row, j] += ws[j] * 0.5
        elif kind == 2:
            for j in range(n_h):
                scores[row, j] = ws[j]
        else:
            for j in range(n_h):
                scores[row, j] = ws[j] * 0.5


def apply_references(codes: np.ndarray, scores: np.ndarray, ws: np.ndarray, steps: np.ndarray,
                     rescale_at: float) -> None:
    """Apply buffered requests (``row * 4 + kind``) to ``scores`` and the weights ``ws``, in place."""
    _apply(codes, scores, ws, steps, float(rescale_at))
