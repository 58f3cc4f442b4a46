"""The fast paths keep the slow paths' behaviour: logged L1 hits, batched policy hit hooks."""

from __future__ import annotations

import random
from collections.abc import Hashable
from typing import Any

import pytest

from supreme.cache import CacheManager, MemoryTier
from supreme.cache.policies import LRU, make_policy
from supreme.cache.policies.base import EvictionPolicy
from supreme.clock import ManualClock
from supreme.events import EventLog

POLICIES = ["lru", "fifo", "lfu", "clock", "arc", "sieve", "s3fifo", "wtinylfu"]


class RecordingLog(EventLog):
    """A log subclass: the manager must go through ``record`` for it (the generic path)."""


def _frame_rows(log: EventLog) -> list[tuple[Any, ...]]:
    frame = log.to_frame().drop(columns=["run_id"])
    return [tuple(r) for r in frame.itertuples(index=False)]


def test_logged_l1_hit_rows_equal_the_record_path(clock: ManualClock) -> None:
    fast_log, slow_log = EventLog(run_id="a"), RecordingLog(run_id="a")
    fast = CacheManager(LRU(4), clock=clock, event_log=fast_log)
    slow = CacheManager(LRU(4), clock=clock, event_log=slow_log)
    for m in (fast, slow):
        m.set("k", 1, ttl=10)
        assert m.get("k", request_id="r1") == 1
        assert m.get("k", request_id="r2", flow="trading_signal") == 1
    clock.advance(11)  # expired: both fall through to the full miss path
    for m in (fast, slow):
        assert m.get("k", request_id="r3") is None
    assert _frame_rows(fast_log) == _frame_rows(slow_log)
    hits = fast_log.to_frame().query("operation == 'get' and outcome == 'hit'")
    assert hits["component"].tolist() == ["Memory_Cache_L1", "Cache_Manager"] * 2
    assert hits["tier"].tolist() == ["L1"] * 4 and hits["request_id"].tolist() == ["r1", "r1", "r2", "r2"]
    assert fast.l1.stats()["hits"] == slow.l1.stats()["hits"] == 2


def test_logged_hit_still_refuses_a_bad_ttl(clock: ManualClock) -> None:
    m = CacheManager(LRU(4), clock=clock, event_log=EventLog())
    m.set("k", 1)
    with pytest.raises(ValueError, match="ttl"):
        m.get("k", ttl=-1)


class ChargingTier(MemoryTier):
    """Like sim's SimMemoryTier: overrides get, which the logged path must keep calling."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gets = 0

    def get(self, key: Hashable, default: Any = None) -> Any:
        self.gets += 1
        return super().get(key, default)


def test_a_memory_tier_subclass_get_is_honoured_when_logging(clock: ManualClock) -> None:
    l1 = ChargingTier(LRU(4), clock=clock)
    m = CacheManager(l1, clock=clock, event_log=EventLog())
    m.set("k", 1)
    assert m.get("k") == 1 and l1.gets == 1


class Seen:
    def __init__(self) -> None:
        self.calls: list[tuple[str, bool, str | None]] = []

    def on_access(self, key: str, hit: bool, tier: str | None, now: float) -> None:
        self.calls.append((key, hit, tier))


@pytest.mark.parametrize("log_on", [False, True])
def test_fast_hit_path_honours_ttl_and_adaptive(clock: ManualClock, log_on: bool) -> None:
    seen = Seen()
    m = CacheManager(LRU(4), clock=clock, event_log=EventLog(enabled=log_on), adaptive=seen)
    m.set("k", "v", ttl=5)
    assert m.get("k") == "v"
    clock.advance(5)  # expiry is exclusive: at the deadline the value is gone
    assert m.get("k") is None
    assert seen.calls == [("k", True, "L1"), ("k", False, None)]
    assert m.l1.stats()["expirations"] == 1


def _eviction_order(policy: EvictionPolicy, fresh: int) -> list[Hashable]:
    order: list[Hashable] = []
    for i in range(fresh):
        order.extend(policy.insert(f"new{i}"))
    return order


@pytest.mark.parametrize("name", POLICIES)
def test_batched_hits_equal_one_lookup_per_key(name: str) -> None:
    """Differential: ``_on_hits(batch)`` leaves the state ``lookup`` per key leaves (absent keys too)."""
    rng = random.Random(5)
    batched, eager = make_policy(name, 12), make_policy(name, 12)
    for step in range(300):
        key = f"k{rng.randrange(30)}"
        if rng.random() < 0.5:
            for p in (batched, eager):
                p.insert(key)
        else:
            batch = [f"k{rng.randrange(30)}" for _ in range(rng.randrange(1, 20))]
            batched._on_hits(batch)
            for k in batch:
                eager.lookup(k)
        if step % 50 == 49:
            assert set(batched.keys()) == set(eager.keys())
    assert _eviction_order(batched, 12) == _eviction_order(eager, 12)


def test_lru_batch_with_a_departed_key_replays_exactly() -> None:
    a, b = LRU(4), LRU(4)
    for p in (a, b):
        for k in "wxyz":
            p.insert(k)
    batch = ["x", "gone", "w", "x"]  # "gone" was deleted between its hit and the drain
    a._on_hits(batch)
    for k in batch:
        b.lookup(k)
    assert _eviction_order(a, 4) == _eviction_order(b, 4) == ["y", "z", "w", "x"]


def test_subclass_overriding_on_hit_gets_the_generic_batch() -> None:
    class CountingLRU(LRU):
        def __init__(self, capacity: int) -> None:
            super().__init__(capacity)
            self.hits: list[Hashable] = []

        def _on_hit(self, key: Hashable) -> None:
            self.hits.append(key)
            super()._on_hit(key)

    p = CountingLRU(3)
    p.insert("a")
    p._on_hits(["a", "b", "a"])  # "b" is not held
    assert p.hits == ["a", "a"]
    assert CountingLRU._on_hits is EvictionPolicy._on_hits and LRU._on_hits is not EvictionPolicy._on_hits
