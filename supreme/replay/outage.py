"""A pipeline replay under a fault schedule: the real fault tools, the real back-ends, nothing lost.

L2 is reached through a loopback :class:`~supreme.resilience.proxy.TcpProxy`, so the schedule's
``faults.redis.*`` windows (:class:`~supreme.resilience.fault_schedule.FaultSchedule`, one vocabulary
with the simulation; times in seconds from the first candle, on the replay's market clock) cut or
slow *this run's* connections only.  While L2's breaker is not closed, :class:`ErrorRecovery` tries
its procedures (``redis_reconnect``: drop the pool, PING) at every step; when one works an open
breaker goes half-open, and the next successful batch closes it and replays the journal.  After the
replay the journals are drained and every entry L3 holds is read back from L2: ``lost`` counts the
entries L2 does not hold byte for byte.

A ``faults.pool.down_*`` window exhausts L3's connections for its span (:func:`hold_connections`):
on PostgreSQL every connection of the handle's ``psycopg_pool`` is checked out and held, so the
replay's L3 calls wait the pool timeout (``pool_timeout``) and fail; on SQLite, which has no pool,
another connection holds the write lock (``BEGIN IMMEDIATE``), so writes wait the busy timeout and
fail ("database is locked").  L3's breaker opens, its writes wait in the journal, and
``ErrorRecovery`` (``l3_probe``) brings it back once the window ends.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from supreme.builders import build_manager
from supreme.cache.tiers.memory import MemoryTier
from supreme.cache.tiers.redis_tier import RedisTier
from supreme.cache.tiers.sql_tier import SqlTier
from supreme.clock import ManualClock
from supreme.db import Database
from supreme.events import EventLog
from supreme.monitoring.alerts import AlertManager, CallableNotifier, EscalationLevel
from supreme.replay.pipeline import PipelineResult, PipelineSettings, ReplayPipeline
from supreme.replay.sources import Stream
from supreme.resilience.breaker_state import State
from supreme.resilience.fault_schedule import FaultSchedule
from supreme.resilience.proxy import TcpProxy
from supreme.resilience.recovery import ErrorRecovery, pg_pool_check, redis_reconnect

__all__ = ["FaultReplay", "hold_connections", "l3_probe", "replay_with_faults", "terminate_backends"]


@dataclass
class FaultReplay:
    """What a replay under faults produced, and what it cost."""

    result: PipelineResult
    event_log: EventLog
    timeline: pd.DataFrame  #: breaker transitions: market time (s from the start), breaker, from, to
    summary: dict[str, Any]


def _stored_keys(l3: SqlTier) -> list[str]:
    rows = l3.database().execute(f"SELECT key FROM {l3.table} WHERE key LIKE ?", (l3.namespace + "%",))
    return [str(k)[len(l3.namespace):] for (k,) in rows]


def terminate_backends(db: Database) -> int:
    """End this handle's server connections: ``pg_terminate_backend`` on the PostgreSQL backends whose
    ``application_name`` is the handle's own (never anyone else's); on SQLite, which has no server,
    close the handle's connection instead (:meth:`Database.drop_connection`).  Returns how many."""
    if db.dialect != "postgresql":
        return int(db.drop_connection())
    import psycopg

    with psycopg.connect(db.url, autocommit=True, connect_timeout=2) as conn:
        rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE application_name = %s AND pid <> pg_backend_pid()", (db.name,)).fetchall()
    return sum(1 for (ok,) in rows if ok)


def hold_connections(db: Database) -> Callable[[], int]:
    """Exhaust ``db``'s connections until the returned release is called (it returns how many were
    held): every connection of the PostgreSQL pool checked out, or SQLite's write lock taken."""
    if db.dialect == "postgresql":
        pool = db.pool
        held = [pool.getconn(timeout=max(db.timeout, 5.0)) for _ in range(pool.max_size)]

        def release_pg() -> int:
            for conn in held:
                pool.putconn(conn)
            return len(held)

        return release_pg
    import sqlite3

    lock = sqlite3.connect(db.url[len("sqlite:///"):], timeout=5.0, isolation_level=None,
                           check_same_thread=False)
    lock.execute("BEGIN IMMEDIATE")

    def release_sqlite() -> int:
        lock.execute("ROLLBACK")
        lock.close()
        return 1

    return release_sqlite


def l3_probe(db: Database) -> Callable[[], bool]:
    """Recovery procedure for L3: ``pg_pool_check`` on PostgreSQL; on SQLite take and drop the
    write lock (a plain read would pass while a writer holds it)."""
    if db.dialect == "postgresql":
        return pg_pool_check(db.pool, timeout=db.timeout)

    def run() -> bool:
        with db.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        return True

    run.__name__ = "l3_probe"
    return run


def replay_with_faults(streams: Sequence[Stream], faults: Mapping[str, Any], *, redis_url: str,
                       database_url: str, namespace: str, settings: PipelineSettings | None = None,
                       event_log: EventLog | None = None, pool_timeout: float = 0.25) -> FaultReplay:
    """Replay ``streams`` with L2 behind a proxy driven by ``faults`` (``faults.redis.*`` keys), L3's
    backends ended (``faults.pg.*``) or its connections held (``faults.pool.*``, waits of
    ``pool_timeout`` s)."""
    import redis as redis_py

    log = event_log if event_log is not None else EventLog(world="real")
    clock = ManualClock(0.0)
    target = urlsplit(redis_url)
    with TcpProxy(target.hostname or "127.0.0.1", target.port or 6379) as proxy:
        client = redis_py.Redis.from_url(proxy.url(redis_url), socket_timeout=0.5, socket_connect_timeout=0.5)
        # a name of our own, so a backend termination can only ever reach this run's connections
        app = "supreme-fault-" + hashlib.blake2b(namespace.encode(), digest_size=5).hexdigest()
        options: dict[str, Any] = {"name": app}
        if any(k.startswith("faults.pool.") for k in faults):
            options["timeout"] = pool_timeout  # how long an L3 call waits for a held connection
        l3_tier = SqlTier(database_url, clock=clock, namespace=namespace, db_options=options)
        cache, breakers = build_manager(clock, MemoryTier("lru", clock=clock, capacity=10_000),
                                        RedisTier(client, namespace=f"{namespace}cache:"), l3_tier,
                                        event_log=log, default_ttl=None)
        terminated = [0]
        held: list[Callable[[], int]] = []  # releases of the connections a pool window holds
        try:
            pipeline = ReplayPipeline(streams, cache, clock, event_log=log, breakers=breakers,
                                      settings=settings)
            start = min(int(s.frame["timestamp"].iloc[0]) for s in streams) / 1000.0
            schedule = FaultSchedule.from_scenario(faults, clock=clock, event_log=log, offset=start)
            schedule.bind_proxy("redis", proxy)

            def kill(w: Any) -> None:
                terminated[0] += terminate_backends(l3_tier.database())
                log.record(clock.now(), "fault_injection", "Chaos_Engine", "terminate_backends", "ok",
                           key="pg", detail=f"{terminated[0]} so far")

            schedule.bind("pg", kill, lambda w: None)
            def hold(w: Any) -> None:
                held.append(hold_connections(l3_tier.database()))
                log.record(clock.now(), "fault_injection", "Chaos_Engine", "hold_connections", "ok",
                           key="pool")

            def release(w: Any) -> None:
                n = held.pop()() if held else 0
                log.record(clock.now(), "fault_injection", "Chaos_Engine", "release_connections", "ok",
                           key="pool", detail=f"{n} held")

            schedule.bind("pool", hold, release)
            # a recovery that fails escalates to the Alert_Manager (quietly: the run's notifications
            # are kept on the incidents, not logged); incidents resolve when their breaker closes
            alerts = AlertManager(chain=[EscalationLevel("on-call", [CallableNotifier(lambda n: None)])],
                                  warning_notifiers=[], clock=clock, event_log=log)
            recovery = ErrorRecovery(clock=clock, event_log=log, escalation=alerts)
            recovery.register("redis", "redis_reconnect", redis_reconnect(client))
            recovery.register("pg", "l3_probe", l3_probe(l3_tier.database()))

            def before_step() -> None:
                started = {w for kind, w in schedule.apply() if kind == "start"}
                for w in schedule.active():
                    if w.target == "pg" and w not in started:
                        kill(w)  # a PostgreSQL window keeps ending our backends at every step
                # the breaker's own wait is seconds and a step is many market minutes, so it is mostly
                # half-open here: recovery (a fresh pool, a PING) runs until it is closed again
                for dep, tier in (("redis", "L2"), ("pg", "L3")):
                    if breakers[tier].state is not State.CLOSED:
                        recovery.recover(dep, breakers[tier])

            result = pipeline.run(before_step=before_step)
            proxy.restore()  # a window lasting past the end: the back-end returns for the read-back
            while held:
                held.pop()()
            for dep, tier in (("redis", "L2"), ("pg", "L3")):
                if breakers[tier].state is not State.CLOSED:
                    recovery.recover(dep, breakers[tier])
            for inc in alerts.active():
                if breakers[{"redis": "L2", "pg": "L3"}.get(inc.key, "L3")].state is State.CLOSED:
                    alerts.resolve(inc.id, by="auto", note="breaker closed")
            journaled = dict(cache.pending())
            flushed = cache.flush_pending()
            l2, l3 = cache.tiers[1], cache.tiers[2]
            keys = _stored_keys(l3)
            lost = sum(1 for k in keys if l2.peek(k) != l3.peek(k))
            timeline = pd.DataFrame(
                [(tr.time - start, name, tr.from_state.value, tr.to_state.value)
                 for name, br in breakers.items() for tr in br.transitions],
                columns=["market_s", "breaker", "from", "to"]).sort_values("market_s", kind="stable")
            summary = {"candles": result.candles, "signals": len(result.signals), "l3_entries": len(keys),
                       "pending_after_run": journaled, "flushed_after_recovery": flushed, "lost": lost,
                       "recoveries": sum(r.succeeded for r in recovery.history),
                       "failed_recoveries": sum(not r.succeeded for r in recovery.history),
                       "incidents": len(alerts.incidents), "incidents_unresolved": len(alerts.active()),
                       "breakers": {k: b.state.value for k, b in breakers.items()},
                       "pg_terminated": terminated[0],
                       "l3_pool": l3_tier.database().pool_stats()}
        finally:
            while held:
                held.pop()()
            cache.close()
            client.close()
    return FaultReplay(result, log, timeline.reset_index(drop=True), summary)
