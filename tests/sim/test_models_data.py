"""Data-path models: diagram steps in order, determinism, faults, learning cycle, SLA verdicts."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from sim.models import cache_hierarchy, learning_cycle
from sim.runner import get_model, run_model
from supreme.events import COLUMNS, FLOWS
from tests.sim._helpers import is_subsequence, steps

QUICK: dict[str, dict[str, Any]] = {
    "cache_hierarchy": {"workload.n": 400},
    "trading_signal": {"requests": 150},
    "learning_cycle": {"duration": 130.0, "workload.rate": 20.0},
    "prefetch": {"duration": 30.0, "workload.rate": 30.0},
    "sla_validation": {"requests": 200},
    "request_pipeline": {"requests": 150},
}


def _request_steps(log: pd.DataFrame, rid: str) -> list[tuple[str, str]]:
    return steps(log[log["request_id"] == rid])


@pytest.mark.parametrize("name", sorted(QUICK))
def test_schema_and_same_seed_identical(name: str) -> None:
    a = run_model(name, {**QUICK[name], "seed": 2})
    b = run_model(name, {**QUICK[name], "seed": 2})
    assert tuple(a.columns) == COLUMNS
    assert set(a["world"]) == {"sim"} and set(a["flow"]) <= set(FLOWS)
    assert_frame_equal(a, b)
    c = run_model(name, {**QUICK[name], "seed": 3})
    assert not a["latency"].equals(c["latency"])
    assert isinstance(get_model(name).summarize(a), dict)


def test_cache_hierarchy_steps_full_miss_then_hits() -> None:
    log = run_model("cache_hierarchy", QUICK["cache_hierarchy"])
    first = log["request_id"].iloc[0]
    assert _request_steps(log, first) == [
        ("Cache_Manager", "request"),
        ("Memory_Cache_L1", "get"),
        ("Redis_Cache_L2", "get"),
        ("PostgreSQL_L3", "get"),
        ("External_Source", "fetch"),
        ("PostgreSQL_L3", "set"),
        ("Redis_Cache_L2", "set"),
        ("Memory_Cache_L1", "set"),
        ("Cache_Manager", "get"),
        ("Application", "response"),
    ]
    l1_hit = log[(log["component"] == "Memory_Cache_L1") & (log["outcome"] == "hit")]["request_id"].iloc[0]
    assert _request_steps(log, l1_hit) == [
        ("Cache_Manager", "request"),
        ("Memory_Cache_L1", "get"),
        ("Cache_Manager", "get"),
        ("Application", "response"),
    ]
    l2_hit = log[(log["component"] == "Redis_Cache_L2") & (log["outcome"] == "hit")]["request_id"].iloc[0]
    assert is_subsequence(
        [("Memory_Cache_L1", "get"), ("Redis_Cache_L2", "get"), ("Memory_Cache_L1", "promote")],
        _request_steps(log, l2_hit),
    )
    resp = log[log["operation"] == "response"]
    assert (resp["latency"] > 0).all() and len(resp) == 400


def test_cache_hierarchy_redis_down_degrades_and_recovers() -> None:
    sc = {"workload.n": 1500, "faults.redis.down_at": 1.0, "faults.redis.down_for": 1.0}
    log = run_model("cache_hierarchy", sc)
    l2 = log[(log["component"] == "Redis_Cache_L2") & (log["operation"] == "get")]
    errors = l2[l2["outcome"] == "error"]
    assert len(errors) > 0
    assert errors["time"].between(1.0, 2.0 + 0.01).all()  # only inside the window
    assert (log[log["operation"] == "response"]["outcome"] == "ok").all()  # every request answered
    assert (l2[l2["time"] > 2.1]["outcome"] != "error").all()
    assert (
        (log["component"] == "Redis_Cache_L2") & (log["operation"] == "flush") & (log["outcome"] == "ok")
    ).any()


def test_trading_signal_steps_in_order_for_a_miss_and_a_hit() -> None:
    """The real pipeline's order: address limit, auth, key limit, signal cache with the engine as its
    loader (the signal stored by the manager, inside the get), formatter, request row, metrics."""
    log = run_model("trading_signal", QUICK["trading_signal"])
    miss = log[(log["operation"] == "check_signal_cache") & (log["outcome"] == "miss")]["request_id"].iloc[0]
    ms = _request_steps(log, miss)
    assert is_subsequence(
        [
            ("Client", "request"),
            ("Rate_Limiter", "check"),
            ("Auth_Service", "validate_signature"),
            ("Auth_Service", "validate"),
            ("Rate_Limiter", "check"),
            ("Memory_Cache_L1", "get"),
            ("Market_Data_Feed", "request"),
            ("Exchange_Connector", "fetch"),
            ("Market_Data_Feed", "return"),
            ("Strategy_Engine", "request_market_data"),
            ("Strategy_Engine", "process_indicators"),
            ("Strategy_Engine", "apply_trading_logic"),
            ("API_Gateway", "generate_signal"),
            ("PostgreSQL_L3", "set"),
            ("Redis_Cache_L2", "set"),
            ("Memory_Cache_L1", "set"),
            ("Cache_Manager", "get"),
            ("API_Gateway", "check_signal_cache"),
            ("Response_Formatter", "format"),
            ("API_Gateway", "request"),
            ("Metrics_Collector", "record"),
            ("Client", "response"),
        ],
        ms,
    )
    assert ms.count(("Rate_Limiter", "check")) == 2  # per address, then per key
    hit = log[(log["operation"] == "check_signal_cache") & (log["outcome"] == "hit")]["request_id"].iloc[0]
    hs = _request_steps(log, hit)
    assert ("Strategy_Engine", "request_market_data") not in hs
    assert is_subsequence([("API_Gateway", "check_signal_cache"), ("Response_Formatter", "format")], hs)
    keys = log[log["operation"] == "check_signal_cache"]["key"]
    assert keys.str.fullmatch(r"signal:[0-9a-f]{8}:[A-Z]+W\d\d:1m:\d+").all()  # the rules digest included


def test_trading_signal_rate_limit_rejects_a_flood() -> None:
    log = run_model(
        "trading_signal",
        {"requests": 300, "load.rate": 2000.0, "clients": 1, "ratelimit.rate": 10.0, "ratelimit.burst": 5},
    )
    assert log.attrs["outcomes"].get("rejected", 0) > 200
    assert ((log["component"] == "Rate_Limiter") & (log["outcome"] == "rejected")).any()


def test_learning_cycle_fires_every_60_sim_seconds() -> None:
    log = run_model("learning_cycle", {"duration": 250.0, "workload.rate": 20.0})
    times = learning_cycle.cycle_times(log)
    assert times == pytest.approx([60.0, 120.0, 180.0, 240.0], abs=0.05)
    assert is_subsequence(
        [
            ("Synaptic_Network", "Analyze recent patterns"),
            ("Pattern_Analyzer", "Analyze recent patterns"),
            ("Cache_Adapter", "Apply adaptations"),
            ("Cache_Manager", "Adaptations applied"),
        ],
        steps(log[log["flow"] == "learning_cycle"]),
    )
    assert (
        (log["component"] == "Synaptic_Network") & (log["operation"] == "Record access pattern")
    ).sum() > 1000


def test_prefetch_issues_fetches_that_become_hits() -> None:
    log = run_model("prefetch", {"duration": 60.0})
    s = get_model("prefetch").summarize(log)
    assert s["prefetch_issued"] > 0 and s["prefetch_accuracy"] > 0.5
    pf = steps(log[log["flow"] == "prefetch"])
    assert is_subsequence(
        [
            ("Synaptic_Network", "Get related predictions"),
            ("Prefetch_Engine", "Check if already cached"),
            ("Data_Source", "Fetch predicted data"),
            ("Cache_Manager", "Store prefetched data"),
        ],
        pf,
    )
    off = get_model("prefetch").summarize(
        run_model("prefetch", {"duration": 60.0, "prefetch.enabled": False})
    )
    assert s["l1_hit_ratio"] > off["l1_hit_ratio"]


def test_sla_pass_and_fail() -> None:
    # a settled load (no market-open rush): the cold start of 48 symbols is absorbed
    ok = run_model("sla_validation", {"requests": 300, "load.burst": 1.0, "load.rate": 100.0})
    assert get_model("sla_validation").summarize(ok)["passed"] is True
    assert ("Test_Harness", "SLA validation passed") in steps(ok)
    bad = run_model("sla_validation", {"requests": 300, "sla.p99": 0.0003})
    s = get_model("sla_validation").summarize(bad)
    assert s["passed"] is False and s["p99"] >= 0.0003
    assert is_subsequence(
        [
            ("Validator", "Calculate P95, P99 latencies"),
            ("Validator", "Check against SLAs"),
            ("Test_Harness", "SLA validation failed"),
            ("Test_Harness", "Provide detailed analysis"),
        ],
        steps(bad),
    )
    assert s["n"] == 300


def test_sla_model_charges_failures_to_the_error_budget() -> None:
    """The model's verdict is supreme.api.sla.judge: failed exchange fetches (503s) fail the SLA."""
    from supreme.api.sla import SlaThresholds, judge

    sc = {"requests": 300, "faults.exchange.error_at": 0.0, "faults.exchange.error_rate": 0.5}
    log = run_model("sla_validation", sc)
    s = get_model("sla_validation").summarize(log)
    assert s["errors"] >= 1 and s["passed"] is False
    assert s["error_rate"] == s["errors"] / s["n"]
    expected = judge(int(s["n"]), int(s["errors"]), s, SlaThresholds(p95=0.050, p99=0.100))
    check = log[(log["component"] == "Validator") & (log["operation"] == "Check against SLAs")]
    assert check["detail"].tolist() == ["; ".join(expected.violations)]
    assert ("Test_Harness", "SLA validation failed") in steps(log)
    # the same failures inside a wider budget pass
    wide = run_model("sla_validation", {**sc, "sla.error_budget": 0.5})
    assert get_model("sla_validation").summarize(wide)["passed"] is True


def test_request_pipeline_steps_in_order() -> None:
    log = run_model("request_pipeline", QUICK["request_pipeline"])
    miss = log[(log["operation"] == "check_signal_cache") & (log["outcome"] == "miss")]["request_id"].iloc[0]
    assert is_subsequence(
        [
            ("Client", "request"),
            ("Load_Balancer", "route"),
            ("Auth_Service", "validate"),
            ("Rate_Limiter", "check"),
            ("Memory_Cache_L1", "get"),
            ("Market_Data_Feed", "request"),  # Data_Access
            ("Database", "query"),
            ("Market_Data_Feed", "return"),
            ("Strategy_Engine", "request_market_data"),  # Business_Logic
            ("API_Gateway", "generate_signal"),
            ("Memory_Cache_L1", "set"),  # cache the response
            ("API_Gateway", "check_signal_cache"),
            ("Response_Formatter", "format"),
            ("Metrics_Collector", "record"),
            ("Client", "response"),
        ],
        _request_steps(log, miss),
    )
    assert set(log[log["request_id"] == miss]["flow"]) >= {"request_pipeline"}


def test_bad_scenario_key_is_a_clear_error() -> None:
    from sim.scenario import ScenarioError
    from sim.workload import WorkloadError

    with pytest.raises(ScenarioError, match=r"cache\.l1\.capacity"):
        run_model("cache_hierarchy", {"cache.l1.capcity": 3})
    with pytest.raises(WorkloadError, match="unknown workload"):
        cache_hierarchy.run({"workload.name": "nope"})
