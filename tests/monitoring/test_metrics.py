"""Metrics: private registries, exposition that parses, samples as a DataFrame."""

from __future__ import annotations

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from supreme.monitoring.metrics import Metrics
from supreme.resilience.pools import PoolStats


def families(m: Metrics) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for fam in text_string_to_metric_families(m.exposition().decode()):
        for s in fam.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def test_exposition_parses_and_holds_every_metric() -> None:
    m = Metrics()
    m.observe_request("/signals", 200, 0.0004)
    m.observe_request("/signals", 200, 0.002)
    m.observe_request("/signals", 429, 0.0001)
    m.cache_hit("L1")
    m.cache_hit("L1")
    m.cache_miss("L2")
    m.breaker_state("redis", "open")
    m.breaker_call("redis", "rejected", 0.0)
    m.ws_connected()
    m.ws_connected()
    m.ws_disconnected(dropped=True)
    m.ws_message_sent(5)
    m.add_pool("l3", lambda: PoolStats("l3", 2, 3, 1, 5))
    fams = families(m)
    assert ({"endpoint": "/signals", "status": "200"}, 2.0) in fams["supreme_requests_total"]
    count = dict((lab["endpoint"], v) for lab, v in fams["supreme_request_latency_seconds_count"])
    assert count["/signals"] == 3.0
    assert ({"tier": "L1"}, 2.0) in fams["supreme_cache_hits_total"]
    assert ({"tier": "L2"}, 1.0) in fams["supreme_cache_misses_total"]
    assert ({"breaker": "redis", "supreme_breaker_state": "open"}, 1.0) in fams["supreme_breaker_state"]
    assert ({"breaker": "redis", "supreme_breaker_state": "closed"}, 0.0) in fams["supreme_breaker_state"]
    assert fams["supreme_ws_connections"] == [({}, 1.0)]
    assert fams["supreme_ws_connections_opened_total"] == [({}, 2.0)]
    assert fams["supreme_ws_dropped_total"] == [({}, 1.0)]
    assert fams["supreme_ws_messages_sent_total"] == [({}, 5.0)]
    pools = {lab["state"]: v for lab, v in fams["supreme_pool_connections"]}
    assert pools == {"in_use": 2.0, "idle": 3.0, "waiting": 1.0}


def test_registries_are_private() -> None:
    a, b = Metrics(), Metrics()
    a.cache_hit("L1")
    assert b.snapshot().value("supreme_cache_hits_total", tier="L1") == 0.0
    assert a.snapshot().value("supreme_cache_hits_total", tier="L1") == 1.0
    assert REGISTRY.get_sample_value("supreme_cache_hits_total", {"tier": "L1"}) is None


def test_broken_pool_source_does_not_break_exposition() -> None:
    m = Metrics()

    def closed() -> PoolStats:
        raise RuntimeError("pool closed")

    m.add_pool("gone", closed)
    m.add_pool("ok", lambda: PoolStats("ok", 0, 1, 0, 1))
    fams = families(m)
    assert {lab["pool"] for lab, _ in fams["supreme_pool_connections"]} == {"ok"}
    m.remove_pool("gone")
    m.remove_pool("ok")
    assert "supreme_pool_connections" not in families(m)


def test_to_frame_matches_samples() -> None:
    m = Metrics()
    empty = m.to_frame()
    assert {"name", "labels", "value"} <= set(empty.columns)
    m.cache_hit("L3")
    m.record_error("Cache_Manager", "critical")
    frame = m.to_frame()
    row = frame[(frame["name"] == "supreme_cache_hits_total") & (frame["tier"] == "L3")]
    assert row["value"].tolist() == [1.0]
    err = frame[frame["name"] == "supreme_errors_total"]
    assert err[["component", "severity", "value"]].values.tolist() == [["Cache_Manager", "critical", 1.0]]
    assert len(frame) == len(m.samples())
