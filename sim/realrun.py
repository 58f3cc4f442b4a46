"""A real run of the cache-hierarchy workload: the real CacheManager over real tiers, world ``"real"``.

Same objects as :mod:`sim.models.cache_hierarchy` (manager, L1 MemoryTier and policy, codec) but
with :class:`~supreme.cache.tiers.redis_tier.RedisTier` (fakeredis in process by default, or a
Redis URL) and :class:`~supreme.cache.tiers.sql_tier.SqlTier` (SQLite in a temporary file by
default, or a PostgreSQL URL) on the :class:`~supreme.clock.SystemClock`.  The event log has the
same schema and steps as the simulation, so :mod:`sim.compare` compares the two directly.

Open loop: with ``rate`` set, request *i* is due at ``times[i]`` and its ``response`` latency is
measured from that due time (a late start counts), so a slow step cannot hide the tail
(coordinated omission).  With ``rate=None`` requests run back to back.

:func:`calibrate_tiers` times the same real tier objects with :func:`sim.calibrate.calibrate`
(its ``extra`` hook) under the keys :class:`sim.tiers.SimRemoteTier` looks up first
(``L2.get.hit``, ``L3.set``, …), so a simulation loading that book is calibrated on exactly the
code paths the real run exercises.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.latency import LatencyBook
from sim.workload import payload
from supreme.clock import Clock, SystemClock
from supreme.events import EventLog

__all__ = ["RealTiers", "calibrate_from_log", "calibrate_tiers", "open_tiers", "run_real"]


class RealTiers:
    """The real L2/L3 tiers of one run, and how to clean them up."""

    def __init__(
        self,
        l2: Any,
        l3: Any,
        namespace: str,
        tmpdir: tempfile.TemporaryDirectory[str] | None,
        drop_table: bool,
    ) -> None:
        self.l2, self.l3 = l2, l3
        self.namespace = namespace
        self._tmp = tmpdir
        self._drop = drop_table

    def close(self) -> None:
        """Delete this run's Redis keys and SQL table, close connections."""
        client = self.l2.client
        try:
            keys = list(client.scan_iter(match=f"{self.namespace}*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            self.l2.close()
        try:
            if self._drop:
                self.l3.database().execute(f"DROP TABLE IF EXISTS {self.l3.table}")
        finally:
            self.l3.close()
            if self._tmp is not None:
                self._tmp.cleanup()


def open_tiers(
    clock: Clock,
    *,
    redis_url: str | None = None,
    redis_client: Any = None,
    database_url: str | None = None,
    namespace: str | None = None,
) -> RealTiers:
    """L2 on ``redis_client``/``redis_url`` (else fakeredis) and L3 on ``database_url`` (else temp SQLite)."""
    from supreme.cache.tiers import RedisTier, SqlTier

    ns = namespace if namespace is not None else f"supreme:simreal:{uuid.uuid4().hex[:8]}:"
    if redis_client is not None:
        l2 = RedisTier(redis_client, namespace=ns)
    else:
        l2 = RedisTier.from_url(redis_url, namespace=ns)
    tmp = None
    if database_url is None:
        tmp = tempfile.TemporaryDirectory(prefix="supreme-realrun-")
        database_url = f"sqlite:///{Path(tmp.name) / 'l3.db'}"
    table = f"simreal_{uuid.uuid4().hex[:10]}"
    l3 = SqlTier(database_url, clock=clock, table=table)
    return RealTiers(l2, l3, ns, tmp, drop_table=True)


def run_real(
    keys: Sequence[str],
    *,
    policy: str = "lru",
    capacity: int = 100,
    value_bytes: int = 256,
    ttl: float | None = None,
    rate: float | None = None,
    seed: int = 0,
    run_id: str | None = None,
    **backend: Any,
) -> pd.DataFrame:
    """Run ``keys`` through the real manager and real tiers; the event log (world ``"real"``).

    ``backend`` names the tiers as :func:`open_tiers` takes them (``redis_url`` or ``redis_client``,
    ``database_url``, ``namespace``).
    """
    from supreme.cache.manager import CacheManager
    from supreme.cache.policies import make_policy
    from supreme.cache.tiers import MemoryTier

    clock = SystemClock()
    log = EventLog(run_id=run_id or f"real-{uuid.uuid4().hex[:8]}", world="real")
    tiers = open_tiers(clock, **backend)
    try:
        manager = CacheManager(
            MemoryTier(make_policy(policy, capacity), clock=clock),
            tiers.l2,
            tiers.l3,
            clock=clock,
            event_log=log,
            source=lambda key: payload(key, value_bytes),
            default_ttl=ttl,
        )
        due = _due_times(len(keys), rate, seed, clock.now())
        for i, key in enumerate(keys):
            _request(manager, log, clock, key, None if due is None else float(due[i]))
        frame = log.to_frame()
        frame.attrs["stats"] = manager.stats().reset_index().to_dict("records")
        return frame
    finally:
        tiers.close()


def _due_times(n: int, rate: float | None, seed: int, start: float) -> np.ndarray | None:
    """Open-loop due times from ``start`` at ``rate`` per second (Poisson), or None: back to back."""
    if rate is None:
        return None
    from sim.workload import arrivals

    return start + arrivals(n, rate, np.random.default_rng(seed))


def _request(manager: Any, log: EventLog, clock: Clock, key: str, due: float | None) -> None:
    """One Application request: wait until it is due, get ``key``, record the response.

    The response latency runs from the due time, so a late start counts (coordinated omission).
    """
    rid = log.next_request_id()
    if due is not None:
        wait = due - clock.now()
        if wait > 0:
            clock.sleep(wait)
    t0 = clock.now() if due is None else due
    log.record(
        clock.now(),
        "cache_hierarchy",
        "Cache_Manager",
        "request",
        request_id=rid,
        key=key,
        detail='{"from": "Application"}',
    )
    outcome = "ok"
    try:
        manager.get(key, request_id=rid)
    except Exception as exc:  # keep measuring; the row says what failed
        outcome = "error"
        log.record(
            clock.now(),
            "cache_hierarchy",
            "Application",
            "error",
            "error",
            request_id=rid,
            key=key,
            detail=type(exc).__name__,
        )
    t1 = clock.now()
    log.record(
        t1,
        "cache_hierarchy",
        "Application",
        "response",
        outcome,
        request_id=rid,
        key=key,
        latency=t1 - t0,
    )


def calibrate_tiers(
    out: str | Path | None = None, *, value_bytes: int = 256, n: int = 300, warmup: int = 20, **backend: Any
) -> LatencyBook:
    """Time the real tiers' hit/miss/set paths (as the manager calls them) into a LatencyBook.

    ``backend`` names the tiers as :func:`open_tiers` takes them.
    """
    from sim.calibrate import calibrate
    from supreme.cache.codec import decode_entry, encode_entry
    from supreme.cache.policies import make_policy
    from supreme.cache.tiers import MemoryTier

    clock = SystemClock()
    tiers = open_tiers(clock, **backend)
    try:
        l1 = MemoryTier(make_policy("lru", 1000), clock=clock)
        value = payload("calib", value_bytes)
        blob = encode_entry(value, None)
        l1.set("hot", value)
        tiers.l2.set("hot", blob)
        tiers.l3.set("hot", blob)
        counter = iter(range(10**9))
        extra = {
            "L1.get.hit": lambda: l1.get("hot"),
            "L1.get.miss": lambda: l1.get("absent"),
            "L1.set": lambda: l1.set(f"k{next(counter) % 500}", value),
            "L2.get.hit": lambda: decode_entry(tiers.l2.get("hot")),  # the manager decodes before recording
            "L2.get.miss": lambda: tiers.l2.get("absent"),
            "L2.set.ok": lambda: tiers.l2.set("w", blob),
            "L3.get.hit": lambda: decode_entry(tiers.l3.get("hot")),
            "L3.get.miss": lambda: tiers.l3.get("absent"),
            "L3.set.ok": lambda: tiers.l3.set("w", blob),
            "source.fetch": lambda: payload("some:key", value_bytes),
        }
        return calibrate(out, fakeredis=False, sqlite=False, l1=False, extra=extra, n=n, warmup=warmup)
    finally:
        tiers.close()


_TIER_OF = {"Memory_Cache_L1": "L1", "Redis_Cache_L2": "L2", "PostgreSQL_L3": "L3"}


def calibrate_from_log(
    real: pd.DataFrame, out: str | Path | None = None, min_samples: int = 5
) -> LatencyBook:
    """In-situ calibration: empirical step latencies of a real run's event log, keyed for SimRemoteTier.

    Use a calibration run on a *different* key sequence from the run being compared, so the
    comparison is not of a log with itself.
    """
    from sim.latency import Empirical

    groups: dict[str, list[np.ndarray]] = {}
    for (comp, op, outcome), g in real.groupby(["component", "operation", "outcome"]):
        lat = g["latency"].to_numpy(float)
        if comp in _TIER_OF:
            tier = _TIER_OF[comp]
            if op == "get" and outcome in ("hit", "miss"):
                key = f"{tier}.get.{outcome}"
            elif op in ("set", "promote") and outcome == "ok":
                key = f"{tier}.set" if tier == "L1" else f"{tier}.set.ok"
            else:
                continue
        elif comp == "External_Source" and op == "fetch" and outcome == "ok":
            key = "source.fetch"
        else:
            continue
        groups.setdefault(key, []).append(lat)
    book = LatencyBook(
        {k: Empirical(np.concatenate(v)) for k, v in groups.items() if sum(a.size for a in v) >= min_samples}
    )
    if out is not None:
        book.save(out)
    return book
