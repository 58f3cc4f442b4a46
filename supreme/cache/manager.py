"""The cache hierarchy: L1 memory → L2 Redis → L3 PostgreSQL → external source.

Implements the seed's "Cache Hierarchy Access Pattern"::

    get(key):  L1 lookup ── hit ──► update L1 access stats, return
               └ miss ─► L2 lookup ── hit ──► promote to L1, update L2 stats, return
                         └ miss ─► L3 lookup ── hit ──► promote to L2, promote to L1, return
                                   └ miss ─► fetch from source; store in L3, L2, L1; return

L1 holds decoded objects (no codec; see :mod:`supreme.cache.tiers.memory` for its
lock-free hit path).  L2/L3 hold *entries* (:func:`supreme.cache.codec.encode_entry`):
the value plus its absolute expiry on the manager's clock, so a promoted value
keeps its remaining TTL and expiry is decided on the one clock in every tier.

Concurrency: thread-safe.  Concurrent misses on one key run the L2/L3/source path
once (:class:`~supreme.cache.singleflight.SingleFlight`); waiters get the leader's
value or its exception.  A miss path never overwrites a newer write: every ``set`` and
``delete`` bumps the key's *generation*; the miss path notes the generation before it
reads and stores (fill or promotion) only if it is unchanged, checked under the key's
write lock that ``set``/``delete`` hold while they write.  Otherwise it returns what
it read without storing it (the caller's get overlapped the write, so either answer
is correct).  Generations live only while a flight or write uses the key.

Degraded operation and the write guarantee
------------------------------------------
A tier call that raises ``ConnectionError`` (this includes :class:`TierUnavailable`
and ``DatabaseUnavailable``), any class in ``unavailable_errors`` (e.g. a circuit
breaker's "call not permitted"), or another :class:`TierError` makes ``get`` skip
that tier (outcome ``error`` in the event log, counted per tier) and carry on with
the tiers that work and the source.

``set`` and ``delete`` never lose a write silently.  A write that fails on a remote
tier goes into that tier's *pending-write journal* (in memory, ordered, latest
value per key wins, at most ``journal_limit`` keys holding a pending ``set``).  While
a journal is non-empty every new write to that tier queues behind it, reads consult
it first (a read after a failed write sees the written value; a pending delete is a
miss), and it is replayed in order: each later successful operation on that tier
replays at most ``flush_batch`` entries (so no single request pays for a whole
backlog), and :meth:`CacheManager.flush_pending` (recovery code) drains it.  If a
journal is full, a ``set`` raises :class:`WriteBackOverflow` naming the tier and
key (after the other tiers were written) rather than dropping it.  A ``delete`` is
always journaled, even past the limit (it carries no payload), so a tier that was
down during a delete never serves the old value after it recovers.  Fills from the
source are journaled the same way, but an overflow there is recorded, not raised
(the source still has the value).  The journal is in-process memory: it does not
survive a crash of this process.

A value larger than a tier's ``max_value_bytes`` (or L1's capacity) skips that tier:
an event with outcome ``rejected`` is recorded and any older value for the key is
deleted from that tier so it cannot be read stale; ``set`` raises
:class:`ValueTooLarge` only if no tier could take the value.  A value the codec
cannot encode raises :class:`~supreme.cache.codec.CodecError` before anything is
written.  ``None`` is not cacheable (it means "absent"): ``set(key, None)`` raises
:class:`CacheError`; a loader returning None is returned and not stored.

Event log
---------
One row per step, flow ``cache_hierarchy`` (per call: e.g. ``trading_signal``),
components ``Cache_Manager``, ``Memory_Cache_L1``, ``Redis_Cache_L2``,
``PostgreSQL_L3``, ``External_Source``; operations ``get``/``set``/``delete``/
``promote``/``fetch``/``flush``; outcomes ``hit``/``miss``/``ok``/``error``/``rejected``/
``journaled``; latency on the injected clock.  With the log disabled an L1 hit
records nothing.

Adaptive contract: with ``adaptive`` given, every ``get`` ends with
``adaptive.on_access(key, hit, tier, now)`` (``hit`` True when a cache tier answered,
``tier`` "L1"/"L2"/"L3", or None when the source or nothing answered).  Errors
raised there are counted and logged, never passed to the caller.  With
``adaptive=None`` the behaviour is the static policy alone.

Adaptation target (the seed's learning cycle: ``Cache_Adapter`` → ``Cache_Manager``: "Apply
adaptations" / "Adaptations applied"): the manager implements
:class:`supreme.cache.protocols.AdaptationTarget` over its L1 — ``policy_name``, ``budget``,
``switch_policy(name)`` and ``set_prefetch_budget(n)`` (plus ``resize(capacity)``); the mechanics
(migration least valuable first, prefetch area, abort rather than lose) are
:class:`~supreme.cache.tiers.memory.MemoryTier`'s, under its lock after draining its read buffer.
Each one records a row (flow ``learning_cycle``, component ``Cache_Manager``, operation
``apply_adaptation``, outcome ``ok``/``rejected``, ``detail`` JSON with the L1 shape ``before`` and
``after``).  Wiring: given ``adaptive=`` an object with ``offer_target(target, now)`` (the
:class:`~supreme.adaptive.layer.AdaptiveLayer`), the manager offers itself at construction, so
the layer's adapter — now or assigned later — applies its decisions here instead of only logging
recommendations; ``offer_adaptation=False`` keeps it recommendation-only.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from supreme.cache.codec import CodecError, decode_entry, encode_entry, entry_expires_at
from supreme.cache.policies.base import EvictionPolicy
from supreme.cache.protocols import AccessObserver, SwitchResult
from supreme.cache.singleflight import SingleFlight
from supreme.cache.tiers.base import CacheTier, TierError, ValueTooLarge
from supreme.cache.tiers.memory import MISSING, READ_BUFFER, MemoryTier
from supreme.clock import Clock
from supreme.errors import SupremeError
from supreme.events import FLOWS, NULL_LOG, EventLog

if TYPE_CHECKING:
    import pandas as pd

    from supreme.cache.tiers.memory import Adjustment

__all__ = ["COMPONENTS", "CacheError", "CacheManager", "Guard", "WriteBackOverflow"]

#: Seed participant name per tier.
COMPONENTS: dict[str, str] = {
    "L1": "Memory_Cache_L1", "L2": "Redis_Cache_L2", "L3": "PostgreSQL_L3", "source": "External_Source",
}
MANAGER = "Cache_Manager"
L1_COMPONENT = COMPONENTS["L1"]

#: ``guard(fn, *args)`` runs a tier call, e.g. ``CircuitBreaker.call``.
Guard = Callable[..., Any]


class CacheError(SupremeError, ValueError):
    """Bad argument to the cache manager (None value, bad TTL, non-str key)."""


class WriteBackOverflow(SupremeError):
    """A tier's pending-write journal is full; the named write did not reach that tier."""


class _Pending:
    __slots__ = ("blob", "expires_at", "op")

    def __init__(self, op: str, blob: bytes | None, expires_at: float | None) -> None:
        self.op = op
        self.blob = blob
        self.expires_at = expires_at


class _KeyState:
    """A key's write generation, the lock ordering its writes, and how many calls use it."""

    __slots__ = ("gen", "lock", "users")

    def __init__(self) -> None:
        self.gen = 0
        self.lock = threading.Lock()
        self.users = 0


class _Remote:
    """A remote tier plus its guard, journal and manager-side counters."""

    __slots__ = ("component", "counts", "flush_lock", "guard", "journal", "lock", "max_bytes", "name", "tier")

    def __init__(self, tier: CacheTier, guard: Guard | None) -> None:
        self.tier = tier
        self.name = tier.name
        self.component = COMPONENTS.get(tier.name, f"Cache_{tier.name}")
        self.guard = guard
        self.max_bytes: int | None = getattr(tier, "max_value_bytes", None)
        self.lock = threading.Lock()
        self.flush_lock = threading.Lock()
        self.journal: OrderedDict[str, _Pending] = OrderedDict()
        self.counts = dict.fromkeys(
            ("hits", "misses", "sets", "deletes", "errors", "rejected", "journaled", "flushed", "dropped",
             "promotions", "corrupt", "expired"), 0)

    def bump(self, field: str) -> None:
        with self.lock:
            self.counts[field] += 1


class CacheManager:
    """L1 → L2 → L3 → source, as in the seed diagram (see the module docstring for guarantees)."""

    def __init__(
        self,
        l1: MemoryTier | EvictionPolicy,
        l2: CacheTier | None = None,
        l3: CacheTier | None = None,
        *,
        clock: Clock,
        event_log: EventLog = NULL_LOG,
        source: Callable[[str], Any] | None = None,
        adaptive: AccessObserver | None = None,
        default_ttl: float | None = None,
        guards: Mapping[str, Guard] | None = None,
        unavailable_errors: tuple[type[BaseException], ...] = (),
        journal_limit: int = 10_000,
        flush_batch: int = 64,
        flow: str = "cache_hierarchy",
        offer_adaptation: bool = True,
    ) -> None:
        if isinstance(l1, EvictionPolicy):
            l1 = MemoryTier(l1, clock=clock)
        if not isinstance(l1, MemoryTier):
            raise TypeError(f"l1 must be a MemoryTier or an EvictionPolicy, got {type(l1).__name__}")
        if default_ttl is not None and not default_ttl > 0:
            raise CacheError(f"default_ttl must be positive or None, got {default_ttl!r}")
        if journal_limit < 1:
            raise CacheError(f"journal_limit must be at least 1, got {journal_limit}")
        if flush_batch < 1:
            raise CacheError(f"flush_batch must be at least 1, got {flush_batch}")
        if flow not in FLOWS:
            raise CacheError(f"unknown flow {flow!r}; known: {', '.join(FLOWS)}")
        guards = dict(guards or {})
        self.l1 = l1
        self.clock = clock
        self.source = source
        self.adaptive = adaptive
        self.default_ttl = default_ttl
        self.journal_limit = journal_limit
        self.flush_batch = flush_batch
        self.flow = flow
        self._log = event_log
        self._now = clock.now
        # The L1 hit path reads MemoryTier's dict and read buffer directly (their contract: never
        # replaced, only mutated).  Bound methods save an attribute chain per hit.
        self._l1_lookup = l1._data.get
        self._l1_reads = l1._reads
        self._l1_drain = l1.drain
        # A subclass that overrides MemoryTier.get (e.g. sim's SimMemoryTier charging simulated
        # CPU) keeps being called on the logged path; only the stock tier is inlined there.
        self._l1_inline = type(l1).get is MemoryTier.get
        # Logged L1 hits append their two rows in one ``EventLog.extend_rows`` call (row layout as in
        # ``EventLog.record``); a duck-typed log without it goes through ``record``.
        self._rows_extend: Callable[[Any], None] | None = getattr(event_log, "extend_rows", None)
        self._remotes = [_Remote(t, guards.pop(t.name, None)) for t in (l2, l3) if t is not None]
        if guards:
            raise CacheError(f"guards given for unknown tiers: {sorted(guards)}")
        # retryable: the tier may come back; any TierError also degrades a call, but is not retried forever
        self._retryable: tuple[type[BaseException], ...] = (ConnectionError, *unavailable_errors)
        self._unavailable: tuple[type[BaseException], ...] = (*self._retryable, TierError)
        self._flight: SingleFlight[tuple[Any, str | None]] = SingleFlight()
        self._lock = threading.Lock()
        # per-key generations and write locks (see the module docstring), only while in use
        self._keys: dict[str, _KeyState] = {}
        self._counts = dict.fromkeys(
            ("fetches", "fetch_errors", "fetch_empty", "coalesced", "adapt_errors", "uncacheable"), 0)
        offer = getattr(adaptive, "offer_target", None) if offer_adaptation else None
        if callable(offer):
            offer(self, clock.now())  # the layer's adapter applies its decisions to this manager

    # -- properties -----------------------------------------------------------
    @property
    def event_log(self) -> EventLog:
        """The log this manager records into."""
        return self._log

    @property
    def tiers(self) -> list[Any]:
        """The tiers, top to bottom."""
        return [self.l1, *(r.tier for r in self._remotes)]

    # -- get ------------------------------------------------------------------
    def get(
        self,
        key: str,
        loader: Callable[[], Any] | None = None,
        *,
        request_id: str | None = None,
        ttl: float | None = None,
        flow: str | None = None,
    ) -> Any:
        """The value for ``key`` from the first tier that has it, else from ``loader``/``source``.

        Returns None on a full miss with no loader and no source.  ``ttl`` (default
        ``default_ttl``) applies to a value fetched from the source.
        """
        # The L1 hit path.  With the log off: no lock and no call but the dict lookup (and the
        # clock, for a value with a TTL).  With the log on: one helper call, skipping _get_slow's
        # argument parsing.  Misses, expired values and everything else go to _get_slow; a hit's
        # answer does not depend on loader/ttl, so they need no handling here.
        entry = self._l1_lookup(key)
        if entry is not None:
            if not self._log.enabled:
                value, expires_at = entry  # one unpack instead of two subscripts
                if expires_at is None or expires_at > self._now():
                    reads = self._l1_reads
                    reads.append(key)  # the hit, for the policy (applied at the next drain)
                    if len(reads) >= READ_BUFFER:
                        self._l1_drain()
                    if self.adaptive is not None:
                        self._notify(key, True, "L1")
                    return value
            elif self._l1_inline:
                value = self._l1_hit_logged(key, request_id, flow or self.flow, ttl)
                if value is not MISSING:
                    return value
        return self._get_slow(key, loader, request_id, ttl, flow or self.flow)

    def _get_slow(self, key: str, loader: Callable[[], Any] | None, rid: str | None,
                  ttl: float | None, flow: str) -> Any:
        self._check_key(key)
        ttl = self._check_ttl(ttl)
        now = self._now
        t0 = now()
        value = self.l1.get(key, MISSING)
        self._rec(flow, "L1", "get", "miss" if value is MISSING else "hit", rid, key, t0)
        if value is not MISSING:
            self._rec(flow, None, "get", "hit", rid, key, t0, answered_by="L1")
            if self.adaptive is not None:
                self._notify(key, True, "L1")
            return value
        fetch: Callable[[], Any] | None = loader
        if fetch is None and self.source is not None:
            fetch = functools.partial(self.source, key)

        while True:
            (value, tier), shared = self._flight.do(key, lambda: self._miss_path(key, fetch, ttl, flow, rid))
            # a leader without a loader found nothing; a waiter with one must try its own fetch
            if not (shared and tier is None and fetch is not None):
                break
        if shared:
            self._bump("coalesced")
        hit = tier in ("L1", "L2", "L3")
        self._rec(flow, None, "get", "hit" if hit else "miss", rid, key, t0, answered_by=tier,
                  detail="coalesced" if shared else None)
        if self.adaptive is not None:
            self._notify(key, hit, tier if hit else None)
        return value

    def _l1_hit_logged(self, key: str, rid: str | None, flow: str, ttl: float | None) -> Any:
        """An L1 hit with the log on, recorded as the same two rows ``_rec`` would write; else MISSING."""
        if ttl is not None:
            self._check_ttl(ttl)  # a bad ttl is refused even on a hit, as on the slow path
        t0 = self._now()
        entry = self._l1_lookup(key)  # again, inside the timed step
        if entry is None:
            return MISSING
        value, expires_at = entry
        if expires_at is not None and expires_at <= t0:
            return MISSING  # _get_slow's MemoryTier.get removes it and counts the miss
        reads = self._l1_reads
        reads.append(key)
        if len(reads) >= READ_BUFFER:
            self._l1_drain()
        t1 = self._now()
        extend = self._rows_extend
        if extend is not None:
            # both rows in one append, without record()'s keyword parsing (see __init__)
            lat = t1 - t0
            extend(((t1, flow, rid, L1_COMPONENT, "get", key, "hit", lat, "L1", 0, None),
                    (t1, flow, rid, MANAGER, "get", key, "hit", lat, "L1", 0, None)))
        else:
            self._rec(flow, "L1", "get", "hit", rid, key, t0)
            self._rec(flow, None, "get", "hit", rid, key, t0, answered_by="L1")
        if self.adaptive is not None:
            self._notify(key, True, "L1")
        return value

    def _miss_path(self, key: str, fetch: Callable[[], Any] | None, ttl: float | None,
                   flow: str, rid: str | None) -> tuple[Any, str | None]:
        # a flight that finished just before this one may have filled L1
        value = self.l1.peek(key, MISSING)
        if value is not MISSING:
            return value, "L1"
        st, gen = self._key_enter(key)
        try:
            return self._miss_read(key, fetch, ttl, flow, rid, st, gen)
        finally:
            self._key_exit(key, st)

    def _miss_read(self, key: str, fetch: Callable[[], Any] | None, ttl: float | None, flow: str,
                   rid: str | None, st: _KeyState, gen: int) -> tuple[Any, str | None]:
        """The L2/L3/source part of a miss; it stores only while ``key`` is still at generation ``gen``."""
        now = self._now
        for i, rt in enumerate(self._remotes):
            t0 = now()
            blob, where = self._remote_get(rt, key, flow, rid)
            if blob is None:
                continue
            try:
                value, exp = decode_entry(blob)
            except CodecError as exc:
                rt.bump("corrupt")
                self._rec(flow, rt.name, "get", "error", rid, key, t0, nbytes=len(blob),
                          detail=f"corrupt entry, deleted: {exc}")
                with st.lock:
                    if st.gen == gen:  # else a newer write replaced the corrupt entry already
                        self._write(rt, key, None, None, "delete", flow, rid, journal=False)
                continue
            if exp is not None and exp <= now():
                rt.bump("expired")
                self._rec(flow, rt.name, "get", "miss", rid, key, t0, nbytes=len(blob), detail="expired")
                if where == "tier":
                    with st.lock:
                        if st.gen == gen:  # else a newer write may have replaced it: keep that
                            self._write(rt, key, None, None, "delete", flow, rid, journal=False)
                continue
            rt.bump("hits")
            self._rec(flow, rt.name, "get", "hit", rid, key, t0, nbytes=len(blob),
                      detail="journal" if where == "journal" else None)
            with st.lock:
                if st.gen != gen:
                    self._superseded(flow, "promote", rid, key, t0)
                    return value, rt.name
                for upper in reversed(self._remotes[:i]):
                    self._write(upper, key, blob, exp, "set", flow, rid, journal=False, operation="promote")
                self._store_l1(key, value, exp, len(blob), False, flow, rid, "promote")
            return value, rt.name
        if fetch is None:
            return None, None
        t0 = now()
        try:
            value = fetch()
        except Exception as exc:
            self._bump("fetch_errors")
            self._rec(flow, "source", "fetch", "error", rid, key, t0, detail=f"{type(exc).__name__}: {exc}")
            raise
        self._bump("fetches")
        if value is None:
            self._bump("fetch_empty")
            self._rec(flow, "source", "fetch", "miss", rid, key, t0, detail="source returned None")
            return None, "source"
        self._rec(flow, "source", "fetch", "ok", rid, key, t0)
        exp = None if ttl is None else now() + ttl
        fresh: bytes | None = None
        if self._remotes:
            try:
                fresh = encode_entry(value, exp)
            except CodecError as exc:
                # the caller still gets the fresh value; only caching is impossible
                self._bump("uncacheable")
                self._rec(flow, None, "set", "error", rid, key, t0, detail=f"not cached: {exc}")
                return value, "source"
        with st.lock:
            if st.gen != gen:
                self._superseded(flow, "set", rid, key, t0)
                return value, "source"
            for rt in reversed(self._remotes):
                with contextlib.suppress(WriteBackOverflow):  # recorded; the source can be asked again
                    self._write(rt, key, fresh, exp, "set", flow, rid)
            self._store_l1(key, value, exp, None if fresh is None else len(fresh), False, flow, rid, "set")
        return value, "source"

    def _remote_get(self, rt: _Remote, key: str, flow: str, rid: str | None) -> tuple[bytes | None, str]:
        """``(entry or None, where)``: where is "journal", "tier" or "error"; misses are recorded here."""
        if rt.journal:
            pending = rt.journal.get(key)
            if pending is not None:
                if pending.op == "delete":
                    rt.bump("misses")
                    self._rec(flow, rt.name, "get", "miss", rid, key, self._now(), detail="journal: deleted")
                    return None, "journal"
                return pending.blob, "journal"
        t0 = self._now()
        try:
            blob = self._call(rt, rt.tier.get, key)
        except self._unavailable as exc:
            rt.bump("errors")
            self._rec(flow, rt.name, "get", "error", rid, key, t0, detail=f"{type(exc).__name__}: {exc}")
            return None, "error"
        if rt.journal:
            self._flush(rt, self.flush_batch)
        if blob is None:
            rt.bump("misses")
            self._rec(flow, rt.name, "get", "miss", rid, key, t0)
        return blob, "tier"

    # -- set / delete -----------------------------------------------------------
    def set(self, key: str, value: Any, ttl: float | None = None, low_priority: bool = False, *,
            request_id: str | None = None, flow: str | None = None) -> None:
        """Write ``value`` to L3, L2 and L1 (``low_priority``: L1 inserts it as a prefetch).

        Raises CodecError (nothing written) if the value cannot be encoded,
        WriteBackOverflow if a failed tier's journal is full, ValueTooLarge if no tier took it.
        """
        self._check_key(key)
        if value is None:
            raise CacheError(f"cannot cache None for key {key!r} (None means 'absent'); use delete()")
        ttl = self._check_ttl(ttl)
        flow = flow or self.flow
        t0 = self._now()
        exp = None if ttl is None else t0 + ttl
        blob = encode_entry(value, exp) if self._remotes else None
        st, _ = self._key_enter(key)
        try:
            with st.lock:
                self._bump_gen(st)  # a fill or promotion in flight for key must not store what it read
                self._set_tiers(key, value, exp, blob, low_priority, flow, request_id, t0)
        finally:
            self._key_exit(key, st)

    def _set_tiers(self, key: str, value: Any, exp: float | None, blob: bytes | None, low_priority: bool,
                   flow: str, request_id: str | None, t0: float) -> None:
        stored = 0
        overflow: WriteBackOverflow | None = None
        for rt in reversed(self._remotes):
            try:
                if self._write(rt, key, blob, exp, "set", flow, request_id) != "rejected":
                    stored += 1
            except WriteBackOverflow as exc:
                overflow = overflow or exc
        if self._store_l1(key, value, exp, None if blob is None else len(blob), low_priority, flow,
                          request_id, "set"):
            stored += 1
        self._rec(flow, None, "set", "ok" if overflow is None and stored else "error", request_id, key, t0,
                  nbytes=0 if blob is None else len(blob))
        if overflow is not None:
            raise overflow
        if not stored:
            raise ValueTooLarge(f"value for key {key!r} is too large for every cache tier")

    def delete(self, key: str, *, request_id: str | None = None, flow: str | None = None) -> bool:
        """Remove ``key`` from L3, L2 and L1; a get in flight that read the old value will not store it.

        Bumping the key's generation (under its write lock) is what stops a concurrent fill or
        promotion from re-storing the old value; the bottom-up order alone would not.
        """
        self._check_key(key)
        flow = flow or self.flow
        t0 = self._now()
        st, _ = self._key_enter(key)
        try:
            with st.lock:
                self._bump_gen(st)
                return self._delete_tiers(key, flow, request_id, t0)
        finally:
            self._key_exit(key, st)

    def _delete_tiers(self, key: str, flow: str, request_id: str | None, t0: float) -> bool:
        existed = False
        overflow: WriteBackOverflow | None = None
        for rt in reversed(self._remotes):
            try:
                outcome = self._write(rt, key, None, None, "delete", flow, request_id)
                existed = existed or outcome == "existed"
            except WriteBackOverflow as exc:
                overflow = overflow or exc
        existed = self.l1.delete(key) or existed
        self._rec(flow, "L1", "delete", "ok", request_id, key, t0)
        self._rec(flow, None, "delete", "ok" if overflow is None else "error", request_id, key, t0)
        if overflow is not None:
            raise overflow
        return existed

    def _write(self, rt: _Remote, key: str, blob: bytes | None, exp: float | None, op: str, flow: str,
               rid: str | None, *, journal: bool = True, operation: str | None = None) -> str:
        """One write to a remote tier: "ok", "existed", "journaled", "rejected", "skipped" or "error"."""
        operation = operation or op
        t0 = self._now()
        # one clock reading for both the expiry check and the TTL handed to the tier: a second
        # reading could make a just-positive TTL non-positive (ValueError midway through a write)
        remaining = None if exp is None else exp - t0
        if op == "set" and remaining is not None and remaining <= 0:
            op = "delete"  # expired before it could be written: make sure no older value survives
            blob = None
        if blob is not None and rt.max_bytes is not None and len(blob) > rt.max_bytes:
            return self._reject(rt, key, blob, flow, rid, operation, t0,
                                f"{len(blob)} bytes over the {rt.name} limit of {rt.max_bytes}", journal)
        if rt.journal:
            if not journal:
                self._rec(flow, rt.name, operation, "error", rid, key, t0,
                          detail="skipped: tier has pending writes")
                return "skipped"
            self._journal(rt, key, op, blob, exp, flow, rid, operation, t0, "queued behind pending writes")
            self._flush(rt, self.flush_batch)
            return "journaled"
        try:
            if op == "set":
                self._call(rt, rt.tier.set, key, blob, remaining)
                result = "ok"
            else:
                result = "existed" if self._call(rt, rt.tier.delete, key) else "ok"
        except ValueTooLarge as exc:
            assert blob is not None
            return self._reject(rt, key, blob, flow, rid, operation, t0, str(exc), journal)
        except self._unavailable as exc:
            rt.bump("errors")
            detail = f"{type(exc).__name__}: {exc}"
            if not journal:
                self._rec(flow, rt.name, operation, "error", rid, key, t0, detail=detail)
                return "error"
            self._rec(flow, rt.name, operation, "error", rid, key, t0, detail=detail + " (journaled)")
            self._journal(rt, key, op, blob, exp, flow, rid, operation, t0, detail)
            return "journaled"
        rt.bump("promotions" if operation == "promote" else ("sets" if op == "set" else "deletes"))
        self._rec(flow, rt.name, operation, "ok", rid, key, t0, nbytes=0 if blob is None else len(blob))
        if rt.journal:
            self._flush(rt, self.flush_batch)
        return result

    def _reject(self, rt: _Remote, key: str, blob: bytes, flow: str, rid: str | None, operation: str,
                t0: float, why: str, journal: bool) -> str:
        rt.bump("rejected")
        self._rec(flow, rt.name, operation, "rejected", rid, key, t0, nbytes=len(blob),
                  detail=f"ValueTooLarge: {why}")
        if journal:  # an older, smaller value must not be read back later
            self._write(rt, key, None, None, "delete", flow, rid)
        return "rejected"

    def _journal(self, rt: _Remote, key: str, op: str, blob: bytes | None, exp: float | None, flow: str,
                 rid: str | None, operation: str, t0: float, why: str) -> None:
        with rt.lock:
            j = rt.journal
            # a delete is always taken: it has no payload, and refusing it would let the tier serve
            # the deleted value once it recovers
            if op != "delete" and key not in j and len(j) >= self.journal_limit:
                full = True
            else:
                full = False
                j[key] = _Pending(op, blob, exp)
                j.move_to_end(key)
                rt.counts["journaled"] += 1
        if full:
            msg = (f"{rt.name} pending-write journal is full ({self.journal_limit} keys); the {op} of key "
                   f"{key!r} did not reach {rt.name} ({why})")
            self._rec(flow, rt.name, operation, "error", rid, key, t0, detail=f"WriteBackOverflow: {msg}")
            raise WriteBackOverflow(msg)
        self._rec(flow, rt.name, operation, "journaled", rid, key, t0,
                  nbytes=0 if blob is None else len(blob), detail=why)

    def flush_pending(self, tier: str | None = None) -> int:
        """Replay every journaled write, in order, to ``tier`` (default: all remote tiers); return count."""
        done = 0
        for rt in self._remotes:
            if (tier is None or rt.name == tier) and rt.journal:
                done += self._flush(rt)
        return done

    def _flush(self, rt: _Remote, limit: int | None = None) -> int:
        """Replay up to ``limit`` journal entries (None: until empty or the tier fails); return how many."""
        if not rt.flush_lock.acquire(blocking=False):
            return 0  # another thread is replaying this journal
        done = 0
        tried = 0
        flow = self.flow
        try:
            while limit is None or tried < limit:
                with rt.lock:
                    if not rt.journal:
                        break
                    key, p = next(iter(rt.journal.items()))
                tried += 1
                t0 = self._now()
                op = p.op
                try:
                    remaining = None if p.expires_at is None else p.expires_at - t0
                    if op == "set" and (remaining is None or remaining > 0):
                        self._call(rt, rt.tier.set, key, p.blob, remaining)
                    else:
                        op = "delete"  # a pending delete, or a pending set that has expired meanwhile
                        self._call(rt, rt.tier.delete, key)
                    outcome, detail = "ok", f"replayed {op}"
                except self._unavailable as exc:
                    if not isinstance(exc, self._retryable):
                        # cannot succeed on replay: give up on this entry, visibly
                        rt.bump("dropped")
                        outcome, detail = "error", f"dropped after {type(exc).__name__}: {exc}"
                    else:
                        rt.bump("errors")
                        self._rec(flow, rt.name, "flush", "error", None, key, t0,
                                  detail=f"{type(exc).__name__}: {exc}")
                        break
                with rt.lock:
                    if rt.journal.get(key) is p:  # a newer write for key stays queued
                        del rt.journal[key]
                if outcome == "ok":
                    rt.bump("flushed")
                    done += 1
                self._rec(flow, rt.name, "flush", outcome, None, key, t0,
                          nbytes=0 if p.blob is None else len(p.blob), detail=detail)
        finally:
            rt.flush_lock.release()
        return done

    def pending(self) -> dict[str, int]:
        """Number of journaled writes per remote tier."""
        return {rt.name: len(rt.journal) for rt in self._remotes}

    # -- AdaptationTarget (the learning cycle's "Adaptations applied") ------------------
    @property
    def policy_name(self) -> str:
        """Registry name of L1's eviction policy."""
        return self.l1.policy_name

    @property
    def budget(self) -> int:
        """L1's total capacity, shared by demand and prefetched entries."""
        return self.l1.budget

    def switch_policy(self, name: str, capacity: int | None = None) -> SwitchResult:
        """Replace L1's policy by ``name``, migrating its residents (aborted rather than lose one)."""
        adj = self.l1.switch_policy(name, capacity)
        self._record_adaptation("switch_policy", adj, {"to": name})
        return SwitchResult(adj.applied, adj.migrated, adj.lost)

    def set_prefetch_budget(self, entries: int) -> None:
        """Reserve ``entries`` of L1's budget for prefetched-but-unused entries (the demand area shrinks)."""
        self._record_adaptation("set_prefetch_budget", self.l1.set_prefetch_budget(entries),
                                {"prefetch_budget": entries})

    def resize(self, capacity: int) -> list[Any]:
        """Change L1's total capacity (the demand area takes the change); return the evicted keys."""
        adj = self.l1.resize_budget(capacity)
        self._record_adaptation("resize", adj, {"budget": capacity})
        return adj.evicted

    def _record_adaptation(self, what: str, adj: Adjustment, asked: dict[str, Any]) -> None:
        log = self._log
        if not log.enabled:
            return
        detail = {"adaptation": what, **asked, "applied": adj.applied, "migrated": adj.migrated,
                  "lost": adj.lost, "evicted": len(adj.evicted), "before": adj.before, "after": adj.after}
        log.record(self._now(), "learning_cycle", MANAGER, "apply_adaptation",
                   "ok" if adj.applied else "rejected", tier="L1", detail=json.dumps(detail, sort_keys=True))

    # -- contains / stats -----------------------------------------------------------
    def contains(self, key: str) -> bool:
        """Peek: is ``key`` held (unexpired) in any tier or journal?  Changes no statistics."""
        if self.l1.peek(key, MISSING) is not MISSING:
            return True
        now = self._now()
        for rt in self._remotes:
            pending = rt.journal.get(key) if rt.journal else None
            if pending is not None:
                if pending.op == "set" and (pending.expires_at is None or pending.expires_at > now):
                    return True
                continue
            try:
                blob = self._call(rt, rt.tier.peek, key)
                if blob is not None:
                    exp = entry_expires_at(blob)
                    if exp is None or exp > now:
                        return True
            except self._unavailable:
                continue
            except CodecError:
                continue
        return False

    def stats(self) -> pd.DataFrame:
        """Per-tier counters: hits, misses, errors, journal state, evictions…"""
        import pandas as pd

        s1 = self.l1.stats()
        rows: list[dict[str, Any]] = [{
            "tier": "L1", "component": COMPONENTS["L1"], "hits": s1["hits"], "misses": s1["misses"],
            "sets": s1["sets"], "errors": 0, "rejected": s1["rejections"], "pending": 0,
            "evictions": s1["evictions"], "expired": s1["expirations"], "entries": s1["entries"],
        }]
        for rt in self._remotes:
            with rt.lock:
                c = dict(rt.counts)
                pending = len(rt.journal)
            rows.append({
                "tier": rt.name, "component": rt.component, "hits": c["hits"], "misses": c["misses"],
                "sets": c["sets"] + c["promotions"], "errors": c["errors"], "rejected": c["rejected"],
                "pending": pending, "evictions": 0, "expired": c["expired"], "entries": None,
                "journaled": c["journaled"], "flushed": c["flushed"], "dropped": c["dropped"],
                "corrupt": c["corrupt"],
            })
        with self._lock:
            m = dict(self._counts)
        rows.append({
            "tier": "source", "component": COMPONENTS["source"], "hits": m["fetches"] - m["fetch_empty"],
            "misses": m["fetch_empty"], "sets": 0, "errors": m["fetch_errors"], "rejected": m["uncacheable"],
            "pending": 0, "coalesced": m["coalesced"], "adapt_errors": m["adapt_errors"],
        })
        frame = pd.DataFrame.from_records(rows).set_index("tier")
        lookups = frame["hits"] + frame["misses"]
        frame["hit_ratio"] = (frame["hits"] / lookups.where(lookups > 0)).astype("float64")
        return frame

    def close(self) -> None:
        """Close every tier."""
        for t in self.tiers:
            t.close()

    def __enter__(self) -> CacheManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers ---------------------------------------------------------------------
    def _store_l1(self, key: str, value: Any, exp: float | None, nbytes: int | None, low_priority: bool,
                  flow: str, rid: str | None, operation: str) -> bool:
        t0 = self._now()
        try:
            admitted = self.l1.set(key, value, expires_at=exp, low_priority=low_priority, nbytes=nbytes)
        except ValueTooLarge as exc:
            self.l1.delete(key)
            self._rec(flow, "L1", operation, "rejected", rid, key, t0, detail=str(exc))
            return False
        self._rec(flow, "L1", operation, "ok" if admitted else "rejected", rid, key, t0,
                  detail=None if admitted else "not admitted by the eviction policy")
        return True

    def _key_enter(self, key: str) -> tuple[_KeyState, int]:
        """Register a flight or write on ``key``; return its state and the generation seen now."""
        with self._lock:
            st = self._keys.get(key)
            if st is None:
                st = self._keys[key] = _KeyState()
            st.users += 1
            return st, st.gen

    def _key_exit(self, key: str, st: _KeyState) -> None:
        with self._lock:
            st.users -= 1
            if st.users == 0:  # nobody holds a generation to compare against: keep the dict bounded
                del self._keys[key]

    def _bump_gen(self, st: _KeyState) -> None:
        with self._lock:
            st.gen += 1

    def _superseded(self, flow: str, operation: str, rid: str | None, key: str, t0: float) -> None:
        self._rec(flow, None, operation, "rejected", rid, key, t0,
                  detail="not stored: the key was set or deleted while this get read it")

    def _call(self, rt: _Remote, fn: Callable[..., Any], *args: Any) -> Any:
        guard = rt.guard
        return fn(*args) if guard is None else guard(fn, *args)

    def _notify(self, key: str, hit: bool, tier: str | None) -> None:
        adaptive = self.adaptive
        if adaptive is None:
            return
        try:
            adaptive.on_access(key, hit, tier, self._now())
        except Exception as exc:
            self._bump("adapt_errors")
            self._rec(self.flow, None, "adapt", "error", None, key, self._now(),
                      detail=f"{type(exc).__name__}: {exc}")

    def _bump(self, field: str) -> None:
        with self._lock:
            self._counts[field] += 1

    def _rec(self, flow: str, tier: str | None, operation: str, outcome: str, rid: str | None,
             key: str | None, t0: float, *, nbytes: int = 0, detail: str | None = None,
             answered_by: str | None = None) -> None:
        """Record one step; ``tier`` None means the manager itself (``answered_by`` fills its tier column)."""
        log = self._log
        if not log.enabled:
            return
        now = self._now()
        component = MANAGER if tier is None else COMPONENTS.get(tier, f"Cache_{tier}")
        log.record(now, flow, component, operation, outcome, request_id=rid, key=key, latency=now - t0,
                   tier=answered_by if tier is None else tier, nbytes=nbytes, detail=detail)

    @staticmethod
    def _check_key(key: object) -> None:
        if not isinstance(key, str):
            raise CacheError(f"cache keys are str, got {type(key).__name__}: {key!r}")

    def _check_ttl(self, ttl: float | None) -> float | None:
        if ttl is None:
            return self.default_ttl
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0:
            raise CacheError(f"ttl must be a positive number of seconds or None, got {ttl!r}")
        return float(ttl)
