"""The hot-path shortcuts keep the reference behaviour: batched Hebbian learning, the recall cache,
amortised eviction, the memoised count-min sketch, and prefetching switched off when it does not pay."""

from __future__ import annotations

import json
import random
from collections import defaultdict

import pytest

from supreme.adaptive import AdapterSettings, SynapticNetwork, simulate_adaptive
from supreme.cache.policies.sketch import ROW_SEEDS, CountMinSketch, key_hash, mix64
from supreme.events import EventLog


def _brute_force(keys: list[str], window: int, gamma: float) -> tuple[dict[tuple[str, str], float],
                                                                        dict[str, float]]:
    """Link weights and activations straight from the module docstring's pseudocode (no decay)."""
    links: dict[tuple[str, str], float] = defaultdict(float)
    act: dict[str, float] = defaultdict(float)
    for t, k in enumerate(keys):
        recent = keys[max(0, t - window):t]
        if recent:
            act[recent[-1]] += 1.0
        seen: list[str] = []
        for p in reversed(recent):
            if p == k or p in seen:
                continue
            links[p, k] += gamma ** len(seen)
            seen.append(p)
    return links, act


@pytest.mark.parametrize("batch", [1, 7, 64])
def test_batched_learning_equals_the_pseudocode(batch: int) -> None:
    rng = random.Random(3)
    keys = [f"k{rng.randrange(12)}" for _ in range(3000)]
    net = SynapticNetwork(window=3, distance_decay=0.5, top_k=16, batch=batch)  # 32 slots: no trimming
    for k in keys:
        net.record(k, 5.0)  # one instant: no decay, exact sums
    links, act = _brute_force(keys, 3, 0.5)
    for (src, dst), w in links.items():
        assert net.weight(src, dst, 5.0) == pytest.approx(w)
    for key, a in act.items():
        assert net.activation(key, 5.0) == pytest.approx(a)
    for src in {s for s, _ in links}:
        best = max(w for (s, _), w in links.items() if s == src)
        top = net.predict(src, 1)[0]
        assert links[src, str(top[0])] == pytest.approx(best)
        assert top[1] == pytest.approx(min(1.0, best / act[src]))


def test_recall_lags_by_less_than_one_batch() -> None:
    net = SynapticNetwork(window=1, batch=4)
    net.record("a", 0.0)
    net.record("b", 0.0)
    net.record("a", 0.0)
    assert net.recall("a") == []  # learnt in the open batch: not yet published
    assert net.predict("a", 1) == [("b", 1.0)]  # exact queries flush first
    assert net.recall("a") == [("b", 1.0)]
    assert net.predictions["a"][1] == ("b",)
    for k in ("c", "a", "c", "a"):  # a→c twice more: published once the batch of 4 is applied
        net.record(k, 0.0)
    assert [k for k, _ in net.recall("a", 2)] == ["c", "b"]


def test_published_confidence_stays_within_the_republish_tolerance() -> None:
    rng = random.Random(4)
    net = SynapticNetwork(window=2, batch=16)
    for i in range(5000):
        net.record(f"k{rng.randrange(20)}", i * 0.05)
    net.flush()
    for key, (links, succ) in net.predictions.items():
        exact = dict(net.predict(key, 8))
        assert succ == tuple(k for k, _ in links)
        for dst, conf in links:
            assert abs(conf - exact.get(dst, 0.0)) <= 1 / 64 + 1e-12


def test_eviction_keeps_the_bound_and_drops_links_to_evicted_keys() -> None:
    rng = random.Random(5)
    net = SynapticNetwork(window=2, max_keys=50, batch=32)
    for i in range(20_000):
        net.record(f"k{rng.randrange(400)}", i * 0.01)
        if i % 997 == 0:
            assert len(net) <= 50
    assert len(net) <= 50
    for key in list(net._ids):
        for dst, conf in net.predict(key, 16):
            assert dst in net and 0.0 < conf <= 1.0
    assert len(net._keys) <= 50 + 50 // 8 + 32  # node ids are reused, not grown without bound


def test_sketch_memo_matches_the_hash_formula() -> None:
    sk = CountMinSketch(100)
    width = sk.width
    for key in ["ohlcv:BTC/USDT:1m", 42, ("tuple", 1), b"raw", 3.5, True, 1]:
        h = key_hash(key)
        want = [mix64(h + seed) & (width - 1) for seed in ROW_SEEDS]
        assert sk._indexes(key) == want
        before = sk.table.copy()
        sk.increment(key)
        rows = (sk.table != before).nonzero()
        assert all(int(c) == want[int(r)] for r, c in zip(*rows, strict=True))
        assert sk.estimate(key) >= 1
    assert sk._memo  # str and int keys were memoised ...
    assert all(type(k) in (str, int) for k in sk._memo)  # ... and only those


def test_sketch_reset_halves_the_byte_table() -> None:
    sk = CountMinSketch(2, sample_factor=5)  # halves after 10 increments
    for _ in range(9):
        sk.increment("x")
    assert sk.estimate("x") == 9
    sk.increment("x")
    assert sk.estimate("x") == 5 and sk.additions == 5
    assert sk.table.base is not None  # a view of the byte counters: the reset acted on them


def test_prefetch_budget_falls_to_zero_while_muted_and_costs_nothing(event_log: EventLog) -> None:
    rng = random.Random(6)
    keys = [f"k{rng.randrange(300)}" for _ in range(12_000)]  # uniform: nothing to predict
    base = simulate_adaptive(keys, 16, adaptive=True, prefetch=False, rate=50.0,
                             settings=AdapterSettings(candidates=("lru",), min_window=50))
    r = simulate_adaptive(keys, 16, adaptive=True, prefetch=True, rate=50.0, event_log=event_log,
                          settings=AdapterSettings(candidates=("lru",), min_window=50, min_issued=5))
    assert r["final_prefetch_budget"] == 0
    rows = event_log.to_frame().query("operation == 'resize'")
    details = [json.loads(d) for d in rows.detail]
    assert any(d["prefetch_budget_to"] == 0 and "muted" in d["reason"] for d in details)
    # the one-entry floor is gone: prefetching costs at most a point of miss ratio here
    assert r["miss_ratio"] <= base["miss_ratio"] + 0.01


def test_entries_built_on_lookup_never_go_stale() -> None:
    # one network is read after every access (its built entries must be dropped on republish),
    # the other only at checkpoints, from scratch: both must give the same predictions
    rng = random.Random(11)
    read, fresh = SynapticNetwork(window=2, batch=8), SynapticNetwork(window=2, batch=8)
    for i in range(3000):
        key = f"k{rng.randrange(30)}"
        for net in (read, fresh):
            net.record(key, i * 0.1)
        read.lookup(key)
        read.lookup(f"k{rng.randrange(30)}")
        if i % 250 == 249:
            fresh._built.clear()  # nothing cached: every entry is built from the published arrays
            assert {f"k{j}": read.lookup(f"k{j}") for j in range(30)} == \
                {f"k{j}": fresh.lookup(f"k{j}") for j in range(30)}
    assert read.predictions == fresh.predictions
    assert any(e is not None for e in read.predictions.values())
