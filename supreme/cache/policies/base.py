"""The one interface every eviction policy implements.

A policy tracks *keys* (and their sizes), never values: the L1 memory tier keeps
values in a dict and asks its policy what to evict, and trace simulation drives
policies with keys alone.  As in cachetools, the base class owns the size
bookkeeping and the shared "get path" (find → evict until it fits → insert,
libCacheSim's ``common_get``); a policy overrides only its hooks:

``_on_hit(key)``                   update metadata on a hit
``_on_hits(keys)``                 apply a batch of buffered hits in order (default: ``_on_hit`` per
                                   held key; LRU/CLOCK/SIEVE/FIFO override it with C-level loops)
``_on_insert(key, low_priority)``  place a new key (room has been made)
``_pop_victim() -> key``           choose a victim and forget it (size accounting is done by the base)
``_on_remove(key)``                forget a key removed from outside (its size is still recorded)
``_admit(key, size) -> bool``      admission filter (default: always admit)
``_on_capacity()``                 capacity changed (``resize``): recompute segment sizes (default: none)

Capacity is in the same unit as sizes: entries when every size is 1 (the
default), bytes when callers pass byte sizes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterator, Sequence
from typing import Any, ClassVar

from supreme.errors import SupremeError

__all__ = ["EvictionPolicy", "PolicyError"]


class PolicyError(SupremeError, ValueError):
    """Bad policy name, capacity or object size."""


class EvictionPolicy(ABC):
    """Key-metadata eviction policy; subclasses implement the hooks."""

    name: ClassVar[str] = "base"
    #: keyword that a registry spec's suffix sets (``"lrfu:32"`` -> ``horizon=32``); None: no suffix
    spec_param: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A subclass that redefines ``_on_hit`` without ``_on_hits`` must not inherit a parent's
        # batch shortcut (e.g. LRU's C-level loop would bypass the new ``_on_hit``).
        if "_on_hit" in cls.__dict__ and "_on_hits" not in cls.__dict__:
            cls._on_hits = EvictionPolicy._on_hits  # type: ignore[method-assign]

    def __init__(self, capacity: int) -> None:
        self._check_capacity(capacity)
        self._capacity = int(capacity)
        self._sizes: dict[Hashable, int] = {}
        self._used = 0

    @staticmethod
    def _check_capacity(capacity: int) -> None:
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity <= 0:
            raise PolicyError(f"capacity must be a positive integer, got {capacity!r}")

    # -- read-only views ----------------------------------------------------
    @property
    def spec(self) -> str:
        """Registry spelling that rebuilds this policy (its name unless a parameter was set)."""
        return self.name

    @property
    def capacity(self) -> int:
        """Maximum total size."""
        return self._capacity

    @property
    def used(self) -> int:
        """Total size of the keys held."""
        return self._used

    def __len__(self) -> int:
        return len(self._sizes)

    def __contains__(self, key: object) -> bool:
        """Peek: membership without touching metadata."""
        return key in self._sizes

    def keys(self) -> Iterator[Hashable]:
        """The keys held, in no promised order."""
        return iter(list(self._sizes))

    def size_of(self, key: Hashable) -> int:
        """Size recorded for ``key`` (KeyError if absent)."""
        return self._sizes[key]

    # -- operations ---------------------------------------------------------
    def lookup(self, key: Hashable) -> bool:
        """Return whether ``key`` is held, updating its metadata on a hit."""
        if key in self._sizes:
            self._on_hit(key)
            return True
        return False

    def insert(self, key: Hashable, size: int = 1, low_priority: bool = False) -> list[Hashable]:
        """Admit ``key`` making room first; return evicted keys.

        If ``key`` is not admitted (too large, or refused by the admission
        filter) the list contains ``key`` itself.  Re-inserting a held key
        updates its size and counts as a hit.
        """
        if size <= 0:
            raise PolicyError(f"object size must be positive, got {size!r}")
        if key in self._sizes:
            old = self._sizes[key]
            self._on_hit(key)
            self._sizes[key] = size
            self._used += size - old
            return self._shrink_to(self._capacity, protect=key)
        if size > self._capacity or not self._admit(key, size):
            return [key]
        evicted = self._shrink_to(self._capacity - size)
        self._sizes[key] = size
        self._used += size
        self._on_insert(key, low_priority)
        return evicted

    def request(self, key: Hashable, size: int = 1) -> bool:
        """The shared get path: a hit, or a miss that admits ``key``."""
        if self.lookup(key):
            return True
        self.insert(key, size)
        return False

    def remove(self, key: Hashable) -> bool:
        """Forget ``key``; return whether it was held."""
        if key not in self._sizes:
            return False
        self._on_remove(key)  # the hook still sees size_of(key)
        self._used -= self._sizes.pop(key)
        return True

    def retune(self, spec: str) -> bool:
        """Become policy ``spec`` in place, exactly, if this policy kept what it needs; False if not."""
        return False

    def resize(self, capacity: int) -> list[Hashable]:
        """Change capacity, evicting as the new size forces; return evicted keys."""
        self._check_capacity(capacity)
        self._capacity = int(capacity)
        self._on_capacity()
        return self._shrink_to(self._capacity)

    def _shrink_to(self, limit: int, protect: Hashable | None = None) -> list[Hashable]:
        evicted: list[Hashable] = []
        while self._used > limit and self._sizes:
            victim = self._pop_victim()
            if victim == protect and len(self._sizes) > 1:
                # a re-sized key is not its own victim while others can go
                self._on_insert(victim, False)
                victim = self._pop_victim()
            self._used -= self._sizes.pop(victim)
            evicted.append(victim)
        return evicted

    # -- hooks --------------------------------------------------------------
    def _on_capacity(self) -> None:  # noqa: B027 - optional hook
        """Recompute what derives from the capacity (segment sizes); called before a resize evicts."""

    def _admit(self, key: Hashable, size: int) -> bool:
        return True

    @abstractmethod
    def _on_hit(self, key: Hashable) -> None: ...

    def _on_hits(self, keys: Sequence[Hashable]) -> None:
        """Apply buffered hits in order, as ``lookup`` would one by one (absent keys are skipped).

        The L1 tier's read buffer drains through this hook, so a policy can replace the per-key
        Python call with a cheaper loop that leaves exactly the same state.
        """
        held = self._sizes
        on_hit = self._on_hit
        for key in keys:
            if key in held:
                on_hit(key)

    @abstractmethod
    def _on_insert(self, key: Hashable, low_priority: bool) -> None: ...

    @abstractmethod
    def _pop_victim(self) -> Hashable: ...

    @abstractmethod
    def _on_remove(self, key: Hashable) -> None: ...
