"""Write-behind: L1 at once by reference, L2/L3 one guarded batch at a time, nothing lost."""

from __future__ import annotations

import numpy as np
import pytest

from supreme.cache import CacheManager, LocalTier, MemoryTier, WriteBackOverflow
from supreme.cache.codec import CodecError, decode_entry
from supreme.cache.writebehind import WriteBehindQueue
from supreme.clock import ManualClock
from supreme.events import EventLog
from supreme.resilience.breaker import CallNotPermitted, CircuitBreaker


def _manager(clock: ManualClock, event_log: EventLog | None = None, **kw: object) -> tuple[
        CacheManager, LocalTier, LocalTier]:
    l2, l3 = LocalTier(clock), LocalTier(clock, name="L3")
    m = CacheManager(MemoryTier("lru", clock=clock, capacity=1000), l2, l3, clock=clock,
                     event_log=event_log if event_log is not None else EventLog(world="real"), **kw)  # type: ignore[arg-type]
    return m, l2, l3


def _held(tier: LocalTier, key: str) -> object:
    blob = tier.peek(key)
    return None if blob is None else decode_entry(blob)[0]


def test_l1_holds_the_object_at_once_and_remotes_get_one_batch(clock: ManualClock) -> None:
    log = EventLog(world="real")
    m, l2, l3 = _manager(clock, log)
    q = WriteBehindQueue(m, batch_size=3, max_delay=60.0)
    block = np.arange(6.0).reshape(3, 2)
    q.put("a", block)
    q.put("b", {"x": 1})
    assert m.l1.peek("a") is block  # by reference: no copy, no codec on the read path
    assert l2.peek("a") is None and l3.peek("a") is None and len(q) == 2
    q.put("c", "three")  # the size trigger
    assert len(q) == 0
    assert np.array_equal(_held(l2, "a"), block) and _held(l3, "b") == {"x": 1}  # type: ignore[arg-type]
    assert l2.stats()["sets"] == 3 and l3.stats()["sets"] == 3
    rows = log.to_frame()
    batches = rows[rows["operation"] == "set_many"]
    assert list(batches["component"]) == ["PostgreSQL_L3", "Redis_Cache_L2"]  # bottom-up, as set() writes
    assert set(batches["outcome"]) == {"ok"} and batches["detail"].str.contains("3 entries").all()
    assert q.stats()["batches"] == 1 and q.stats()["flushed"] == 3


def test_time_trigger_poll_and_close(clock: ManualClock) -> None:
    m, l2, _ = _manager(clock)
    q = WriteBehindQueue(m, batch_size=100, max_delay=2.0)
    q.put("a", 1)
    assert q.poll() == 0
    clock.advance(2.0)
    assert q.poll() == 1 and _held(l2, "a") == 1
    q.put("b", 2)
    clock.advance(2.0)
    q.put("c", 3)  # the oldest waited max_delay: this put flushes both
    assert _held(l2, "b") == 2 and _held(l2, "c") == 3
    q.put("d", 4)
    q.close()
    assert _held(l2, "d") == 4 and m.write_behind is None


def test_a_newer_set_or_delete_wins_over_a_queued_entry(clock: ManualClock) -> None:
    m, l2, l3 = _manager(clock)
    q = WriteBehindQueue(m, batch_size=100)
    q.put("k", "queued")
    q.put("gone", "queued")
    m.set("k", "newer")
    m.delete("gone")
    q.flush()
    assert _held(l2, "k") == "newer" and _held(l3, "k") == "newer" and m.get("k") == "newer"
    assert l2.peek("gone") is None and m.get("gone") is None
    assert q.stats()["discarded"] == 2


def test_a_refused_value_is_refused_before_l1_holds_it(clock: ManualClock) -> None:
    m, _, _ = _manager(clock)
    q = WriteBehindQueue(m)
    with pytest.raises(CodecError):
        q.put("k", object())
    assert m.l1.peek("k") is None and len(q) == 0


def test_the_breaker_wraps_each_batch_and_the_journal_keeps_it(clock: ManualClock) -> None:
    breaker = CircuitBreaker("cache_L2", clock=clock, failure_rate_threshold=50.0, sliding_window_size=4,
                             minimum_number_of_calls=2, wait_duration_in_open=5.0,
                             record_exceptions=(ConnectionError,))
    m, l2, _ = _manager(clock, guards={"L2": breaker.call}, unavailable_errors=(CallNotPermitted,))
    q = WriteBehindQueue(m, batch_size=2)
    l2.available = False
    for i in range(6):
        q.put(f"k{i}", i)  # three batches; the breaker counts each batch as one call
    assert m.pending()["L2"] == 6 and m.pending()["L3"] == 0
    assert breaker.state.value == "open"
    assert m.get("k0") == 0  # L1 (and L3) still answer
    l2.available = True
    clock.advance(5.0)
    assert m.flush_pending("L2") == 6
    assert [_held(l2, f"k{i}") for i in range(6)] == list(range(6))  # nothing lost, in order


def test_a_full_journal_raises_after_taking_what_fits(clock: ManualClock) -> None:
    m, l2, _ = _manager(clock, journal_limit=3)
    q = WriteBehindQueue(m, batch_size=5)
    l2.available = False
    with pytest.raises(WriteBackOverflow, match="journal is full"):
        q.put_many([(f"k{i}", i) for i in range(5)])
    assert m.pending()["L2"] == 3


def test_settings_are_checked(clock: ManualClock) -> None:
    m, _, _ = _manager(clock)
    with pytest.raises(ValueError, match="batch_size"):
        WriteBehindQueue(m, batch_size=0)
    with pytest.raises(ValueError, match="max_delay"):
        WriteBehindQueue(m, max_delay=0)
    WriteBehindQueue(m)
    with pytest.raises(ValueError, match="already has"):
        WriteBehindQueue(m)


def test_closing_the_manager_flushes_the_queue_and_the_journals(clock: ManualClock) -> None:
    m, l2, l3 = _manager(clock)
    q = WriteBehindQueue(m, batch_size=100)
    q.put("queued", 1)
    l2.available = False
    m.set("journaled", 2)  # L2 down: journaled there, written to L3
    l2.available = True
    m.close()  # a draining server: nothing it could still write is left behind
    assert _held(l2, "queued") == 1 and _held(l3, "queued") == 1 and _held(l2, "journaled") == 2
    assert m.write_behind is None
