"""L1: decoded Python objects in a dict, evicted by any :class:`EvictionPolicy`.

Values are stored as they are (no codec on L1), with an optional absolute expiry
on the injected clock; an expired entry is a miss and is removed when seen.

Hit path (Caffeine's read buffer, Ben Manes 2015): a hit does a dict lookup and
appends the key to a read buffer (``list.append`` is atomic under the GIL), no
lock.  The buffer is drained into the policy — in access order, under the lock —
before any decision that depends on policy state (insert, evict, delete, stats)
and whenever it reaches :data:`READ_BUFFER`, through the policy's batch hook
``_on_hits`` (LRU, CLOCK, SIEVE and FIFO apply a batch with C-level loops; the
others call ``_on_hit`` per key).  A single thread therefore sees exactly the
eviction order of an eager policy; hit counts are exact (hits = drained + still
buffered).  ``CacheManager.get`` reads ``_data`` and ``_reads`` directly for
speed; both are part of this module's contract with the manager, and neither
object is ever replaced (only mutated), so the manager may bind them once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any

from supreme.cache.codec import estimate_nbytes
from supreme.cache.policies.base import EvictionPolicy
from supreme.cache.tiers.base import ValueTooLarge
from supreme.clock import Clock

__all__ = ["MISSING", "READ_BUFFER", "MemoryTier"]

#: Hits buffered before the hit path itself drains them into the policy.  Large enough that the
#: drain's fixed cost (a call, the lock, two list slices) is a few ns per hit; small enough that a
#: drain holds the lock for only microseconds.
READ_BUFFER = 256


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


#: Sentinel returned by :meth:`MemoryTier.get` on a miss when asked for it.
MISSING: Any = _Missing()


class MemoryTier:
    """L1 memory tier: values + eviction policy (+ TTL on ``clock``), capacity in entries or bytes."""

    name = "L1"

    def __init__(
        self,
        policy: EvictionPolicy | str,
        *,
        clock: Clock,
        capacity: int | None = None,
        unit: str = "entries",
        sizer: Callable[[Any], int] = estimate_nbytes,
    ) -> None:
        if unit not in ("entries", "bytes"):
            raise ValueError(f"unit must be 'entries' or 'bytes', got {unit!r}")
        if isinstance(policy, str):
            if capacity is None:
                raise ValueError(f"a policy name ({policy!r}) needs a capacity")
            from supreme.cache.policies import make_policy

            policy = make_policy(policy, capacity)
        elif not isinstance(policy, EvictionPolicy):
            raise TypeError(f"policy must be an EvictionPolicy or a policy name, got {type(policy).__name__}")
        elif len(policy):
            raise ValueError("the L1 policy must start empty (it tracks exactly the keys L1 holds)")
        self.policy = policy
        # a policy that overrides ``lookup`` (e.g. TTL, OPT) is drained key by key through it
        self._plain_lookup = type(policy).lookup is EvictionPolicy.lookup
        self.clock = clock
        self.unit = unit
        self._sizer = sizer
        self._now = clock.now
        self._data: dict[Hashable, tuple[Any, float | None]] = {}
        self._reads: list[Hashable] = []
        self._lock = threading.Lock()
        self._drained_hits = 0
        self.misses = 0
        self.evictions = 0
        self.expirations = 0
        self.rejections = 0
        self.sets = 0

    # -- hit path -----------------------------------------------------------
    def get(self, key: Hashable, default: Any = None) -> Any:
        """The value for ``key`` (updating access stats), or ``default``."""
        entry = self._data.get(key)
        if entry is not None:
            value, expires_at = entry  # one unpack instead of two subscripts
            if expires_at is None or expires_at > self._now():
                reads = self._reads
                reads.append(key)
                if len(reads) >= READ_BUFFER:
                    self.drain()
                return value
        with self._lock:
            self.misses += 1
            if entry is not None:
                self._expire(key, entry)
        return default

    def drain(self) -> None:
        """Apply buffered hits to the policy, in order."""
        with self._lock:
            self._drain_locked()

    def _drain_locked(self) -> None:
        reads = self._reads
        n = len(reads)
        if not n:
            return
        keys = reads[:n]
        del reads[:n]  # appends made meanwhile stay for the next drain
        if self._plain_lookup:
            self.policy._on_hits(keys)
        else:
            lookup = self.policy.lookup
            for key in keys:
                lookup(key)
        self._drained_hits += n

    def _expire(self, key: Hashable, entry: tuple[Any, float | None]) -> None:
        # called under the lock; only remove the entry we saw expire (not a fresh one)
        if self._data.get(key) is entry:
            self._drain_locked()
            del self._data[key]
            self.policy.remove(key)
            self.expirations += 1

    # -- peeks --------------------------------------------------------------
    def peek(self, key: Hashable, default: Any = None) -> Any:
        """The value without updating access stats or recency (expired → ``default``)."""
        entry = self._data.get(key)
        if entry is not None:
            value, expires_at = entry
            if expires_at is None or expires_at > self._now():
                return value
        return default

    def __contains__(self, key: object) -> bool:
        return self.peek(key, MISSING) is not MISSING

    def expires_at(self, key: Hashable) -> float | None:
        """Absolute expiry of ``key`` (None: never or absent)."""
        entry = self._data.get(key)
        return None if entry is None else entry[1]

    def __len__(self) -> int:
        return len(self._data)

    # -- writes -------------------------------------------------------------
    def set(
        self,
        key: Hashable,
        value: Any,
        ttl: float | None = None,
        *,
        expires_at: float | None = None,
        low_priority: bool = False,
        nbytes: int | None = None,
    ) -> bool:
        """Store ``value``; return False if the policy's admission filter refused it.

        ``ttl`` (seconds from now) or ``expires_at`` (absolute clock time) set the expiry.
        Raises :class:`ValueTooLarge` if the value alone exceeds the capacity.
        """
        if ttl is not None:
            if not ttl > 0:
                raise ValueError(f"ttl must be positive or None, got {ttl!r} for key {key!r}")
            expires_at = self._now() + ttl
        if self.unit == "entries":
            size = 1
        else:
            size = int(nbytes) if nbytes is not None else int(self._sizer(value))
            size = max(1, size)
        if size > self.policy.capacity:
            raise ValueTooLarge(
                f"L1: value for key {key!r} is {size} {self.unit}, "
                f"over the capacity of {self.policy.capacity}"
            )
        with self._lock:
            self._drain_locked()
            evicted = self.policy.insert(key, size, low_priority)
            admitted = key in self.policy
            data = self._data
            for victim in evicted:
                # a refused key's old value goes too (it is no longer in the policy)
                if data.pop(victim, None) is not None and victim != key:
                    self.evictions += 1
            if admitted:
                data[key] = (value, expires_at)
                self.sets += 1
            else:
                self.rejections += 1
            return admitted

    def delete(self, key: Hashable) -> bool:
        """Remove ``key``; return whether it was held."""
        with self._lock:
            self._drain_locked()
            held = self._data.pop(key, None) is not None
            self.policy.remove(key)
            return held

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._drain_locked()  # keep the hit count exact
            for key in list(self._data):
                self.policy.remove(key)
            self._data.clear()

    def resize(self, capacity: int) -> list[Hashable]:
        """Change the policy's capacity, dropping what it evicts; return the evicted keys."""
        with self._lock:
            self._drain_locked()
            evicted = self.policy.resize(capacity)
            for victim in evicted:
                if self._data.pop(victim, None) is not None:
                    self.evictions += 1
            return evicted

    def stats(self) -> dict[str, Any]:
        """Hits, misses, evictions, expirations, size and capacity."""
        with self._lock:
            self._drain_locked()
            return {
                "tier": self.name, "policy": self.policy.name, "hits": self._drained_hits,
                "misses": self.misses, "sets": self.sets, "evictions": self.evictions,
                "expirations": self.expirations, "rejections": self.rejections,
                "entries": len(self._data), "used": self.policy.used, "capacity": self.policy.capacity,
                "unit": self.unit,
            }

    @property
    def hits(self) -> int:
        """Hits so far (including those still in the read buffer)."""
        return self._drained_hits + len(self._reads)

    def close(self) -> None:
        """Nothing to release (symmetry with the remote tiers)."""
