"""Write-behind: values in L1 at once (by reference), in L2/L3 a batch at a time.

The replay shape of :meth:`CacheManager.set <supreme.cache.manager.CacheManager.set>`.  ``put`` stores
the object in L1 (no copy, no encoding on the read path) and queues its encoded entry; the queue is
flushed to L3 then L2 -- one guarded call per tier (Redis ``MULTI``/``EXEC``, one SQL transaction), so
the breaker wraps every batch -- when it holds ``batch_size`` entries, when its oldest entry has waited
``max_delay`` seconds on the clock (checked at each ``put`` and by :meth:`WriteBehindQueue.poll`), and
on :meth:`WriteBehindQueue.close`.

Guarantees: the queue never holds more than one batch, so a crash loses at most the entries put
since the last flush; a batch that reached a tier is whole there (all entries or none).  A tier that
fails takes the batch into its pending-write journal (:mod:`supreme.cache.tiers.writeback`), with the
journal's rules: replayed in order, a full journal raises :class:`WriteBackOverflow`.  A ``set`` or
``delete`` of a queued key through the manager drops the queued entry (the newer write wins).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from supreme.cache.checks import check_ttl
from supreme.cache.codec import encode_entry
from supreme.cache.tiers.base import Counters

if TYPE_CHECKING:
    from supreme.cache.manager import CacheManager

__all__ = ["WriteBehindLike", "WriteBehindQueue"]


class WriteBehindLike(Protocol):
    """What the manager tells its write-behind queue."""

    def discard(self, key: str) -> None:
        """Forget the queued entry of ``key`` (a newer write superseded it)."""
        ...

    def close(self) -> None:
        """Flush what is queued and detach."""
        ...


class WriteBehindQueue:
    """A bounded write-behind queue in front of a manager's L2/L3 (see the module docstring)."""

    def __init__(self, manager: CacheManager, *, batch_size: int = 256, max_delay: float = 1.0,
                 ttl: float | None = None, flow: str | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not max_delay > 0:
            raise ValueError(f"max_delay must be > 0 seconds, got {max_delay}")
        if manager.write_behind is not None:
            raise ValueError("this cache manager already has a write-behind queue")
        self.manager = manager
        self.batch_size = batch_size
        self.max_delay = max_delay
        self.ttl = ttl
        self.flow = flow or manager.flow
        self._now = manager.clock.now
        self._items: dict[str, tuple[bytes, float | None]] = {}
        self._first_at: float | None = None
        self._lock = threading.Lock()
        self._counts = Counters(("puts", "batches", "flushed", "discarded"))
        manager.write_behind = self

    def __len__(self) -> int:
        return len(self._items)

    def put(self, key: str, value: Any, *, ttl: float | None = None, nbytes: int | None = None) -> None:
        """``value`` into L1 now and into the queue; flushes when a trigger fires."""
        self.put_many([(key, value)], ttl=ttl, nbytes=nbytes)

    def put_many(self, items: Iterable[tuple[str, Any]], *, ttl: float | None = None,
                 nbytes: int | None = None) -> None:
        """Several values, queued in order; the triggers are checked once, after the last.

        A caller that ends each group with a position record (a replay) therefore gets batches that
        end with a position: what a batch wrote and where to resume are stored together.
        """
        ttl = check_ttl(self.ttl if ttl is None else ttl, self.manager.default_ttl)
        exp = None if ttl is None else self._now() + ttl
        encoded = []
        for key, value in items:
            blob = encode_entry(value, exp)  # a value the codec refuses is refused before L1 holds it
            self.manager.set_local(key, value, exp, nbytes=nbytes, flow=self.flow)
            encoded.append((key, blob, exp))
        with self._lock:
            for key, blob, exp in encoded:
                self._items.pop(key, None)  # re-queued at the end: the order of writes is kept
                self._items[key] = (blob, exp)
            if self._first_at is None and self._items:
                self._first_at = self._now()
        self._counts.bump("puts", len(encoded))
        if self._due():
            self.flush()

    def _due(self) -> bool:
        first = self._first_at
        if len(self._items) >= self.batch_size:
            return True
        return first is not None and self._now() - first >= self.max_delay

    def poll(self) -> int:
        """Flush if the time trigger fired (for a caller's timer); return the entries written."""
        return self.flush() if self._items and self._due() else 0

    def discard(self, key: str) -> None:
        """Forget the queued entry of ``key``."""
        with self._lock:
            if self._items.pop(key, None) is not None:
                self._counts.bump("discarded")

    def flush(self) -> int:
        """Write every queued entry as one batch per remote tier; return how many entries."""
        with self._lock:
            items, self._items, self._first_at = self._items, {}, None
        if not items:
            return 0
        entries = [(k, blob, exp) for k, (blob, exp) in items.items()]
        self._counts.bump("batches")
        self._counts.bump("flushed", len(entries))
        self.manager.set_remote_many(entries, flow=self.flow)
        return len(entries)

    def stats(self) -> dict[str, int]:
        """Entries put, batches and entries flushed, entries superseded, entries queued now."""
        return {**self._counts.snapshot(), "queued": len(self._items)}

    def close(self) -> None:
        """Flush what is queued and detach from the manager."""
        try:
            self.flush()
        finally:
            if self.manager.write_behind is self:
                self.manager.write_behind = None
