"""CacheManager: the seed's promotion paths on every back-end pair, single flight, degraded operation."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

import supreme.cache as cache_pkg
from supreme.cache import (
    CacheError,
    CacheManager,
    CodecError,
    LocalTier,
    MemoryTier,
    RedisTier,
    SqlTier,
    ValueTooLarge,
    WriteBackOverflow,
)
from supreme.cache.codec import encode_entry
from supreme.cache.policies import LRU
from supreme.clock import ManualClock
from supreme.events import EventLog
from supreme.resilience import CallNotPermitted, CircuitBreaker

L1, L2, L3 = "Memory_Cache_L1", "Redis_Cache_L2", "PostgreSQL_L3"
SRC, MGR = "External_Source", "Cache_Manager"


def steps(log: EventLog) -> list[tuple[str, str, str]]:
    frame = log.to_frame()
    return list(zip(frame["component"], frame["operation"], frame["outcome"], strict=True))


@pytest.fixture
def tiers(redis_client: Any, namespace: str, database_url: str,
          clock: ManualClock) -> Iterator[tuple[Any, Any]]:
    """(L2, L3) on every back-end pair: fakeredis/real Redis by SQLite/real PostgreSQL."""
    l3 = SqlTier(database_url, clock=clock)
    yield RedisTier(redis_client, namespace=namespace), l3
    l3.close()


@pytest.fixture
def manager(tiers: tuple[Any, Any], clock: ManualClock, event_log: EventLog) -> CacheManager:
    l2, l3 = tiers
    return CacheManager(MemoryTier(LRU(100), clock=clock), l2, l3, clock=clock, event_log=event_log)


# -- the seed diagram, on every back-end pair ---------------------------------------------
def test_full_miss_fetches_and_stores_in_l3_l2_l1(manager: CacheManager, event_log: EventLog) -> None:
    calls = []
    value = manager.get("market_data_BTC", lambda: calls.append(1) or {"price": 1.5}, request_id="r1")
    assert value == {"price": 1.5} and calls == [1]
    assert steps(event_log) == [
        (L1, "get", "miss"), (L2, "get", "miss"), (L3, "get", "miss"), (SRC, "fetch", "ok"),
        (L3, "set", "ok"), (L2, "set", "ok"), (L1, "set", "ok"), (MGR, "get", "miss"),
    ]
    frame = event_log.to_frame()
    assert set(frame["flow"]) == {"cache_hierarchy"} and set(frame["request_id"]) == {"r1"}
    assert frame["tier"].tolist() == ["L1", "L2", "L3", "source", "L3", "L2", "L1", "source"]
    l2, l3 = manager.tiers[1:]
    assert l2.peek("market_data_BTC") is not None and l3.peek("market_data_BTC") is not None


def test_l1_hit(manager: CacheManager, event_log: EventLog) -> None:
    manager.set("k", [1, 2])
    event_log.clear()
    assert manager.get("k") == [1, 2]
    assert steps(event_log) == [(L1, "get", "hit"), (MGR, "get", "hit")]


def test_l2_hit_promotes_to_l1(manager: CacheManager, event_log: EventLog) -> None:
    manager.set("k", {"a": 1})
    manager.l1.clear()
    event_log.clear()
    assert manager.get("k") == {"a": 1}
    assert steps(event_log) == [
        (L1, "get", "miss"), (L2, "get", "hit"), (L1, "promote", "ok"), (MGR, "get", "hit"),
    ]
    event_log.clear()
    assert manager.get("k") == {"a": 1}
    assert steps(event_log)[0] == (L1, "get", "hit")


def test_l3_hit_promotes_to_l2_then_l1(manager: CacheManager, event_log: EventLog) -> None:
    manager.set("k", "v")
    manager.l1.clear()
    manager.tiers[1].delete("k")
    event_log.clear()
    assert manager.get("k") == "v"
    assert steps(event_log) == [
        (L1, "get", "miss"), (L2, "get", "miss"), (L3, "get", "hit"),
        (L2, "promote", "ok"), (L1, "promote", "ok"), (MGR, "get", "hit"),
    ]
    assert manager.tiers[1].peek("k") is not None
    stats = manager.stats()
    assert stats.loc["L3", "hits"] == 1 and stats.loc["L2", "misses"] == 1


def test_full_miss_without_loader_returns_none(manager: CacheManager, event_log: EventLog) -> None:
    assert manager.get("absent") is None
    assert steps(event_log)[-1] == (MGR, "get", "miss")
    assert not manager.contains("absent")


def test_promoted_values_keep_their_expiry(manager: CacheManager, clock: ManualClock) -> None:
    manager.set("k", 1, ttl=10)
    clock.advance(4)
    manager.l1.clear()
    manager.tiers[1].delete("k")
    assert manager.get("k") == 1  # from L3
    assert manager.l1.expires_at("k") == pytest.approx(clock.now() + 6)
    clock.advance(6)
    assert manager.get("k") is None
    assert not manager.contains("k")


def test_default_ttl_applies_to_fills(tiers: tuple[Any, Any], clock: ManualClock) -> None:
    m = CacheManager(LRU(10), *tiers, clock=clock, default_ttl=5, source=lambda k: k.upper())
    assert m.get("abc") == "ABC"
    assert m.l1.expires_at("abc") == clock.now() + 5
    clock.advance(5)
    assert m.get("abc", lambda: "fresh") == "fresh"


def test_flow_is_overridable_per_call(manager: CacheManager, event_log: EventLog) -> None:
    manager.set("signal:BTC", {"side": "buy"}, flow="trading_signal")
    manager.get("signal:BTC", flow="trading_signal")
    assert set(event_log.to_frame()["flow"]) == {"trading_signal"}
    with pytest.raises(CacheError, match="flow"):
        CacheManager(LRU(1), clock=ManualClock(), flow="nope")


def test_stats_frame(manager: CacheManager) -> None:
    manager.get("a", lambda: 1)
    manager.get("a")
    manager.get("b")
    frame = manager.stats()
    assert list(frame.index) == ["L1", "L2", "L3", "source"]
    assert frame.loc["L1", "hits"] == 1 and frame.loc["L1", "misses"] == 2
    assert frame.loc["source", "hits"] == 1
    assert frame.loc["L1", "hit_ratio"] == pytest.approx(1 / 3)


def test_contains_changes_no_stats(manager: CacheManager) -> None:
    manager.set("k", 1)
    manager.l1.clear()
    before = manager.stats()
    assert manager.contains("k") and not manager.contains("other")
    after = manager.stats()
    assert before[["hits", "misses"]].equals(after[["hits", "misses"]])
    assert "k" not in manager.l1


def test_delete_removes_from_every_tier(manager: CacheManager) -> None:
    manager.set("k", 1)
    assert manager.delete("k") is True
    assert manager.get("k") is None and all(t.peek("k") is None for t in manager.tiers[1:])
    assert manager.delete("k") is False


# -- bad input ---------------------------------------------------------------------
def test_bad_input_is_refused_before_anything_is_written(clock: ManualClock) -> None:
    l2 = LocalTier(clock)
    m = CacheManager(LRU(10), l2, clock=clock)
    with pytest.raises(CacheError, match="None"):
        m.set("k", None)
    with pytest.raises(CacheError, match="ttl"):
        m.set("k", 1, ttl=-1)
    with pytest.raises(CacheError, match="str"):
        m.set(42, 1)  # type: ignore[arg-type]
    with pytest.raises(CodecError):
        m.set("k", object())
    assert l2.get("k") is None and "k" not in m.l1
    # an uncacheable fresh value is still returned to the caller
    sentinel = object()
    assert m.get("obj", lambda: sentinel) is sentinel
    assert m.stats().loc["source", "rejected"] == 1


def test_loader_returning_none_is_not_cached(manager: CacheManager) -> None:
    assert manager.get("k", lambda: None) is None
    assert manager.get("k", lambda: 7) == 7


def test_loader_error_propagates(manager: CacheManager, event_log: EventLog) -> None:
    def boom() -> Any:
        raise RuntimeError("exchange down")

    with pytest.raises(RuntimeError, match="exchange down"):
        manager.get("k", boom)
    assert (SRC, "fetch", "error") in steps(event_log)
    assert manager.get("k", lambda: 1) == 1  # the key is not stuck


def test_corrupt_l2_entry_falls_through_and_is_deleted(manager: CacheManager, event_log: EventLog) -> None:
    manager.set("k", "good")
    manager.l1.clear()
    l2 = manager.tiers[1]
    l2.set("k", b"\x00" * 8 + b"Zgarbage")
    assert manager.get("k") == "good"  # from L3
    assert (L2, "get", "error") in steps(event_log)
    assert manager.stats().loc["L2", "corrupt"] == 1


def test_value_too_large_skips_the_tier_and_drops_its_old_value(clock: ManualClock,
                                                                 event_log: EventLog) -> None:
    l2, l3 = LocalTier(clock, max_value_bytes=64), LocalTier(clock, name="L3")
    m = CacheManager(LRU(10), l2, l3, clock=clock, event_log=event_log)
    m.set("k", "small")
    m.set("k", "x" * 200)
    assert l2.get("k") is None  # the stale small value is gone
    assert (L2, "set", "rejected") in steps(event_log)
    m.l1.clear()
    assert m.get("k") == "x" * 200  # from L3 (promotion to L2 rejected again)
    tiny = CacheManager(MemoryTier(LRU(10), clock=clock, unit="bytes"), LocalTier(clock, max_value_bytes=8),
                        clock=clock)
    with pytest.raises(ValueTooLarge, match="every cache tier"):
        tiny.set("k", "y" * 100)


# -- single flight -----------------------------------------------------------------
def _wait_for_waiters(m: CacheManager, key: str, n: int) -> None:
    """Block until ``n`` callers wait behind the leader of ``key`` (polling, bounded to ~10 s)."""
    tick = threading.Event()
    for _ in range(10_000):
        call = m._flight._calls.get(key)
        if call is not None and call.waiters >= n:
            return
        tick.wait(0.001)
    raise AssertionError(f"{n} waiters never queued on {key!r}")


def test_concurrent_misses_fetch_once(manager: CacheManager) -> None:
    release = threading.Event()
    started = threading.Event()
    calls: list[int] = []

    def slow_loader() -> dict[str, int]:
        calls.append(1)
        started.set()
        release.wait(10)
        return {"v": 42}

    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(manager.get("hot", slow_loader)))
               for _ in range(16)]
    for t in threads:
        t.start()
    assert started.wait(10)
    _wait_for_waiters(manager, "hot", 15)
    release.set()
    for t in threads:
        t.join(10)
    assert calls == [1]
    assert results == [{"v": 42}] * 16


def test_single_flight_error_reaches_every_waiter(clock: ManualClock) -> None:
    m = CacheManager(LRU(10), LocalTier(clock), clock=clock)
    release = threading.Event()
    calls: list[int] = []

    def failing() -> Any:
        calls.append(1)
        release.wait(10)
        raise ValueError("bad data")

    errors: list[BaseException] = []

    def worker() -> None:
        try:
            m.get("k", failing)
        except ValueError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    _wait_for_waiters(m, "k", 7)
    release.set()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    assert len(errors) == 8 and calls == [1]
    assert m._flight.in_flight() == 0
    assert m.get("k", lambda: "ok") == "ok"


def test_waiter_with_loader_retries_after_a_loaderless_leader(clock: ManualClock) -> None:
    m = CacheManager(LRU(10), clock=clock)
    assert m.get("k") is None
    assert m.get("k", lambda: 5) == 5


# -- degraded operation ----------------------------------------------------------------
def test_redis_down_get_still_answers_and_set_is_journaled(
    real_redis: Any, namespace: str, database_url: str, clock: ManualClock, event_log: EventLog
) -> None:
    l2 = RedisTier.from_url("redis://127.0.0.1:1/0", namespace=namespace, socket_connect_timeout=0.2)
    l3 = SqlTier(database_url, clock=clock)
    m = CacheManager(MemoryTier(LRU(100), clock=clock), l2, l3, clock=clock, event_log=event_log)
    try:
        assert m.get("a", lambda: "from source") == "from source"
        assert (L2, "get", "error") in steps(event_log) and (L2, "set", "journaled") in steps(event_log)
        m.set("b", {"x": 1})
        m.delete("a")
        assert m.pending() == {"L2": 2, "L3": 0}
        m.l1.clear()
        assert m.get("b") == {"x": 1}  # read after a failed write sees the written value
        assert m.get("a") is None  # the pending delete is honoured
        assert m.flush_pending() == 0  # still down: nothing replayed, nothing lost
        assert m.pending()["L2"] == 2
        # Redis comes back: the next successful operation replays the journal in order
        l2.client = real_redis
        real_redis.set(f"{namespace}a", encode_entry("stale", None))
        assert m.get("c") is None
        assert m.pending()["L2"] == 0
        assert real_redis.get(f"{namespace}a") is None
        assert real_redis.get(f"{namespace}b") == encode_entry({"x": 1}, None)
        frame = m.stats()
        assert frame.loc["L2", "errors"] >= 3 and frame.loc["L2", "flushed"] == 2
        assert (L2, "flush", "ok") in steps(event_log)
    finally:
        l3.close()


@pytest.mark.slow
def test_postgres_down_get_answers_from_redis_and_source(redis_client: Any, namespace: str,
                                                         clock: ManualClock) -> None:
    l3 = SqlTier("postgresql://postgres@127.0.0.1:1/test", clock=clock, db_options={"timeout": 1.0})
    m = CacheManager(LRU(100), RedisTier(redis_client, namespace=namespace), l3, clock=clock)
    assert m.get("k", lambda: 1) == 1
    m.l1.clear()
    assert m.get("k") == 1  # from L2
    assert m.pending() == {"L2": 0, "L3": 1}


def test_pending_expired_set_replays_as_delete(clock: ManualClock) -> None:
    l2 = LocalTier(clock)
    m = CacheManager(LRU(10), l2, clock=clock)
    l2.set("k", encode_entry("old", None))
    l2.available = False
    m.set("k", "new", ttl=5)
    clock.advance(10)
    l2.available = True
    assert m.flush_pending() == 1
    assert l2.get("k") is None


def test_writes_queue_behind_pending_ones_in_order(clock: ManualClock) -> None:
    l2 = LocalTier(clock)
    m = CacheManager(LRU(10), l2, clock=clock)
    l2.available = False
    m.set("k", 1)
    m.set("j", 1)
    m.set("k", 2)  # latest value per key wins
    assert list(m._remotes[0].journal) == ["j", "k"]
    l2.available = True
    m.set("k", 3)  # queues behind the journal, then the journal flushes
    assert m.pending() == {"L2": 0}
    m.l1.clear()
    assert m.get("k") == 3


def test_journal_overflow_raises_clearly(clock: ManualClock, event_log: EventLog) -> None:
    l2 = LocalTier(clock)
    m = CacheManager(LRU(10), l2, clock=clock, journal_limit=2, event_log=event_log)
    l2.available = False
    m.set("a", 1)
    m.set("b", 2)
    m.set("a", 3)  # replacing a pending key does not grow the journal
    with pytest.raises(WriteBackOverflow, match=r"L2 pending-write journal is full.*'c'"):
        m.set("c", 4)
    assert m.get("c") == 4  # the other tiers were written
    frame = event_log.to_frame()
    assert frame["detail"].str.contains("WriteBackOverflow").any()
    # a fill from the source that overflows is recorded, not raised
    assert m.get("d", lambda: 5) == 5


def test_guard_wraps_remote_calls_and_its_errors_mean_unavailable(clock: ManualClock) -> None:
    class Open(Exception):
        pass

    calls: list[str] = []
    state = {"open": False}

    def guard(fn: Any, *args: Any) -> Any:
        calls.append(fn.__name__)
        if state["open"]:
            raise Open("breaker open")
        return fn(*args)

    l2 = LocalTier(clock)
    m = CacheManager(LRU(10), l2, clock=clock, guards={"L2": guard}, unavailable_errors=(Open,))
    m.set("k", 1)
    assert calls == ["set"]
    state["open"] = True
    m.set("k", 2)
    assert m.pending() == {"L2": 1}
    m.l1.clear()
    assert m.get("k") == 2
    state["open"] = False
    assert m.flush_pending("L2") == 1
    with pytest.raises(CacheError, match="unknown tiers"):
        CacheManager(LRU(1), clock=clock, guards={"L9": guard})


def test_breaker_from_resilience_plugs_in_as_guard(clock: ManualClock) -> None:
    breaker = CircuitBreaker("l2", clock=clock)
    l2 = LocalTier(clock)
    m = CacheManager(LRU(10), l2, clock=clock, guards={"L2": breaker.call},
                     unavailable_errors=(CallNotPermitted,))
    l2.available = False
    for i in range(200):
        m.set(f"k{i % 5}", i)
    assert m.get("k4") == 199
    assert m.pending()["L2"] == 5


# -- adaptive contract --------------------------------------------------------------
class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, bool, str | None, float]] = []

    def on_access(self, key: str, hit: bool, tier: str | None, now: float) -> None:
        self.calls.append((key, hit, tier, now))


def test_adaptive_sees_every_get(tiers: tuple[Any, Any], clock: ManualClock) -> None:
    rec = Recorder()
    m = CacheManager(LRU(10), *tiers, clock=clock, adaptive=rec)
    m.get("a", lambda: 1)
    m.get("a")
    m.l1.clear()
    m.get("a")
    m.get("zzz")
    assert rec.calls == [("a", False, None, 1000.0), ("a", True, "L1", 1000.0), ("a", True, "L2", 1000.0),
                         ("zzz", False, None, 1000.0)]


def test_adaptive_errors_never_reach_the_caller(clock: ManualClock, event_log: EventLog) -> None:
    class Broken:
        def on_access(self, key: str, hit: bool, tier: str | None, now: float) -> None:
            raise RuntimeError("learning bug")

    m = CacheManager(LRU(10), clock=clock, adaptive=Broken(), event_log=event_log)
    m.set("k", 1)
    assert m.get("k") == 1
    event_log.enabled = False
    assert m.get("k") == 1
    assert m.stats().loc["source", "adapt_errors"] == 2


def test_low_priority_set_passes_to_l1_policy(clock: ManualClock) -> None:
    m = CacheManager(LRU(2), clock=clock)
    m.set("a", 1)
    m.set("p", 0, low_priority=True)
    m.set("b", 2)
    assert m.get("p") is None and m.get("a") == 1


def test_public_api_is_locked() -> None:
    assert sorted(cache_pkg.__all__) == sorted([
        "MISSING", "CacheError", "CacheManager", "CacheTier", "CodecError", "EvictionPolicy", "LocalTier",
        "MemoryTier", "PolicyError", "RedisTier", "SingleFlight", "SqlTier", "TierError", "TierUnavailable",
        "ValueTooLarge", "WriteBackOverflow", "decode", "decode_entry", "encode", "encode_entry",
    ])
    for name in cache_pkg.__all__:
        assert hasattr(cache_pkg, name)
