"""Learning cycle on the clock, adaptations and their log, safe switches, static equivalence."""

from __future__ import annotations

import json
import random

import pytest

from supreme.adaptive import (
    AdapterSettings,
    AdaptiveLayer,
    CacheAdapter,
    PatternAnalyzer,
    PrefetchEngine,
    SimCache,
    SynapticNetwork,
    _policies,
    simulate_adaptive,
    stack_distances,
)
from supreme.adaptive import workloads as wl
from supreme.cache.protocols import AccessObserver
from supreme.clock import ManualClock
from supreme.events import EventLog


def test_layer_is_an_access_observer() -> None:
    assert isinstance(AdaptiveLayer(), AccessObserver)


def test_learning_cycle_fires_every_60_seconds(clock: ManualClock, event_log: EventLog) -> None:
    layer = AdaptiveLayer(clock=clock, event_log=event_log)
    fired: list[float] = []
    for _ in range(600):  # one access every 0.5 s for 300 s
        layer.on_access("k", True, "L1", clock.now())
        if layer.cycles > len(fired):
            fired.append(clock.now())
        clock.advance(0.5)
    assert fired == [1060.0, 1120.0, 1180.0, 1240.0]
    assert layer.maybe_run(1299.0) is False
    assert layer.maybe_run(1300.0) is True
    # an idle gap runs one cycle, and the next is back on the 60-s grid
    layer.on_access("k", True, "L1", 2000.5)
    assert layer.cycles == 6
    assert layer._next_cycle == 2020.0
    analyzed = event_log.to_frame().query("component == 'Pattern_Analyzer'")
    assert len(analyzed) == 6


def test_run_cycle_needs_time() -> None:
    with pytest.raises(ValueError, match="clock"):
        AdaptiveLayer().run_cycle()


def test_static_equivalence_when_adaptive_and_prefetch_off() -> None:
    keys = wl.zipf_shifting(4000, n_keys=300, seed=3).keys
    for name in _policies.available_policies():
        for cap in (20, 90):
            pol = _policies.make(name, cap)
            expected = sum(1 for k in keys if not pol.request(k))
            r = simulate_adaptive(keys, cap, base_policy=name, adaptive=False, prefetch=False)
            assert r["demand_misses"] == expected, (name, cap)
            assert r["source_fetches"] == expected and r["prefetch_fetches"] == 0


def test_learning_without_a_better_candidate_changes_nothing() -> None:
    keys = wl.zipf_shifting(3000, n_keys=300, seed=4).keys
    pol = _policies.make("lru", 50)
    expected = sum(1 for k in keys if not pol.request(k))
    r = simulate_adaptive(keys, 50, adaptive=True, prefetch=False, rate=10.0,
                          settings=AdapterSettings(candidates=("lru",), min_window=10))
    assert r["cycles"] > 3
    assert r["demand_misses"] == expected


@pytest.mark.parametrize("name", _policies.available_policies())
def test_policy_switch_loses_no_entry(name: str) -> None:
    cache = SimCache(40, "lru", track_recency=True)
    rng = random.Random(1)
    for _ in range(500):
        cache.access(f"k{rng.randrange(100)}")
    before = set(cache.policy.keys())
    recent_last = list(cache._recency or [])[-1]
    result = cache.switch_policy(name)
    assert result.switched and result.lost == 0 and result.migrated == len(before)
    assert set(cache.policy.keys()) == before
    assert cache.policy_name == name
    assert recent_last in cache.policy


def test_switch_aborts_rather_than_lose(monkeypatch: pytest.MonkeyPatch) -> None:
    from supreme.cache.policies.lru import LRU

    class Refusing(LRU):
        def _admit(self, key: object, size: int) -> bool:
            return str(key) != "k3"

    cache = SimCache(10, "lru", track_recency=True)
    for i in range(8):
        cache.access(f"k{i}")
    monkeypatch.setattr(_policies, "make", lambda name, cap, track=(): Refusing(cap))
    result = cache.switch_policy("refusing")
    assert not result.switched and result.lost == 1
    assert cache.policy_name == "lru" and "k3" in cache.policy


def test_switch_is_logged_with_reason(event_log: EventLog) -> None:
    # a hot set plus one-off scans: LFU keeps the hot set, LRU lets scans flush it
    work = wl.scan_with_hot_set(20_000, hot=60, scan_prob=0.02, scan_length=200, seed=2)
    r = simulate_adaptive(work.keys, 60, adaptive=True, prefetch=False, rate=20.0, event_log=event_log,
                          settings=AdapterSettings(candidates=("lru", "lfu"), min_window=50))
    assert r["final_policy"] == "lfu" and r["policy_switches"] >= 1
    frame = event_log.to_frame()
    sw = frame[(frame.component == "Cache_Adapter") & (frame.operation == "switch_policy")]
    assert len(sw) >= 1 and set(sw.flow) == {"learning_cycle"}
    detail = json.loads(sw.detail.iloc[0])
    assert detail["from"] == "lru" and detail["to"] == "lfu"
    assert "reason" in detail and detail["gain"] >= detail["margin"] and detail["lost"] == 0
    assert detail["hit_ratio.lfu"] > detail["hit_ratio.lru"]
    lru = _policies.make("lru", 60)
    static = sum(1 for k in work.keys if not lru.request(k))
    assert r["demand_misses"] < static


def test_threshold_rises_when_accuracy_is_low(clock: ManualClock, event_log: EventLog) -> None:
    rng = random.Random(5)
    cache = SimCache(50, "lru")
    net = SynapticNetwork(window=1)
    eng = PrefetchEngine(net, cache, lambda k: 1, threshold=0.1, fanout=3)
    cache.on_evict = eng.note_evicted
    adapter = CacheAdapter(cache, eng, settings=AdapterSettings(candidates=("lru",), min_window=10,
                                                                min_issued=5), event_log=event_log)
    layer = AdaptiveLayer(net, adapter=adapter, prefetcher=eng, event_log=event_log)
    for _ in range(3000):  # uniform random keys: predictions are rarely right
        key = f"k{rng.randrange(400)}"
        layer.on_access(key, cache.access(key), None, clock.now())
        clock.advance(0.1)
    assert eng.threshold > 0.1
    rows = event_log.to_frame().query("operation == 'set_threshold'")
    assert len(rows) >= 1
    d = json.loads(rows.detail.iloc[0])
    assert d["threshold_to"] > d["threshold_from"] and d["accuracy"] < 0.25 and "accuracy" in d["reason"]


def test_budget_moves_to_prefetch_on_a_cyclic_workload(event_log: EventLog) -> None:
    keys = [f"k{i}" for i in range(120)] * 60  # a loop larger than the cache: LRU never hits
    r = simulate_adaptive(keys, 60, adaptive=True, prefetch=True, rate=20.0, event_log=event_log,
                          settings=AdapterSettings(candidates=("lru",), min_window=50))
    rows = event_log.to_frame().query("operation == 'resize'")
    assert len(rows) >= 1 and r["final_prefetch_budget"] > round(60 / 8)
    assert json.loads(rows.detail.iloc[0])["prefetch_budget_to"] > json.loads(rows.detail.iloc[0])[
        "prefetch_budget_from"]
    assert r["miss_ratio"] < 0.1 and r["prefetch_accuracy"] > 0.9


def test_stack_distance_matches_brute_force() -> None:
    rng = random.Random(9)
    keys = [rng.randrange(12) for _ in range(400)]
    got = stack_distances(keys)
    for i, k in enumerate(keys):
        prev = [j for j in range(i) if keys[j] == k]
        want = -1 if not prev else len(set(keys[prev[-1] + 1:i]))
        assert got[i] == want


def test_analyzer_report_on_a_known_sequence() -> None:
    keys = list("abcabcabcd")
    rep = PatternAnalyzer().analyze(keys, 0.0, predictions_checked=4, predictions_right=3)
    s = rep.summary
    assert s["distinct"] == 4 and s["accesses"] == 10
    # order 1: a→b 3/3, b→c 3/3, c→a 2 of 3 (c→d once) → 8 of 9 guessed
    assert s["order1_predictability"] == pytest.approx(8 / 9)
    assert s["prediction_score"] == pytest.approx(3 / 4)
    row = rep.frame.set_index("key").loc["a"]
    assert row["count"] == 3 and row["top_next"] == "b" and row["top_next_share"] == 1.0
    assert row["mean_reuse_time"] == 3.0
    assert bool(rep.frame.set_index("key")["mean_reuse_time"].isna()["d"])


def test_bad_times_are_rejected_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match="non-decreasing"):
        simulate_adaptive(["a", "b"], 2, times=[1.0, 0.5])
    with pytest.raises(ValueError, match="entries"):
        simulate_adaptive(["a", "b"], 2, times=[1.0])


def test_adapter_assigned_after_construction_sees_accesses() -> None:
    from supreme.adaptive import AdaptiveLayer, CacheAdapter
    from supreme.clock import ManualClock

    clock = ManualClock(0.0)
    layer = AdaptiveLayer(clock=clock)
    layer.adapter = CacheAdapter(None, None, capacity=16, current_policy="lru")
    for i in range(40):
        layer.on_access(f"k{i % 8}", False, None, clock.now())
    assert layer.adapter is not None and layer.adaptations == list(layer.adapter.history)
    assert layer.adapter.shadows._window[-8:] == [f"k{i}" for i in range(8)]  # the shadows saw them
