"""The signal-flow model's speed structure keeps its queueing: the FIFO :class:`sim.tiers.Server` grants
what a :class:`simpy.Resource` grants, and the one-arrival-process :class:`Gateway` with its worker pool
produces the same event-log rows as one SimPy process per request holding a ``simpy.Resource`` slot (the
structure before the speed work), for the same seed."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import pandas as pd
import pytest
import simpy

from sim.models import trading_signal as ts
from sim.scenario import make_scenario
from sim.tiers import Server
from supreme.api.pipeline import record_request


def _jobs(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.exponential(1.0, n)), rng.exponential(2.5, n)


def _grants_resource(capacity: int, arrivals: np.ndarray, holds: np.ndarray) -> list[float]:
    env = simpy.Environment()
    res = simpy.Resource(env, capacity=capacity)
    start = [0.0] * arrivals.size

    def job(i: int) -> Generator[simpy.Event, Any, None]:
        yield env.timeout(float(arrivals[i]))
        with res.request() as req:
            yield req
            start[i] = env.now
            yield env.timeout(float(holds[i]))

    for i in range(arrivals.size):
        env.process(job(i))
    env.run()
    return start


def _grants_server(capacity: int, arrivals: np.ndarray, holds: np.ndarray) -> list[float]:
    env = simpy.Environment()
    srv = Server(env, capacity)
    start = [0.0] * arrivals.size

    def job(i: int) -> Generator[simpy.Event, Any, None]:
        yield env.timeout(float(arrivals[i]))
        wait = srv.acquire()
        if wait is not None:
            yield wait
        start[i] = env.now
        yield env.timeout(float(holds[i]))
        srv.release()

    for i in range(arrivals.size):
        env.process(job(i))
    env.run()
    assert srv.count == 0 and not srv.queue
    return start


@pytest.mark.parametrize("capacity", [1, 3])
def test_server_grants_like_a_simpy_resource(capacity: int) -> None:
    """Every job starts at the same time under both (an overloaded queue: most jobs wait)."""
    arrivals, holds = _jobs(capacity, 2000)
    expected = _grants_resource(capacity, arrivals, holds)
    assert sum(s > a for s, a in zip(expected, arrivals, strict=True)) > 1000  # the queue is exercised
    assert _grants_server(capacity, arrivals, holds) == expected


def test_server_refuses_no_capacity() -> None:
    """A server without a slot is a clear error, not a deadlock."""
    with pytest.raises(ValueError, match="capacity >= 1"):
        Server(simpy.Environment(), 0)


def _reference_serve(
    ctx: Any, svc: ts.SignalService, gateway: simpy.Resource, client: int, symbol: str
) -> Generator[simpy.Event, Any, None]:
    """One process per request holding a gateway slot: the structure the Gateway replaced."""
    env, io, log, clock = ctx.env, svc.io, ctx.log, svc.clock
    rid = log.next_request_id()
    start = env.now
    log.record(clock.now(), svc.flow, "Client", "request", request_id=rid, key=ts.ENDPOINT)
    with gateway.request() as slot:
        yield slot
        waited = env.now != start
        if svc.wake is not None and not waited:
            yield env.timeout(float(svc.wake.sample(io.rng)))
        io.begin()
        status, outcome = svc.handle(rid, client, symbol, waited)
        yield from io.settle(request_id=rid)
    total = env.now - start
    record_request(log, clock, svc.metrics, rid, ts.ENDPOINT, status, total)
    log.record(
        clock.now(),
        svc.flow,
        "Client",
        "response",
        "ok" if status < 400 else "error",
        request_id=rid,
        key=symbol,
        latency=total,
        detail=outcome,
    )
    svc.outcomes[outcome] = svc.outcomes.get(outcome, 0) + 1
    svc.latencies.append(total)


def _reference_run(sc: dict[str, Any]) -> tuple[pd.DataFrame, ts.SignalService]:
    from sim.workload import signal_requests

    ctx, svc = ts.build(sc)
    gateway = simpy.Resource(ctx.env, capacity=int(sc["api.workers"]))

    def arrivals() -> Generator[simpy.Event, Any, None]:
        times, who, what = signal_requests(sc, len(svc.symbols), ctx.rng)
        for i in range(times.size):
            if times[i] > ctx.env.now:
                yield ctx.env.timeout(float(times[i]) - ctx.env.now)
            ctx.env.process(_reference_serve(ctx, svc, gateway, int(who[i]), svc.symbols[int(what[i])]))

    ctx.env.process(arrivals())
    ctx.env.run()
    return ctx.frame(), svc


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(list(df.columns), kind="mergesort", na_position="first").reset_index(drop=True)


@pytest.mark.parametrize(
    "extra",
    [{}, {"api.workers": 1, "load.rate": 900.0, "clients": 3, "ratelimit.rate": 50.0, "ratelimit.burst": 5}],
)
def test_gateway_workers_queue_like_one_process_per_request(extra: dict[str, Any]) -> None:
    """Same rows (as a multiset: only rows at one simulated instant may swap), same outcomes, same
    latencies, for a light load and for a saturated single worker with refusals."""
    sc = make_scenario(ts.DEFAULTS, {"requests": 1500, **extra})
    ref, ref_svc = _reference_run(sc)
    ctx, svc = ts.build(sc)
    ctx.env.process(ts.clients(ctx, svc, sc))
    ctx.env.run()
    got = ctx.frame()
    assert len(got) == len(ref) > 1500 * 10
    pd.testing.assert_frame_equal(_sorted(got), _sorted(ref))
    assert svc.outcomes == ref_svc.outcomes
    assert svc.latencies == ref_svc.latencies
    if extra:  # the saturated case queues and refuses
        assert max(svc.latencies) > 10 * float(np.median(svc.latencies))
        assert svc.outcomes.get("rejected", 0) > 0
