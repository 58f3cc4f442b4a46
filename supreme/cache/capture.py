"""The cache manager's own access sequence, captured as a trace eviction research can replay.

Attach an :class:`AccessCapture` as ``manager.capture``: every ``get`` (with or without a hit), ``set``
and ``set_local`` (write-behind) becomes one request -- the time on the manager's clock (seconds), the
key hashed to a stable 64-bit id (blake2b, so two runs name a key alike) and its size in bytes (the
encoded entry when the manager has one, else the value's estimate; a ``get`` takes the size last
seen for its key, and a ``get`` of a key not sized yet takes the size the manager learns when it
fills or promotes the entry -- :meth:`AccessCapture.sized` -- so a miss is not a 1-byte object).
:meth:`AccessCapture.save` writes libCacheSim's oracleGeneral with the next-access times filled in,
so ``supreme trace simulate`` and libCacheSim read what the service itself did.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from supreme.cache.codec import estimate_nbytes
from supreme.cache.trace import Trace, save_trace

__all__ = ["AccessCapture", "key_id"]


def key_id(key: str) -> int:
    """The stable 64-bit id of a cache key."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")


class AccessCapture:
    """Requests seen by a cache manager, in order (see the module docstring)."""

    __slots__ = ("_ids", "_obj", "_pending", "_size", "_sizes", "_t", "limit")

    def __init__(self, limit: int | None = None) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be >= 1 or None, got {limit}")
        self.limit = limit  #: requests kept at most (later ones are not recorded)
        self._ids: dict[str, int] = {}
        self._sizes: dict[str, int] = {}
        self._pending: dict[str, list[int]] = {}  # key -> requests recorded before its size was known
        self._t: list[float] = []
        self._obj: list[int] = []
        self._size: list[int] = []

    def __len__(self) -> int:
        return len(self._obj)

    def record(self, key: str, now: float, nbytes: int | None = None, value: Any = None) -> None:
        """One request for ``key`` at ``now``; ``nbytes`` (or ``value``'s estimate) when it is a write."""
        if self.limit is not None and len(self._obj) >= self.limit:
            return
        oid = self._ids.get(key)
        if oid is None:
            oid = self._ids[key] = key_id(key)
        if nbytes is None and value is not None:
            nbytes = estimate_nbytes(value)
        if nbytes is not None:
            self.sized(key, nbytes)
        size = self._sizes.get(key)
        if size is None:
            self._pending.setdefault(key, []).append(len(self._obj))
        self._t.append(now)
        self._obj.append(oid)
        self._size.append(1 if size is None else size)

    def sized(self, key: str, nbytes: int | None = None, value: Any = None) -> None:
        """``key``'s stored size is now known (``nbytes``, else ``value``'s estimate): it becomes the size
        of its later requests and of the earlier ones recorded before any size was known."""
        if nbytes is None:
            if value is None:
                return
            nbytes = estimate_nbytes(value)
        size = self._sizes[key] = max(1, int(nbytes))
        for i in self._pending.pop(key, ()):
            self._size[i] = size

    def to_trace(self) -> Trace:
        """The requests as a :class:`~supreme.cache.trace.Trace` (whole seconds, next access filled in)."""
        trace = Trace(np.floor(np.asarray(self._t, dtype=np.float64)).astype(np.int64),
                      np.asarray(self._obj, dtype=np.uint64), np.asarray(self._size, dtype=np.int64))
        return trace.with_next_access()

    def save(self, path: str | os.PathLike[str], format: str = "oraclegeneral") -> Path:
        """Write the trace (default libCacheSim oracleGeneral); returns the path."""
        return save_trace(self.to_trace(), path, format)
