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

from collections.abc import Mapping
from typing import Any

import pandas as pd

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
        """Auth, rate limit, response cache, strategy through the data layer, formatter; the outcome."""
        kid, secret = self.receive(rid, client, symbol)
        failure = self.auth_failure(rid, kid, secret, symbol)
        if failure:
            return self.refuse(rid, "rejected", f"401 {failure}")
        self.rec("Auth_Service", "Auth successful", request_id=rid, key=kid)
        if not self.limiter.check(kid).allowed:
            return self.refuse(rid, "rejected", "429")
        self.rec("Rate_Limiter", "Within limits", request_id=rid, key=kid)
        rkey, cached = self.cached(rid, symbol, "resp", "check_response_cache")
        outcome = "hit"
        if cached is None:
            outcome = "miss"
            self.rec("Business_Logic", "process", request_id=rid, key=symbol)
            self.rec("Data_Access", "access", request_id=rid, key=symbol)
            signal, failure = self.generate(rid, symbol)
            if signal is None:
                return self.refuse(rid, "error", f"503 {failure}")
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
            market_time_ms=int(self.clock.now() * 1000),
        )
        self.rec("Metrics_Collector", "record", request_id=rid, key=symbol, detail=outcome)
        return outcome


def run(scenario: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Simulate the pipeline; returns the event log."""
    sc = make_scenario(DEFAULTS, scenario)
    ctx, io = ts.make_context(NAME, FLOW, sc)
    svc = _Pipeline(ctx, sc, io)
    ctx.env.process(ts.clients(ctx, svc, sc, backends=int(sc["lb.backends"])))
    ctx.env.run()
    df = ctx.frame()
    ts.record_outcomes(df, svc)
    return df


summarize = ts.summarize
