"""Complete Request Processing Pipeline (seed diagram) over the real components on sim time.

::

    Client.request -> Load_Balancer.route (round-robin over ``lb.backends`` gateway instances,
                      each with ``api.workers`` workers as a SimPy Resource)
    API_Gateway.receive -> Auth_Service (real AuthService) -> Rate_Limiter.check (real GCRA)
    API_Gateway.check_response_cache -> Cache_Manager.get (real manager, simulated tiers)
    miss: Business_Logic.process (real StrategyEngine) -> Data_Access.access (MarketDataFeed through
          the cache) -> Database.query (recorded candles; a PostgreSQL SELECT through the pool)
          -> Data_Access.cache_results -> API_Gateway.cache_response -> Cache_Manager.set
    Response_Formatter.format (real ResponseFormatter) -> Metrics_Collector.record -> Client.response

Same simulation technique and departures as :mod:`sim.models.trading_signal`.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import simpy

from sim.models import trading_signal as ts
from sim.models._context import SimContext
from sim.scenario import load_defaults, make_scenario
from sim.tiers import SimIO

__all__ = ["DEFAULTS", "FLOW", "NAME", "run", "summarize"]

NAME = "request_pipeline"
FLOW = "request_pipeline"

DEFAULTS: dict[str, Any] = {**ts.DEFAULTS, **load_defaults(NAME)}


class _Pipeline(ts.SignalService):
    """The signal endpoint in the pipeline's order: auth before rate limiting, formatter, metrics."""

    def __init__(self, ctx: SimContext, sc: Mapping[str, Any], io: SimIO) -> None:
        from supreme.api.formatter import ResponseFormatter

        super().__init__(ctx, sc, io, flow=FLOW, data_resource="postgresql", data_component="postgresql")
        self.formatter = ResponseFormatter(io.clock, ctx.log, flow=FLOW)

    def handle(self, rid: str, client: int, symbol: str) -> str:
        from supreme.api.auth.errors import AuthError
        from supreme.api.auth.signing import sign_request

        io, clock = self.io, self.clock
        io.charge(None, io.draw(str(self.sc["api.overhead_key"])))
        kid, secret = self.keys[client]
        self.rec("API_Gateway", "receive", request_id=rid, key=symbol)
        body = json.dumps({"symbol": symbol, "timeframe": self.timeframe}).encode()
        headers = sign_request(
            kid, secret, "POST", ts.PATH, body, timestamp_ms=int(clock.now() * 1000), nonce=rid
        )
        try:
            self.auth.authenticate(headers, "POST", ts.PATH, body, required=("signal:read",), request_id=rid)
        except AuthError as exc:
            self.rec("API_Gateway", "respond", "rejected", request_id=rid, detail=f"401 {type(exc).__name__}")
            return "rejected"
        self.rec("Auth_Service", "Auth successful", request_id=rid, key=kid)
        if not self.limiter.check(kid).allowed:
            self.rec("API_Gateway", "respond", "rejected", request_id=rid, detail="429")
            return "rejected"
        self.rec("Rate_Limiter", "Within limits", request_id=rid, key=kid)
        last = self.feed.last_closed_ms(symbol, self.timeframe)
        rkey = f"resp:{symbol}:{self.timeframe}:{last}"
        cached = self.cache.get(rkey, request_id=rid)
        self.rec(
            "API_Gateway",
            "check_response_cache",
            "miss" if cached is None else "hit",
            request_id=rid,
            key=symbol,
        )
        outcome = "hit"
        if cached is None:
            outcome = "miss"
            self.rec("Business_Logic", "process", request_id=rid, key=symbol)
            self.rec("Data_Access", "access", request_id=rid, key=symbol)
            self.connector.rid = rid
            try:
                signal = self.engine.generate(symbol, self.timeframe, request_id=rid)
            except Exception as exc:
                self.rec(
                    "API_Gateway", "respond", "error", request_id=rid, detail=f"503 {type(exc).__name__}"
                )
                return "error"
            self.rec("Data_Access", "data_response", request_id=rid, key=symbol)
            self.rec("Business_Logic", "business_response", request_id=rid, key=symbol)
            cached = signal.to_dict()
            self.rec("API_Gateway", "cache_response", request_id=rid, key=symbol)
            self.cache.set(rkey, cached, ttl=self.signal_ttl, request_id=rid)
        self.formatter.signal(
            cached,
            request_id=rid,
            cached=outcome == "hit",
            cache_key=rkey,
            market_time_ms=int(clock.now() * 1000),
        )
        self.rec("Metrics_Collector", "record", request_id=rid, key=symbol, detail=outcome)
        return outcome


def _request(
    ctx: SimContext, svc: _Pipeline, gateways: list[simpy.Resource], gw: int, client: int, symbol: str
) -> Generator[simpy.Event, Any, None]:
    env, io, log = ctx.env, svc.io, ctx.log
    rid = log.next_request_id()
    t0 = env.now
    if log.enabled:
        log.record(svc.clock.now(), FLOW, "Client", "request", request_id=rid, key=ts.ENDPOINT)
        log.record(svc.clock.now(), FLOW, "Load_Balancer", "route", request_id=rid, detail=f"gateway-{gw}")
    with gateways[gw].request() as slot:
        yield slot
        io.begin()
        outcome = svc.handle(rid, client, symbol)
        yield from io.settle(request_id=rid)
    total = env.now - t0
    status = "error" if outcome in ("error", "rejected") else "ok"
    if log.enabled:
        now = svc.clock.now()
        log.record(
            now,
            FLOW,
            "API_Gateway",
            "request",
            status,
            request_id=rid,
            key=ts.ENDPOINT,
            latency=total,
            detail=outcome,
        )
        log.record(now, FLOW, "Client", "response", status, request_id=rid, key=symbol, latency=total)
    svc.outcomes[outcome] = svc.outcomes.get(outcome, 0) + 1
    svc.latencies.append(total)


def _clients(ctx: SimContext, svc: _Pipeline, sc: Mapping[str, Any]) -> Generator[simpy.Event, Any, None]:
    env, rng = ctx.env, ctx.rng
    gateways = [simpy.Resource(env, capacity=int(sc["api.workers"])) for _ in range(int(sc["lb.backends"]))]
    n = int(sc["requests"])
    gaps = rng.exponential(1.0 / float(sc["load.rate"]), size=n)
    who = rng.integers(int(sc["clients"]), size=n)
    what = rng.integers(len(svc.symbols), size=n)
    for i in range(n):
        yield env.timeout(float(gaps[i]))
        env.process(_request(ctx, svc, gateways, i % len(gateways), int(who[i]), svc.symbols[int(what[i])]))


def run(scenario: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Simulate the pipeline; returns the event log."""
    sc = make_scenario(DEFAULTS, scenario)
    ctx, io = ts.make_context(NAME, FLOW, sc)
    svc = _Pipeline(ctx, sc, io)
    ctx.env.process(_clients(ctx, svc, sc))
    ctx.env.run()
    df = ctx.frame()
    lat = np.asarray(svc.latencies)
    df.attrs["outcomes"] = dict(sorted(svc.outcomes.items()))
    df.attrs["latency"] = {
        f"p{p}": float(np.percentile(lat, p)) if lat.size else float("nan") for p in (50, 95, 99)
    }
    return df


summarize = ts.summarize
