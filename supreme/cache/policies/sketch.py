"""Count-min sketch with 4-bit counters and periodic halving (TinyLFU's frequency filter).

Reference: Einziger, Friedman & Manes, "TinyLFU: A Highly Efficient Cache
Admission Policy", ACM ToS 13(4), 2017, §3 ("reset"); Caffeine's
FrequencySketch.  Four rows, width a power of two >= the cache capacity,
counters saturate at 15; after ``10 * capacity`` increments every counter is
halved (the paper's reset), so old popularity fades.

Departures from Caffeine: counters live in a plain byte array (not packed into
longs), the four row indexes come from one 64-bit mix of the key plus a
per-row constant, and the reset halves the addition count exactly instead of
correcting for odd counters.  The same arithmetic runs in
``supreme.cache.kernels`` so the two agree hit for hit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable

import numpy as np

__all__ = ["CountMinSketch", "key_hash", "mix64"]

_M64 = (1 << 64) - 1
ROW_SEEDS = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93)


def mix64(z: int) -> int:
    """SplitMix64's finaliser: a fast, well-spread 64-bit mix."""
    z &= _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def key_hash(key: Hashable) -> int:
    """A process-independent 64-bit hash (ints hash to themselves, so kernels agree)."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return int(key) & _M64
    data = key if isinstance(key, bytes) else repr(key).encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


class CountMinSketch:
    """Frequency estimates with 4-bit counters and reset."""

    def __init__(self, capacity: int, sample_factor: int = 10) -> None:
        width = 16
        while width < capacity:
            width *= 2
        self.width = width
        self.table = np.zeros((4, width), dtype=np.uint8)
        self.sample_size = max(1, sample_factor * capacity)
        self.additions = 0

    def _indexes(self, key: Hashable) -> list[int]:
        h = key_hash(key)
        return [mix64(h + seed) & (self.width - 1) for seed in ROW_SEEDS]

    def increment(self, key: Hashable) -> None:
        """Count one access of ``key``; halve everything when the sample is full."""
        table = self.table
        for row, i in enumerate(self._indexes(key)):
            if table[row, i] < 15:
                table[row, i] += 1
        self.additions += 1
        if self.additions >= self.sample_size:
            table >>= 1
            self.additions //= 2

    def estimate(self, key: Hashable) -> int:
        """Estimated access count of ``key`` (at most 15)."""
        table = self.table
        return int(min(table[row, i] for row, i in enumerate(self._indexes(key))))
