"""In-place moves within a policy family (LRFU horizons), the early first-window check, the warm-up."""

from __future__ import annotations

import json

import numpy as np

from supreme.adaptive import AdapterSettings, ShadowBank, SimCache, family, simulate_adaptive
from supreme.adaptive import workloads as wl
from supreme.cache.policies.lrfu_tracked import TrackedLRFU
from supreme.events import EventLog

FAMILY = ["lrfu:2", "lrfu:4", "lrfu", "lrfu:16", "lrfu:32"]


def policy_rows(log: EventLog) -> list[dict[str, object]]:
    frame = log.to_frame()
    rows = frame[(frame.component == "Cache_Adapter") & (frame.operation == "switch_policy")]
    return [{"time": t, **json.loads(d)} for t, d in zip(rows.time, rows.detail, strict=True)]


def test_members_and_leader() -> None:
    cands = ["lru", "arc", *FAMILY]
    assert family.members("lrfu:4", cands) == ["lrfu:4", "lrfu:2", "lrfu", "lrfu:16", "lrfu:32"]
    assert family.members("lru", cands) == [] and family.members("lrfu", ["lrfu", "lru"]) == []
    ratios = {"lrfu": 0.50, "lrfu:2": 0.52, "lrfu:4": 0.51, "lru": 0.9}
    assert family.leader(ratios, ["lrfu", "lrfu:2", "lrfu:4"], "lrfu", 0.0) == "lrfu:2"
    assert family.leader(ratios, ["lrfu", "lrfu:2"], "lrfu", 0.05) is None  # not by the margin
    assert family.leader({"lrfu": float("nan"), "lrfu:2": 0.5}, ["lrfu", "lrfu:2"], "lrfu", 0.0) is None
    hist = [{"a": np.array([0.0, 0.0]), "b": np.array([1.0, 1.0])},
            {"a": np.array([1.0, 1.0]), "b": np.array([0.0, 0.5])}]
    assert family.recent_ratios(hist, ["a", "b"], 2) == {"a": 1.0, "b": 0.25}
    assert family.recent_ratios(hist, ["a", "b"], 3) == {"a": 2 / 3, "b": 0.5}
    assert family.recent_ratios(hist, ["a", "zz"], 2) == {}


def test_sim_cache_builds_a_tracked_lrfu_and_retunes_it_in_place() -> None:
    cache = SimCache(50, "lru", track_recency=True)
    for i in range(200):
        cache.access(f"k{i % 80}")
    assert cache.switch_policy("lrfu", track=FAMILY).switched
    assert isinstance(cache.policy, TrackedLRFU)
    residents = set(cache.policy.keys())
    assert cache.retune_policy("lrfu:2") and cache.policy_name == "lrfu:2"
    assert set(cache.policy.keys()) == residents  # nothing moved, nothing lost
    assert not cache.retune_policy("lrfu:64") and not cache.retune_policy("arc")
    assert cache.policy_name == "lrfu:2"


def test_shadow_figures_read_mid_window_follow_later_accesses() -> None:
    # the layer's hot path appends straight to the window (no method call that could clear a cache)
    bank = ShadowBank(["lru", "lfu"], 50, "lru", rate=1.0)
    append = bank.appender
    for i in range(300):
        append(f"k{i % 70}")
    first = bank.sampled
    for i in range(300):
        append(f"k{i % 70}")
    assert first == 300 and bank.sampled == 600
    assert bank.hit_ratios()["lru"] > 0


def half_way(seed: int) -> wl.Workload:
    return wl.zipf_shifting(40_000, shift_every=20_000, shift_fraction=1.0, seed=seed)


def test_after_the_hot_set_moves_the_cache_retunes_in_place_and_beats_a_warm_switch() -> None:
    work = half_way(6)
    log = EventLog()
    free = simulate_adaptive(work, 200, adaptive=True, prefetch=False, seed=1, event_log=log)
    warm = simulate_adaptive(work, 200, adaptive=True, prefetch=False, seed=1,
                             settings=AdapterSettings(retune_in_place=False))
    rows = policy_rows(log)
    moved = [r for r in rows if r.get("in_place")]
    assert moved
    assert all(r["migrated"] == 0 and r["lost"] == 0 and r["switch_cost_misses"] == 0 for r in moved)
    # a short horizon wins right after the move (t = 400 s): the old hot set is forgotten at once
    assert any(r["to"] in ("lrfu:2", "lrfu:4") and 400 <= r["time"] <= 480 for r in moved)
    assert free["demand_misses"] < warm["demand_misses"]
    static = TrackedLRFU(200)
    assert free["demand_misses"] <= sum(1 for k in work.keys if not static.request(k))


def test_the_first_window_is_checked_early_when_moves_are_free() -> None:
    # candle walks want recency; the LRFU start (horizon 8) misses a lot until it moves to horizon 2
    work = wl.candle_walk(20_000, seed=1)
    log = EventLog()
    early = simulate_adaptive(work, 240, adaptive=True, prefetch=False, seed=1, event_log=log)
    late = simulate_adaptive(work, 240, adaptive=True, prefetch=False, seed=1,
                             settings=AdapterSettings(early_retune_fills=0))
    first = next(r for r in policy_rows(log) if r.get("in_place"))
    assert first["to"] == "lrfu:2" and first["time"] < 60.0
    assert early["demand_misses"] < late["demand_misses"]


def test_no_switch_out_of_the_family_before_the_warm_up() -> None:
    # a candle walk wants FIFO; an endless warm-up keeps the cache on LRFU (the horizons cannot help)
    work = wl.candle_walk(20_000, seed=1)
    kw = dict(adaptive=True, prefetch=False, rate=20.0)
    cands = ("fifo", "lrfu", "lrfu:32")
    never = simulate_adaptive(work.keys, 240, settings=AdapterSettings(candidates=cands, min_window=50,
                                                                       switch_warmup_fills=1e9), **kw)
    soon = simulate_adaptive(work.keys, 240, settings=AdapterSettings(candidates=cands, min_window=50,
                                                                      switch_warmup_fills=0), **kw)
    assert never["final_policy"].startswith("lrfu") and soon["final_policy"] == "fifo"
    assert soon["miss_ratio"] < never["miss_ratio"] - 0.1


def test_a_window_too_short_to_judge_carries_over_to_the_next_cycle() -> None:
    # 60 requests per 60-s cycle against min_window 200: judged every fourth cycle, not never
    work = wl.candle_walk(6_000, seed=1)
    s = AdapterSettings(candidates=("lru", "lfu"), start_policy="lfu", min_window=200)
    r = simulate_adaptive(work.keys, 100, adaptive=True, prefetch=False, rate=1.0, settings=s)
    assert r["final_policy"] == "lru" and r["policy_switches"] >= 2
