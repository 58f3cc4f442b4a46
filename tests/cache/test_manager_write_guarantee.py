"""CacheManager write guarantee: newer writes beat in-flight fills, deletes win, bounded replay, short TTL."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from supreme.cache import CacheManager, LocalTier, MemoryTier, WriteBackOverflow
from supreme.cache.codec import decode_entry, encode_entry
from supreme.cache.policies import LRU
from supreme.clock import ManualClock
from supreme.events import EventLog


class GatedTier(LocalTier):
    """LocalTier whose reads of ``gate_key`` pause after reading, until released (a slow tier)."""

    def __init__(self, clock: Any, *, name: str = "L2", gate_key: str | None = None) -> None:
        super().__init__(clock, name=name)
        self.gate_key = gate_key
        self.read_done = threading.Event()
        self.release = threading.Event()

    def _get(self, key: str) -> bytes | None:
        blob = super()._get(key)
        if key == self.gate_key:
            self.read_done.set()
            assert self.release.wait(10), "test never released the gated read"
        return blob


class RecordingTier(LocalTier):
    """LocalTier remembering the order of the keys written to it."""

    def __init__(self, clock: Any, *, name: str = "L2") -> None:
        super().__init__(clock, name=name)
        self.written: list[str] = []

    def _set(self, key: str, value: bytes, ttl: float | None) -> None:
        super()._set(key, value, ttl)
        self.written.append(key)


def held(tier: LocalTier, key: str) -> Any:
    blob = tier.peek(key)
    return None if blob is None else decode_entry(blob)[0]


def run(fn: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    return t, out


# -- 1. a miss in flight never overwrites a newer set or resurrects a delete -------------------------
def test_set_during_an_inflight_fill_wins_in_every_tier(clock: ManualClock, event_log: EventLog) -> None:
    l2, l3 = LocalTier(clock), LocalTier(clock, name="L3")
    m = CacheManager(MemoryTier(LRU(10), clock=clock), l2, l3, clock=clock, event_log=event_log)
    started, release = threading.Event(), threading.Event()

    def loader() -> str:
        started.set()
        assert release.wait(10)
        return "stale from source"

    t, out = run(lambda: m.get("k", loader))
    assert started.wait(10)
    m.set("k", "new")  # completes while the fill holds the older value
    release.set()
    t.join(10)
    assert not t.is_alive()
    assert out == ["stale from source"]  # the overlapping get may answer with what it read...
    # ...but it did not store it over the newer set
    assert m.l1.peek("k") == "new" and held(l2, "k") == "new" and held(l3, "k") == "new"
    assert m.get("k") == "new"
    frame = event_log.to_frame()
    assert frame["detail"].fillna("").str.contains("not stored").any()
    assert len(m._keys) == 0  # generations are dropped once no flight or write uses the key


def test_delete_during_an_inflight_promotion_stays_deleted(clock: ManualClock) -> None:
    l2, l3 = LocalTier(clock), GatedTier(clock, name="L3", gate_key="k")
    m = CacheManager(MemoryTier(LRU(10), clock=clock), l2, l3, clock=clock)
    m.set("k", "old")
    m.l1.clear()
    l2.delete("k")  # only L3 holds it: the get will promote L3 → L2 → L1
    t, out = run(lambda: m.get("k"))
    assert l3.read_done.wait(10)  # the get has read "old" from L3 and not promoted yet
    assert m.delete("k") is True
    l3.release.set()
    t.join(10)
    assert not t.is_alive()
    assert out == ["old"]
    assert m.l1.peek("k") is None and l2.peek("k") is None and l3.peek("k") is None
    l3.gate_key = None
    assert m.get("k") is None and not m.contains("k")
    assert len(m._keys) == 0


def test_set_during_an_inflight_promotion_wins(clock: ManualClock) -> None:
    l2 = GatedTier(clock, gate_key="k")
    m = CacheManager(MemoryTier(LRU(10), clock=clock), l2, clock=clock)
    m.set("k", "old")
    m.l1.clear()
    t, out = run(lambda: m.get("k"))
    assert l2.read_done.wait(10)
    l2.gate_key = None
    m.set("k", "new")
    l2.release.set()
    t.join(10)
    assert out == ["old"]
    assert m.l1.peek("k") == "new" and held(l2, "k") == "new"


def test_fill_without_concurrent_writes_still_stores(clock: ManualClock) -> None:
    l2 = LocalTier(clock)
    m = CacheManager(MemoryTier(LRU(10), clock=clock), l2, clock=clock)
    assert m.get("k", lambda: 7) == 7
    assert m.l1.peek("k") == 7 and held(l2, "k") == 7
    m.l1.clear()
    assert m.get("k") == 7 and m.l1.peek("k") == 7  # promoted
    assert len(m._keys) == 0


# -- 2. a delete is journaled even when the journal is full ----------------------------------------
def test_delete_is_journaled_past_the_limit_and_wins_after_recovery(clock: ManualClock) -> None:
    l2 = LocalTier(clock)
    m = CacheManager(LRU(10), l2, clock=clock, journal_limit=1)
    m.set("a", "old")
    l2.available = False
    m.set("b", 2)  # the journal is now at its limit
    with pytest.raises(WriteBackOverflow, match="'c'"):
        m.set("c", 3)  # a set still overflows clearly
    assert m.delete("a") is True  # but a delete is accepted
    assert m.pending() == {"L2": 2}
    m.l1.clear()
    assert m.get("a") is None  # the pending delete is honoured while the tier is down
    l2.available = True
    assert m.flush_pending() == 2
    assert l2.peek("a") is None  # the recovered tier does not serve the deleted value
    m.l1.clear()
    assert m.get("a") is None and m.get("b") == 2


# -- 3. replay after recovery is bounded per operation -----------------------------------------------
def test_recovery_replays_a_bounded_batch_per_operation_in_order(clock: ManualClock) -> None:
    l2 = RecordingTier(clock)
    m = CacheManager(LRU(10), l2, clock=clock)
    batch = m.flush_batch
    n = 2 * batch + 10
    keys = [f"k{i}" for i in range(n)]
    l2.available = False
    for i, k in enumerate(keys):
        m.set(k, i)
    assert m.pending() == {"L2": n}
    l2.available = True
    assert m.get("unrelated") is None  # one get after recovery...
    assert l2.written == keys[:batch]  # ...replays one batch only, oldest first
    assert m.pending() == {"L2": n - batch}
    m.l1.clear()
    assert m.get(keys[-1]) == n - 1  # reads still consult the journal for what is not replayed yet
    assert m.get("other") is None
    assert l2.written == keys[:2 * batch]
    assert m.flush_pending() == n - 2 * batch  # recovery code drains the rest
    assert l2.written == keys and m.pending() == {"L2": 0}
    assert [held(l2, k) for k in keys] == list(range(n))


def test_flush_batch_must_be_positive(clock: ManualClock) -> None:
    with pytest.raises(ValueError, match="flush_batch"):
        CacheManager(LRU(1), clock=clock, flush_batch=0)


def test_write_behind_a_journal_flushes_at_most_a_batch(clock: ManualClock) -> None:
    l2 = RecordingTier(clock)
    m = CacheManager(LRU(10), l2, clock=clock, flush_batch=4)
    l2.available = False
    for i in range(10):
        m.set(f"k{i}", i)
    l2.available = True
    m.set("new", 1)  # queued behind the journal; flushes 4 entries
    assert l2.written == [f"k{i}" for i in range(4)]
    assert m.pending() == {"L2": 7}
    m.flush_pending()
    assert l2.written == [*(f"k{i}" for i in range(10)), "new"]


# -- 4. a short TTL is computed once -----------------------------------------------------------------
class SteppingClock(ManualClock):
    """A clock that advances ``step`` seconds on every reading (time passes between two calls)."""

    def __init__(self, start: float, step: float) -> None:
        super().__init__(start)
        self.step = step

    def now(self) -> float:
        t = super().now()
        self.advance(self.step)
        return t


@pytest.mark.parametrize("k", range(1, 12))
def test_short_ttl_never_raises_midway(k: int) -> None:
    # ttl lands between two consecutive clock readings for some k: the old code saw a positive TTL
    # at the check and a non-positive one at the tier call (ValueError after L3 was written)
    clock = SteppingClock(1000.0, step=1.0)
    l2, l3 = LocalTier(clock), LocalTier(clock, name="L3")
    m = CacheManager(MemoryTier(LRU(10), clock=clock), l2, l3, clock=clock)
    ttl = k + 0.5
    m.set("s", "v", ttl=ttl)
    assert m.get("f", lambda: "w", ttl=ttl) == "w"
    assert m.pending() == {"L2": 0, "L3": 0}
    for tier in (l2, l3):
        for key in ("s", "f"):
            held_entry = tier._data.get(key)
            if held_entry is not None:  # written with the absolute expiry the write computed
                exp = decode_entry(held_entry[0])[1]
                assert exp is not None and exp - ttl >= 1000.0
    m.l1.clear()
    assert m.get("s") is None  # by now (many readings later) both have expired in every tier


def test_write_of_an_already_expired_entry_deletes_the_old_value() -> None:
    clock = SteppingClock(1000.0, step=1.0)
    l2 = LocalTier(clock)
    m = CacheManager(LRU(10), l2, clock=clock)
    l2._data["s"] = (encode_entry("old", None), None)
    m.set("s", "v", ttl=0.5)  # expired by the time L2 is written
    assert "s" not in l2._data
