"""Resilience, auth and WebSocket models: diagram steps in order, determinism, characteristic behaviour."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from sim.models import fault_injection
from sim.runner import MODELS, get_model, run_model
from supreme.clock import ManualClock
from supreme.events import COLUMNS, FLOWS
from supreme.resilience.breaker import CircuitBreaker
from supreme.resilience.breaker_state import State
from supreme.resilience.fault_schedule import FaultWindow
from tests.sim._helpers import is_subsequence, steps

QUICK = {
    "circuit_breaker": {"duration": 160.0, "faults.service.down_at": 60.0, "faults.service.down_for": 40.0},
    "fault_injection": {"duration": 80.0, "faults.redis.down_at": 20.0, "faults.redis.down_for": 25.0},
    "api_key_auth": {"duration": 30.0},
    "session_auth": {"duration": 150.0, "load.pause": 100.0, "load.pause_every": 8},
    "ws_streaming": {"duration": 30.0, "client.unsubscribe_at": 20.0},
    "ws_lifecycle": {"duration": 100.0, "drop.at": 30.0, "close.at": 70.0},
}


@pytest.fixture(scope="module")
def logs() -> dict[str, pd.DataFrame]:
    return {name: run_model(name, sc) for name, sc in QUICK.items()}


def detail(row: pd.Series) -> dict:
    raw = row["detail"]
    return json.loads(raw) if isinstance(raw, str) and raw.startswith("{") else {}


def test_registered() -> None:
    assert set(QUICK) <= set(MODELS)
    for name in QUICK:
        assert get_model(name).flow in FLOWS


@pytest.mark.parametrize("name", sorted(QUICK))
def test_schema_and_scenario(name: str, logs: dict[str, pd.DataFrame]) -> None:
    log = logs[name]
    assert tuple(log.columns) == COLUMNS
    assert set(log["world"]) == {"sim"}
    assert set(log["flow"]) <= set(FLOWS)
    assert log.attrs["scenario"] == get_model(name).scenario(QUICK[name])
    assert len(log) > 20


@pytest.mark.parametrize("name", sorted(QUICK))
def test_same_seed_identical_other_seed_differs(name: str, logs: dict[str, pd.DataFrame]) -> None:
    again = run_model(name, QUICK[name])
    assert_frame_equal(logs[name], again)
    other = run_model(name, {**QUICK[name], "seed": 7})
    assert not logs[name].drop(columns="run_id").equals(other.drop(columns="run_id"))


# ---- circuit breaker ------------------------------------------------------------------------------
def test_circuit_breaker_diagram(logs: dict[str, pd.DataFrame]) -> None:
    log = logs["circuit_breaker"]
    # a failure below the threshold recovered by a retry with backoff
    rec = log[(log["component"] == "Error_Recovery") & (log["operation"] == "recovered")]
    assert len(rec), "no request recovered by retrying"
    rid = rec["request_id"].iloc[0]
    one = log[log["request_id"] == rid]
    assert is_subsequence([("Client", "request"), ("Circuit_Breaker", "forward"), ("Service", "call"),
                           ("Circuit_Breaker", "record_failure"), ("Monitoring", "log_error"),
                           ("Circuit_Breaker", "forward"), ("Service", "call"),
                           ("Error_Recovery", "recovered"), ("Client", "response")], steps(one))
    assert one["outcome"].iloc[-1] == "ok"
    # threshold exceeded -> open -> recovery fails -> escalate; later recovery works -> half-open -> closed
    assert is_subsequence([
        ("Circuit_Breaker", "transition"), ("Error_Recovery", "initiate"), ("Error_Recovery", "recover"),
        ("Error_Recovery", "reconnect"), ("Error_Recovery", "restart"), ("Error_Recovery", "escalate"),
        ("Monitoring", "escalate"), ("Alert_Manager", "open"), ("Circuit_Breaker", "circuit_open_error"),
        ("Error_Recovery", "reconnect"), ("Circuit_Breaker", "transition"), ("Error_Recovery", "recover"),
        ("Circuit_Breaker", "test_request"), ("Service", "call"), ("Circuit_Breaker", "transition"),
    ], steps(log))
    states = [s for _, _, s, _ in log.attrs["transitions"]]
    assert states == ["open", "half_open", "closed"]
    t_open, t_half, t_closed = (t for t, *_ in log.attrs["transitions"])
    sc = log.attrs["scenario"]
    down_end = sc["faults.service.down_at"] + sc["faults.service.down_for"]
    assert sc["faults.service.down_at"] <= t_open < down_end <= t_half <= t_closed
    # while open, clients are refused without reaching the Service
    resp = log[(log["component"] == "Client") & (log["operation"] == "response")]
    during = resp[(resp["time"] > t_open + 1) & (resp["time"] < down_end - 1)]
    assert len(during) and (during["outcome"] == "rejected").all()
    calls = log[(log["component"] == "Service") & (log["time"] > t_open + 1) & (log["time"] < t_half)]
    assert calls.empty
    # Retry's real backoff: full jitter under min(cap, base * 2**attempt)
    assert all(0 <= d <= sc["retry.cap"] for d in log.attrs["retry_delays"])


def test_circuit_breaker_restart_repairs_at_once() -> None:
    log = run_model("circuit_breaker", {**QUICK["circuit_breaker"], "recovery.restart_fixes": True})
    esc = log[(log["component"] == "Error_Recovery") & (log["operation"] == "escalate")]
    assert esc.empty
    restart = log[(log["component"] == "Error_Recovery") & (log["operation"] == "restart")]
    assert restart["outcome"].iloc[0] == "ok"
    t_open, t_half, _ = (t for t, *_ in log.attrs["transitions"][:3])
    sc = log.attrs["scenario"]
    assert t_half == pytest.approx(t_open + sc["recovery.reconnect_cost"] + sc["recovery.restart_cost"])


# ---- fault injection -----------------------------------------------------------------------------
FI_TIMING = {"load.poisson": False, "load.pattern": "cycle", "load.write_fraction": 0.0, "io.spread": 1.0,
             "load.interval": 0.25, "faults.redis.down_at": 20.1, "faults.redis.down_for": 23.0,
             "duration": 70.0, "breaker.window": 8, "breaker.min_calls": 8,
             "breaker.failure_rate_threshold": 50.0}


def manual_clock_prediction(sc: dict) -> list[tuple[float, str]]:
    """Drive a real CircuitBreaker on a ManualClock through the L2 calls the scenario implies."""
    clock = ManualClock(0.0)
    b = CircuitBreaker("redis", clock=clock, failure_rate_threshold=sc["breaker.failure_rate_threshold"],
                       sliding_window_size=sc["breaker.window"],
                       minimum_number_of_calls=sc["breaker.min_calls"],
                       wait_duration_in_open=sc["breaker.wait_open"],
                       permitted_calls_in_half_open=sc["breaker.half_open_calls"])
    dt, refused, l2, l3 = sc["load.interval"], sc["io.refused"], sc["io.l2"], sc["io.l3"]
    fault = FaultWindow("redis", sc["faults.redis.down_at"], sc["faults.redis.down_for"])
    for _ in range(sc["breaker.window"]):  # requests before the fault fill the window with successes
        b.on_success(l2)
    k = 1
    while k * dt < fault.start:
        k += 1
    while b.state is State.CLOSED:  # each request: failed L2 get, L3 hit, failed promotion to L2
        clock.set(k * dt + refused)
        b.on_error(refused, ConnectionError("refused"))
        if b.state is not State.CLOSED:
            break
        clock.set(k * dt + refused + l3 + refused)
        b.on_error(refused, ConnectionError("refused"))
        k += 1
    # Recovery_System: reconnect (fails while the window covers its end) -> failover probe of L3 -> wait
    while True:
        clock.advance(sc["recovery.reconnect_cost"])
        if not fault.covers(clock.now()):
            b.transition_to_half_open()
            break
        clock.advance(l3 + sc["recovery.interval"])
    clock.advance(l2)  # the test request through the breaker
    b.on_success(l2)
    return [(t.time, t.to_state.value) for t in b.transitions]


def test_fault_injection_transitions_at_predicted_times() -> None:
    sc = get_model("fault_injection").scenario(FI_TIMING)
    predicted = manual_clock_prediction(sc)
    assert [s for _, s in predicted] == ["open", "half_open", "closed"]
    assert [s for _, s in fault_injection.expected_transitions(sc)] == ["open", "half_open", "closed"]
    for (t1, s1), (t2, s2) in zip(predicted, fault_injection.expected_transitions(sc), strict=True):
        assert s1 == s2 and t1 == pytest.approx(t2, abs=1e-9)
    log = run_model("fault_injection", FI_TIMING)
    got = [(t, to) for t, _, to, _ in log.attrs["transitions"]]
    assert [s for _, s in got] == [s for _, s in predicted]
    for (tg, _), (tp, _) in zip(got, predicted, strict=True):
        assert tg == pytest.approx(tp, abs=1e-9)
    rows = log[(log["component"] == "Circuit_Breaker") & (log["operation"] == "transition")]
    assert list(rows["outcome"]) == ["open", "half_open", "closed"]
    assert rows["time"].to_numpy() == pytest.approx([t for t, _ in predicted], abs=1e-9)


def test_fault_injection_diagram_and_nothing_lost(logs: dict[str, pd.DataFrame]) -> None:
    log = logs["fault_injection"]
    assert is_subsequence([
        ("Chaos_Engine", "inject"), ("System_Components", "failure_injected"), ("Chaos_Engine", "request"),
        ("Circuit_Breakers", "triggered"), ("System_Components", "circuit_open"),
        ("System_Components", "initiate_recovery"), ("System_Components", "attempt_reconnection"),
        ("Recovery_System", "reconnection"), ("Recovery_System", "escalate_strategy"),
        ("System_Components", "attempt_failover"), ("Recovery_System", "failover"),
        ("Chaos_Engine", "restore"), ("Recovery_System", "reconnection"), ("Circuit_Breaker", "transition"),
        ("Recovery_System", "test_circuit"), ("Circuit_Breakers", "test_request"),
        ("System_Components", "test_response"), ("Circuit_Breakers", "close"), ("Redis_Cache_L2", "flush"),
        ("Validation_Engine", "recovery_validated"), ("Validation_Engine", "validate"),
        ("Chaos_Engine", "validated"),
    ], steps(log))
    recon = log[(log["component"] == "Recovery_System") & (log["operation"] == "reconnection")]
    outcomes = list(recon["outcome"])
    assert outcomes[0] == "error" and outcomes[-1] == "ok"
    v, end = log.attrs["validations"]  # after the recovery, and the read-back at the run's end
    assert v["ok"] and v["lost"] == 0 and v["pending"] == 0 and v["writes"] > 0
    assert end["ok"] and end["lost"] == 0 and end["failed"] == 0 and end["writes"] >= v["writes"]
    s = get_model("fault_injection").summarize(log)
    assert s["answered"] == s["requests"] and s["wrong"] == 0 and s["journaled"] > 0 and s["flushed"] > 0
    # while the circuit was open, every answer came from L1/L3 and L2 was not called
    t_open, t_half = log.attrs["transitions"][0][0], log.attrs["transitions"][1][0]
    l2 = log[(log["component"] == "Redis_Cache_L2") & (log["time"] > t_open) & (log["time"] < t_half)]
    assert set(l2["outcome"]) <= {"error", "journaled", "hit"}
    assert (l2.loc[l2["outcome"] == "hit", "detail"] == "journal").all()  # read back from the journal


# ---- auth ----------------------------------------------------------------------------------------------
def test_api_key_auth_diagram(logs: dict[str, pd.DataFrame]) -> None:
    log = logs["api_key_auth"]
    first = log[(log["component"] == "Client") & (log["operation"] == "request")]["request_id"].iloc[0]
    assert steps(log[log["request_id"] == first]) == [
        ("Client", "request"), ("API_Gateway", "validate_key"), ("Cache_Manager", "get"),
        ("Database", "lookup"), ("Cache_Manager", "set"), ("Auth_Service", "validate_signature"),
        ("Auth_Service", "check_permissions"),
        ("Session_Store", "create"), ("API_Gateway", "issue_session"), ("Client", "response")]
    gets = log[(log["component"] == "Cache_Manager") & (log["operation"] == "get")]
    assert set(gets["outcome"]) == {"hit", "miss"}
    # a hit never goes to the database; every miss does (or is refused for an unknown key)
    for rid, one in log[log["request_id"].isin(gets["request_id"])].groupby("request_id"):
        got = one[(one["component"] == "Cache_Manager") & (one["operation"] == "get")]["outcome"].iloc[0]
        db = ((one["component"] == "Database") & (one["operation"] == "lookup")).any()
        assert db == (got == "miss"), rid
    refused = log[(log["component"] == "API_Gateway") & (log["operation"] == "refuse")]
    reasons = {detail(r)["error"] for _, r in refused.iterrows()}
    assert "InsufficientScope" in reasons
    assert set(log["key"].dropna()) - {"client0", "client1", "client2", "client3"} <= set()


def test_session_auth_refresh_only_after_expiry(logs: dict[str, pd.DataFrame]) -> None:
    log = logs["session_auth"]
    ttl = log.attrs["scenario"]["session.ttl"]
    expires: dict[str, float] = {}
    refreshed = 0
    for rid, one in log[log["request_id"].notna()].groupby("request_id", sort=False):
        resp = one[(one["component"] == "Client") & (one["operation"] == "response")]
        if resp.empty or resp["outcome"].iloc[0] != "ok":
            continue
        client = resp["key"].iloc[0]
        info = detail(resp.iloc[0])
        validate = one[(one["component"] == "Session_Store") & (one["operation"] == "validate")]
        if info.get("new_token"):
            refreshed += 1
            assert validate["outcome"].iloc[0] == "refreshable"
            assert validate["time"].iloc[0] >= expires[client]
            assert is_subsequence([("API_Gateway", "validate_session"), ("Cache_Manager", "get"),
                                   ("Session_Store", "validate"), ("Database", "lookup"),
                                   ("Session_Store", "refresh"), ("Cache_Manager", "set"),
                                   ("Auth_Service", "check_permissions"), ("API_Gateway", "process"),
                                   ("Client", "response")], steps(one))
        elif not info.get("login"):
            assert validate["time"].iloc[0] < expires[client], rid
        if "expires_at" in info:
            expires[client] = info["expires_at"]
            issued = resp["time"].iloc[0] - resp["latency"].iloc[0] / 2
            assert info["expires_at"] == pytest.approx(issued + ttl, abs=1.0)
    assert refreshed > 0
    dead = log[(log["component"] == "API_Gateway") & (log["operation"] == "refuse")]
    assert len(dead) and {detail(r)["error"] for _, r in dead.iterrows()} == {"InvalidSession"}


# ---- WebSocket -----------------------------------------------------------------------------------------
def test_ws_streaming_diagram_and_order(logs: dict[str, pd.DataFrame]) -> None:
    log = logs["ws_streaming"]
    assert is_subsequence([
        ("Client", "handshake"), ("Connection_Manager", "register"), ("Client", "established"),
        ("Client", "subscribe"), ("WebSocket_Server", "subscribe"), ("Subscription_Manager", "register"),
        ("Subscription_Manager", "confirmed"), ("WebSocket_Server", "ack"), ("Client", "ack"),
        ("Exchange_Connector", "fetch"), ("Cache_Manager", "set"), ("Market_Data_Feed", "cache_update"),
        ("Subscription_Manager", "find_subscribers"),
        ("Subscription_Manager", "broadcast"), ("Client", "update"), ("Client", "unsubscribe"),
        ("WebSocket_Server", "unsubscribe"), ("Subscription_Manager", "remove"),
    ], steps(log))
    for name, got in log.attrs["received"].items():
        assert got, name
        seqs = [s for s, _ in got]
        assert seqs == list(range(1, len(seqs) + 1)), name  # no holes, in order
        stamps = [t for _, t in got]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    # updates arrive after a positive network delay, never before their broadcast
    bc = log[(log["component"] == "Subscription_Manager") & (log["operation"] == "broadcast")]
    first_bc = bc["time"].min()
    assert log[(log["component"] == "Client") & (log["operation"] == "update")]["time"].min() > first_bc


def test_ws_streaming_slow_reader_coalesces_then_is_closed_past_the_bound() -> None:
    """The real Connection on sim time: a slow reader loses intermediate candles, announced, not the
    connection; one slower than ws.max_behind is closed 4008; the others get everything either way."""
    base = {"duration": 60.0, "client.unsubscribe_at": 50.0, "clients.slow": 1, "ws.queue_size": 2}
    coalescing = run_model("ws_streaming", {**base, "slow.read_every": 5.0})
    s = get_model("ws_streaming").summarize(coalescing)
    assert s["updates_skipped"] > 0 and s["closed_slow"] == 0
    received = coalescing.attrs["received"]
    slow, fast = received.pop("client2"), received
    seqs = [q for q, _ in slow]
    assert seqs == sorted(seqs) and seqs[-1] > len(seqs)  # in order, with announced jumps
    for got in fast.values():
        assert [q for q, _ in got] == list(range(1, len(got) + 1))
    closed = get_model("ws_streaming").summarize(run_model("ws_streaming", {**base, "slow.read_every": 15.0}))
    assert closed["closed_slow"] == 1


def test_ws_lifecycle_drop_detected_at_timeout(logs: dict[str, pd.DataFrame]) -> None:
    log = logs["ws_lifecycle"]
    sc = log.attrs["scenario"]
    vanish = log[(log["component"] == "Client") & (log["operation"] == "vanish")]
    assert len(vanish) == sc["clients.drop"] == 1
    key, t_gone = vanish["key"].iloc[0], vanish["time"].iloc[0]
    mine = log[log["key"] == key]
    detect = mine[(mine["component"] == "Health_Monitor") & (mine["operation"] == "detect_timeout")]
    assert len(detect) == 1
    t_detect = detect["time"].iloc[0]
    pings = mine[(mine["component"] == "Health_Monitor") & (mine["operation"] == "health_check")
                 & (mine["time"] < t_detect)]
    assert t_detect == pytest.approx(pings["time"].iloc[-1] + sc["health.timeout"])
    assert t_gone < t_detect <= t_gone + sc["health.interval"] + sc["health.timeout"] + 1.0
    assert is_subsequence([("Health_Monitor", "detect_timeout"), ("Connection_Manager", "force_close"),
                           ("WebSocket_Gateway", "force_close"), ("Connection_Manager", "unregister"),
                           ("Metrics_Collector", "record_dropped"),
                           ("Metrics_Collector", "decrement_connections")],
                          steps(mine))
    assert log.attrs["metrics"] == {"ws_connections": 0.0, "ws_connections_opened_total": 4.0,
                                    "ws_dropped_total": 1.0}
    # graceful closers: close frame answered, unregistered, not dropped; healthy pings confirmed
    closes = log[(log["component"] == "WebSocket_Gateway") & (log["operation"] == "close_frame")]
    assert len(closes) == sc["clients"] - sc["clients.drop"]
    assert is_subsequence([("Client", "handshake"), ("WebSocket_Gateway", "upgrade_request"),
                           ("Connection_Manager", "validate"), ("WebSocket_Gateway", "switching_protocols"),
                           ("Connection_Manager", "register"), ("Metrics_Collector", "increment_connections"),
                           ("Client", "ping_frame"), ("Client", "pong_frame"),
                           ("Health_Monitor", "health_check"), ("Connection_Manager", "send_health_ping"),
                           ("Client", "application_ping"), ("WebSocket_Gateway", "application_pong"),
                           ("Connection_Manager", "health_confirmed"), ("Client", "close_frame"),
                           ("WebSocket_Gateway", "close_frame"), ("Connection_Manager", "unregister"),
                           ("Metrics_Collector", "decrement_connections")],
                          steps(log))
