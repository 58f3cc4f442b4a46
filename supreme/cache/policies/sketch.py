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

Hot path: the counters are a ``bytearray`` (``table`` is a numpy view of it, used for the
vectorised reset and for inspection) and the four flat offsets of ``str``/``int`` keys are memoised
in a bounded dict, so an increment or estimate is a few pure-Python int operations instead of a
blake2b digest, four 64-bit mixes and numpy scalar indexing (~0.3 µs instead of ~4 µs).  The
memo holds at most ``max(4096, 4 * width)`` keys and is simply cleared when full.
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
        self._counts = bytearray(4 * width)  # row r, column c at r * width + c
        self.table = np.frombuffer(self._counts, dtype=np.uint8).reshape(4, width)  # a view
        self.sample_size = max(1, sample_factor * capacity)
        self.additions = 0
        # memo of flat offsets; only for exact str/int keys, which never compare equal to each other
        # or to keys of other types that hash differently (1.0, True)
        self._memo: dict[Hashable, tuple[int, int, int, int]] = {}
        self._memo_cap = max(4096, 4 * width)

    def _offsets(self, key: Hashable) -> tuple[int, int, int, int]:
        tp = key.__class__
        if tp is str or tp is int:
            memo = self._memo
            off = memo.get(key)
            if off is not None:
                return off
            if len(memo) >= self._memo_cap:
                memo.clear()
            off = memo[key] = self._compute(key)
            return off
        return self._compute(key)

    def _compute(self, key: Hashable) -> tuple[int, int, int, int]:
        h = key_hash(key)
        w = self.width
        m = w - 1
        s0, s1, s2, s3 = ROW_SEEDS
        return (mix64(h + s0) & m, w + (mix64(h + s1) & m), 2 * w + (mix64(h + s2) & m),
                3 * w + (mix64(h + s3) & m))

    def _indexes(self, key: Hashable) -> list[int]:
        w = self.width
        return [off - r * w for r, off in enumerate(self._offsets(key))]

    def increment(self, key: Hashable) -> None:
        """Count one access of ``key``; halve everything when the sample is full."""
        tp = key.__class__
        off = self._memo.get(key) if tp is str or tp is int else None
        a, b, c, d = off if off is not None else self._offsets(key)
        t = self._counts
        if t[a] < 15:
            t[a] += 1
        if t[b] < 15:
            t[b] += 1
        if t[c] < 15:
            t[c] += 1
        if t[d] < 15:
            t[d] += 1
        self.additions += 1
        if self.additions >= self.sample_size:
            self.table >>= 1
            self.additions //= 2

    def estimate(self, key: Hashable) -> int:
        """Estimated access count of ``key`` (at most 15)."""
        tp = key.__class__
        off = self._memo.get(key) if tp is str or tp is int else None
        a, b, c, d = off if off is not None else self._offsets(key)
        t = self._counts
        best = t[a]
        x = t[b]
        if x < best:
            best = x
        x = t[c]
        if x < best:
            best = x
        x = t[d]
        return x if x < best else best
