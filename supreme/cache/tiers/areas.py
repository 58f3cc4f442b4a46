"""The two-area layout of an L1 budget: a demand area (an eviction policy) and a FIFO prefetch area.

A total ``budget`` is split into the *demand area*, an :class:`EvictionPolicy` of capacity
``budget - P``, and the *prefetch area*, a FIFO holding at most ``P`` (in the policy's size unit) of
prefetched-but-unused keys.  A prefetched key that is used moves into the demand area as a normal
insert; an unused one leaves first-in first-out.  Both areas count against the budget, so
prefetching is never given extra room.  With ``P = 0`` there is no prefetch area (a low-priority
insert then enters the policy).

:class:`TwoAreaStore` holds the keys of both areas and nothing else.  The live L1
(:class:`~supreme.cache.tiers.memory.MemoryTier`: values, TTLs, read buffer, lock) and the adaptive
layer's key-only simulation (:class:`~supreme.adaptive.simulate.SimCache`) are both built on it, so
the adapter's shadow estimates hold for the real tier.  It takes no lock: its owner serialises calls.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence

from supreme.cache.policies.base import EvictionPolicy

__all__ = ["TwoAreaStore"]


class TwoAreaStore:
    """Keys of a demand area (``policy``) and a FIFO prefetch area sharing one budget."""

    def __init__(self, policy: EvictionPolicy, prefetch_capacity: int = 0) -> None:
        self.policy = policy
        self.prefetch_capacity = prefetch_capacity
        #: the prefetch area: key -> (size, its owner's expiry or None), oldest first
        self.prefetched: OrderedDict[Hashable, tuple[int, float | None]] = OrderedDict()
        #: total size of the prefetch area's keys
        self.prefetch_used = 0

    @property
    def budget(self) -> int:
        """Total capacity: demand area (the policy) plus prefetch area."""
        return self.policy.capacity + self.prefetch_capacity

    def _add_prefetched(self, key: Hashable, size: int, expires_at: float | None) -> list[Hashable]:
        """Put ``key`` at the young end of the prefetch area; return the oldest keys it pushed out."""
        old = self.prefetched.pop(key, None)
        if old is not None:
            self.prefetch_used -= old[0]
        self.prefetched[key] = (size, expires_at)
        self.prefetch_used += size
        return self._trim_prefetch(self.prefetch_capacity)

    def _take_prefetched(self, key: Hashable) -> tuple[int, float | None] | None:
        """Remove ``key`` from the prefetch area; its ``(size, expiry)``, or None if it is not there."""
        held = self.prefetched.pop(key, None) if self.prefetched else None
        if held is not None:
            self.prefetch_used -= held[0]
        return held

    def _forget(self, key: Hashable) -> None:
        """Drop ``key`` from whichever area holds it."""
        if self._take_prefetched(key) is None:
            self.policy.remove(key)

    def _trim_prefetch(self, limit: int) -> list[Hashable]:
        """Drop the oldest prefetched keys until the area's size is at most ``limit``; return them."""
        prefetched = self.prefetched
        out: list[Hashable] = []
        while self.prefetch_used > limit and prefetched:
            victim, (size, _) = prefetched.popitem(last=False)
            self.prefetch_used -= size
            out.append(victim)
        return out

    def _split(self, budget: int, prefetch: int) -> tuple[list[Hashable], list[Hashable]]:
        """Demand area ``budget - prefetch``, prefetch area ``prefetch``; the (demand, prefetch) victims."""
        self.prefetch_capacity = prefetch
        return self.policy.resize(budget - prefetch), self._trim_prefetch(prefetch)

    def _prefetch_share(self, entries: int) -> int:
        """``entries`` as a prefetch area the budget allows: clamped to ``[0, budget - 1]``."""
        return int(min(max(int(entries), 0), self.budget - 1))

    def _migrate(self, new: EvictionPolicy, order: Sequence[Hashable]) -> tuple[int, int, list[Hashable]]:
        """Make ``new`` the demand policy, inserting the keys of ``order`` (least valuable first).

        The most valuable suffix of ``order`` that fits is inserted, most valuable last; the rest is
        what the new size forces out.  Returns ``(migrated, lost, forced)``; if ``new`` refused a key
        that fits (``lost > 0``) the old policy stays and ``forced`` is empty (abort, never lose).
        """
        size_of = self.policy.size_of
        cap = new.capacity
        start, used = len(order), 0
        while start > 0 and used + size_of(order[start - 1]) <= cap:
            start -= 1
            used += size_of(order[start])
        keep = order[start:]
        insert = new.insert
        for key in keep:
            insert(key, size_of(key))
        lost = sum(1 for key in keep if key not in new)
        if lost:
            return len(keep) - lost, lost, []
        self.policy = new
        return len(keep), 0, list(order[:start])

    def _migrate_warm(self, make: Callable[[], EvictionPolicy], order: Sequence[Hashable],
                      recent: Sequence[Hashable]) -> tuple[int, int, list[Hashable]]:
        """As :meth:`_migrate` into ``make()``, which first learns from ``recent`` demand keys (oldest first).

        A fresh policy knows nothing of the old one's frequencies, ghosts or decayed scores, and
        a policy fed only the residents ranks them by arrival: that relearning is what a switch
        costs.  Here ``new`` replays ``recent`` key-only (its metadata as if it had served that
        tail), the keys it holds that are not resident are removed, and the residents it did not
        keep enter low-priority, the most valuable first (the least valuable at the victim end).
        Falls back to :meth:`_migrate` (into another ``make()``) unless the result holds exactly
        the residents, so nothing is lost and the switch is never worse than a cold one's layout.
        """
        size_of = self.policy.size_of
        resident = set(order)
        new = make()
        if not recent or sum(size_of(k) for k in order) > new.capacity:
            return self._migrate(new, order)
        request = new.request
        for key in recent:
            request(key, size_of(key) if key in resident else 1)
        for key in [k for k in new.keys() if k not in resident]:  # noqa: SIM118 - a policy, not a dict
            new.remove(key)
        for key in reversed([k for k in order if k not in new]):
            if new.insert(key, size_of(key), low_priority=True):
                break  # an eviction or a refusal: not the exact resident set
        if len(new) != len(resident) or any(k not in new for k in order):
            return self._migrate(make(), order)
        self.policy = new
        return len(order), 0, []
