"""The live adaptive layer switches the running cache manager's L1 policy when the workload changes.

Issue 17 part 1 (``SUPREME_ADAPTIVE``): driven through the service's own :class:`CacheManager`
(``Services.from_settings``, the one ``supreme serve`` runs), never a layer built by hand.
"""

from __future__ import annotations

import random
from pathlib import Path

import fakeredis
import pytest

from supreme.api.services import Services
from supreme.clock import ManualClock
from supreme.config import Settings

CAPACITY = 2560  # L1 entries; the shadows replay a 10 % key sample at 256 entries
CYCLE = 30.0  # seconds of service clock per learning cycle
PER_CYCLE = 6000  # accesses per cycle (~600 sampled by the shadows; they need 200)


def build(tmp_path: Path, clock: ManualClock, mode: str) -> Services:
    """The service as ``supreme serve`` builds it, with ``SUPREME_ADAPTIVE=mode`` and an LRU L1."""
    settings = Settings(
        redis_url=None, database_url=f"sqlite:///{tmp_path / 's.db'}", data_dir=tmp_path, adaptive=mode
    )
    return Services.from_settings(
        settings,
        clock,
        redis_client=fakeredis.FakeRedis(),
        symbols=["SPX"],
        adaptive_cycle=CYCLE,
        l1_capacity=CAPACITY,
        l1_policy="lru",
    )


def drive(svc: Services, clock: ManualClock, keys: list[str]) -> None:
    """Reads of ``keys`` through the live manager, spread over the service clock; a miss stores the
    value in L1 only (the layer learns the key stream; tier writes would only make the test slow)."""
    step = CYCLE / PER_CYCLE
    for key in keys:
        if svc.cache.get(key) is None:
            svc.cache.l1.set(key, {"candles": 1})
        clock.advance(step)


def recency(rng: random.Random, n: int) -> list[str]:
    """A sliding working set: each key is read a few times soon after it appears, then never again."""
    return [f"ohlcv:SPX:1m:{max(0, i // 4 - rng.randrange(64))}" for i in range(n)]


def hot_and_scan(rng: random.Random, n: int, start: int) -> list[str]:
    """A hot set that fits in L1 (2,000 of 2,560 keys), its reads interleaved 1:1 with a scan of keys
    read once: LRU lets the scan push hot keys out, a frequency-aware or scan-resistant policy keeps
    them."""
    return [
        f"ohlcv:HOT:1m:{rng.randrange(2000)}" if i % 2 else f"ohlcv:SCAN:1m:{start + i}" for i in range(n)
    ]


@pytest.mark.parametrize("mode", ["market", "all"])
def test_a_changed_workload_switches_the_live_policy_logged_and_exported(tmp_path: Path, mode: str) -> None:
    clock = ManualClock(1_700_000_000.0)
    svc = build(tmp_path, clock, mode)
    try:
        layer = svc.adaptive
        assert layer is not None and layer.adapter is not None and layer.adapter.target is svc.cache
        assert svc.cache.policy_name == "lru"
        rng = random.Random(7)
        drive(svc, clock, recency(rng, 2 * PER_CYCLE))  # LRU is as good as any here: it stays
        assert layer.cycles >= 1 and svc.cache.policy_name == "lru"
        assert not [a for a in layer.adaptations if a.operation == "switch_policy"]
        drive(svc, clock, hot_and_scan(rng, 6 * PER_CYCLE, 10**6))
        switches = [a for a in layer.adaptations if a.operation == "switch_policy" and a.outcome == "ok"]
        assert switches, [(a.operation, a.outcome) for a in layer.adaptations]
        new = switches[0].detail["to"]
        assert switches[0].detail["from"] == "lru" and new != "lru"
        assert svc.cache.policy_name == layer.adapter.current_policy == new  # applied to the running L1
        events = svc.event_log.to_frame()
        logged = events[(events["flow"] == "learning_cycle") & (events["operation"] == "switch_policy")]
        assert list(logged["outcome"])[:1] == ["ok"] and f'"to": "{new}"' in logged["detail"].iloc[0]
        text = svc.metrics.exposition().decode()
        assert (
            f'supreme_adaptations_total{{operation="switch_policy",outcome="ok"}} {float(len(switches))}'
            in text
        )
        assert f'supreme_adaptive_policy{{policy="{svc.cache.policy_name}"}} 1.0' in text
        assert 'supreme_adaptive_policy{policy="lru"}' not in text
    finally:
        svc.close()


def test_off_leaves_the_policy_alone_under_the_same_workload(tmp_path: Path) -> None:
    clock = ManualClock(1_700_000_000.0)
    svc = build(tmp_path, clock, "off")
    try:
        assert svc.adaptive is None
        drive(svc, clock, hot_and_scan(random.Random(7), 6 * PER_CYCLE, 10**6))
        assert svc.cache.policy_name == "lru"
        assert "supreme_adaptations_total" not in svc.metrics.exposition().decode()
        assert "learning_cycle" not in set(svc.event_log.to_frame()["flow"])
    finally:
        svc.close()
