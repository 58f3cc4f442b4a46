"""Synaptic network: learning, decay on the clock, bounded memory, bad input."""

from __future__ import annotations

import random

import pytest

from supreme.adaptive import AdaptiveConfigError, SynapticNetwork
from supreme.clock import ManualClock
from supreme.events import EventLog


def test_learns_successor_with_distance_weighting(clock: ManualClock) -> None:
    net = SynapticNetwork(window=2, distance_decay=0.5)
    for _ in range(10):
        for k in ("a", "b", "c"):
            net.record(k, clock.now())
            clock.advance(0.001)
    preds = dict(net.predict("a", 3))
    assert max(preds, key=preds.__getitem__) == "b"
    # b follows a at distance 1 every time; c at distance 2 gets half the gain
    assert preds["b"] == pytest.approx(1.0, rel=1e-2)
    assert preds["c"] == pytest.approx(0.5, rel=1e-2)
    assert all(0.0 <= c <= 1.0 for c in preds.values())


def test_weights_halve_after_one_half_life(clock: ManualClock) -> None:
    net = SynapticNetwork(window=1, half_life=30.0)
    t0 = clock.now()
    net.record("x", t0)
    net.record("y", t0)
    w0 = net.weight("x", "y", t0)
    assert w0 == pytest.approx(1.0)
    assert net.weight("x", "y", t0 + 30.0) == pytest.approx(w0 / 2)
    assert net.weight("x", "y", t0 + 90.0) == pytest.approx(w0 / 8)
    # a new co-occurrence after one half-life adds to the decayed weight
    clock.advance(30.0)
    net.record("x", clock.now())
    net.record("y", clock.now())
    assert net.weight("x", "y", clock.now()) == pytest.approx(1.5)


def test_decay_survives_rescaling_over_long_runs() -> None:
    net = SynapticNetwork(window=1, half_life=1.0)
    t = 0.0
    for _ in range(3):  # 3 x 500 half-lives: stored weights would overflow without rescaling
        net.record("x", t)
        net.record("y", t)
        t += 500.0
    t -= 500.0
    assert net.weight("x", "y", t) == pytest.approx(1.0)
    assert net.predict("x", 1)[0][0] == "y"


def test_bounded_memory_under_long_random_stream() -> None:
    rng = random.Random(7)
    net = SynapticNetwork(window=4, top_k=5, max_keys=300)
    for i in range(30_000):
        net.record(f"k{rng.randrange(5000)}", i * 0.01)
    assert len(net) <= 300
    assert all(net.successors(k) < 2 * 5 for k in list(net._ids))  # trimmed to top_k at 2*top_k
    assert net.n_links() < 300 * 2 * 5
    before = net.memory_bytes()
    assert before > 0
    for i in range(30_000, 60_000):
        net.record(f"k{rng.randrange(50_000)}", i * 0.01)
    assert len(net) <= 300
    assert net.memory_bytes() < 3 * before  # bounded, not growing with the stream


def test_prune_drops_links_below_threshold(clock: ManualClock) -> None:
    net = SynapticNetwork(window=1, half_life=10.0, min_weight=0.1)
    net.record("a", clock.now())
    net.record("b", clock.now())
    assert net.prune(clock.now()) == 0
    assert net.prune(clock.now() + 40.0) == 1  # 1/16 < 0.1
    assert net.predict("a") == []


def test_event_log_only_when_enabled(clock: ManualClock, event_log: EventLog) -> None:
    SynapticNetwork().record("a", clock.now())  # NULL_LOG: nothing to see, nothing breaks
    net = SynapticNetwork(event_log=event_log)
    net.record("a", clock.now())
    frame = event_log.to_frame()
    assert list(frame["component"]) == ["Synaptic_Network"]
    assert list(frame["operation"]) == ["Record access pattern"]
    assert frame["flow"].iloc[0] == "learning_cycle"


def test_clock_stepping_back_does_not_corrupt() -> None:
    net = SynapticNetwork(window=1, half_life=10.0)
    net.record("a", 100.0)
    net.record("b", 50.0)  # learnt as if at t=100
    assert net.weight("a", "b", 100.0) == pytest.approx(1.0)


@pytest.mark.parametrize("kwargs", [{"window": 0}, {"half_life": 0}, {"top_k": 0}, {"max_keys": 0},
                                    {"distance_decay": 0.0}, {"min_weight": -1}])
def test_bad_parameters_named(kwargs: dict[str, float]) -> None:
    with pytest.raises(AdaptiveConfigError, match=next(iter(kwargs))):
        SynapticNetwork(**kwargs)  # type: ignore[arg-type]


def test_unknown_key_predicts_nothing() -> None:
    assert SynapticNetwork().predict("never-seen") == []
