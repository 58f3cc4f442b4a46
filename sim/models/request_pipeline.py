"""Complete Request Processing Pipeline (seed diagram): the real signal pipeline behind a load balancer.

The same :class:`supreme.api.pipeline.SignalPipeline` as :mod:`sim.models.trading_signal` (and the
FastAPI route), on the flow ``request_pipeline``, behind ``lb.backends`` gateway instances (each with
``api.workers`` worker processes over a FIFO queue, :class:`sim.models.trading_signal.Gateway`) and
with the candles served by the database.  The diagram's participants map onto the pipeline's steps::

    Client.request -> Load_Balancer.route (round-robin)
    Auth_Service.validate -> Rate_Limiter.check          (the per-key limit after authentication;
                                                          the per-address limit comes before both)
    Cache_Manager.get -> API_Gateway.check_signal_cache  ("Check response cache": the signal cache)
    miss: Business_Logic = Strategy_Engine, Data_Access = Market_Data_Feed through the cache,
          Database.query (recorded candles; a PostgreSQL SELECT through the pool),
          "Cache response" = the manager storing the engine's signal (the loader's result)
    Response_Formatter.format -> API_Gateway.request -> Metrics_Collector.record -> Client.response

Earlier versions wrote this orchestration again (auth before a single limiter, get-then-set) and
logged synthetic Business_Logic/Data_Access rows; now every row comes from the real component.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from sim.models import trading_signal as ts
from sim.scenario import load_defaults, make_scenario

__all__ = ["DEFAULTS", "FLOW", "NAME", "run", "summarize"]

NAME = "request_pipeline"
FLOW = "request_pipeline"

DEFAULTS: dict[str, Any] = {**ts.DEFAULTS, **load_defaults(NAME)}


def run(scenario: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Simulate the pipeline; returns the event log."""
    sc = make_scenario(DEFAULTS, scenario)
    ctx, io = ts.make_context(NAME, FLOW, sc)
    svc = ts.SignalService(ctx, sc, io, flow=FLOW, data_resource="postgresql", data_component="postgresql")
    ctx.env.process(ts.clients(ctx, svc, sc, backends=int(sc["lb.backends"])))
    ctx.env.run()
    df = ctx.frame()
    ts.record_outcomes(df, svc)
    return df


summarize = ts.summarize
