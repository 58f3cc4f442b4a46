"""The back-end interface of the shared cache tiers, and an honest in-process double.

A tier is a small byte store (the httpx-transport shape): ``get``/``peek``/``set``/
``delete`` on ``str`` keys and ``bytes`` values, nothing else.  Encoding and promotion
live in the manager (:mod:`supreme.cache.manager`); journaling and circuit breaking in
the tier that wraps a remote one for it (:mod:`supreme.cache.tiers.writeback`).

Exceptions::

    SupremeError
    └── TierError                  a tier operation failed
        ├── TierUnavailable        (also ConnectionError) the back-end cannot be reached —
        │                          a circuit breaker counts these; the manager degrades
        └── ValueTooLarge          (also ValueError) the value exceeds the tier's limit

:class:`LocalTier` keeps bytes in a dict with TTLs on an injected clock and an
``available`` switch that makes every call raise :class:`TierUnavailable` — a
complete test double for a remote tier (and a stand-in for L2/L3 in simulations).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from supreme.clock import Clock
from supreme.errors import SupremeError

__all__ = [
    "CacheTier", "Counters", "LocalTier", "TierError", "TierUnavailable", "ValueTooLarge", "live_entry",
]

#: Default largest value a remote tier accepts (bytes).
DEFAULT_MAX_VALUE_BYTES = 64 * 1024 * 1024


class TierError(SupremeError):
    """A cache tier operation failed; the message names the tier and key."""


class TierUnavailable(TierError, ConnectionError):
    """The tier's back-end cannot be reached (down, timed out, pool exhausted)."""


class ValueTooLarge(TierError, ValueError):
    """A value is larger than the tier accepts."""


class Counters:
    """Named event counts that several threads bump, read as one snapshot."""

    __slots__ = ("_lock", "_values")

    def __init__(self, names: Iterable[str]) -> None:
        self._values = dict.fromkeys(names, 0)
        self._lock = threading.Lock()

    def bump(self, name: str, n: int = 1) -> None:
        """Add ``n`` (default one) to ``name``."""
        with self._lock:
            self._values[name] += n

    def snapshot(self) -> dict[str, int]:
        """Every count, read together."""
        with self._lock:
            return dict(self._values)


def live_entry(data: dict[str, tuple[bytes, float | None]], key: str, now: float) -> bytes | None:
    """The bytes of ``key`` in a ``key -> (bytes, expiry)`` dict, dropping the entry if it expired."""
    entry = data.get(key)
    if entry is None:
        return None
    if entry[1] is not None and entry[1] <= now:
        del data[key]
        return None
    return entry[0]


class CacheTier(ABC):
    """A byte store behind a cache level; subclasses implement the ``_get``/``_set``/… hooks.

    The base counts hits, misses, sets, deletes and errors, and checks ``max_value_bytes``.
    """

    name: str = "L?"
    #: what :meth:`stats` counts (a subclass may count more)
    COUNTERS: ClassVar[tuple[str, ...]] = ("hits", "misses", "sets", "deletes", "errors")

    def __init__(self, *, name: str | None = None, max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES) -> None:
        if name is not None:
            self.name = name
        if max_value_bytes <= 0:
            raise ValueError(f"max_value_bytes must be positive, got {max_value_bytes}")
        self.max_value_bytes = int(max_value_bytes)
        self._counts = Counters(self.COUNTERS)
        self._bump = self._counts.bump

    # -- public API ---------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        """The stored bytes, or None on a miss (counts a hit or miss)."""
        try:
            value = self._get(key)
        except TierError:
            self._bump("errors")
            raise
        self._bump("misses" if value is None else "hits")
        return value

    def peek(self, key: str) -> bytes | None:
        """Like :meth:`get` without touching access statistics."""
        try:
            return self._peek(key)
        except TierError:
            self._bump("errors")
            raise

    def contains(self, key: str) -> bool:
        """Whether ``key`` is held (and not expired)."""
        return self.peek(key) is not None

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value``; ``ttl`` seconds (None = no expiry) must be positive."""
        self._check_value(key, value, ttl)
        try:
            self._set(key, bytes(value), ttl)
        except TierError:
            self._bump("errors")
            raise
        self._bump("sets")

    def set_many(self, items: Sequence[tuple[str, bytes, float | None]]) -> None:
        """Store ``(key, value, ttl)`` items in one round trip where the back-end has one.

        Every item is checked before anything is written; back-ends with a batch hook
        (Redis MULTI/EXEC, one SQL transaction) write all items or none.
        """
        batch = []
        for key, value, ttl in items:
            self._check_value(key, value, ttl)
            batch.append((key, bytes(value), ttl))
        if not batch:
            return
        try:
            self._set_many(batch)
        except TierError:
            self._bump("errors")
            raise
        self._bump("sets", len(batch))

    def _check_value(self, key: str, value: bytes, ttl: float | None) -> None:
        """Refuse a value that is not bytes, a non-positive ``ttl`` or a value over ``max_value_bytes``."""
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"{self.name} stores bytes, got {type(value).__name__} for key {key!r}")
        if ttl is not None and not ttl > 0:
            raise ValueError(f"ttl must be positive or None, got {ttl!r} for key {key!r}")
        if len(value) > self.max_value_bytes:
            raise ValueTooLarge(
                f"{self.name}: value for key {key!r} is {len(value)} bytes, "
                f"over the tier limit of {self.max_value_bytes}"
            )

    def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it was held."""
        try:
            existed = self._delete(key)
        except TierError:
            self._bump("errors")
            raise
        self._bump("deletes")
        return existed

    def stats(self) -> dict[str, Any]:
        """Access counters of this tier object."""
        return {"tier": self.name, **self._counts.snapshot()}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections (no-op by default)."""

    # -- hooks --------------------------------------------------------------
    @abstractmethod
    def _get(self, key: str) -> bytes | None: ...

    def _peek(self, key: str) -> bytes | None:
        return self._get(key)

    @abstractmethod
    def _set(self, key: str, value: bytes, ttl: float | None) -> None: ...

    @abstractmethod
    def _delete(self, key: str) -> bool: ...

    def _set_many(self, items: list[tuple[str, bytes, float | None]]) -> None:
        for key, value, ttl in items:
            self._set(key, value, ttl)


class LocalTier(CacheTier):
    """In-process bytes tier with TTLs on ``clock`` and an ``available`` switch (a test double)."""

    def __init__(self, clock: Clock, *, name: str = "L2",
                 max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES) -> None:
        super().__init__(name=name, max_value_bytes=max_value_bytes)
        self.clock = clock
        self.available = True
        self._data: dict[str, tuple[bytes, float | None]] = {}
        self._lock = threading.Lock()

    def _check(self) -> None:
        if not self.available:
            raise TierUnavailable(f"{self.name} (local double) is switched off")

    def _get(self, key: str) -> bytes | None:
        self._check()
        with self._lock:
            return live_entry(self._data, key, self.clock.now())

    def _set(self, key: str, value: bytes, ttl: float | None) -> None:
        self._check()
        with self._lock:
            self._data[key] = (value, None if ttl is None else self.clock.now() + ttl)

    def _delete(self, key: str) -> bool:
        self._check()
        with self._lock:
            return self._data.pop(key, None) is not None

    def _set_many(self, items: list[tuple[str, bytes, float | None]]) -> None:
        self._check()
        now = self.clock.now()
        with self._lock:  # all or none, as a remote batch
            for key, value, ttl in items:
                self._data[key] = (value, None if ttl is None else now + ttl)
