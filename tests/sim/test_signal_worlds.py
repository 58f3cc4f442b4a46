"""One signal pipeline, two worlds: the FastAPI route and the SimPy model give the same keys, steps, signals.

The model (``sim.models.trading_signal``) runs a seeded Poisson load; the same requests (same symbols,
same order) then go through the real app (fakeredis + SQLite, and real Redis + PostgreSQL) with the
market clock at the model's ``market.start``.  Both must produce the same signal cache keys, the same
per-request sequence of diagram steps in the event log (the model's simulated-only rows -- the
Client, the I/O queues -- aside), the same signals and the same refusal statuses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from sim.models import request_pipeline, trading_signal
from sim.scenario import make_scenario
from supreme.api.app import create_app
from supreme.api.auth.signing import sign_request
from supreme.api.services import Services
from supreme.clock import ManualClock
from supreme.config import Settings

SIM_ONLY = {"Client", "Load_Balancer"}
# the bundled daily sample, plain Poisson arrivals and uniform symbols (the route test serves the sample)
SAMPLE = {"market.source": "sample", "symbols": "SPX,IXIC", "timeframe": "1d", "market.start": 1420480800.0,
          "load.burst": 1.0, "load.zipf": 0.0}
SCENARIO = {**SAMPLE, "requests": 12, "clients": 1, "load.rate": 50.0, "seed": 4,
            "ratelimit.rate": 0.001, "ratelimit.burst": 8}


def _steps(frame: pd.DataFrame, rid: str) -> list[tuple[str, str, str]]:
    rows = frame[(frame["request_id"] == rid) & ~frame["component"].isin(SIM_ONLY)
                 & (frame["operation"] != "queue")]
    return list(zip(rows["component"], rows["operation"], rows["outcome"], strict=True))


def _sim_requests(log: pd.DataFrame) -> list[dict[str, Any]]:
    """Per request, in arrival order: symbol, status, cache key and step sequence."""
    out = []
    arrivals = log[(log["component"] == "Client") & (log["operation"] == "request")]
    for rid in arrivals["request_id"]:
        rows = log[log["request_id"] == rid]
        answer = rows[(rows["component"] == "Client") & (rows["operation"] == "response")].iloc[0]
        gate = rows[rows["operation"] == "check_signal_cache"]
        total = rows[(rows["component"] == "API_Gateway") & (rows["operation"] == "request")]
        status = total["detail"].iloc[0]
        out.append({"symbol": answer["key"], "status": int(status.split("=")[1]),
                    "key": gate["key"].iloc[0] if len(gate) else None, "steps": _steps(log, rid)})
    return out


@pytest.fixture
def real(tmp_path: Path, redis_backend: tuple[str, Any], database_url: str, namespace: str) -> Any:
    """The real services on fakeredis + SQLite, then on the real Redis + PostgreSQL."""
    sc = {**trading_signal.DEFAULTS, **SCENARIO}
    settings = Settings(redis_url=None, database_url=database_url, data_dir=tmp_path)
    svc = Services.from_settings(
        settings, ManualClock(1000.0), redis_client=redis_backend[1], namespace=namespace,
        symbols=["SPX", "IXIC"],
        replay_start=float(sc["market.start"]), key_rate=float(sc["ratelimit.rate"]),
        key_burst=int(sc["ratelimit.burst"]))
    yield svc
    svc.close()


def test_route_and_model_agree(real: Services) -> None:
    log = trading_signal.run(SCENARIO)
    sim = _sim_requests(log)
    assert [r["status"] for r in sim].count(429) == len(sim) - 8  # the per-key burst, after auth

    key = real.auth.store.create("ed25519", "signal:read")
    client = TestClient(create_app(real))
    bodies = []
    for i, r in enumerate(sim):
        raw = f'{{"symbol": "{r["symbol"]}", "timeframe": "1d"}}'.encode()
        headers = sign_request(key.record.key_id, key.credential, "POST", trading_signal.PATH, raw,
                               int(real.clock.now() * 1000), nonce=f"w{i}")
        headers["content-type"] = "application/json"
        resp = client.post(trading_signal.PATH, content=raw, headers=headers)
        bodies.append(resp)
        assert resp.status_code == r["status"], (i, resp.text)
    frame = real.event_log.to_frame()
    for i, (r, resp) in enumerate(zip(sim, bodies, strict=True)):
        rid = resp.headers["x-request-id"]
        assert _steps(frame, rid) == r["steps"], i
        if resp.status_code == 200:
            assert resp.json()["meta"]["cache_key"] == r["key"], i
    # the same signals: the model's cached values are what the route answered
    signals = {r["key"]: b.json() for r, b in zip(sim, bodies, strict=True) if b.status_code == 200}
    assert len(signals) == 2  # one key per symbol, each computed once
    _, svc = trading_signal.build(make_scenario(trading_signal.DEFAULTS, SCENARIO))
    for cache_key, body in signals.items():
        symbol = cache_key.split(":")[2]
        _, sim_body = svc.pipeline.handle(svc.call("x1", 0, symbol))
        assert sim_body["meta"]["cache_key"] == cache_key
        assert {k: v for k, v in sim_body.items() if k != "meta"} == {
            k: v for k, v in body.items() if k != "meta"}


def test_refusals_carry_the_apps_status() -> None:
    """A request for a symbol the pipeline does not serve is the app's 422, in the model too."""
    _, svc = trading_signal.build(make_scenario(trading_signal.DEFAULTS, {**SAMPLE, "symbols": "SPX"}))
    status, outcome = svc.handle("r1", 0, "NOPE")
    assert (status, outcome) == (422, "rejected")
    status, outcome = svc.handle("r2", 0, "SPX")
    assert (status, outcome) == (200, "miss")


def test_request_pipeline_model_drives_the_same_steps() -> None:
    """The request-pipeline model is the same pipeline on another flow behind a load balancer."""
    a = _sim_requests(trading_signal.run({**SCENARIO, "exchange.key": "postgresql.select"}))
    b = _sim_requests(request_pipeline.run({**SCENARIO, "lb.backends": 1, "api.workers": 4}))
    assert [(r["status"], r["key"]) for r in a] == [(r["status"], r["key"]) for r in b]
    # the request-pipeline model serves candles from the database: its extra Database.query rows aside
    def core(reqs: list[dict[str, Any]]) -> list[list[tuple[str, str]]]:
        return [[s[:2] for s in r["steps"] if s[0] != "Database"] for r in reqs]

    assert core(a) == core(b)
