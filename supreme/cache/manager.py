"""The cache hierarchy: L1 memory → L2 Redis → L3 PostgreSQL → external source.

Implements the seed's "Cache Hierarchy Access Pattern"::

    get(key):  L1 lookup ── hit ──► update L1 access stats, return
               └ miss ─► L2 lookup ── hit ──► promote to L1, update L2 stats, return
                         └ miss ─► L3 lookup ── hit ──► promote to L2, promote to L1, return
                                   └ miss ─► fetch from source; store in L3, L2, L1; return

L1 holds decoded objects (no codec; see :mod:`supreme.cache.tiers.memory` for its
lock-free hit path).  L2/L3 hold *entries* (:func:`supreme.cache.codec.encode_entry`):
the value plus its absolute expiry on the manager's clock, so a promoted value
keeps its remaining TTL and expiry is decided on the one clock in every tier.  Each
remote tier is wrapped in a :class:`~supreme.cache.tiers.writeback.WriteBackTier`
(its guard, its pending-write journal, its counts).

Concurrency: thread-safe. Concurrent misses on one key run the L2/L3/source path once
(:class:`~supreme.cache.singleflight.SingleFlight`); waiters get the leader's value or its exception. A miss
path never overwrites a newer write: every ``set`` and ``delete`` bumps the key's *generation*; the miss
path notes the generation before it reads and stores (fill or promotion) only if it is unchanged, checked
under the key's write lock that ``set``/``delete`` hold while they write. Otherwise it returns what it read
without storing it (the caller's get overlapped the write, so either answer is correct). Generations live
only while a flight or write uses the key.

Degraded operation: a remote tier that fails a read is skipped and ``get`` carries on; a failed
write goes into that tier's journal (the write guarantee of :mod:`supreme.cache.tiers.writeback`).
Write-behind (:mod:`supreme.cache.writebehind`): ``set_local`` now, ``set_remote_many`` in batches.

A value larger than a tier's ``max_value_bytes`` (or L1's capacity) skips that tier: an event with outcome
``rejected`` is recorded and any older value for the key is deleted from that tier so it cannot be read
stale; ``set`` raises :class:`ValueTooLarge` only if no tier could take the value. A value the codec cannot
encode raises :class:`~supreme.cache.codec.CodecError` before anything is written. ``None`` is not cacheable
(it means "absent"): ``set(key, None)`` raises :class:`CacheError`; a loader returning None is returned and
not stored.

Event log: one row per step (:mod:`supreme.cache.steps`); with the log disabled an L1 hit records nothing.

Adaptive contract (:mod:`supreme.cache.protocols`): every ``get`` ends with ``adaptive.on_access``
(its errors are counted and logged, never raised); an ``adaptive`` with ``offer_target`` is offered
this manager as its ``AdaptationTarget`` (:mod:`supreme.cache.adaptation`) unless ``offer_adaptation=False``.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from supreme.cache.adaptation import L1Adaptation
from supreme.cache.checks import CacheError, check_key, check_settings, check_ttl
from supreme.cache.codec import CodecError, encode_entry
from supreme.cache.generations import KeyGenerations, KeyState
from supreme.cache.policies.base import EvictionPolicy
from supreme.cache.protocols import AccessObserver
from supreme.cache.singleflight import SingleFlight
from supreme.cache.stats import hierarchy_stats
from supreme.cache.steps import L1_COMPONENT, MANAGER, StepLog
from supreme.cache.tiers.base import CacheTier, Counters, ValueTooLarge
from supreme.cache.tiers.memory import MISSING, MemoryTier
from supreme.cache.tiers.writeback import Guard, WriteBackOverflow, WriteBackTier
from supreme.clock import Clock
from supreme.events import NULL_LOG, EventLog

if TYPE_CHECKING:
    import pandas as pd

    from supreme.cache.capture import AccessCapture
    from supreme.cache.writebehind import WriteBehindLike

__all__ = ["CacheError", "CacheManager"]


class CacheManager(L1Adaptation):
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
        check_settings(default_ttl, journal_limit, flush_batch, flow)
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
        self._steps = StepLog(event_log, clock.now)
        self._rec = self._steps.rec
        self._l1_hit = l1.hit  # bound once: the log-off hit path is this call and nothing else
        # A subclass that overrides MemoryTier.get (e.g. sim's SimMemoryTier charging simulated
        # CPU) keeps being called on the logged path; only the stock tier is inlined there.
        self._l1_inline = type(l1).get is MemoryTier.get
        # Logged L1 hits append their two rows in one ``EventLog.extend_rows`` call (row layout as in
        # ``EventLog.record``); a duck-typed log without it goes through ``record``.
        self._rows_extend: Callable[[Any], None] | None = getattr(event_log, "extend_rows", None)
        self._remotes = self._wrap_remotes((l2, l3), dict(guards or {}), unavailable_errors)
        self._flight: SingleFlight[tuple[Any, str | None]] = SingleFlight()
        self._lock = threading.Lock()
        # per-key generations and write locks (see the module docstring), only while in use
        self._keys = KeyGenerations()
        self._counts = Counters(("fetches", "fetch_errors", "fetch_empty", "coalesced", "adapt_errors",
                                 "uncacheable"))
        self._bump = self._counts.bump
        #: the write-behind queue attached to this manager (see :mod:`supreme.cache.writebehind`)
        self.write_behind: WriteBehindLike | None = None
        #: records every get/set as a trace request when set (:mod:`supreme.cache.capture`)
        self.capture: AccessCapture | None = None
        offer = getattr(adaptive, "offer_target", None) if offer_adaptation else None
        if callable(offer):
            offer(self, clock.now())  # the layer's adapter applies its decisions to this manager

    def _wrap_remotes(self, tiers: tuple[CacheTier | None, ...], guards: dict[str, Guard],
                      unavailable_errors: tuple[type[BaseException], ...]) -> list[WriteBackTier]:
        """Each remote tier behind its guard and journal (a guard for a tier not given is an error)."""
        remotes = [WriteBackTier(t, clock=self.clock, steps=self._steps, guard=guards.pop(t.name, None),
                                 unavailable_errors=unavailable_errors, journal_limit=self.journal_limit,
                                 flush_batch=self.flush_batch, flow=self.flow)
                   for t in tiers if t is not None]
        if guards:
            raise CacheError(f"guards given for unknown tiers: {sorted(guards)}")
        return remotes

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
    def get(self, key: str, loader: Callable[[], Any] | None = None, *, request_id: str | None = None,
            ttl: float | None = None, flow: str | None = None) -> Any:
        """The value for ``key`` from the first tier that has it, else from ``loader``/``source``.

        Returns None on a full miss with no loader and no source.  ``ttl`` (default
        ``default_ttl``) applies to a value fetched from the source.
        """
        if self.capture is not None:
            self.capture.record(key, self._now())
        value = self._local(key, request_id, flow or self.flow, ttl)
        if value is not MISSING:
            return value
        return self._get_slow(key, loader, request_id, ttl, flow or self.flow)

    def get_local(self, key: str, *, request_id: str | None = None, flow: str | None = None) -> Any:
        """:meth:`get` answered by L1 alone (never blocks): the value, logged as ``get`` logs an L1 hit,
        else ``MISSING`` with nothing done or logged -- then call :meth:`get`."""
        value = self._local(key, request_id, flow or self.flow, None)
        if value is not MISSING and self.capture is not None:
            self.capture.record(key, self._now())
        return value

    def _local(self, key: str, rid: str | None, flow: str, ttl: float | None) -> Any:
        # The L1 hit path.  Log off: no lock, one call (MemoryTier.hit).  Log on: one helper call, skipping
        # _get_slow's argument parsing.  Misses, expired values... go to _get_slow (loader/ttl irrelevant).
        if not self._log.enabled:
            value = self._l1_hit(key)
            if value is not MISSING and self.adaptive is not None:
                self._notify(key, True, "L1")
            return value
        return self._l1_hit_logged(key, rid, flow, ttl) if self._l1_inline else MISSING

    def _get_slow(self, key: str, loader: Callable[[], Any] | None, rid: str | None,
                  ttl: float | None, flow: str) -> Any:
        check_key(key)
        ttl = check_ttl(ttl, self.default_ttl)
        t0 = self._now()
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
            check_ttl(ttl, self.default_ttl)  # a bad ttl is refused even on a hit, as on the slow path
        t0 = self._now()
        value = self._l1_hit(key, t0)  # inside the timed step; an expired entry is _get_slow's
        if value is MISSING:
            return MISSING
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
        st, gen = self._keys.enter(key)
        try:
            found = self._remote_read(key, flow, rid, st, gen)
            return found if found is not None else self._fill(key, fetch, ttl, flow, rid, st, gen)
        finally:
            self._keys.exit(key, st)

    def _remote_read(self, key: str, flow: str, rid: str | None, st: KeyState,
                     gen: int) -> tuple[Any, str] | None:
        """L2 then L3: the first hit, promoted upwards while ``key`` is still at generation ``gen``."""
        now = self._now
        for i, rt in enumerate(self._remotes):
            t0 = now()
            found = rt.lookup(key, flow, rid, t0)
            if found.stale:
                with st.lock:
                    if st.gen == gen:  # else a newer write replaced the stale entry already: keep that
                        rt.write(key, None, None, "delete", flow, rid, journal=False)
                continue
            if not found.hit:
                continue
            value, exp, blob = found.value, found.expires_at, found.blob
            assert blob is not None
            with st.lock:
                if st.gen != gen:
                    self._superseded(flow, "promote", rid, key, t0)
                    return value, rt.name
                for upper in reversed(self._remotes[:i]):
                    upper.write(key, blob, exp, "set", flow, rid, journal=False, operation="promote")
                self._store_l1(key, value, exp, len(blob), False, flow, rid, "promote")
            return value, rt.name
        return None

    def _fill(self, key: str, fetch: Callable[[], Any] | None, ttl: float | None, flow: str,
              rid: str | None, st: KeyState, gen: int) -> tuple[Any, str | None]:
        """The source part of a miss; it stores only while ``key`` is still at generation ``gen``."""
        if fetch is None:
            return None, None
        now = self._now
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
                    rt.write(key, fresh, exp, "set", flow, rid)
            self._store_l1(key, value, exp, None if fresh is None else len(fresh), False, flow, rid, "set")
        return value, "source"

    # -- set / delete -----------------------------------------------------------
    def set(self, key: str, value: Any, ttl: float | None = None, low_priority: bool = False, *,
            request_id: str | None = None, flow: str | None = None) -> None:
        """Write ``value`` to L3, L2 and L1 (``low_priority``: L1 inserts it as a prefetch).

        Raises CodecError (nothing written) if the value cannot be encoded,
        WriteBackOverflow if a failed tier's journal is full, ValueTooLarge if no tier took it.
        """
        check_key(key)
        if value is None:
            raise CacheError(f"cannot cache None for key {key!r} (None means 'absent'); use delete()")
        ttl = check_ttl(ttl, self.default_ttl)
        flow = flow or self.flow
        t0 = self._now()
        exp = None if ttl is None else t0 + ttl
        blob = encode_entry(value, exp) if self._remotes else None
        if self.capture is not None:
            self.capture.record(key, t0, None if blob is None else len(blob), value)
        if self.write_behind is not None:
            self.write_behind.discard(key)  # this newer write wins over a queued one
        st, _ = self._keys.enter(key)
        try:
            with st.lock:
                self._keys.bump(st)  # a fill or promotion in flight for key must not store what it read
                self._set_tiers(key, value, exp, blob, low_priority, flow, request_id, t0)
        finally:
            self._keys.exit(key, st)

    def _set_tiers(self, key: str, value: Any, exp: float | None, blob: bytes | None, low_priority: bool,
                   flow: str, request_id: str | None, t0: float) -> None:
        stored = 0
        overflow: WriteBackOverflow | None = None
        for rt in reversed(self._remotes):
            try:
                if rt.write(key, blob, exp, "set", flow, request_id) != "rejected":
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

    def set_local(self, key: str, value: Any, expires_at: float | None = None, *, nbytes: int | None = None,
                  request_id: str | None = None, flow: str | None = None) -> None:
        """Store ``value`` in L1 only, by reference, until ``expires_at`` (write-behind's first half)."""
        check_key(key)
        if value is None:
            raise CacheError(f"cannot cache None for key {key!r} (None means 'absent'); use delete()")
        flow = flow or self.flow
        if self.capture is not None:
            self.capture.record(key, self._now(), nbytes, value)
        st, _ = self._keys.enter(key)
        try:
            with st.lock:
                self._keys.bump(st)
                self._store_l1(key, value, expires_at, nbytes, False, flow, request_id, "set")
        finally:
            self._keys.exit(key, st)

    def set_remote_many(self, entries: list[tuple[str, bytes, float | None]], *,
                        request_id: str | None = None, flow: str | None = None) -> None:
        """Encoded entries to L3 then L2, one guarded batch per tier (write-behind's second half)."""
        overflow: WriteBackOverflow | None = None
        for rt in reversed(self._remotes):
            try:
                rt.write_many(entries, flow or self.flow, request_id)
            except WriteBackOverflow as exc:
                overflow = overflow or exc
        if overflow is not None:
            raise overflow

    def delete(self, key: str, *, request_id: str | None = None, flow: str | None = None) -> bool:
        """Remove ``key`` from L3, L2 and L1; a get in flight that read the old value will not store it.

        Bumping the key's generation (under its write lock) is what stops a concurrent fill or
        promotion from re-storing the old value; the bottom-up order alone would not.
        """
        check_key(key)
        flow = flow or self.flow
        t0 = self._now()
        if self.write_behind is not None:
            self.write_behind.discard(key)
        st, _ = self._keys.enter(key)
        try:
            with st.lock:
                self._keys.bump(st)
                return self._delete_tiers(key, flow, request_id, t0)
        finally:
            self._keys.exit(key, st)

    def _delete_tiers(self, key: str, flow: str, request_id: str | None, t0: float) -> bool:
        existed = False
        overflow: WriteBackOverflow | None = None
        for rt in reversed(self._remotes):
            try:
                outcome = rt.write(key, None, None, "delete", flow, request_id)
                existed = existed or outcome == "existed"
            except WriteBackOverflow as exc:
                overflow = overflow or exc
        existed = self.l1.delete(key) or existed
        self._rec(flow, "L1", "delete", "ok", request_id, key, t0)
        self._rec(flow, None, "delete", "ok" if overflow is None else "error", request_id, key, t0)
        if overflow is not None:
            raise overflow
        return existed

    def flush_pending(self, tier: str | None = None) -> int:
        """Replay every journaled write, in order, to ``tier`` (default: all remote tiers); return count."""
        return sum(rt.flush() for rt in self._remotes if (tier is None or rt.name == tier) and rt.journal)

    def pending(self) -> dict[str, int]:
        """Number of journaled writes per remote tier."""
        return {rt.name: rt.pending for rt in self._remotes}

    # -- contains / stats -----------------------------------------------------------
    def contains(self, key: str) -> bool:
        """Peek: is ``key`` held (unexpired) in any tier or journal?  Changes no statistics."""
        if self.l1.peek(key, MISSING) is not MISSING:
            return True
        now = self._now()
        return any(rt.holds(key, now) for rt in self._remotes)

    def stats(self) -> pd.DataFrame:
        """Per-tier counters: hits, misses, errors, journal state, evictions… (:mod:`supreme.cache.stats`)."""
        return hierarchy_stats(self.l1.stats(), [(rt.component, rt.stats()) for rt in self._remotes],
                               self._counts.snapshot())

    def close(self) -> None:
        """Flush the write-behind queue and what the journals hold (where the tiers answer), then close
        every tier: a draining server leaves nothing behind that it could still write."""
        try:
            if self.write_behind is not None:
                self.write_behind.close()
            self.flush_pending()
        finally:
            for t in self.tiers:
                t.close()

    def __enter__(self) -> CacheManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers ---------------------------------------------------------------------
    def _store_l1(self, key: str, value: Any, exp: float | None, nbytes: int | None, low_priority: bool,
                  flow: str, rid: str | None, operation: str) -> bool:
        if self.capture is not None:  # a get recorded before the entry was stored takes its stored size
            self.capture.sized(key, nbytes, value)
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

    def _superseded(self, flow: str, operation: str, rid: str | None, key: str, t0: float) -> None:
        self._rec(flow, None, operation, "rejected", rid, key, t0,
                  detail="not stored: the key was set or deleted while this get read it")

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
