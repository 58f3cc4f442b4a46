"""Simulated I/O for the real cache manager: tiers whose calls cost time drawn from the LatencyBook.

The choice (DESIGN.md rule 1: only I/O time is simulated)
-----------------------------------------------------------
The real :class:`~supreme.cache.manager.CacheManager` is synchronous and cannot yield to SimPy in
the middle of a ``get``.  Rather than re-implement its logic step by step, the simulation gives it
tiers that implement the real tier interface (:class:`~supreme.cache.tiers.base.CacheTier`:
``get``/``peek``/``set``/``delete`` on in-memory dicts) and *charge* each call to an
:class:`IOLedger`::

    io.begin()                      # a fresh ledger for this synchronous call
    value = manager.get(key)        # real code; each tier call appends (resource, cost)
    yield from io.settle()          # the SimPy process pays the costs, in call order,
                                    # holding the Redis / PostgreSQL-pool servers

During the synchronous call the manager's clock is a :class:`CostClock`: ``now() = env.now +
cost charged so far``, so the manager's own event-log rows get the simulated time and latency of
every step (the same rows a real run records).  Contention is modelled in :meth:`SimIO.settle`:
Redis is a single-slot :class:`Server` (it executes commands one at a time) and the
PostgreSQL pool a Server of ``pool_max_size``; a wait is recorded as a ``queue`` row.

Departures (documented, small at the loads studied):

* the state change of a call happens at its start (the dicts are updated when the manager calls
  them), its time cost is paid afterwards; so a request overlapping another sees the other's writes
  a little early;
* per-step latencies in the manager's rows are service times; queueing waits appear in the
  ``queue`` rows and in the request's end-to-end latency;
* work that must not be charged to a demand request (a prefetch) runs in :meth:`SimIO.detached`,
  which settles its ledger in a background SimPy process.

Faults: a tier whose component (``redis``/``postgresql``/``source``) is down in the fault
schedule raises :class:`~supreme.cache.tiers.base.TierUnavailable` after a refused-connection
cost; an error-rate window raises it with that probability; a slow window multiplies costs.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Generator, Iterator
from typing import Any

import numpy as np
import simpy

from sim.clock import SimClock
from sim.latency import Constant, LatencyBook, LatencyError
from supreme.cache.tiers.base import DEFAULT_MAX_VALUE_BYTES, CacheTier, TierUnavailable, live_entry
from supreme.cache.tiers.memory import MemoryTier
from supreme.events import NULL_LOG, EventLog
from supreme.resilience.fault_schedule import FaultSchedule

__all__ = ["CostClock", "IOLedger", "Server", "SimIO", "SimMemoryTier", "SimRemoteTier", "charged"]

#: Cost of a call to a component that is down (connection refused), if the book has no ``<name>.refused``.
REFUSED_COST = 100e-6


class IOLedger:
    """The I/O a synchronous call did: ``(resource name or None, seconds)`` in call order."""

    __slots__ = ("elapsed", "ops", "start")

    def __init__(self, start: float = 0.0) -> None:
        self.ops: list[tuple[str | None, float]] = []
        self.start = start
        self.elapsed = start

    def charge(self, resource: str | None, cost: float) -> None:
        """Add one I/O step."""
        self.ops.append((resource, cost))
        self.elapsed += cost

    @property
    def total(self) -> float:
        """Sum of the charged costs."""
        return self.elapsed - self.start


class Server:
    """A FIFO server of ``capacity`` slots (Redis, the PostgreSQL pool, the cores): the queueing of a
    :class:`simpy.Resource` without its request and release events -- a free slot is taken at once, a
    waiter waits on one event, and a release hands the slot to the oldest waiter."""

    __slots__ = ("capacity", "count", "env", "queue")

    def __init__(self, env: simpy.Environment, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"a server needs capacity >= 1, got {capacity!r}")
        self.env, self.capacity, self.count = env, int(capacity), 0
        self.queue: deque[simpy.Event] = deque()

    def acquire(self) -> simpy.Event | None:
        """Take a slot now (``None``) or the event to wait on for one (granted in arrival order)."""
        if self.count < self.capacity:
            self.count += 1
            return None
        ev = self.env.event()
        self.queue.append(ev)
        return ev

    def release(self) -> None:
        """Give the slot back: to the oldest waiter, if any."""
        if self.queue:
            self.queue.popleft().succeed()
        else:
            self.count -= 1


class CostClock(SimClock):
    """SimClock that also counts the I/O charged so far in the current call (plus a fixed offset)."""

    __slots__ = ("io", "offset")

    def __init__(self, env: simpy.Environment, io: SimIO | None = None, offset: float = 0.0) -> None:
        super().__init__(env)
        self.io = io
        self.offset = float(offset)

    def now(self) -> float:
        """``offset + env.now + cost charged in the current synchronous call``."""
        # env._now, not the env.now property: this is read ~30 times per simulated signal request
        io = self.io
        return self.offset + self.env._now + (io.ledger.elapsed if io is not None else 0.0)


class SimIO:
    """Costs, resources, faults and the current ledger of one simulation run."""

    def __init__(
        self,
        env: simpy.Environment,
        book: LatencyBook,
        rng: np.random.Generator,
        *,
        faults: FaultSchedule | None = None,
        redis_servers: int = 1,
        pool_max_size: int = 10,
        event_log: EventLog = NULL_LOG,
        flow: str = "cache_hierarchy",
        cpu_workers: int = 1,
    ) -> None:
        self.env = env
        self.book = book
        self.rng = rng
        self.faults = faults or FaultSchedule()
        self.resources: dict[str, Server] = {
            "redis": Server(env, redis_servers),
            "postgresql": Server(env, pool_max_size),
            # the real code's CPU time (charged by models that calibrate it): one Python process's
            # worth of cores, so a CPU-bound service saturates here as it does for real
            "cpu": Server(env, cpu_workers),
        }
        self.ledger = IOLedger()
        self.source_calls = 0
        # in-process back-ends (fakeredis, SQLite) spend this process's CPU: set to "cpu" to queue them there
        self.in_process_resource: str | None = None
        self.log = event_log
        self.flow = flow
        self.clock = CostClock(env, self)
        self._models: dict[tuple[str, ...], Any] = {}

    # -- costs ---------------------------------------------------------------------------------
    def model(self, *candidates: str) -> Any:
        """The first latency model the book has among ``candidates`` (resolved once, then cached)."""
        m = self._models.get(candidates)
        if m is None:
            for key in candidates:
                if key in self.book:
                    m = self.book[key]
                    break
            else:
                try:
                    m = self.book[candidates[-1]]  # the book's own fallback ("L2.get" -> "L2")
                except LatencyError:
                    raise LatencyError(f"no latency model for any of {list(candidates)}") from None
            self._models[candidates] = m
        return m

    def draw(self, *candidates: str, component: str | None = None) -> float:
        """One cost from the first known key, times the component's slow-fault multiplier."""
        cost = float(self.model(*candidates).sample(self.rng))
        if component is not None and self.faults.affects(component):  # no window: the multiplier is 1
            cost *= self.faults.state(component, self.now()).latency_multiplier
        return cost

    def charge(self, resource: str | None, cost: float) -> None:
        """Add a cost to the current call's ledger."""
        self.ledger.charge(resource, cost)

    def now(self) -> float:
        """Simulated time including the current call's charged cost."""
        return self.env._now + self.ledger.elapsed

    def fails(self, component: str) -> bool:
        """Whether a call to ``component`` now fails (down, or an error-rate draw)."""
        return self.faults.fails(component, self.now(), self.rng)

    # -- ledgers ---------------------------------------------------------------------------------
    def begin(self) -> IOLedger:
        """Start a fresh ledger for the next synchronous call."""
        self.ledger = IOLedger()
        return self.ledger

    def settle(
        self, ledger: IOLedger | None = None, request_id: str | None = None
    ) -> Generator[simpy.Event, Any, float]:
        """Pay ``ledger`` (default: the current one) in SimPy time, holding resources; return its total."""
        led = ledger if ledger is not None else self.ledger
        if ledger is None:
            self.ledger = IOLedger()  # the clock stops adding the paid costs on top of env.now
        env, resources, log = self.env, self.resources, self.log
        t0 = env._now
        pending = 0.0  # consecutive costs on no resource are paid in one timeout
        for res_name, cost in led.ops:
            if res_name is None:
                pending += cost
                continue
            if pending:
                yield env.timeout(pending)
                pending = 0.0
            res = resources[res_name]
            wait = res.acquire()
            if wait is not None:
                asked = env._now
                yield wait
                if env._now > asked and log.enabled:
                    log.record(
                        env._now,
                        self.flow,
                        _RESOURCE_COMPONENT[res_name],
                        "queue",
                        "ok",
                        request_id=request_id,
                        latency=env._now - asked,
                    )
            yield env.timeout(cost)
            res.release()
        if pending:
            yield env.timeout(pending)
        return env._now - t0

    @contextlib.contextmanager
    def detached(self, request_id: str | None = None) -> Iterator[IOLedger]:
        """Charge what runs inside to a background ledger, settled by its own SimPy process."""
        outer = self.ledger
        inner = IOLedger(start=outer.elapsed)
        self.ledger = inner
        try:
            yield inner
        finally:
            self.ledger = outer
            if inner.ops:
                self.env.process(self.settle(inner, request_id))


_RESOURCE_COMPONENT = {"redis": "Redis_Cache_L2", "postgresql": "PostgreSQL_L3", "cpu": "Worker_CPU"}


def charged(
    io: SimIO,
    fn: Callable[..., Any],
    *candidates: str,
    component: str = "source",
    resource: str | None = None,
) -> Callable[..., Any]:
    """Wrap ``fn`` (e.g. an external source) so each call charges a cost from ``candidates``."""

    def call(*args: Any, **kwargs: Any) -> Any:
        cost = io.draw(*candidates, component=component)
        if io.fails(component):
            io.charge(
                resource,
                io.draw(f"{component}.refused") if f"{component}.refused" in io.book else REFUSED_COST,
            )
            raise ConnectionError(f"{component} is unavailable (fault schedule) at t={io.now():.6f}")
        io.charge(resource, cost)
        return fn(*args, **kwargs)

    return call


class SimRemoteTier(CacheTier):
    """A bytes tier on a dict (TTL on the sim clock) whose calls charge simulated I/O.

    ``backend`` names the latency keys and the fault component: ``redis``/``fakeredis`` (L2,
    resource ``redis``) or ``postgresql``/``sqlite`` (L3, resource ``postgresql`` for PostgreSQL,
    none for in-process SQLite).  Cost keys tried in order: ``<name>.<op>.<hit|miss>``,
    ``<backend>.<op>``, ``<name>.<op>`` (e.g. ``L2.get.hit``, ``redis.get``, ``L2.get``).
    """

    def __init__(
        self,
        io: SimIO,
        *,
        name: str,
        backend: str,
        component: str | None = None,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
    ) -> None:
        super().__init__(name=name, max_value_bytes=max_value_bytes)
        self.io = io
        self.backend = backend
        self.fault_component = component or ("redis" if backend in ("redis", "fakeredis") else "postgresql")
        self.resource = {"redis": "redis", "postgresql": "postgresql"}.get(backend, io.in_process_resource)
        self.data: dict[str, tuple[bytes, float | None]] = {}
        alias = (
            {"get": "select", "set": "upsert", "delete": "delete"}
            if backend in ("postgresql", "sqlite")
            else {"get": "get", "set": "set", "delete": "delete"}
        )
        self._keys = {
            (op, oc): (
                f"{name}.{op}.{oc}",
                f"{backend}.{alias[op]}.{oc}",
                f"{backend}.{alias[op]}",
                f"{name}.{op}",
            )
            for op in ("get", "set", "delete")
            for oc in ("hit", "miss", "ok")
        }

    def _io(self, op: str, outcome: str) -> None:
        io = self.io
        comp = self.fault_component
        if io.fails(comp):
            refused = f"{self.name}.refused"
            io.charge(self.resource, io.draw(refused) if refused in io.book else REFUSED_COST)
            raise TierUnavailable(
                f"{self.name} ({self.backend}) unavailable at t={io.now():.6f} (fault schedule)"
            )
        io.charge(self.resource, io.draw(*self._keys[op, outcome], component=comp))

    def _lookup(self, key: str) -> bytes | None:
        return live_entry(self.data, key, self.io.now())

    def _get(self, key: str) -> bytes | None:
        # the outcome is known before the cost is drawn: hits and misses may cost differently
        value = self._lookup(key)
        self._io("get", "miss" if value is None else "hit")
        return value

    def _peek(self, key: str) -> bytes | None:
        value = self._lookup(key)
        self._io("get", "miss" if value is None else "hit")
        return value

    def _set(self, key: str, value: bytes, ttl: float | None) -> None:
        self._io("set", "ok")
        self.data[key] = (value, None if ttl is None else self.io.now() + ttl)

    def _delete(self, key: str) -> bool:
        self._io("delete", "ok")
        return self.data.pop(key, None) is not None


class SimMemoryTier(MemoryTier):
    """The real L1 :class:`MemoryTier`, charging ``L1.get``/``L1.set`` CPU costs when a book has them.

    (With the event log disabled the manager's L1 hit path is :meth:`MemoryTier.hit`, which charges
    nothing: sub-microsecond costs are below what the aggregate figures resolve.)
    """

    def __init__(self, io: SimIO, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.io = io
        self._get_hit = (
            io.model("L1.get.hit", "L1.get")
            if "L1.get" in io.book or "L1.get.hit" in io.book
            else Constant(0.0)
        )
        self._get_miss = (
            io.model("L1.get.miss", "L1.get")
            if "L1.get" in io.book or "L1.get.miss" in io.book
            else Constant(0.0)
        )
        self._set_cost = (
            io.model("L1.set", "L1.get") if "L1.set" in io.book or "L1.get" in io.book else Constant(0.0)
        )

    def get(self, key: Any, default: Any = None) -> Any:
        """Real lookup, then charge its cost."""
        value = super().get(key, _ABSENT)
        self.io.charge(
            None, float((self._get_miss if value is _ABSENT else self._get_hit).sample(self.io.rng))
        )
        return default if value is _ABSENT else value

    def set(self, key: Any, value: Any, ttl: float | None = None, **kwargs: Any) -> bool:
        """Real insert, then charge its cost."""
        admitted = super().set(key, value, ttl, **kwargs)
        self.io.charge(None, float(self._set_cost.sample(self.io.rng)))
        return admitted


_ABSENT: Any = object()
