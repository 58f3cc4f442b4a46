"""The cache manager's contracts with the layers around it: the protocols both sides implement.

* :class:`AccessObserver` — the manager calls ``on_access(key, hit, tier, now)`` after every get
  (the adaptive layer implements it);
* :class:`PrefetchTarget` — the prefetch engine peeks with ``contains(key)`` and stores with
  ``set(key, value, ttl=None, low_priority=True)`` (the manager implements it);
* :data:`Loader` — ``loader(key) -> value`` reads the data source;
* :class:`AdaptationTarget` — optional: a cache that lets the adapter switch its eviction policy
  and split its budget between demand entries and prefetched entries.  A target without it only
  receives recommendations (logged, not applied).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

__all__ = ["AccessObserver", "AdaptationTarget", "Loader", "PrefetchTarget", "SwitchResult"]

Loader = Callable[[str], Any]


@runtime_checkable
class AccessObserver(Protocol):
    """Told about every demand access, after the get has been answered."""

    def on_access(self, key: str, hit: bool, tier: str | None, now: float) -> None:
        """Record one demand access; ``tier`` is where it hit (``None`` on a miss)."""
        ...


@runtime_checkable
class PrefetchTarget(Protocol):
    """A cache the prefetch engine can peek into and store into."""

    def contains(self, key: str) -> bool:
        """Peek: is ``key`` cached (without touching its metadata)?"""
        ...

    def set(self, key: str, value: Any, ttl: float | None = None, low_priority: bool = True) -> None:
        """Store ``value``; ``low_priority`` entries must not flush hot data."""
        ...


@runtime_checkable
class AdaptationTarget(Protocol):
    """A cache whose eviction policy and prefetch budget the adapter may change."""

    @property
    def policy_name(self) -> str:
        """Name (registry name) of the eviction policy in use."""
        ...

    @property
    def budget(self) -> int:
        """Total capacity shared by demand and prefetched entries."""
        ...

    def switch_policy(self, name: str, track: Sequence[str] = ()) -> SwitchResult:
        """Replace the demand policy by ``name``, migrating residents (abort rather than lose entries).

        ``track``: specs of the same family the new policy keeps state for (see ``retune_policy``).
        """
        ...

    def retune_policy(self, name: str) -> bool:
        """Make the demand policy ``name`` in place, exactly (a tracked spec of its family); False if not."""
        ...

    def set_prefetch_budget(self, entries: int) -> None:
        """Reserve ``entries`` of the budget for prefetched-but-unused entries."""
        ...


class SwitchResult(NamedTuple):
    """Outcome of a policy switch: whether it happened, entries carried over, entries lost."""

    switched: bool
    migrated: int
    lost: int
