"""CacheManager as the adapter's AdaptationTarget: policy switch, budget split, events, wiring."""

from __future__ import annotations

import functools
import json
import random
import threading
from collections.abc import Hashable
from typing import Any

import pytest

from supreme.adaptive import AdapterSettings, AdaptiveLayer, CacheAdapter, SimCache
from supreme.adaptive import workloads as wl
from supreme.cache import CacheManager, MemoryTier, PolicyError
from supreme.cache.policies import LRU, POLICIES, make_policy
from supreme.cache.policies import registry as policy_registry
from supreme.cache.protocols import AdaptationTarget, SwitchResult
from supreme.clock import ManualClock
from supreme.events import EventLog

LIVE = [n for n in POLICIES if n != "opt"]  # opt needs the future; it is a bound, not a live policy


def value_of(key: str) -> str:
    return f"v:{key}"


def filled(clock: ManualClock, policy: str, capacity: int, n_keys: int, accesses: int, seed: int = 3,
           event_log: EventLog | None = None, **kw: Any) -> CacheManager:
    """A manager whose L1 has seen a skewed stream (misses load ``v:<key>``)."""
    m = CacheManager(MemoryTier(policy, clock=clock, capacity=capacity), clock=clock,
                     event_log=event_log or EventLog(enabled=False), **kw)
    rng = random.Random(seed)
    for _ in range(accesses):
        key = f"k{int(rng.paretovariate(1.1)) % n_keys}"
        m.get(key, functools.partial(value_of, key))
    return m


def residents(m: CacheManager) -> dict[Hashable, Any]:
    return {k: m.l1.peek(k) for k in list(m.l1._data)}


def adaptation_rows(log: EventLog) -> list[dict[str, Any]]:
    frame = log.to_frame()
    rows = frame[(frame.component == "Cache_Manager") & (frame.operation == "apply_adaptation")]
    assert set(rows.flow) <= {"learning_cycle"}
    return [{**{str(k): v for k, v in r.items()}, "detail": json.loads(r["detail"])}
            for r in rows.to_dict("records")]


# -- policy switch ---------------------------------------------------------------------
@pytest.mark.parametrize("old", ["lru", "lfu", "s3fifo", "wtinylfu"])
@pytest.mark.parametrize("new", LIVE)
def test_switch_keeps_every_resident_readable(clock: ManualClock, old: str, new: str) -> None:
    m = filled(clock, old, 40, 120, 1500)
    before = residents(m)
    evictions = m.l1.evictions
    assert len(before) == 40
    result = m.switch_policy(new)
    assert isinstance(result, SwitchResult)
    assert result == SwitchResult(True, 40, 0)
    assert m.policy_name == new and m.l1.policy.name == new and m.budget == 40
    assert set(m.l1.policy.keys()) == set(before)
    for key, value in before.items():  # readable through the manager's hit path, value intact
        assert m.get(str(key)) == value
    assert m.l1.evictions == evictions


@pytest.mark.parametrize("old", ["lru", "lfu", "fifo"])
def test_migration_follows_the_old_eviction_order(clock: ManualClock, old: str) -> None:
    m = filled(clock, old, 30, 90, 1000)
    ref = make_policy(old, 30)  # the same stream, the bare policy: its victims in order
    rng = random.Random(3)
    for _ in range(1000):
        ref.request(f"k{int(rng.paretovariate(1.1)) % 90}")
    expected_order = ref.resize(1) + list(ref.keys())  # everything the policy would evict, in order
    m.switch_policy("fifo")
    # a FIFO evicts in insertion order: the migration inserted the old policy's victims first
    fifo = m.l1.policy
    assert fifo.resize(1) + list(fifo.keys()) == expected_order


def test_shrinking_switch_evicts_exactly_as_many_as_forced(clock: ManualClock, event_log: EventLog) -> None:
    m = filled(clock, "lru", 40, 120, 1500)
    m._log = event_log  # record only the adaptation
    before = residents(m)
    ref = LRU(40)
    rng = random.Random(3)
    for _ in range(1500):
        ref.request(f"k{int(rng.paretovariate(1.1)) % 120}")
    forced = ref.resize(25)  # the 15 least recently used
    result = m.switch_policy("s3fifo", capacity=25)
    assert result == SwitchResult(True, 25, 0)
    assert len(m.l1) == 25 and set(m.l1.policy.keys()) == set(before) - set(forced)
    assert all(m.l1.peek(k) == before[k] for k in set(m.l1.policy.keys()))
    (row,) = adaptation_rows(event_log)
    d = row["detail"]
    assert row["outcome"] == "ok" and d["evicted"] == 15 and d["migrated"] == 25 and d["lost"] == 0
    assert d["before"]["policy"] == "lru" and d["after"]["policy"] == "s3fifo"
    assert d["before"]["entries"] == 40 and d["after"]["entries"] == 25
    assert d["after"]["demand_capacity"] == 25 and d["before"]["migration_order"] == "eviction"


def test_switch_in_byte_units_keeps_sizes(clock: ManualClock) -> None:
    l1 = MemoryTier("lru", clock=clock, capacity=100, unit="bytes")
    m = CacheManager(l1, clock=clock)
    for i in range(10):
        l1.set(f"k{i}", i, nbytes=10)
    m.get("k0")  # k0 becomes most recent
    assert m.switch_policy("lfu").switched
    assert l1.policy.used == 100 and all(l1.policy.size_of(f"k{i}") == 10 for i in range(10))
    result = m.switch_policy("lru", capacity=35)  # 3 entries of 10 bytes fit
    assert result == SwitchResult(True, 3, 0)
    assert "k0" in l1 and len(l1) == 3


def test_switch_aborts_rather_than_lose(clock: ManualClock, event_log: EventLog,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    class Refusing(LRU):
        name = "refusing"

        def _admit(self, key: Hashable, size: int) -> bool:
            return key != "k3"

    monkeypatch.setitem(policy_registry.POLICIES, "refusing", Refusing)
    m = CacheManager(LRU(10), clock=clock, event_log=event_log)
    for i in range(8):
        m.set(f"k{i}", i)
    result = m.switch_policy("refusing")
    assert result == SwitchResult(False, 7, 1)
    assert m.policy_name == "lru" and isinstance(m.l1.policy, LRU)
    assert all(m.get(f"k{i}") == i for i in range(8))
    (row,) = adaptation_rows(event_log)
    assert row["outcome"] == "rejected" and row["detail"]["lost"] == 1
    assert row["detail"]["after"]["policy"] == "lru"


def test_unknown_policy_is_refused_before_anything_changes(clock: ManualClock) -> None:
    m = filled(clock, "lru", 20, 50, 300)
    before = residents(m)
    with pytest.raises(PolicyError, match="nosuch"):
        m.switch_policy("nosuch")
    assert m.policy_name == "lru" and residents(m) == before


def test_switch_is_safe_under_concurrent_reads_and_writes(clock: ManualClock) -> None:
    m = CacheManager(MemoryTier("lru", clock=clock, capacity=64), clock=clock)
    errors: list[BaseException] = []
    stop = threading.Event()

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            while not stop.is_set():
                key = f"k{int(rng.paretovariate(1.0)) % 200}"
                assert m.get(key, functools.partial(value_of, key)) == value_of(key)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(3)]
    for t in threads:
        t.start()
    try:
        for i in range(60):
            assert m.switch_policy(LIVE[i % len(LIVE)]).switched
            if i % 7 == 0:
                m.set_prefetch_budget(i % 16)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors
    l1 = m.l1
    l1.drain()
    assert set(l1._data) == set(l1.policy.keys()) | set(l1.prefetched)
    assert all(l1.peek(k) == f"v:{k}" for k in l1._data)
    assert l1.policy.used + l1.prefetch_used <= l1.budget


# -- budget split: demand area + prefetch area ---------------------------------------------
def test_prefetch_budget_shrinks_the_demand_area_exactly(clock: ManualClock, event_log: EventLog) -> None:
    m = CacheManager(LRU(20), clock=clock, event_log=event_log)
    for i in range(20):
        m.set(f"k{i}", i)
    event_log.clear()
    m.set_prefetch_budget(6)
    assert m.budget == 20 and m.l1.policy.capacity == 14 and m.l1.prefetch_capacity == 6
    assert sorted(map(str, m.l1._data)) == sorted(f"k{i}" for i in range(6, 20))  # the 6 LRU ones went
    (row,) = adaptation_rows(event_log)
    assert row["detail"]["evicted"] == 6 and row["detail"]["before"]["prefetch_capacity"] == 0
    assert row["detail"]["after"]["prefetch_capacity"] == 6 and row["tier"] == "L1"
    m.set_prefetch_budget(10**6)  # clamped: the demand area keeps one slot
    assert m.l1.policy.capacity == 1 and m.l1.prefetch_capacity == 19
    m.set_prefetch_budget(-5)
    assert m.l1.policy.capacity == 20 and m.l1.prefetch_capacity == 0


def test_prefetched_entries_live_in_their_own_fifo_area(clock: ManualClock) -> None:
    m = CacheManager(LRU(10), clock=clock)
    m.set_prefetch_budget(3)
    for i in range(7):
        m.set(f"d{i}", i)
    for i in range(5):  # only the 3 newest prefetches stay; demand entries are untouched
        m.set(f"p{i}", i, low_priority=True)
    assert set(m.l1.prefetched) == {"p2", "p3", "p4"}
    assert all(m.contains(f"d{i}") for i in range(7))
    assert m.get("p3") == 3  # a used prefetch moves into the demand area (at the next drain)
    m.l1.drain()
    assert "p3" in m.l1.policy and "p3" not in m.l1.prefetched and "d0" not in m.l1  # it evicted the LRU
    for i in range(5, 9):
        m.set(f"p{i}", i, low_priority=True)
    assert m.get("p3") == 3 and "p2" not in m.l1
    m.delete("p8")
    assert "p8" not in m.l1.prefetched and m.l1.prefetch_used == len(m.l1.prefetched)


def test_expired_prefetch_leaves_the_prefetch_area(clock: ManualClock) -> None:
    m = CacheManager(LRU(10), clock=clock)
    m.set_prefetch_budget(2)
    m.set("p", 1, ttl=5, low_priority=True)
    clock.advance(6)
    assert m.get("p") is None
    assert not m.l1.prefetched and m.l1.prefetch_used == 0 and m.l1.expirations == 1


@pytest.mark.parametrize("policy", ["lru", "s3fifo", "wtinylfu", "arc"])
def test_prefetch_area_behaves_like_the_simulated_cache(clock: ManualClock, policy: str) -> None:
    """Differential: the manager's L1 (read buffer, prefetch area) vs SimCache, hit for hit."""
    sim = SimCache(40, policy)
    sim.set_prefetch_budget(8)  # the same path as the manager's (a resized policy, not a fresh one)
    m = CacheManager(MemoryTier(policy, clock=clock, capacity=40), clock=clock)
    m.set_prefetch_budget(8)
    rng = random.Random(7)
    for _ in range(6000):
        key = f"k{int(rng.paretovariate(1.2)) % 150}"
        expected = sim.access(key)
        got = m.get(key)
        assert (got is not None) == expected, key
        if got is None:
            m.set(key, key)
        if rng.random() < 0.3:  # a prefetch of a likely successor, as the engine issues it
            nxt = f"k{int(rng.paretovariate(1.2)) % 150}"
            if not m.contains(nxt):
                assert not sim.contains(nxt)
                sim.set(nxt, 1)
                m.set(nxt, nxt, low_priority=True)
    m.l1.drain()
    assert set(m.l1.policy.keys()) == set(sim.policy.keys())
    assert list(m.l1.prefetched) == list(sim.prefetched)


def test_resize_moves_the_demand_area_and_keeps_the_prefetch_area(clock: ManualClock,
                                                                  event_log: EventLog) -> None:
    m = CacheManager(LRU(20), clock=clock, event_log=event_log)
    m.set_prefetch_budget(4)
    for i in range(16):
        m.set(f"k{i}", i)
    evicted = m.resize(12)
    assert evicted == [f"k{i}" for i in range(8)]
    assert m.budget == 12 and m.l1.prefetch_capacity == 4 and m.l1.policy.capacity == 8
    assert [r["detail"]["adaptation"] for r in adaptation_rows(event_log)] == [
        "set_prefetch_budget", "resize"]
    assert m.l1.stats()["capacity"] == 12 and m.l1.stats()["demand_capacity"] == 8


def test_static_manager_is_still_exactly_the_policy(clock: ManualClock) -> None:
    """adaptive=None (and no adaptation applied): every get hits exactly when the bare policy does."""
    for name in LIVE:
        m = CacheManager(MemoryTier(name, clock=clock, capacity=25), clock=clock)
        ref = make_policy(name, 25)
        rng = random.Random(5)
        for _ in range(3000):
            key = f"k{int(rng.paretovariate(1.1)) % 80}"
            assert (m.get(key) is not None) == ref.request(key), (name, key)
            if not m.contains(key):
                m.set(key, 1)
        assert m.l1.prefetch_capacity == 0 and not m.l1.prefetched


# -- wiring -------------------------------------------------------------------------------
def test_manager_is_an_adaptation_target(clock: ManualClock) -> None:
    assert isinstance(CacheManager(LRU(4), clock=clock), AdaptationTarget)


def test_manager_offers_itself_to_the_layers_adapter(clock: ManualClock, event_log: EventLog) -> None:
    adapter = CacheAdapter(None, capacity=50, current_policy="lru", event_log=event_log)
    layer = AdaptiveLayer(adapter=adapter, clock=clock, event_log=event_log)
    m = CacheManager(LRU(30), clock=clock, adaptive=layer, event_log=event_log)
    assert adapter.target is m and adapter.budget == 30
    # the adapter's start policy is applied to the real L1, as for a target given at construction
    assert m.policy_name == "lrfu" and adapter.current_policy == "lrfu"
    assert [a.operation for a in layer.adaptations] == ["switch_policy"]
    (row,) = adaptation_rows(event_log)
    assert row["detail"]["before"]["policy"] == "lru" and row["detail"]["after"]["policy"] == "lrfu"
    # built keeping every LRFU candidate's scores: a move between horizons is in place
    from supreme.cache.policies.lrfu_tracked import TrackedLRFU

    assert isinstance(m.l1.policy, TrackedLRFU) and m.l1.policy.tracked == (2.0, 4.0, 8.0, 16.0, 32.0)


def test_an_adapter_assigned_later_adopts_the_offer(clock: ManualClock) -> None:
    layer = AdaptiveLayer(clock=clock)
    m = CacheManager(LRU(30), clock=clock, adaptive=layer)
    layer.adapter = CacheAdapter(None, capacity=99, settings=AdapterSettings(start_policy=None))
    assert layer.adapter is not None and layer.adapter.target is m and layer.adapter.budget == 30


def test_offer_adaptation_false_keeps_recommendations_only(clock: ManualClock) -> None:
    adapter = CacheAdapter(None, capacity=30)
    layer = AdaptiveLayer(adapter=adapter, clock=clock)
    m = CacheManager(LRU(30), clock=clock, adaptive=layer, offer_adaptation=False)
    assert adapter.target is None and m.policy_name == "lru"


def test_learning_cycle_switch_is_applied_to_the_live_manager(clock: ManualClock,
                                                              event_log: EventLog) -> None:
    # a hot set plus one-off scans: LFU keeps the hot set, LRU lets the scans flush it
    work = wl.scan_with_hot_set(12_000, hot=60, scan_prob=0.02, scan_length=200, seed=2)
    settings = AdapterSettings(candidates=("lru", "lfu"), min_window=50)
    layer = AdaptiveLayer(adapter=CacheAdapter(None, capacity=60, settings=settings, event_log=event_log),
                          clock=clock, cycle_seconds=60.0, event_log=event_log)
    m = CacheManager(LRU(60), clock=clock, adaptive=layer, event_log=event_log)
    for key, t in zip(work.keys, work.times, strict=True):
        clock.set(max(clock.now(), 1000.0 + float(t)))
        if m.get(key) is None:
            m.set(key, f"v:{key}")
        if m.policy_name == "lfu":
            break
    assert m.policy_name == "lfu" and m.l1.policy.name == "lfu"
    switches = [a for a in layer.adaptations if a.operation == "switch_policy" and a.outcome == "ok"]
    assert switches and switches[-1].detail["to"] == "lfu" and switches[-1].detail["lost"] == 0
    assert m.l1.policy.capacity == 60 and len(m.l1) == 60
    assert all(m.l1.peek(k) == f"v:{k}" for k in m.l1._data)
    (row,) = adaptation_rows(event_log)
    assert row["detail"]["before"]["policy"] == "lru" and row["detail"]["after"]["policy"] == "lfu"
    assert row["detail"]["migrated"] == 60


def test_attached_adapter_with_a_prefetch_engine_splits_the_budget(clock: ManualClock,
                                                                   event_log: EventLog) -> None:
    from supreme.adaptive import AdaptiveConfigError, PrefetchEngine, SynapticNetwork

    net = SynapticNetwork()
    layer = AdaptiveLayer(net, clock=clock, event_log=event_log)
    m = CacheManager(LRU(64), clock=clock, adaptive=layer, event_log=event_log)
    engine = PrefetchEngine(net, m, lambda key: f"v:{key}")
    layer.prefetcher = engine
    layer.adapter = CacheAdapter(None, engine, capacity=10, settings=AdapterSettings(start_policy=None),
                                 event_log=event_log)
    adapter = layer.adapter
    assert adapter.target is m and adapter.prefetch_budget == 4  # 1/16 of the real L1's 64
    assert m.l1.prefetch_capacity == 4 and m.l1.policy.capacity == 60 and m.budget == 64
    assert adapter.shadows is not None and adapter.shadows.capacity == 60
    assert [r["detail"]["adaptation"] for r in adaptation_rows(event_log)] == ["set_prefetch_budget"]
    with pytest.raises(AdaptiveConfigError, match="already has a target"):
        adapter.attach_target(m)
