"""A pipeline replay under a fault schedule: the real fault tools, the real back-ends, nothing lost.

L2 is reached through a loopback :class:`~supreme.resilience.proxy.TcpProxy`, so the schedule's
``faults.redis.*`` windows (:class:`~supreme.resilience.fault_schedule.FaultSchedule`, one vocabulary
with the simulation; times in seconds from the first candle, on the replay's market clock) cut or
slow *this run's* connections only.  While L2's breaker is not closed, :class:`ErrorRecovery` tries
its procedures (``redis_reconnect``: drop the pool, PING) at every step; when one works an open
breaker goes half-open, and the next successful batch closes it and replays the journal.  After the
replay the journals are drained and every entry L3 holds is read back from L2: ``lost`` counts the
entries L2 does not hold byte for byte.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
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
from supreme.replay.pipeline import PipelineResult, PipelineSettings, ReplayPipeline
from supreme.replay.sources import Stream
from supreme.resilience.breaker_state import State
from supreme.resilience.fault_schedule import FaultSchedule
from supreme.resilience.proxy import TcpProxy
from supreme.resilience.recovery import ErrorRecovery, redis_reconnect

__all__ = ["FaultReplay", "replay_with_faults", "terminate_backends"]


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


def replay_with_faults(streams: Sequence[Stream], faults: Mapping[str, Any], *, redis_url: str,
                       database_url: str, namespace: str, settings: PipelineSettings | None = None,
                       event_log: EventLog | None = None) -> FaultReplay:
    """Replay ``streams`` with L2 behind a proxy driven by ``faults`` (``faults.redis.*`` keys)."""
    import redis as redis_py

    log = event_log if event_log is not None else EventLog(world="real")
    clock = ManualClock(0.0)
    target = urlsplit(redis_url)
    with TcpProxy(target.hostname or "127.0.0.1", target.port or 6379) as proxy:
        client = redis_py.Redis.from_url(proxy.url(redis_url), socket_timeout=0.5, socket_connect_timeout=0.5)
        # a name of our own, so a backend termination can only ever reach this run's connections
        app = "supreme-fault-" + hashlib.blake2b(namespace.encode(), digest_size=5).hexdigest()
        l3_tier = SqlTier(database_url, clock=clock, namespace=namespace, db_options={"name": app})
        cache, breakers = build_manager(clock, MemoryTier("lru", clock=clock, capacity=10_000),
                                        RedisTier(client, namespace=f"{namespace}cache:"), l3_tier,
                                        event_log=log, default_ttl=None)
        terminated = [0]
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
            recovery = ErrorRecovery(clock=clock, event_log=log)
            recovery.register("redis", "redis_reconnect", redis_reconnect(client))

            def before_step() -> None:
                started = {w for kind, w in schedule.apply() if kind == "start"}
                for w in schedule.active():
                    if w.target == "pg" and w not in started:
                        kill(w)  # a PostgreSQL window keeps ending our backends at every step
                # the breaker's own wait is seconds and a step is many market minutes, so it is mostly
                # half-open here: recovery (a fresh pool, a PING) runs until it is closed again
                if breakers["L2"].state is not State.CLOSED:
                    recovery.recover("redis", breakers["L2"])

            result = pipeline.run(before_step=before_step)
            proxy.restore()  # a window lasting past the end: the back-end returns for the read-back
            if breakers["L2"].state is not State.CLOSED:
                recovery.recover("redis", breakers["L2"])
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
                       "breakers": {k: b.state.value for k, b in breakers.items()},
                       "pg_terminated": terminated[0],
                       "l3_pool": l3_tier.database().pool_stats()}
        finally:
            cache.close()
            client.close()
    return FaultReplay(result, log, timeline.reset_index(drop=True), summary)
