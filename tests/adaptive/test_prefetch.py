"""Prefetch engine metrics on hand-made sequences (expected figures computed by hand)."""

from __future__ import annotations

from typing import Any

import pytest

from supreme.adaptive import PrefetchEngine, SynapticNetwork, simulate_adaptive
from supreme.cache.protocols import PrefetchTarget
from supreme.events import EventLog


class DictTarget:
    """A complete, tiny PrefetchTarget: a dict with explicit eviction."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.low: set[str] = set()

    def contains(self, key: str) -> bool:
        return key in self.data

    def set(self, key: str, value: Any, ttl: float | None = None, low_priority: bool = True) -> None:
        self.data[key] = value
        if low_priority:
            self.low.add(key)


def _trained(seq: str, reps: int = 5) -> SynapticNetwork:
    net = SynapticNetwork(window=1)
    t = 0.0
    for _ in range(reps):
        for k in seq:
            net.record(k, t)
            t += 0.01
    net.flush()  # the engine reads the predictions of the last batch
    return net


def test_dict_target_meets_the_protocol() -> None:
    assert isinstance(DictTarget(), PrefetchTarget)


def test_metrics_on_a_hand_made_sequence(event_log: EventLog) -> None:
    net = _trained("ABC")  # A→B, B→C, C→A, each with confidence 1
    target = DictTarget()
    fetched: list[str] = []

    def loader(key: str) -> bytes:
        fetched.append(key)
        return b"x" * 10

    eng = PrefetchEngine(net, target, loader, threshold=0.5, fanout=1, event_log=event_log)
    eng.on_demand("A", False, 1.0)       # demand miss 1
    target.set("A", b"a", low_priority=False)
    assert eng.after_access("A", 1.0) == 1   # prefetch B
    eng.on_demand("B", True, 2.0)        # B used in time: a miss avoided
    assert eng.after_access("B", 2.0) == 1   # prefetch C
    eng.note_evicted(["C"])              # C evicted unused: wasted (10 bytes)
    del target.data["C"]
    eng.on_demand("C", False, 3.0)       # demand miss 2
    assert eng.after_access("C", 3.0) == 0   # A already cached: skipped
    eng.on_demand("D", False, 4.0)       # demand miss 3
    st = eng.stats
    assert fetched == ["B", "C"]
    assert target.low == {"B", "C"}
    assert (st.issued, st.timely, st.late, st.wasted, st.wasted_bytes) == (2, 1, 0, 1, 10)
    assert (st.demand_misses, st.skipped_cached) == (3, 1)
    assert st.accuracy == pytest.approx(1 / 2)
    assert st.early == 1  # C was a right guess, evicted before its demand
    assert st.prediction_accuracy == pytest.approx(2 / 2)
    assert st.coverage == pytest.approx(1 / (3 + 1))
    assert st.timeliness == pytest.approx(1.0)
    comps = set(event_log.to_frame()["component"])
    assert {"Synaptic_Network", "Prefetch_Engine", "Data_Source", "Cache_Manager"} <= comps
    assert set(event_log.to_frame()["flow"]) == {"prefetch"}


def test_late_prefetch_with_a_latency_model() -> None:
    net = _trained("AB")
    eng = PrefetchEngine(net, DictTarget(), lambda k: 1, threshold=0.5, fanout=1, latency=lambda k: 5.0)
    eng.after_access("A", 0.0)           # B ready at t=5
    assert eng.pending("B", 1.0)
    eng.on_demand("B", False, 1.0)       # asked at t=1: late, still a miss
    st = eng.stats
    assert (st.issued, st.timely, st.late, st.demand_misses) == (1, 0, 1, 1)
    assert st.accuracy == 1.0 and st.timeliness == 0.0 and st.coverage == 0.0


def test_sweep_finds_entries_gone_unused() -> None:
    net = _trained("AB")
    target = DictTarget()
    eng = PrefetchEngine(net, target, lambda k: "v", threshold=0.5, fanout=1)
    eng.after_access("A", 0.0)
    target.data.clear()
    assert eng.sweep() == 1
    assert eng.stats.wasted == 1 and eng.outstanding == 0


def test_loader_failure_is_counted_not_raised(event_log: EventLog) -> None:
    def broken(key: str) -> Any:
        raise ConnectionError("exchange down")

    eng = PrefetchEngine(_trained("AB"), DictTarget(), broken, threshold=0.5, event_log=event_log)
    assert eng.after_access("A", 0.0) == 0
    assert eng.stats.errors == 1 and eng.stats.issued == 0
    assert "error" in set(event_log.to_frame()["outcome"])


def test_cycle_budget_and_inflight_bounds() -> None:
    net = SynapticNetwork(window=1)
    for i in range(5):
        for k in ("A", f"B{i}"):
            net.record(k, 0.0)
    net.flush()
    eng = PrefetchEngine(net, DictTarget(), lambda k: 1, threshold=0.0, fanout=5, budget_per_cycle=2)
    assert eng.after_access("A", 0.0) == 2
    assert eng.after_access("A", 0.0) == 0  # budget spent until the next cycle
    eng.new_cycle()
    assert eng.after_access("A", 0.0) == 2
    slow = PrefetchEngine(net, DictTarget(), lambda k: 1, threshold=0.0, fanout=5, max_inflight=3,
                          latency=lambda k: 10.0)
    assert slow.after_access("A", 0.0) == 3
    assert slow.after_access("A", 11.0) == 2  # the first three completed


def test_simulated_cycle_matches_the_hand_count() -> None:
    # budget 3 = demand LRU of 2 + prefetch area of 1; window-1 network; 3 passes over a,b,c,d.
    # pass 1: 4 demand misses, learns a→b→c→d.  pass 2: a misses (d→a learnt now) and prefetches b;
    # b, c, d are prefetch hits, each prefetching the next; pass 3: all 4 prefetch hits.
    # prefetches: 4 (pass 2) + 4 (pass 3, the last one never used) = 8, used 7.
    keys = list("abcd") * 3
    r = simulate_adaptive(keys, 3, adaptive=False, prefetch=True, threshold=0.5,
                          network=SynapticNetwork(window=1, batch=1))  # batch=1: learnt at once
    assert r["demand_misses"] == 5
    assert r["prefetch_fetches"] == 8
    assert r["source_fetches"] == 13
    assert r["miss_ratio"] == pytest.approx(5 / 12)
    assert r["prefetch_used"] == 7
    assert r["prefetch_accuracy"] == pytest.approx(7 / 8)
    assert r["prefetch_coverage"] == pytest.approx(7 / 12)


def _chain(n: int) -> SynapticNetwork:
    """K0 -> K1 -> ... -> K{n-1}, each link with confidence 1."""
    net = SynapticNetwork(window=1)
    for _ in range(3):
        for i in range(n):
            net.record(f"K{i}", float(i))
    net.flush()
    return net


def _walk(eng: PrefetchEngine, target: DictTarget, n: int, evict_first: bool) -> None:
    """Demand K0..K{n-1} in turn; with ``evict_first`` each prefetch is evicted before its demand."""
    for i in range(n):
        key = f"K{i}"
        hit = key in target.data
        eng.on_demand(key, hit, float(i))
        target.data[key] = 1
        eng.after_access(key, float(i))
        if evict_first:
            gone = [k for k in target.low if k in target.data]
            for k in gone:
                del target.data[k]
            target.low.clear()
            eng.note_evicted(gone)


def test_a_right_guess_evicted_too_early_is_early_within_the_horizon_only() -> None:
    target = DictTarget()
    eng = PrefetchEngine(_trained("AB"), target, lambda k: 1, threshold=0.5, fanout=1, early_horizon=3)
    eng.after_access("A", 0.0)                 # prefetch B at demand access 0
    eng.note_evicted(["B"])
    del target.data["B"]
    for k in ("X", "Y", "Z", "W"):             # four demand accesses: past the horizon of 3
        eng.on_demand(k, False, 1.0)
    eng.on_demand("B", False, 2.0)
    assert (eng.stats.wasted, eng.stats.early) == (1, 0)
    near = PrefetchEngine(_trained("AB"), DictTarget(), lambda k: 1, threshold=0.5, fanout=1, early_horizon=3)
    near.after_access("A", 0.0)
    near.note_evicted(["B"])
    near.on_demand("X", False, 1.0)
    near.on_demand("B", False, 2.0)            # two accesses after the prefetch: a right guess
    assert (near.stats.wasted, near.stats.early) == (1, 1)
    assert near._wasted_keys == {}             # not a dead prefetch: its key stays admissible


def test_a_too_small_prefetch_area_does_not_mute_a_right_predictor() -> None:
    # every prefetch is evicted before its demand: useless here (accuracy 0), but every guess is
    # right, so the predictor stays on and the adapter can give it a larger area
    target = DictTarget()
    eng = PrefetchEngine(_chain(60), target, lambda k: 1, threshold=0.5, fanout=1, min_source_issued=20)
    _walk(eng, target, 60, evict_first=True)
    st = eng.sources["synaptic"]
    assert st.issued >= 20 and st.used == 0 and st.early == st.issued
    eng.new_cycle()
    assert "synaptic" not in eng.muted
    assert eng.source_history[-1]["accuracy"]["synaptic"] > 0.9


def test_a_wrong_predictor_is_still_muted() -> None:
    # the stream demands only even keys: every prediction K(i) -> K(i+1) names an odd key never asked for
    target = DictTarget()
    eng = PrefetchEngine(_chain(60), target, lambda k: 1, threshold=0.5, fanout=1, min_source_issued=20)
    for i in range(0, 120, 2):
        key = f"K{i % 60}"
        eng.on_demand(key, key in target.data, float(i))
        target.data[key] = 1
        eng.after_access(key, float(i))
        gone = [k for k in target.low if k != key]
        for k in gone:
            target.data.pop(k, None)
        target.low.clear()
        eng.note_evicted(gone)
    assert eng.sources["synaptic"].issued >= 20 and eng.sources["synaptic"].early == 0
    eng.new_cycle()
    assert "synaptic" in eng.muted
