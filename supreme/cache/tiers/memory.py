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
buffered).  :meth:`MemoryTier.hit` is that hit path as one call, for the manager's own fast path;
it does nothing else (a miss or an expired entry is left to :meth:`MemoryTier.get`).

Adaptation (what the adaptive layer's ``AdaptationTarget`` needs, applied by the manager)
-----------------------------------------------------------------------------------------
The capacity ``budget`` is split into a *demand area* (the eviction policy, ``budget - P``) and a
*prefetch area* of at most ``P`` prefetched-but-unused entries, a FIFO (``P = 0`` by default, and
then a low-priority insert enters the policy as before): the keys are a
:class:`~supreme.cache.tiers.areas.TwoAreaStore`, the layout the adaptive simulation uses too.  A
prefetched entry sits in ``_data`` with the expiry :data:`_PREFETCHED` (``-inf``; its real expiry is
kept in the prefetch area), so every hit path sees it as "not a plain hit" and takes the slow path,
where :meth:`MemoryTier.get` moves it into the policy as a normal insert, under the lock, at once (a
read-buffered promotion would change membership late).  Plain hits pay nothing for this.

``switch_policy(name)`` replaces the policy under the lock, after draining the read buffer, by a
fresh ``make_policy(name, demand capacity)`` into which the residents are migrated *least valuable
first*: in the old policy's eviction order (its ``eviction_order()`` if it has one, else the
sequence a deep copy of it evicts when emptied), else in insertion order.  The most valuable keys
are thus inserted last and kept when the new size forces some out.  If the new policy refuses a
key that fits, the switch is aborted and nothing changes.  Values are never touched.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Hashable, Sequence
from typing import Any, NamedTuple

from supreme.cache.codec import estimate_nbytes
from supreme.cache.policies.base import EvictionPolicy
from supreme.cache.tiers.areas import TwoAreaStore
from supreme.cache.tiers.base import ValueTooLarge
from supreme.clock import Clock

__all__ = ["MISSING", "READ_BUFFER", "Adjustment", "MemoryTier"]

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

#: The expiry stored in ``_data`` for an entry of the prefetch area: "already expired" to every hit
#: path, which therefore takes the slow path on the first use (see the module docstring).
_PREFETCHED = float("-inf")


class Adjustment(NamedTuple):
    """Outcome of a policy switch or a budget change, with the tier's shape before and after."""

    applied: bool
    migrated: int
    lost: int
    evicted: list[Hashable]
    before: dict[str, Any]
    after: dict[str, Any]


def _value_order(policy: EvictionPolicy, inserted: Sequence[Hashable]) -> tuple[list[Hashable], str]:
    """The policy's keys, least valuable (next victim) first, and how that order was found."""
    held = set(policy.keys())
    exposed = getattr(policy, "eviction_order", None)
    if callable(exposed):
        order = list(exposed())
        if len(order) == len(held) and set(order) == held:
            return order, "eviction_order"
    try:
        # the victims a copy yields when emptied are exactly the old policy's eviction order
        order = copy.deepcopy(policy)._shrink_to(0)
    except Exception:  # e.g. a wrapper holding a lock: insertion order will do
        order = []
    if len(order) == len(held) and set(order) == held:
        return order, "eviction"
    return [k for k in inserted if k in held], "insertion"


class MemoryTier(TwoAreaStore):
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
        super().__init__(policy)
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
    def hit(self, key: Hashable, now: float | None = None) -> Any:
        """A plain hit's value (counted, applied to the policy at the next drain), else MISSING.

        Only the hit path: a miss, an expired entry or a first use of a prefetched one returns MISSING
        and changes nothing (:meth:`get` handles them).  ``now`` saves a clock reading if the caller
        has one; else the clock is read only for a value with a TTL.
        """
        entry = self._data.get(key)
        if entry is not None:
            value, expires_at = entry  # one unpack instead of two subscripts
            if expires_at is None or expires_at > (self._now() if now is None else now):
                reads = self._reads
                reads.append(key)
                if len(reads) >= READ_BUFFER:
                    self.drain()
                return value
        return MISSING

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
            if expires_at == _PREFETCHED:
                return self._use_prefetched(key, entry, default)
        with self._lock:
            self.misses += 1
            if entry is not None:
                self._expire(key, entry)
        return default

    def _use_prefetched(self, key: Hashable, entry: tuple[Any, float | None], default: Any) -> Any:
        """First use of a prefetched entry: it moves into the policy (a normal insert) now."""
        with self._lock:
            if self._data.get(key) is entry:
                size, expires_at = self.prefetched[key]
                if expires_at is not None and expires_at <= self._now():
                    self.misses += 1
                    self._expire(key, entry)
                    return default
                self._drain_locked()
                self._take_prefetched(key)
                value = entry[0]
                data = self._data
                data[key] = (value, expires_at)
                for victim in self.policy.insert(key, size):
                    if data.pop(victim, None) is not None:
                        if victim == key:
                            self.rejections += 1  # refused by the admission filter, like a refused set
                        else:
                            self.evictions += 1
                self._drained_hits += 1
                return value
        return self.get(key, default)  # changed meanwhile: look again

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
            self._forget(key)
            self.expirations += 1

    # -- peeks --------------------------------------------------------------
    def peek(self, key: Hashable, default: Any = None) -> Any:
        """The value without updating access stats or recency (expired → ``default``)."""
        entry = self._data.get(key)
        if entry is not None:
            value, expires_at = entry
            if expires_at is None or expires_at > self._now():
                return value
            if expires_at == _PREFETCHED:
                held = self.prefetched.get(key)
                if held is not None and (held[1] is None or held[1] > self._now()):
                    return value
        return default

    def __contains__(self, key: object) -> bool:
        return self.peek(key, MISSING) is not MISSING

    def expires_at(self, key: Hashable) -> float | None:
        """Absolute expiry of ``key`` (None: never or absent)."""
        entry = self._data.get(key)
        if entry is not None and entry[1] == _PREFETCHED:
            held = self.prefetched.get(key)
            return None if held is None else held[1]
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
            if low_priority and 0 < size <= self.prefetch_capacity and key not in self.policy:
                return self._set_prefetched(key, value, expires_at, size)
            self._take_prefetched(key)  # a demand write of a prefetched key moves it to the demand area
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

    def _set_prefetched(self, key: Hashable, value: Any, expires_at: float | None, size: int) -> bool:
        # called under the lock: store in the prefetch area, pushing its oldest entries out
        self._data[key] = (value, _PREFETCHED)
        self.sets += 1
        self._drop(self._add_prefetched(key, size, expires_at))
        return True

    def _drop(self, victims: list[Hashable]) -> list[Hashable]:
        # called under the lock: the values of keys an area let go (counted as evictions)
        data = self._data
        for victim in victims:
            if data.pop(victim, None) is not None:
                self.evictions += 1
        return victims

    def delete(self, key: Hashable) -> bool:
        """Remove ``key``; return whether it was held."""
        with self._lock:
            self._drain_locked()
            held = self._data.pop(key, None) is not None
            self._forget(key)
            return held

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._drain_locked()  # keep the hit count exact
            for key in list(self._data):
                self._forget(key)
            self._data.clear()

    def resize(self, capacity: int) -> list[Hashable]:
        """Change the total capacity (``budget``), dropping what it forces out; return the evicted keys.

        The prefetch area keeps its size while the demand area keeps at least one unit.
        """
        return self.resize_budget(capacity).evicted

    # -- adaptation (see the module docstring) ---------------------------------------
    @property
    def policy_name(self) -> str:
        """Registry spelling of the eviction policy of the demand area (``"lrfu:32"``, ``"arc"``)."""
        return self.policy.spec

    def shape(self) -> dict[str, Any]:
        """Policy, capacities and occupancy (an adaptation's before/after)."""
        return {
            "policy": self.policy.spec, "budget": self.budget, "demand_capacity": self.policy.capacity,
            "prefetch_capacity": self.prefetch_capacity, "entries": len(self._data),
            "prefetched": len(self.prefetched), "unit": self.unit,
        }

    def resize_budget(self, capacity: int) -> Adjustment:
        """Change the total capacity; the demand area takes the change (the prefetch area shrinks
        only if the demand area would fall below one unit)."""
        EvictionPolicy._check_capacity(capacity)
        with self._lock:
            self._drain_locked()
            before = self.shape()
            evicted = self._resplit(capacity, min(self.prefetch_capacity, capacity - 1))
            return Adjustment(True, 0, 0, evicted, before, self.shape())

    def set_prefetch_budget(self, entries: int) -> Adjustment:
        """Reserve ``entries`` of the budget (clamped to ``[0, budget - 1]``) for prefetched entries."""
        with self._lock:
            self._drain_locked()
            before = self.shape()
            evicted = self._resplit(self.budget, self._prefetch_share(entries))
            return Adjustment(True, 0, 0, evicted, before, self.shape())

    def _resplit(self, budget: int, prefetch: int) -> list[Hashable]:
        # called under the lock, drained: the victims of a new split, prefetch area first
        demand, prefetched = self._split(budget, prefetch)
        return self._drop(prefetched) + self._drop(demand)

    def retune_policy(self, name: str) -> Adjustment:
        """Make the demand policy ``name`` in place if it tracks that spec (nothing moves); else not."""
        with self._lock:
            self._drain_locked()
            before = self.shape()
            applied = self.policy.retune(name)
            return Adjustment(applied, len(self._data) if applied else 0, 0, [], before, self.shape())

    def switch_policy(self, name: str, capacity: int | None = None, track: Sequence[str] = ()) -> Adjustment:
        """Replace the demand policy by ``name`` (of ``capacity``, default the current demand capacity),
        migrating the residents least valuable first; abort (nothing changes) if one that fits is lost.

        Raises ``PolicyError`` for an unknown name or a bad capacity, before anything changes.
        """
        from supreme.cache.policies import make_policy

        with self._lock:
            self._drain_locked()
            old = self.policy
            before = self.shape()
            new = make_policy(name, old.capacity if capacity is None else capacity, track=track)
            order, how = _value_order(old, list(self._data))
            before["migration_order"] = how
            migrated, lost, forced = self._migrate(new, order)
            if lost:
                return Adjustment(False, migrated, lost, [], before, self.shape())
            self._plain_lookup = type(new).lookup is EvictionPolicy.lookup
            return Adjustment(True, migrated, 0, self._drop(forced), before, self.shape())

    def stats(self) -> dict[str, Any]:
        """Hits, misses, evictions, expirations, size and capacity."""
        with self._lock:
            self._drain_locked()
            return {
                "tier": self.name, "policy": self.policy.name, "hits": self._drained_hits,
                "misses": self.misses, "sets": self.sets, "evictions": self.evictions,
                "expirations": self.expirations, "rejections": self.rejections,
                "entries": len(self._data), "used": self.policy.used + self.prefetch_used,
                "capacity": self.budget, "demand_capacity": self.policy.capacity,
                "prefetch_capacity": self.prefetch_capacity, "prefetched": len(self.prefetched),
                "unit": self.unit,
            }

    @property
    def hits(self) -> int:
        """Hits so far (including those still in the read buffer)."""
        return self._drained_hits + len(self._reads)

    def close(self) -> None:
        """Nothing to release (symmetry with the remote tiers)."""
