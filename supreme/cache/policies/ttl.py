"""Per-entry TTL expiry around any policy, on an injected clock.

Each entry gets an expiry time ``clock.now() + ttl`` when inserted (a per-call
``ttl`` overrides the default).  Expired entries are misses: ``lookup`` and
peeks treat them as absent, and before the inner policy is asked for a victim
every expired entry is dropped (so expired entries always go first).  Expiry
is lazy, driven by calls, as in cachetools' TTLCache (``timer=`` injected) and
libCacheSim's TTL handling; nothing runs in the background.

Departure from "TTL as a policy": it is a wrapper, so TTL composes with every
eviction policy (``make_policy("lru", 100, ttl=60, clock=clock)``).
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Iterator

from supreme.cache.policies.base import EvictionPolicy, PolicyError
from supreme.clock import Clock

__all__ = ["TTL"]


class TTL(EvictionPolicy):
    """Wraps a policy; entries expire ``ttl`` seconds after insertion."""

    name = "ttl"

    def __init__(self, inner: EvictionPolicy, clock: Clock, ttl: float) -> None:
        if not ttl > 0:
            raise PolicyError(f"ttl must be > 0 seconds, got {ttl!r}")
        super().__init__(inner.capacity)
        self.inner = inner
        self.clock = clock
        self.ttl = float(ttl)
        self._expiry: dict[Hashable, float] = {}
        self._heap: list[tuple[float, int, Hashable]] = []
        self._seq = 0

    # -- views delegate to the inner policy, hiding expired entries ----------
    @property
    def capacity(self) -> int:
        """Maximum total size."""
        return self.inner.capacity

    @property
    def used(self) -> int:
        """Total size held, expired entries included until they are dropped."""
        return self.inner.used

    def __len__(self) -> int:
        return len(self.inner)

    def __contains__(self, key: object) -> bool:
        """Peek: held and not expired."""
        return key in self.inner and not self._expired(key)

    def keys(self) -> Iterator[Hashable]:
        """The unexpired keys."""
        held = list(self.inner.keys())
        return iter([k for k in held if not self._expired(k)])

    def size_of(self, key: Hashable) -> int:
        """Size recorded for ``key``."""
        return self.inner.size_of(key)

    def expires_at(self, key: Hashable) -> float:
        """Expiry time of a held key (KeyError if absent)."""
        return self._expiry[key]

    def _expired(self, key: object) -> bool:
        exp = self._expiry.get(key)
        return exp is not None and exp <= self.clock.now()

    # -- operations -----------------------------------------------------------
    def purge(self) -> list[Hashable]:
        """Drop every expired entry; return their keys."""
        now = self.clock.now()
        dropped: list[Hashable] = []
        while self._heap and self._heap[0][0] <= now:
            exp, _, key = heapq.heappop(self._heap)
            if self._expiry.get(key) == exp:
                del self._expiry[key]
                self.inner.remove(key)
                dropped.append(key)
        return dropped

    def lookup(self, key: Hashable) -> bool:
        """A hit only if held and not expired; an expired entry is dropped."""
        if self._expired(key):
            self.remove(key)
            return False
        return self.inner.lookup(key)

    def insert(
        self, key: Hashable, size: int = 1, low_priority: bool = False, ttl: float | None = None
    ) -> list[Hashable]:
        """Insert with expiry ``now + ttl``; expired entries are dropped before any eviction."""
        life = self.ttl if ttl is None else float(ttl)
        if not life > 0:
            raise PolicyError(f"ttl must be > 0 seconds, got {ttl!r}")
        if self._expired(key):
            self.remove(key)
        dropped = self.purge() if self.inner.used + size > self.inner.capacity else []
        evicted = self.inner.insert(key, size, low_priority)
        for k in evicted:
            self._expiry.pop(k, None)
        if key in self.inner:
            exp = self.clock.now() + life
            self._expiry[key] = exp
            self._seq += 1
            heapq.heappush(self._heap, (exp, self._seq, key))
        return dropped + evicted

    def remove(self, key: Hashable) -> bool:
        """Forget ``key``."""
        self._expiry.pop(key, None)
        return self.inner.remove(key)

    def resize(self, capacity: int) -> list[Hashable]:
        """Change capacity; expired entries go first."""
        self._check_capacity(capacity)
        dropped = self.purge()
        evicted = self.inner.resize(capacity)
        for k in evicted:
            self._expiry.pop(k, None)
        return dropped + evicted

    # the hooks are never reached: every operation is delegated
    def _on_hit(self, key: Hashable) -> None:  # pragma: no cover
        raise NotImplementedError

    def _on_insert(self, key: Hashable, low_priority: bool) -> None:  # pragma: no cover
        raise NotImplementedError

    def _pop_victim(self) -> Hashable:  # pragma: no cover
        raise NotImplementedError

    def _on_remove(self, key: Hashable) -> None:  # pragma: no cover
        raise NotImplementedError
