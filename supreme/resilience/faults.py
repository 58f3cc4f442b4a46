"""Fault injection against the real servers, touching only our own connections.

Seed diagram "Fault Injection Testing": Chaos_Engine injects a failure (Redis disconnect), test
requests trip the Circuit_Breakers, the Recovery_System reconnects / fails over, a test request
closes the circuit, the Validation_Engine confirms.  Tools here:

* :class:`~supreme.resilience.proxy.TcpProxy` — put it between a client and the server, then
  ``outage()`` / ``restore()`` / ``latency``;
* :func:`kill_redis_clients` — ``CLIENT KILL ID`` for the clients carrying *our* client name;
* :func:`terminate_pg_backends` — ``pg_terminate_backend`` for backends with *our* application_name;
* :class:`FaultSchedule` — windows on the injected clock ("Redis unreachable from t=30 s for 10 s")
  that flip bound switches when :meth:`FaultSchedule.apply` runs;
* :func:`recover_until_closed` — the reusable recovery/validation loop (breaker OPEN -> recovery ->
  HALF_OPEN -> test request -> CLOSED) for end-to-end fault flows and the benchmark.

Names are required and must be non-empty, so no call can ever match other users' connections.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from supreme.clock import Clock
from supreme.errors import SupremeError
from supreme.events import NULL_LOG, EventLog
from supreme.resilience.breaker import CircuitBreaker
from supreme.resilience.breaker_state import State
from supreme.resilience.proxy import TcpProxy
from supreme.resilience.recovery import ErrorRecovery

__all__ = [
    "FaultError",
    "FaultSchedule",
    "FaultWindow",
    "FaultyConnector",
    "InjectedFault",
    "TcpProxy",
    "kill_redis_clients",
    "proxied_redis",
    "recover_until_closed",
    "terminate_pg_backends",
]

FLOW = "fault_injection"


class FaultError(SupremeError, ValueError):
    """A fault request that could hit connections that are not ours, or a malformed schedule."""


def _need_name(what: str, name: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise FaultError(f"{what} must be a non-empty name, so only our own connections are touched")


def kill_redis_clients(client: Any, name: str) -> int:
    """``CLIENT KILL ID`` every Redis client named ``name`` except ``client``'s own; returns the count."""
    _need_name("the Redis client name", name)
    own = client.client_id()
    killed = 0
    for info in client.client_list():
        if info.get("name") == name and int(info["id"]) != own:
            killed += int(client.execute_command("CLIENT", "KILL", "ID", info["id"]) or 0)
    return killed


def terminate_pg_backends(conn: Any, application_name: str) -> int:
    """``pg_terminate_backend`` every backend with ``application_name`` except ``conn``'s own."""
    _need_name("the PostgreSQL application_name", application_name)
    rows = conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = %s AND pid <> pg_backend_pid()",
        (application_name,),
    ).fetchall()
    return sum(1 for (ok,) in rows if ok)


@dataclass(frozen=True)
class FaultWindow:
    """``target`` is faulty (``kind``) from ``start`` for ``duration`` seconds of clock time."""

    target: str
    start: float
    duration: float
    kind: str = "down"

    def __post_init__(self) -> None:
        if self.duration <= 0:
            raise FaultError(f"fault window for {self.target!r}: duration must be > 0, got {self.duration}")

    def covers(self, t: float) -> bool:
        """True while ``start <= t < start + duration``."""
        return self.start <= t < self.start + self.duration


class FaultSchedule:
    """Fault windows on a clock; :meth:`apply` turns bound switches on/off as windows open and close."""

    def __init__(self, windows: list[FaultWindow] | None = None, *, clock: Clock,
                 event_log: EventLog = NULL_LOG) -> None:
        self.windows = list(windows or [])
        self.clock = clock
        self.event_log = event_log
        self._switches: dict[str, tuple[Callable[[FaultWindow], Any], Callable[[FaultWindow], Any]]] = {}
        self._on: dict[FaultWindow, bool] = {}

    @classmethod
    def from_scenario(cls, scenario: Mapping[str, Any], *, clock: Clock, event_log: EventLog = NULL_LOG,
                      offset: float = 0.0) -> FaultSchedule:
        """Windows from dotted keys ``faults.<target>.down_at`` / ``faults.<target>.duration`` (+ offset)."""
        starts: dict[str, float] = {}
        durations: dict[str, float] = {}
        for key, value in scenario.items():
            parts = key.split(".")
            if len(parts) == 3 and parts[0] == "faults":
                if parts[2] == "down_at":
                    starts[parts[1]] = float(value)
                elif parts[2] == "duration":
                    durations[parts[1]] = float(value)
                else:
                    raise FaultError(f"unknown fault setting {key!r} (use down_at or duration)")
        windows = []
        for target in sorted(starts.keys() | durations.keys()):
            if target not in starts or target not in durations:
                raise FaultError(f"fault for {target!r} needs both faults.{target}.down_at and "
                                 f"faults.{target}.duration")
            windows.append(FaultWindow(target, offset + starts[target], durations[target]))
        return cls(windows, clock=clock, event_log=event_log)

    def add(self, target: str, start: float, duration: float, kind: str = "down") -> FaultWindow:
        """Add a window."""
        w = FaultWindow(target, start, duration, kind)
        self.windows.append(w)
        return w

    def bind(self, target: str, on_start: Callable[[FaultWindow], Any],
             on_end: Callable[[FaultWindow], Any]) -> None:
        """Switches for ``target``'s windows."""
        self._switches[target] = (on_start, on_end)

    def bind_proxy(self, target: str, proxy: TcpProxy) -> None:
        """``down`` windows cut the proxy; ``slow:<seconds>`` windows add latency."""
        def start(w: FaultWindow) -> None:
            if w.kind.startswith("slow:"):
                proxy.latency = float(w.kind.split(":", 1)[1])
            else:
                proxy.outage()

        self.bind(target, start, lambda w: proxy.restore())

    def active(self, t: float | None = None) -> list[FaultWindow]:
        """Windows covering ``t`` (default now)."""
        t = self.clock.now() if t is None else t
        return [w for w in self.windows if w.covers(t)]

    def apply(self) -> list[tuple[str, FaultWindow]]:
        """Start windows that began and end windows that are over; returns ``(start|end, window)``."""
        now = self.clock.now()
        changes: list[tuple[str, FaultWindow]] = []
        for w in self.windows:
            should = w.covers(now)
            if should == self._on.get(w, False):
                continue
            self._on[w] = should
            changes.append(("start" if should else "end", w))
            switch = self._switches.get(w.target)
            if switch is not None:
                switch[0 if should else 1](w)
            self.event_log.record(now, FLOW, "Chaos_Engine", "inject" if should else "restore",
                                  w.kind, key=w.target)
        return changes


@contextlib.contextmanager
def proxied_redis(real_url: str, client_name: str, *, socket_timeout: float = 0.5,
                  **client_kwargs: Any) -> Iterator[tuple[TcpProxy, Any]]:
    """A :class:`TcpProxy` in front of the Redis at ``real_url`` and a redis-py client through it.

    redis-py's own retries are off by default (``retry=Retry(NoBackoff(), 0)``): retrying is our
    :class:`~supreme.resilience.retry.Retry`'s job, and hidden retries would blur what a fault does.
    """
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry as RedisRetry

    client_kwargs.setdefault("retry", RedisRetry(NoBackoff(), 0))
    parts = urlsplit(real_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    client = redis.Redis.from_url(proxy.url(real_url), client_name=client_name, socket_timeout=socket_timeout,
                                  socket_connect_timeout=socket_timeout, **client_kwargs)
    try:
        yield proxy, client
    finally:
        client.close()
        proxy.close()


def recover_until_closed(
    breaker: CircuitBreaker,
    probe: Callable[[], Any],
    *,
    clock: Clock,
    recovery: ErrorRecovery | None = None,
    dependency: str | None = None,
    step: float = 0.05,
    timeout: float = 30.0,
    event_log: EventLog = NULL_LOG,
    before_step: Callable[[], Any] | None = None,
) -> float:
    """Drive OPEN -> (recovery) -> HALF_OPEN -> test calls -> CLOSED; returns the clock time it took.

    Each step: if OPEN and ``recovery`` is given, run it (its success moves the breaker to
    HALF_OPEN); if HALF_OPEN (or CLOSED), send ``probe`` through the breaker.  Sleeps ``step``
    on the clock between steps; raises :class:`FaultError` after ``timeout``.
    """
    start = clock.now()
    while True:
        if before_step is not None:
            before_step()
        st = breaker.state
        if st is State.CLOSED:
            break
        if st in (State.OPEN, State.FORCED_OPEN) and recovery is not None:
            recovery.recover(dependency or breaker.name, breaker)
            st = breaker.state
        if st in (State.HALF_OPEN, State.OPEN):
            with contextlib.suppress(Exception):  # a failed test call is an outcome, not an error
                breaker.call(probe)
            if breaker.state is State.CLOSED:
                break
        if clock.now() - start > timeout:
            raise FaultError(f"breaker {breaker.name!r} still {breaker.state.value} after {timeout}s")
        clock.sleep(step)
    elapsed = clock.now() - start
    event_log.record(clock.now(), FLOW, "Validation_Engine", "validate", "ok", key=breaker.name,
                     latency=elapsed, detail="recovery validated: circuit closed")
    return elapsed


# The exchange-connector fault wrapper lives with the connectors (supreme.market.faults); one
# import point for every kind of fault.
from supreme.market.faults import FaultyConnector, InjectedFault  # noqa: E402
