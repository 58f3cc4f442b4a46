"""Fault injection testing (seed diagram "Fault Injection Testing"), driving the real components.

A real :class:`~supreme.cache.manager.CacheManager` (real L1 :class:`~supreme.cache.tiers.memory.MemoryTier`,
L2 and L3 as :class:`~supreme.cache.tiers.base.LocalTier` doubles whose calls take simulated time), its
L2 calls guarded by a real :class:`~supreme.resilience.breaker.CircuitBreaker`, the real Chaos_Engine
(:class:`supreme.resilience.fault_schedule.FaultSchedule`) and Recovery_System
(:class:`~supreme.resilience.recovery.ErrorRecovery`)::

    Chaos_Engine.inject (Redis disconnect at faults.redis.down_at) -> System_Components.failure_injected
    Chaos_Engine.request -> Cache_Manager ... (L2 calls fail: TierUnavailable)
    Circuit_Breaker.transition open -> Circuit_Breakers.triggered -> System_Components.circuit_open
    System_Components.initiate_recovery -> Recovery_System.recover -> reconnect (error while Redis is down)
    Recovery_System.escalate -> Recovery_System.escalate_strategy -> Recovery_System.failover
        -> System_Components.failover ok (L2 skipped by the open breaker: answers come from L1/L3,
           writes to L2 wait in the manager's pending-write journal)
    ... every ``recovery.interval`` s: reconnect again; once Redis is back (faults.redis.down_for):
    Recovery_System.reconnect ok -> Circuit_Breaker.transition half_open -> Recovery_System.test_circuit
    -> Circuit_Breakers.test_request -> Redis_Cache_L2 ok -> Circuit_Breaker.transition closed
    -> Circuit_Breakers.close -> Cache_Manager flush (journal replayed to L2)
    -> Validation_Engine.validate (every request answered correctly, every write readable from L2)
    -> Chaos_Engine.validated

Departures: the System_Components serve one request at a time (a SimPy resource of capacity 1),
because the manager's single-flight waiters block on a thread event, which cannot cross the
simulation's thread hand-off (see :class:`sim.models.circuit_breaker.IoBridge`).  The L2 double decides
"down" from the Chaos_Engine's schedule at the simulated instant of each call.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import simpy

from sim.bridge import BridgeClock, IoBridge
from sim.latency import latency_model
from sim.models._context import SimContext
from sim.models._exchange_side import ExchangeSide
from sim.scenario import load_defaults, make_scenario

__all__ = ["DEFAULTS", "FLOW", "NAME", "expected_transitions", "run", "summarize"]

NAME = "fault_injection"
FLOW = "fault_injection"

DEFAULTS: dict[str, Any] = load_defaults(NAME)
#: Fault targets the model has: Redis (L2), PostgreSQL and its pool (L3), the exchange (the source).
MODELLED_TARGETS = ("redis", "pg", "pool", "exchange", "ratelimit")


def _tier_class() -> type:
    from supreme.cache.tiers.base import LocalTier, TierUnavailable

    class SimTier(LocalTier):
        """A LocalTier whose every call waits a simulated latency; ``down()`` makes it refuse."""

        def __init__(self, model: _Model, name: str, median: float) -> None:
            super().__init__(model.clock, name=name)
            self.model = model
            self.latency = latency_model(median, median * model.sc["io.spread"])

        def down(self) -> bool:
            return self.name == "L2" and self.model.redis_down()

        def _check(self) -> None:
            m = self.model
            if self.down():
                m.bridge.wait(m.sc["io.refused"])
                raise TierUnavailable(f"{self.name}: connection refused (Redis disconnected by Chaos_Engine)")
            if self.name == "L3" and m.pg_connection_ended():
                # psycopg_pool checks each connection it hands out (check_connection): the ended one
                # is discarded and a new one opened, so the call pays a connect and succeeds
                m.bridge.wait(m.sc["pg.reconnect_cost"])
                m.ctx.step("PostgreSQL_L3", "reconnect", frm="Connection_Pool", key="pg")
            if self.name == "L3" and m.target_down("pool"):
                m.bridge.wait(m.sc["pool.timeout"])  # every connection is held: wait, then give up
                raise TierUnavailable(f"L3: no pooled connection within {m.sc['pool.timeout']}s "
                                      "(pool exhausted)")
            base = self.latency.sample(m.ctx.rng)
            if self.name == "L2":
                # a slow window multiplies the call's latency and adds the proxy's per-chunk delay
                # (one request chunk and one reply chunk per call)
                now = m.ctx.env.now
                st = m.chaos.state("redis", now)
                extra = sum(2 * w.latency for w in m.chaos.windows if w.kind == "slow" and w.covers(now))
                base = base * st.latency_multiplier + extra
            m.bridge.wait(base)

    return SimTier


class _Model:
    def __init__(self, sc: Mapping[str, Any]) -> None:
        from supreme.cache.manager import CacheManager
        from supreme.cache.tiers.memory import MemoryTier
        from supreme.resilience.breaker import CallNotPermitted, CircuitBreaker
        from supreme.resilience.breaker_state import State
        from supreme.resilience.fault_schedule import FaultSchedule
        from supreme.resilience.recovery import ErrorRecovery

        if sc["load.pattern"] not in ("random", "cycle"):
            raise ValueError(f"load.pattern must be 'random' or 'cycle', got {sc['load.pattern']!r}")
        self.sc = sc
        self.ctx = ctx = SimContext(NAME, FLOW, sc)
        self.bridge = IoBridge(ctx.env)
        self.clock = clock = BridgeClock(ctx.env, self.bridge)
        self.State = State
        # the scenario's windows in the shared vocabulary: redis (L2), pg and pool (L3), exchange and
        # ratelimit (the source); other targets are not modelled here
        fault_keys = {k: v for k, v in sc.items()
                      if k.split(".")[:2] in [["faults", t] for t in MODELLED_TARGETS]}
        self.chaos = FaultSchedule.from_scenario(fault_keys, clock=clock, event_log=ctx.log)
        self.chaos.windows.sort(key=lambda w: w.start)
        SimTier = _tier_class()
        self.l2 = SimTier(self, "L2", sc["io.l2"])
        self.l3 = SimTier(self, "L3", sc["io.l3"])
        self.source_latency = latency_model(sc["io.source"], sc["io.source"] * sc["io.spread"])
        def breaker(name: str) -> CircuitBreaker:  # the scenario's breaker.* settings, one per tier
            return CircuitBreaker(
                name, clock=clock, event_log=ctx.log, record_calls=False,
                failure_rate_threshold=sc["breaker.failure_rate_threshold"],
                sliding_window_size=sc["breaker.window"], minimum_number_of_calls=sc["breaker.min_calls"],
                wait_duration_in_open=sc["breaker.wait_open"],
                permitted_calls_in_half_open=sc["breaker.half_open_calls"],
            )

        self.breaker = breaker("redis")
        self.l3_breaker = breaker("cache_L3")
        self.breaker.add_listener(lambda tr: self._on_transition(tr, "redis"))
        self.l3_breaker.add_listener(lambda tr: self._on_transition(tr, "pg"))
        self.exchange = ExchangeSide(self)
        self.manager = CacheManager(
            MemoryTier("LRU", clock=clock, capacity=sc["l1.capacity"]), self.l2, self.l3, clock=clock,
            event_log=ctx.log, source=self.exchange.fetch,
            guards={"L2": self.breaker.call, "L3": self.l3_breaker.call},
            unavailable_errors=(CallNotPermitted,), flow=FLOW,
        )
        self.recovery = ErrorRecovery(clock=clock, event_log=ctx.log, escalation=self, flow=FLOW,
                                      component="Recovery_System")
        self.recovery.register("redis", "reconnect", self._reconnect, stage="reconnect")
        self.recovery.register("pg", "reconnect", self._reconnect_pg, stage="reconnect")
        self.server = simpy.Resource(ctx.env, capacity=1)
        self.keys = [f"ohlcv:SPX:1d:{i}" for i in range(sc["load.keys"])]
        self.expected: dict[str, Any] = {}
        self.written: set[str] = set()
        self.sent = self.answered = self.wrong = self.errors = 0
        self.recovering: set[str] = set()
        self.validations: list[dict[str, Any]] = []
        self._n = 0
        # backend terminations: every pg.terminate_every s inside each pg window (as the real replay
        # ends its backends at every step of the window)
        every = float(sc["pg.terminate_every"])
        self._pg_kills = sorted(float(t) for w in self.chaos.windows if w.target == "pg" and w.kind == "down"
                                for t in np.arange(w.start, w.start + w.duration, every))

    # -- the simulated dependency ----------------------------------------------------------------------
    def redis_down(self) -> bool:
        """Whether a Chaos_Engine window that cuts Redis covers the current simulated instant."""
        return any(w.target == "redis" and w.kind == "down" for w in self.chaos.active())

    def target_down(self, target: str) -> bool:
        """Whether a ``down`` window of ``target`` covers the current simulated instant."""
        return any(w.target == target and w.kind == "down" for w in self.chaos.active())

    def pg_connection_ended(self) -> bool:
        """True once per termination: the L3 connection was ended by a pg window's Chaos_Engine at a
        ``pg.terminate_every`` tick since the last L3 call."""
        if self._pg_kills and self._pg_kills[0] <= self.ctx.env.now:
            while self._pg_kills and self._pg_kills[0] <= self.ctx.env.now:
                self._pg_kills.pop(0)
            return True
        return False

    def _source(self, key: str) -> Any:
        self.bridge.wait(self.source_latency.sample(self.ctx.rng))
        return {"key": key, "v": 0}

    def _reconnect_pg(self) -> bool:
        """L3 recovery: a fresh pooled connection and a ``SELECT 1`` (fails while pg/pool is faulted)."""
        self.ctx.step("System_Components", "attempt_reconnection", frm="Recovery_System", key="pg")
        self.bridge.wait(self.sc["recovery.reconnect_cost"])
        ok = not (self.target_down("pg") or self.target_down("pool"))
        self.ctx.step("Recovery_System", "reconnection", "ok" if ok else "error", frm="System_Components",
                      key="pg")
        return ok

    def _reconnect(self) -> bool:
        """Recovery procedure: a fresh connection and a PING, taking ``recovery.reconnect_cost``."""
        self.ctx.step("System_Components", "attempt_reconnection", frm="Recovery_System", key="redis")
        self.bridge.wait(self.sc["recovery.reconnect_cost"])
        ok = not self.redis_down()
        self.ctx.step("Recovery_System", "reconnection", "ok" if ok else "error", frm="System_Components",
                      key="redis")
        return ok

    # -- ErrorRecovery's escalation hook: escalate the strategy to failover ---------------------------
    def escalate(self, component: str, message: str, *, key: str | None = None,
                 context: dict[str, Any] | None = None) -> Any:
        """Reconnection failed: fail over to L1/L3 (the open breaker keeps the manager off L2)."""
        ctx = self.ctx
        ctx.step("Recovery_System", "escalate_strategy", key=key, detail=message)
        ctx.step("System_Components", "attempt_failover", frm="Recovery_System", key=key)
        try:
            self.l3.peek("__failover_probe__")
            ok = True
        except Exception:
            ok = False
        ctx.step("Recovery_System", "failover", "ok" if ok else "error", frm="System_Components", key=key,
                 detail="serving from L1/L3; L2 writes journaled" if ok else "L3 unreachable too")
        return ok

    # -- Circuit_Breakers ----------------------------------------------------------------------------------
    def _on_transition(self, tr: Any, dep: str) -> None:
        ctx, State = self.ctx, self.State
        if tr.to_state is State.OPEN:
            ctx.step("Circuit_Breakers", "triggered", "open", frm="System_Components", key=dep,
                     failure_rate=tr.failure_rate)
            ctx.step("System_Components", "circuit_open", "open", frm="Circuit_Breakers", key=dep)
            if dep not in self.recovering:
                self.recovering.add(dep)
                ctx.step("System_Components", "initiate_recovery", key=dep)
                ctx.env.process(self._recover(dep))
        elif tr.to_state is State.CLOSED and tr.from_state is State.HALF_OPEN:
            ctx.step("Circuit_Breakers", "close", "closed", key=dep)

    def _test_circuit(self, dep: str = "redis") -> bool:
        """Recovery_System -> Circuit_Breakers: one test request to L2 through the breaker."""
        from supreme.resilience.breaker import CallNotPermitted

        ctx = self.ctx
        tier, breaker = (self.l2, self.breaker) if dep == "redis" else (self.l3, self.l3_breaker)
        ctx.step("Recovery_System", "test_circuit", key=dep)
        ctx.step("Circuit_Breakers", "test_request", frm="Recovery_System", key=dep)

        def probe() -> None:
            try:
                tier.peek("__circuit_probe__")
            except Exception as exc:
                ctx.step("System_Components", "test_response", "error", key=dep, detail=str(exc))
                raise
            ctx.step("System_Components", "test_response", "ok", to="Circuit_Breakers", key=dep)

        try:
            breaker.call(probe)
        except CallNotPermitted:
            return False  # a client request holds the trial; its outcome decides
        except Exception:
            return False
        return True

    def _recover(self, dep: str = "redis") -> Generator[simpy.Event, Any, None]:
        ctx, State = self.ctx, self.State
        breaker = self.breaker if dep == "redis" else self.l3_breaker
        try:
            while True:
                st = breaker.state
                if st is State.CLOSED:
                    break
                if st is State.OPEN:
                    result = yield from self.bridge.call(self.recovery.recover, dep, breaker)
                    if not result.succeeded:
                        yield ctx.env.timeout(self.sc["recovery.interval"])
                        continue
                if breaker.state is State.HALF_OPEN:
                    yield from self.bridge.call(self._test_circuit, dep)
                if breaker.state is not State.CLOSED:
                    yield ctx.env.timeout(0.1)
            with self.server.request() as req:
                yield req
                yield from self.bridge.call(self.manager.flush_pending, "L2" if dep == "redis" else "L3")
                self._validate(dep)
        finally:
            self.recovering.discard(dep)

    # -- Validation_Engine ------------------------------------------------------------------------------
    def _validate(self, dep: str = "redis") -> None:
        from supreme.cache.codec import decode_entry

        ctx = self.ctx
        ctx.step("Validation_Engine", "recovery_validated", frm="Circuit_Breakers", key=dep)
        tiers = {"redis": [self.l2], "pg": [self.l3]}.get(dep, [self.l2, self.l3])
        lost = []
        for key in sorted(self.written):
            for tier in tiers:
                raw = tier._data.get(key)  # the stored bytes themselves, not through the manager
                if raw is None or decode_entry(raw[0])[0] != self.expected[key]:
                    lost.append(key)
                    break
        checked = len(self.written)
        if dep == "end":  # and every entry the source filled: L2 holds what L3 holds, byte for byte
            fills = [k for k in self.l3._data if k not in self.written and not k.startswith("__")]
            checked += len(fills)
            lost += [k for k in fills if (self.l2._data.get(k) or (None,))[0] != self.l3._data[k][0]]
        pending = sum(self.manager.pending().values())
        # at the run's end requests may still be in flight: none may have failed instead
        all_answered = self.errors == 0 if dep == "end" else self.answered == self.sent
        ok = not lost and pending == 0 and all_answered and self.wrong == 0
        check: dict[str, Any] = {"writes": checked, "lost": len(lost), "pending": pending,
                                 "sent": self.sent, "answered": self.answered, "wrong": self.wrong,
                                 "failed": self.errors}
        self.validations.append({"time": ctx.env.now, "ok": ok, **check})
        ctx.step("Validation_Engine", "validate", "ok" if ok else "error", key=dep, **check)
        ctx.step("Chaos_Engine", "validated", "ok" if ok else "error", frm="Validation_Engine",
                 detail="fault tolerance validated" if ok else f"lost={lost[:5]}")

    # -- Chaos_Engine: the fault and the test requests -------------------------------------------------
    def _chaos(self) -> Generator[simpy.Event, Any, None]:
        env = self.ctx.env
        for w in self.chaos.windows:
            yield env.timeout(max(0.0, w.start - env.now))
            self.chaos.apply()
            self.ctx.step("System_Components", "failure_injected", to="Chaos_Engine", key=w.target)
            yield env.timeout(max(0.0, w.start + w.duration - env.now))
            self.chaos.apply()

    def _serve(self, rid: str, key: str, value: Any) -> Any:
        if value is None:
            return self.manager.get(key, request_id=rid)
        self.manager.set(key, value, request_id=rid)
        return value

    def _request(self, rid: str, key: str, write: bool) -> Generator[simpy.Event, Any, None]:
        ctx = self.ctx
        value = {"key": key, "v": self._n} if write else None
        ctx.step("Chaos_Engine", "request", request_id=rid, key=key, op="set" if write else "get")
        self.sent += 1
        with self.server.request() as req:
            yield req
            want = value if write else self.expected.get(key, {"key": key, "v": 0})
            try:
                got = yield from self.bridge.call(self._serve, rid, key, value)
            except Exception as exc:  # the source gave up (retries exhausted, its breaker open)
                self.errors += 1
                ctx.step("System_Components", "answer", "failed", to="Chaos_Engine", request_id=rid, key=key,
                         detail=f"{type(exc).__name__}: {exc}"[:160])
                return
        if write:
            self.expected[key] = value
            self.written.add(key)
        self.answered += 1
        right = got == want
        self.wrong += not right
        ctx.step("System_Components", "answer", "ok" if right else "error", to="Chaos_Engine", request_id=rid,
                 key=key)

    def _load(self) -> Generator[simpy.Event, Any, None]:
        ctx, sc = self.ctx, self.sc
        while True:
            gap = ctx.rng.exponential(sc["load.interval"]) if sc["load.poisson"] else sc["load.interval"]
            yield ctx.env.timeout(gap)
            self._n += 1
            if sc["load.pattern"] == "cycle":
                key = self.keys[(self._n - 1) % len(self.keys)]
            else:
                key = self.keys[int(ctx.rng.integers(len(self.keys)))]
            if sc["load.rotate"] > 0:  # a new generation of keys every load.rotate s (a candle closing)
                key = f"{key}:{int(ctx.env.now // sc['load.rotate'])}"
            write = bool(ctx.rng.random() < sc["load.write_fraction"])
            ctx.env.process(self._request(ctx.request_id(), key, write))

    def run(self) -> pd.DataFrame:
        env = self.ctx.env
        env.process(self._chaos())
        env.process(self._load())
        try:
            env.run(until=self.sc["duration"])
            self._validate("end")  # the run's end: every write read back from L2 and L3
        finally:
            self.bridge.close()
        df = self.ctx.frame()
        df.attrs["transitions"] = [(t.time, t.from_state.value, t.to_state.value, t.trigger.value)
                                   for t in self.breaker.transitions]
        df.attrs["validations"] = list(self.validations)
        df.attrs["errors"] = self.errors
        return df


def run(scenario: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Inject a Redis disconnect under load, recover, validate; returns the event log."""
    return _Model(make_scenario(DEFAULTS, scenario)).run()


def expected_transitions(scenario: Mapping[str, Any]) -> list[tuple[float, str]]:
    """Breaker transition times predicted from a deterministic read-only scenario.

    Valid for ``load.poisson=False``, ``load.pattern="cycle"``, ``load.write_fraction=0``,
    ``io.spread=1``, ``load.keys > l1.capacity`` (every request misses L1) and a fault that starts
    after the window has filled with successful L2 calls.  While Redis is down each request makes two
    failing L2 calls (the L2 get, then the promotion of the L3 hit); the breaker opens at the failure
    that tips the window over the threshold; recovery tries a reconnect at once and then every
    ``reconnect + L3 probe + interval`` seconds; the first reconnect that ends after Redis is back
    moves the breaker to HALF_OPEN, and the test request (one L2 call) closes it.
    """
    sc = make_scenario(DEFAULTS, scenario)
    dt, down, up = sc["load.interval"], sc["faults.redis.down_at"], sc["faults.redis.down_at"] + sc[
        "faults.redis.down_for"]
    refused, l2, l3 = sc["io.refused"], sc["io.l2"], sc["io.l3"]
    window = sc["breaker.window"]
    need = int(np.ceil(sc["breaker.failure_rate_threshold"] * window / 100.0 - 1e-9))
    k0 = int(np.ceil(down / dt - 1e-9))
    request = k0 + (need - 1) // 2
    t_req = request * dt
    t_open = t_req + refused if need % 2 == 1 else t_req + refused + l3 + refused
    cycle = sc["recovery.reconnect_cost"] + l3 + sc["recovery.interval"]
    m = max(0, int(np.ceil((up - t_open - sc["recovery.reconnect_cost"]) / cycle - 1e-9)))
    t_half = t_open + m * cycle + sc["recovery.reconnect_cost"]
    return [(t_open, "open"), (t_half, "half_open"), (t_half + l2, "closed")]


def summarize(log: pd.DataFrame) -> dict[str, Any]:
    """Requests, answers, breaker openings, recovery attempts, failovers and the validation verdict."""
    comp, op = log["component"], log["operation"]
    val = log[(comp == "Validation_Engine") & (op == "validate")]
    answer = (comp == "System_Components") & (op == "answer")
    return {
        "requests": int(((comp == "Chaos_Engine") & (op == "request")).sum()),
        "answered": int((answer & (log["outcome"] != "failed")).sum()),
        "wrong": int((answer & (log["outcome"] == "error")).sum()),
        "failed": int((answer & (log["outcome"] == "failed")).sum()),
        "opened": int(((comp == "Circuit_Breakers") & (op == "triggered")).sum()),
        "reconnects": int(((comp == "Recovery_System") & (op == "reconnection")).sum()),
        "failovers": int(((comp == "Recovery_System") & (op == "failover")).sum()),
        "journaled": int(((comp == "Redis_Cache_L2") & (log["outcome"] == "journaled")).sum()),
        "flushed": int(((comp == "Redis_Cache_L2") & (op == "flush") & (log["outcome"] == "ok")).sum()),
        "validated": bool(len(val) and (val["outcome"] == "ok").all()),
    }
