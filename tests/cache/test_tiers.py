"""The tiers: L1 memory (policy, TTL, stats), L2 Redis and L3 SQL on both back-ends, the local double."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from supreme.cache.policies import LRU, make_policy
from supreme.cache.tiers.base import CacheTier, LocalTier, TierError, TierUnavailable, ValueTooLarge
from supreme.cache.tiers.memory import MISSING, READ_BUFFER, MemoryTier
from supreme.cache.tiers.redis_tier import RedisTier
from supreme.cache.tiers.sql_tier import SqlTier
from supreme.clock import ManualClock
from supreme.errors import SupremeError


# -- L1 -------------------------------------------------------------------------
def test_memory_get_set_delete(clock: ManualClock) -> None:
    l1 = MemoryTier(LRU(10), clock=clock)
    assert l1.get("a") is None and l1.get("a", MISSING) is MISSING
    assert l1.set("a", {"v": 1})
    assert l1.get("a") == {"v": 1}
    assert "a" in l1 and len(l1) == 1
    assert l1.delete("a") and not l1.delete("a")
    assert "a" not in l1 and len(l1.policy) == 0
    s = l1.stats()
    assert (s["hits"], s["misses"], s["sets"]) == (1, 2, 1)


def test_memory_ttl_runs_on_the_injected_clock(clock: ManualClock) -> None:
    l1 = MemoryTier(LRU(10), clock=clock)
    l1.set("k", "v", ttl=5.0)
    l1.set("forever", "v")
    clock.advance(4.999)
    assert l1.get("k") == "v"
    clock.advance(0.001)
    assert l1.get("k") is None  # expired exactly at expires_at
    assert "k" not in l1.policy and len(l1) == 1
    assert l1.stats()["expirations"] == 1
    clock.advance(1e6)
    assert l1.get("forever") == "v"


def test_memory_absolute_expiry_and_bad_ttl(clock: ManualClock) -> None:
    l1 = MemoryTier(LRU(10), clock=clock)
    l1.set("k", 1, expires_at=clock.now() + 1)
    assert l1.expires_at("k") == clock.now() + 1
    with pytest.raises(ValueError, match="ttl"):
        l1.set("k", 1, ttl=0)


def test_memory_eviction_follows_the_policy_exactly(clock: ManualClock) -> None:
    l1 = MemoryTier(LRU(3), clock=clock)
    ref = LRU(3)
    trace = ["a", "b", "c", "a", "d", "b", "e", "a", "c", "d", "a", "f"] * 3
    hits = 0
    for key in trace:
        expected_hit = ref.request(key)
        got = l1.get(key, MISSING)
        assert (got is not MISSING) == expected_hit, key
        if got is MISSING:
            l1.set(key, key.upper())
        else:
            hits += 1
            assert got == key.upper()
        assert set(l1.policy.keys()) == set(ref.keys()) == set(l1._data)
    s = l1.stats()
    assert s["hits"] == hits and s["misses"] == len(trace) - hits
    assert s["evictions"] == len(trace) - hits - 3


def test_memory_read_buffer_drains_and_counts_exactly(clock: ManualClock) -> None:
    l1 = MemoryTier(LRU(2), clock=clock)
    l1.set("a", 1)
    l1.set("b", 2)
    for _ in range(READ_BUFFER * 3 + 5):
        assert l1.get("a") == 1
    assert l1.hits == READ_BUFFER * 3 + 5
    l1.set("c", 3)  # "a" was used since "b": "b" goes
    assert "a" in l1 and "b" not in l1


def test_memory_low_priority_insert_is_the_next_victim(clock: ManualClock) -> None:
    l1 = MemoryTier(LRU(3), clock=clock)
    l1.set("a", 1)
    l1.set("b", 2)
    l1.set("prefetched", 0, low_priority=True)
    l1.set("c", 3)
    assert "prefetched" not in l1 and {"a", "b", "c"} <= set(l1._data)


def test_memory_byte_capacity(clock: ManualClock) -> None:
    l1 = MemoryTier(LRU(100), clock=clock, unit="bytes")
    l1.set("a", b"x" * 60)
    l1.set("b", b"y" * 30)
    l1.set("c", b"z" * 30)  # 120 > 100: "a" goes
    assert "a" not in l1 and l1.policy.used == 60
    l1.set("d", {"any": "object"}, nbytes=10)
    assert l1.policy.size_of("d") == 10
    with pytest.raises(ValueTooLarge, match="capacity") as info:
        l1.set("huge", b"h" * 101)
    assert isinstance(info.value, SupremeError) and isinstance(info.value, ValueError)


def test_memory_policy_by_name_and_validation(clock: ManualClock) -> None:
    l1 = MemoryTier("sieve", clock=clock, capacity=4)
    assert l1.policy.name == make_policy("sieve", 4).name
    for i in range(10):
        l1.set(f"k{i}", i)
    assert len(l1) == 4 == len(l1.policy)
    with pytest.raises(ValueError, match="capacity"):
        MemoryTier("lru", clock=clock)
    with pytest.raises(ValueError, match="unit"):
        MemoryTier(LRU(2), clock=clock, unit="pages")
    used = LRU(2)
    used.insert("x")
    with pytest.raises(ValueError, match="empty"):
        MemoryTier(used, clock=clock)


@pytest.mark.parametrize("policy", ["lru", "fifo", "lfu", "clock", "arc", "sieve", "s3fifo", "wtinylfu"])
def test_memory_data_and_policy_agree_under_every_policy(clock: ManualClock, policy: str) -> None:
    import random

    rng = random.Random(7)
    l1 = MemoryTier(policy, clock=clock, capacity=8)
    for _ in range(2000):
        key = f"k{int(rng.paretovariate(1.2)) % 40}"
        if l1.get(key, MISSING) is MISSING:
            l1.set(key, key)
        if rng.random() < 0.05:
            l1.delete(f"k{rng.randrange(40)}")
    l1.drain()
    assert set(l1._data) == set(l1.policy.keys())
    assert len(l1) <= 8
    assert l1.hits + l1.stats()["misses"] == 2000


def test_memory_resize_and_clear(clock: ManualClock) -> None:
    l1 = MemoryTier(LRU(5), clock=clock)
    for i in range(5):
        l1.set(str(i), i)
    assert l1.resize(2) == ["0", "1", "2"]
    assert set(l1._data) == {"3", "4"}
    l1.clear()
    assert len(l1) == 0 and len(l1.policy) == 0


# -- remote tiers: one contract, every back-end -------------------------------------
@pytest.fixture
def redis_tier(redis_client: Any, namespace: str) -> RedisTier:
    return RedisTier(redis_client, namespace=namespace, max_value_bytes=1000)


@pytest.fixture
def sql_tier(database_url: str, clock: ManualClock) -> Iterator[SqlTier]:
    tier = SqlTier(database_url, clock=clock, max_value_bytes=1000)
    yield tier
    tier.close()


def _check_get_set_delete(remote: CacheTier) -> None:
    assert remote.get("k") is None
    remote.set("k", b"\x00value\xff")
    assert remote.get("k") == b"\x00value\xff"
    assert remote.peek("k") == b"\x00value\xff" and remote.contains("k")
    remote.set("k", b"v2")  # upsert
    assert remote.get("k") == b"v2"
    assert remote.delete("k") is True
    assert remote.delete("k") is False
    assert remote.get("k") is None and not remote.contains("k")
    s = remote.stats()
    assert (s["hits"], s["misses"], s["sets"], s["deletes"]) == (2, 2, 2, 2)


def _check_bad_input(remote: CacheTier) -> None:
    with pytest.raises(ValueTooLarge, match=r"'big'.*1001 bytes"):
        remote.set("big", b"x" * 1001)
    assert remote.get("big") is None
    with pytest.raises(ValueError, match="ttl"):
        remote.set("k", b"v", ttl=0)
    with pytest.raises(TypeError, match="bytes"):
        remote.set("k", "text")  # type: ignore[arg-type]


def test_local_tier_contract(clock: ManualClock) -> None:
    _check_get_set_delete(LocalTier(clock, max_value_bytes=1000))
    _check_bad_input(LocalTier(clock, max_value_bytes=1000))


def test_redis_tier_contract(redis_tier: RedisTier) -> None:
    _check_get_set_delete(redis_tier)
    _check_bad_input(redis_tier)


def test_sql_tier_contract(sql_tier: SqlTier) -> None:
    _check_get_set_delete(sql_tier)
    _check_bad_input(sql_tier)


def test_redis_ttl_is_sent_as_px(redis_tier: RedisTier) -> None:
    redis_tier.set("t", b"v", ttl=2.5)
    ms = redis_tier.pttl("t")
    assert ms is not None and 0 < ms <= 2500
    redis_tier.set("t", b"v", ttl=0.0001)  # sub-millisecond rounds up, never to "no expiry"
    ms = redis_tier.pttl("t")
    assert ms is None or 0 <= ms <= 1  # may already be gone
    redis_tier.set("p", b"v")
    assert redis_tier.pttl("p") is None


def test_redis_keys_live_under_the_namespace(redis_client: Any, namespace: str) -> None:
    tier = RedisTier(redis_client, namespace=namespace)
    tier.set("k", b"v")
    assert redis_client.get(f"{namespace}k") == b"v"
    other = RedisTier(redis_client, namespace=namespace + "other:")
    assert other.get("k") is None


def test_sql_ttl_on_the_injected_clock(sql_tier: SqlTier, clock: ManualClock) -> None:
    sql_tier.set("t", b"v", ttl=10)
    sql_tier.set("p", b"v")
    clock.advance(9.5)
    assert sql_tier.get("t") == b"v"
    assert sql_tier.contains("t")
    clock.advance(0.5)
    assert not sql_tier.contains("t")  # peek sees expiry too
    assert sql_tier.get("t") is None
    rows = sql_tier.database().execute("SELECT key FROM cache_entries ORDER BY key")
    assert rows == [("p",)]  # the expired row was deleted on read
    clock.advance(1e6)
    assert sql_tier.get("p") == b"v"


def test_sql_purge_expired_and_hits_column(sql_tier: SqlTier, clock: ManualClock) -> None:
    for i in range(5):
        sql_tier.set(f"e{i}", b"v", ttl=1 + i)
    sql_tier.set("keep", b"v")
    clock.advance(3)
    assert sql_tier.purge_expired() == 3
    for _ in range(3):
        sql_tier.get("keep")
    sql_tier.peek("keep")
    assert sql_tier.hits_of("keep") == 3
    sql_tier.set("keep", b"v2")  # upsert keeps the hit count
    assert sql_tier.hits_of("keep") == 3 and sql_tier.hits_of("nope") is None


def test_sql_schema_and_index_are_created_on_first_use(database_url: str, clock: ManualClock) -> None:
    from supreme.db import Database

    db = Database.from_url(database_url)
    try:
        tier = SqlTier(db, clock=clock, table="other_cache")
        tier.set("k", b"v")
        if db.dialect == "sqlite":
            names = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
        else:
            names = {r[0] for r in db.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")}
            names |= {r[0] for r in db.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
        assert {"other_cache", "other_cache_expires_at"} <= names
        # a second tier on the same table finds the schema in place
        assert SqlTier(db, clock=clock, table="other_cache").get("k") == b"v"
    finally:
        db.close()
    with pytest.raises(ValueError, match="identifier"):
        SqlTier(database_url, clock=clock, table="x; DROP TABLE y")


def test_redis_unreachable_raises_tier_unavailable() -> None:
    tier = RedisTier.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        for call in (lambda: tier.get("k"), lambda: tier.set("k", b"v"), lambda: tier.delete("k")):
            with pytest.raises(TierUnavailable) as info:
                call()
            assert isinstance(info.value, ConnectionError) and isinstance(info.value, TierError)
        assert tier.stats()["errors"] == 3
    finally:
        tier.close()


def test_redis_from_url_uses_a_bounded_blocking_pool() -> None:
    import redis

    tier = RedisTier.from_url("redis://127.0.0.1:6379/0", max_connections=3, pool_timeout=0.25,
                              health_check_interval=5)
    pool = tier.client.connection_pool
    assert isinstance(pool, redis.BlockingConnectionPool)
    assert pool.max_connections == 3 and pool.timeout == 0.25
    assert pool.connection_kwargs["health_check_interval"] == 5
    tier.close()
    assert RedisTier.from_url(None).get("k") is None  # fakeredis in process


@pytest.mark.slow
def test_sql_unreachable_raises_tier_unavailable(clock: ManualClock) -> None:
    tier = SqlTier("postgresql://postgres@127.0.0.1:1/test", clock=clock, db_options={"timeout": 1.0})
    with pytest.raises(TierUnavailable, match="L3"):
        tier.get("k")
    with pytest.raises(TierUnavailable):
        tier.set("k", b"v")


def test_local_double_switch(clock: ManualClock) -> None:
    tier = LocalTier(clock)
    tier.set("k", b"v", ttl=1)
    tier.available = False
    with pytest.raises(TierUnavailable):
        tier.get("k")
    tier.available = True
    clock.advance(1)
    assert tier.get("k") is None


@pytest.mark.parametrize("policy", ["lru", "fifo", "clock", "sieve", "lfu", "arc", "s3fifo"])
def test_buffered_hits_give_exactly_the_eager_policy(clock: ManualClock, policy: str) -> None:
    """Differential: L1 with its read buffer (and batch collapsing) vs the bare policy, hit for hit."""
    import random

    rng = random.Random(11)
    l1 = MemoryTier(policy, clock=clock, capacity=16)
    ref = make_policy(policy, 16)
    for _ in range(5000):
        key = f"k{int(rng.paretovariate(1.1)) % 60}"
        expected = ref.request(key)
        hit = l1.get(key, MISSING) is not MISSING
        assert hit == expected, key
        if not hit:
            l1.set(key, key)
    l1.drain()
    assert set(l1.policy.keys()) == set(ref.keys())


# -- batches: one round trip, all entries or none ----------------------------------
def _check_set_many(remote: CacheTier) -> None:
    remote.set_many([("a", b"1", None), ("b", b"\x00two", 30.0), ("a", b"3", None)])
    assert remote.get("a") == b"3" and remote.get("b") == b"\x00two"  # a later item for a key wins
    assert remote.stats()["sets"] == 3
    remote.set_many([])  # nothing to do, no round trip
    with pytest.raises(ValueTooLarge, match="'big'"):
        remote.set_many([("c", b"ok", None), ("big", b"x" * 1001, None)])
    assert remote.get("c") is None  # checked before anything was written
    with pytest.raises(TypeError, match="bytes"):
        remote.set_many([("d", "text", None)])  # type: ignore[list-item]


def test_local_tier_set_many(clock: ManualClock) -> None:
    tier = LocalTier(clock, max_value_bytes=1000)
    _check_set_many(tier)
    tier.available = False
    with pytest.raises(TierUnavailable):
        tier.set_many([("e", b"1", None)])
    assert tier.stats()["errors"] == 1


def test_redis_tier_set_many(redis_tier: RedisTier) -> None:
    _check_set_many(redis_tier)
    redis_tier.set_many([("t", b"v", 2.5)])
    assert 2000 < redis_tier.pttl("t") <= 2500  # type: ignore[operator]


def test_sql_tier_set_many(sql_tier: SqlTier, clock: ManualClock) -> None:
    _check_set_many(sql_tier)
    sql_tier.set_many([("t", b"v", 5.0)])
    clock.advance(5.0)
    assert sql_tier.get("t") is None  # the TTL of a batch runs on the injected clock


def test_redis_set_many_on_a_dead_server_raises_tier_unavailable() -> None:
    tier = RedisTier.from_url("redis://127.0.0.1:1/0", socket_timeout=0.2, socket_connect_timeout=0.2)
    with pytest.raises(TierUnavailable, match="L2 SET"):
        tier.set_many([("k", b"v", None)])
    tier.close()
