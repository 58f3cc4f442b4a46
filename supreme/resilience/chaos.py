"""The Chaos_Engine against the real servers: fault tools that touch only our own connections.

Seed diagram "Fault Injection Testing": Chaos_Engine injects a failure (Redis disconnect), test
requests trip the Circuit_Breakers, the Recovery_System reconnects / fails over, a test request
closes the circuit, the Validation_Engine confirms.  Tools here:

* :func:`proxied_redis` — a redis-py client through a :class:`~supreme.resilience.proxy.TcpProxy`,
  whose ``outage()`` / ``restore()`` / ``latency`` a
  :class:`~supreme.resilience.fault_schedule.FaultSchedule` flips on the injected clock
  (:meth:`~supreme.resilience.fault_schedule.FaultSchedule.bind_proxy`);
* :func:`kill_redis_clients` — ``CLIENT KILL ID`` for the clients carrying *our* client name;
* :func:`terminate_pg_backends` — ``pg_terminate_backend`` for backends with *our* application_name;
* :func:`recover_until_closed` — the reusable recovery/validation loop (breaker OPEN -> recovery ->
  HALF_OPEN -> test request -> CLOSED) for end-to-end fault flows and the benchmark.

Names are required and must be non-empty, so no call can ever match other users' connections.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from supreme.clock import Clock
from supreme.events import NULL_LOG, EventLog
from supreme.resilience.breaker import CircuitBreaker
from supreme.resilience.breaker_state import State
from supreme.resilience.fault_schedule import FLOW, FaultError
from supreme.resilience.proxy import TcpProxy
from supreme.resilience.recovery import ErrorRecovery

__all__ = ["kill_redis_clients", "proxied_redis", "recover_until_closed", "terminate_pg_backends"]


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

