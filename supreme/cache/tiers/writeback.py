"""A remote tier (L2/L3) as the manager uses it: the tier, its guard, its write-back journal, its counts.

:class:`WriteBackTier` wraps a :class:`~supreme.cache.tiers.base.CacheTier` holding *entries*
(:func:`supreme.cache.codec.encode_entry`: value plus absolute expiry).  Every call to the wrapped
tier goes through its ``guard`` (e.g. ``CircuitBreaker.call``), if any.  A call that raises
``ConnectionError`` (this includes :class:`TierUnavailable` and ``DatabaseUnavailable``), any class
in ``unavailable_errors`` (e.g. a breaker's "call not permitted") or another :class:`TierError`
degrades: a read is skipped (outcome ``error``), a write is journaled.

The write guarantee
-------------------
A write that fails goes into the tier's *pending-write journal* (in memory, ordered, latest value
per key wins, at most ``journal_limit`` keys holding a pending ``set``).  While the journal is
non-empty every new write queues behind it, reads consult it first (a read after a failed write sees
the written value; a pending delete is a miss), and it is replayed in order: each later successful
operation on the tier replays at most ``flush_batch`` entries (so no single request pays for a whole
backlog), and :meth:`WriteBackTier.flush` without a limit drains it.  If the journal is full, a
``set`` raises :class:`WriteBackOverflow` naming the tier and key rather than dropping it.  A
``delete`` is always journaled, even past the limit (it carries no payload), so a tier that was down
during a delete never serves the old value after it recovers.  The journal does not survive a crash
of this process.  A value over the tier's ``max_value_bytes`` is ``rejected``: not written, and any
older value for the key is deleted so it cannot be read stale.

The counts (:meth:`stats`) are the manager's view of the tier: a hit is an entry that decoded and had
not expired; ``corrupt`` and ``expired`` entries are counted apart; ``promotions`` are the writes a
hit in a lower tier made here.  The wrapped tier keeps its own raw counts.  Every step is recorded
through the manager's :class:`~supreme.cache.steps.StepLog`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from supreme.cache.codec import CodecError, decode_entry, entry_expires_at
from supreme.cache.steps import StepLog, component_of
from supreme.cache.tiers.base import DEFAULT_MAX_VALUE_BYTES, CacheTier, TierError, ValueTooLarge
from supreme.clock import Clock
from supreme.errors import SupremeError

__all__ = ["Found", "Guard", "WriteBackOverflow", "WriteBackTier"]

#: ``guard(fn, *args)`` runs a tier call, e.g. ``CircuitBreaker.call``.
Guard = Callable[..., Any]


class WriteBackOverflow(SupremeError):
    """A tier's pending-write journal is full; the named write did not reach that tier."""


class _Pending:
    __slots__ = ("blob", "expires_at", "op")

    def __init__(self, op: str, blob: bytes | None, expires_at: float | None) -> None:
        self.op = op
        self.blob = blob
        self.expires_at = expires_at


class Found(NamedTuple):
    """What :meth:`WriteBackTier.lookup` found for a key."""

    hit: bool  #: a usable entry: ``value`` and ``expires_at`` are its contents, ``blob`` the entry
    stale: bool  #: a corrupt entry, or one expired in the tier: delete it (unless rewritten meanwhile)
    value: Any = None
    expires_at: float | None = None
    blob: bytes | None = None


_NOTHING = Found(False, False)


class WriteBackTier(CacheTier):
    """``tier`` behind its guard and its pending-write journal (see the module docstring)."""

    COUNTERS = ("hits", "misses", "sets", "deletes", "errors", "rejected", "journaled", "flushed", "dropped",
                "promotions", "corrupt", "expired")

    def __init__(self, tier: CacheTier, *, clock: Clock, steps: StepLog, guard: Guard | None = None,
                 unavailable_errors: tuple[type[BaseException], ...] = (), journal_limit: int = 10_000,
                 flush_batch: int = 64, flow: str = "cache_hierarchy") -> None:
        #: the wrapped tier's size limit (None: it has none)
        self.max_bytes: int | None = getattr(tier, "max_value_bytes", None)
        super().__init__(name=tier.name, max_value_bytes=self.max_bytes or DEFAULT_MAX_VALUE_BYTES)
        self.tier = tier
        self.component = component_of(tier.name)
        self.guard = guard
        self.journal: OrderedDict[str, _Pending] = OrderedDict()
        self.journal_limit = journal_limit
        self.flush_batch = flush_batch
        self.flow = flow  # of the replay rows, which belong to no caller's request
        self._lock = threading.Lock()  # the journal's
        self._flush_lock = threading.Lock()
        self._now = clock.now
        self._rec = steps.rec
        # retryable: the tier may come back; any TierError also degrades a call, but is not retried forever
        self._retryable: tuple[type[BaseException], ...] = (ConnectionError, *unavailable_errors)
        self._unavailable: tuple[type[BaseException], ...] = (*self._retryable, TierError)

    # -- the CacheTier interface: reads see the journal, writes go through it -------------
    def _get(self, key: str) -> bytes | None:
        return self._read(key, self.tier.get)

    def _peek(self, key: str) -> bytes | None:
        return self._read(key, self.tier.peek)

    def _read(self, key: str, fn: Callable[[str], bytes | None]) -> bytes | None:
        pending = self.journal.get(key) if self.journal else None
        if pending is not None:
            return pending.blob  # None for a pending delete
        result: bytes | None = self._call(fn, key)
        return result

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Write the entry ``value`` to the tier, or into the journal if the tier fails."""
        self._check_value(key, value, ttl)
        self.write(key, bytes(value), None if ttl is None else self._now() + ttl, "set", self.flow, None)

    def delete(self, key: str) -> bool:
        """Delete ``key`` from the tier (journaled if it fails); return whether the tier held it."""
        return self.write(key, None, None, "delete", self.flow, None) == "existed"

    def _set(self, key: str, value: bytes, ttl: float | None) -> None:
        self._call(self.tier.set, key, value, ttl)

    def _delete(self, key: str) -> bool:
        return bool(self._call(self.tier.delete, key))

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        guard = self.guard
        return fn(*args) if guard is None else guard(fn, *args)

    # -- reads for the manager ------------------------------------------------------------
    def lookup(self, key: str, flow: str, rid: str | None, t0: float) -> Found:
        """The manager's read: journal first, then the tier; decoded, counted and recorded."""
        blob, where = self._fetch(key, flow, rid)
        if blob is None:
            return _NOTHING
        try:
            value, exp = decode_entry(blob)
        except CodecError as exc:
            self._bump("corrupt")
            self._rec(flow, self.name, "get", "error", rid, key, t0, nbytes=len(blob),
                      detail=f"corrupt entry, deleted: {exc}")
            return Found(False, True)
        if exp is not None and exp <= self._now():
            self._bump("expired")
            self._rec(flow, self.name, "get", "miss", rid, key, t0, nbytes=len(blob), detail="expired")
            return Found(False, where == "tier")  # a journaled one is replaced or replayed anyway
        self._bump("hits")
        self._rec(flow, self.name, "get", "hit", rid, key, t0, nbytes=len(blob),
                  detail="journal" if where == "journal" else None)
        return Found(True, False, value, exp, blob)

    def _fetch(self, key: str, flow: str, rid: str | None) -> tuple[bytes | None, str]:
        """``(entry or None, where)``: where is "journal", "tier" or "error"; misses are recorded here."""
        if self.journal:
            pending = self.journal.get(key)
            if pending is not None:
                if pending.op == "delete":
                    self._bump("misses")
                    self._rec(flow, self.name, "get", "miss", rid, key, self._now(),
                              detail="journal: deleted")
                    return None, "journal"
                return pending.blob, "journal"
        t0 = self._now()
        try:
            blob = self._call(self.tier.get, key)
        except self._unavailable as exc:
            self._bump("errors")
            self._rec(flow, self.name, "get", "error", rid, key, t0, detail=f"{type(exc).__name__}: {exc}")
            return None, "error"
        if self.journal:
            self.flush(self.flush_batch)
        if blob is None:
            self._bump("misses")
            self._rec(flow, self.name, "get", "miss", rid, key, t0)
        return blob, "tier"

    def holds(self, key: str, now: float) -> bool:
        """Peek: an unexpired entry for ``key`` in the journal or the tier?  Changes no counts."""
        pending = self.journal.get(key) if self.journal else None
        if pending is not None:
            return pending.op == "set" and (pending.expires_at is None or pending.expires_at > now)
        try:
            blob = self._call(self.tier.peek, key)
            if blob is None:
                return False
            exp = entry_expires_at(blob)
        except self._unavailable:
            return False
        except CodecError:
            return False
        return exp is None or exp > now

    # -- writes -------------------------------------------------------------------------
    def write(self, key: str, blob: bytes | None, exp: float | None, op: str, flow: str, rid: str | None,
              *, journal: bool = True, operation: str | None = None) -> str:
        """One write: "ok", "existed", "journaled", "rejected", "skipped" or "error".

        ``journal=False`` (promotions, clean-ups) never queues: behind pending writes it is skipped,
        a failure is only recorded.  ``operation`` names the step ("promote"; default ``op``).
        """
        operation = operation or op
        t0 = self._now()
        # one clock reading for both the expiry check and the TTL handed to the tier: a second
        # reading could make a just-positive TTL non-positive (ValueError midway through a write)
        remaining = None if exp is None else exp - t0
        if op == "set" and remaining is not None and remaining <= 0:
            op = "delete"  # expired before it could be written: make sure no older value survives
            blob = None
        if blob is not None and self.max_bytes is not None and len(blob) > self.max_bytes:
            return self._reject(key, blob, flow, rid, operation, t0,
                                f"{len(blob)} bytes over the {self.name} limit of {self.max_bytes}", journal)
        if self.journal:
            if not journal:
                self._rec(flow, self.name, operation, "error", rid, key, t0,
                          detail="skipped: tier has pending writes")
                return "skipped"
            self._journal(key, op, blob, exp, flow, rid, operation, t0, "queued behind pending writes")
            self.flush(self.flush_batch)
            return "journaled"
        try:
            if op == "set":
                assert blob is not None
                self._set(key, blob, remaining)
                result = "ok"
            else:
                result = "existed" if self._delete(key) else "ok"
        except ValueTooLarge as exc:
            assert blob is not None
            return self._reject(key, blob, flow, rid, operation, t0, str(exc), journal)
        except self._unavailable as exc:
            self._bump("errors")
            detail = f"{type(exc).__name__}: {exc}"
            if not journal:
                self._rec(flow, self.name, operation, "error", rid, key, t0, detail=detail)
                return "error"
            self._rec(flow, self.name, operation, "error", rid, key, t0, detail=detail + " (journaled)")
            self._journal(key, op, blob, exp, flow, rid, operation, t0, detail)
            return "journaled"
        self._bump("promotions" if operation == "promote" else ("sets" if op == "set" else "deletes"))
        self._rec(flow, self.name, operation, "ok", rid, key, t0, nbytes=0 if blob is None else len(blob))
        if self.journal:
            self.flush(self.flush_batch)
        return result

    def write_many(self, entries: Sequence[tuple[str, bytes, float | None]], flow: str,
                   rid: str | None = None) -> str:
        """A batch of sets ``(key, entry blob, absolute expiry)`` in one guarded tier call.

        "ok" when the tier took the batch, "journaled" when it queued behind pending writes or the
        tier failed (every entry is journaled, as :meth:`write` does for one).  Entries that expired
        already or are over the size limit take the one-key path (delete / reject).
        """
        t0 = self._now()
        batch: list[tuple[str, bytes, float | None]] = []
        for key, blob, exp in entries:
            if (exp is not None and exp <= t0) or (self.max_bytes is not None and len(blob) > self.max_bytes):
                self.write(key, blob, exp, "set", flow, rid)
            else:
                batch.append((key, blob, exp))
        if not batch:
            return "ok"
        first, nbytes = batch[0][0], sum(len(b) for _, b, _ in batch)
        if self.journal:
            self._journal_many(batch, flow, rid, t0, "queued behind pending writes")
            self.flush(self.flush_batch)
            return "journaled"
        try:
            self._call(self.tier.set_many, [(k, b, None if e is None else e - t0) for k, b, e in batch])
        except self._unavailable as exc:
            self._bump("errors")
            detail = f"{type(exc).__name__}: {exc}"
            self._rec(flow, self.name, "set_many", "error", rid, first, t0, nbytes=nbytes,
                      detail=f"{detail} ({len(batch)} entries journaled)")
            self._journal_many(batch, flow, rid, t0, detail)
            return "journaled"
        self._bump("sets", len(batch))
        self._rec(flow, self.name, "set_many", "ok", rid, first, t0, nbytes=nbytes,
                  detail=f"{len(batch)} entries")
        return "ok"

    def _journal_many(self, batch: list[tuple[str, bytes, float | None]], flow: str, rid: str | None,
                      t0: float, why: str) -> None:
        """Journal every entry of a batch; a full journal raises once, after taking what fits."""
        overflow: WriteBackOverflow | None = None
        for key, blob, exp in batch:
            try:
                self._journal(key, "set", blob, exp, flow, rid, "set_many", t0, why)
            except WriteBackOverflow as exc:
                overflow = overflow or exc
        if overflow is not None:
            raise overflow

    def _reject(self, key: str, blob: bytes, flow: str, rid: str | None, operation: str, t0: float,
                why: str, journal: bool) -> str:
        self._bump("rejected")
        self._rec(flow, self.name, operation, "rejected", rid, key, t0, nbytes=len(blob),
                  detail=f"ValueTooLarge: {why}")
        if journal:  # an older, smaller value must not be read back later
            self.write(key, None, None, "delete", flow, rid)
        return "rejected"

    def _journal(self, key: str, op: str, blob: bytes | None, exp: float | None, flow: str, rid: str | None,
                 operation: str, t0: float, why: str) -> None:
        with self._lock:
            j = self.journal
            # a delete is always taken: it has no payload, and refusing it would let the tier serve
            # the deleted value once it recovers
            full = op != "delete" and key not in j and len(j) >= self.journal_limit
            if not full:
                j[key] = _Pending(op, blob, exp)
                j.move_to_end(key)
                self._bump("journaled")
        if full:
            msg = (f"{self.name} pending-write journal is full ({self.journal_limit} keys); the {op} of key "
                   f"{key!r} did not reach {self.name} ({why})")
            self._rec(flow, self.name, operation, "error", rid, key, t0, detail=f"WriteBackOverflow: {msg}")
            raise WriteBackOverflow(msg)
        self._rec(flow, self.name, operation, "journaled", rid, key, t0,
                  nbytes=0 if blob is None else len(blob), detail=why)

    def flush(self, limit: int | None = None) -> int:
        """Replay up to ``limit`` journal entries in order (None: until empty or the tier fails); return
        how many reached the tier."""
        if not self._flush_lock.acquire(blocking=False):
            return 0  # another thread is replaying this journal
        done = 0
        tried = 0
        try:
            while limit is None or tried < limit:
                with self._lock:
                    if not self.journal:
                        break
                    key, p = next(iter(self.journal.items()))
                tried += 1
                replayed = self._replay(key, p)
                if replayed is None:
                    break
                done += replayed
        finally:
            self._flush_lock.release()
        return done

    def _replay(self, key: str, p: _Pending) -> int | None:
        """Replay one journal entry: 1 if it reached the tier, 0 if dropped, None if the tier failed."""
        flow = self.flow
        t0 = self._now()
        op = p.op
        try:
            remaining = None if p.expires_at is None else p.expires_at - t0
            if op == "set" and (remaining is None or remaining > 0):
                assert p.blob is not None
                self._set(key, p.blob, remaining)
            else:
                op = "delete"  # a pending delete, or a pending set that has expired meanwhile
                self._delete(key)
            outcome, detail = "ok", f"replayed {op}"
        except self._unavailable as exc:
            if isinstance(exc, self._retryable):
                self._bump("errors")
                self._rec(flow, self.name, "flush", "error", None, key, t0,
                          detail=f"{type(exc).__name__}: {exc}")
                return None
            # cannot succeed on replay: give up on this entry, visibly
            self._bump("dropped")
            outcome, detail = "error", f"dropped after {type(exc).__name__}: {exc}"
        with self._lock:
            if self.journal.get(key) is p:  # a newer write for key stays queued
                del self.journal[key]
        if outcome == "ok":
            self._bump("flushed")
        self._rec(flow, self.name, "flush", outcome, None, key, t0,
                  nbytes=0 if p.blob is None else len(p.blob), detail=detail)
        return 1 if outcome == "ok" else 0

    # -- state ----------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Number of journaled writes."""
        return len(self.journal)

    def stats(self) -> dict[str, Any]:
        """The counts (see the module docstring) and the journal's length, read together."""
        with self._lock:
            return {"tier": self.name, **self._counts.snapshot(), "pending": len(self.journal)}

    def close(self) -> None:
        """Close the wrapped tier."""
        self.tier.close()
