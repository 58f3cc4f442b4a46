"""A real run of the signal flow: the service's :class:`~supreme.api.pipeline.SignalPipeline`, in process.

The very object the FastAPI route calls, built by :meth:`supreme.api.services.Services.from_settings`
over real back-ends -- a private fakeredis and a temporary SQLite file by default, or a Redis URL and a
PostgreSQL URL -- on the :class:`~supreme.clock.SystemClock`, serving the scenario's symbols (the
windows of :func:`sim.workload.market_frames`) on a replay market clock that starts at
``market.start``.  The requests are the model's (:func:`sim.workload.signal_requests` with the same
scenario and seed: same arrival times, clients, symbols), signed with real HMAC keys.

One worker, open loop: request *i* is due at ``times[i]``; its latency runs from that due time (a
late start counts, so a busy worker shows as queueing, not as a missing tail) to the end of the
pipeline, and is recorded by :func:`supreme.api.pipeline.record_request` like the app's middleware.
Compare with the model run with ``api.workers = 1`` and ``cpu.workers = 1``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from supreme.clock import Clock, ScaledClock, SystemClock
from supreme.events import EventLog

__all__ = ["ENDPOINT", "PATH", "backends_label", "real_services", "run_real_signal"]

ENDPOINT = "POST /api/v1/trading/signal"
PATH = "/api/v1/trading/signal"


def backends_label(redis_url: str | None, database_url: str | None) -> dict[str, str]:
    """The back-ends of a run, URLs with any password redacted."""
    from urllib.parse import urlsplit, urlunsplit

    def redact(url: str) -> str:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))

    return {"redis": redact(redis_url) if redis_url else "fakeredis (in process)",
            "database": redact(database_url) if database_url else "SQLite (temporary file)"}


@contextlib.contextmanager
def real_services(sc: Mapping[str, Any], frames: Mapping[str, pd.DataFrame], clock: Clock, *,
                  redis_url: str | None = None, database_url: str | None = None,
                  event_log: EventLog | None = None) -> Iterator[tuple[Any, list[tuple[int, str, str]]]]:
    """:class:`~supreme.api.services.Services` over the scenario's markets and limits, and one HMAC key
    per client (index, key id, secret); closed on exit (this run's Redis keys, cache rows and API keys
    are deleted)."""
    from supreme.api.services import Services
    from supreme.builders import redis_client
    from supreme.config import Settings

    ns = f"supreme:simreal:{uuid.uuid4().hex[:8]}:"
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="supreme-realsignal-")))
        paths = []
        for sym, frame in frames.items():
            path = tmp / f"{sym}.parquet"
            frame.to_parquet(path, index=False)
            paths.append(path)
        db = database_url or f"sqlite:///{tmp / 'real.db'}"
        # a throw-away master key: this run's HMAC secrets are stored encrypted like the service's
        settings = Settings(redis_url=redis_url, database_url=db, data_dir=tmp, master_key=os.urandom(32))
        client = redis_client(redis_url)
        stack.callback(client.close)
        market_clock = ScaledClock(float(sc["market.start"]), 1.0, base=clock)
        services = Services.from_settings(
            settings, clock, market_clock=market_clock, event_log=event_log, redis_client=client,
            symbols=[], recorded=paths, namespace=ns, l1_policy=str(sc["cache.l1.policy"]),
            l1_capacity=int(sc["cache.l1.capacity"]), ip_rate=float(sc["ratelimit.ip.rate"]),
            ip_burst=int(sc["ratelimit.ip.burst"]), key_rate=float(sc["ratelimit.rate"]),
            key_burst=int(sc["ratelimit.burst"]))
        services.signal_ttl = float(sc["signal.ttl"])
        stack.callback(services.close)
        if redis_url:
            stack.callback(_drop_keys, client, ns)
        keys = [services.auth.store.create("hmac", "signal:read", label=f"sim validate {i}")
                for i in range(int(sc["clients"]))]
        if database_url:  # the run's rows go on exit; the shared tables stay
            stack.callback(_delete_rows, services, ns, [k.record.key_id for k in keys])
        yield services, [(i, k.record.key_id, str(k.credential)) for i, k in enumerate(keys)]


def _drop_keys(client: Any, namespace: str) -> None:
    keys = list(client.scan_iter(match=f"{namespace}*", count=1000))
    if keys:
        client.delete(*keys)


def _delete_rows(services: Any, namespace: str, key_ids: list[str]) -> None:
    """This run's rows in the shared tables: its cache entries (by namespace) and its API keys."""
    with contextlib.suppress(Exception):  # clean-up must not hide the run's result
        for tier in services.remote_tiers:
            if hasattr(tier, "table"):
                tier.database().execute(f"DELETE FROM {tier.table} WHERE key LIKE ?", (f"{namespace}%",))
    with contextlib.suppress(Exception):
        for kid in key_ids:
            services.auth.store.db.execute("DELETE FROM api_keys WHERE key_id = ?", (kid,))


def run_real_signal(sc: Mapping[str, Any], *, redis_url: str | None = None, database_url: str | None = None,
                    warmup: int = 50) -> pd.DataFrame:
    """The scenario's requests through the real pipeline; the event log (world ``"real"``).

    ``warmup`` requests (other symbols' first loads, imports) run first and are dropped from the log.
    ``attrs``: ``outcomes`` (hit/miss/rejected/error counts), ``latency`` (p50/p95/p99 in s),
    ``backends`` (redacted).
    """
    from sim.workload import market_frames, signal_requests

    # one more window than the workload's: the warm-up requests ask for it alone, so the workload's
    # symbols start as cold in the cache as in the model
    frames, timeframe, origin = market_frames(int(sc["symbols.count"]) + 1)
    spare = list(frames)[-1]
    if timeframe != str(sc["timeframe"]):
        raise ValueError(f"the markets are {timeframe} ({origin}); the scenario asks for {sc['timeframe']}")
    symbols = list(frames)[:-1]
    clock = SystemClock()
    log = EventLog(run_id=f"real-{uuid.uuid4().hex[:8]}", world="real")
    with real_services(sc, frames, clock, redis_url=redis_url, database_url=database_url,
                       event_log=log) as (services, creds):
        pipeline = services.pipeline
        for i in range(warmup):
            _one(pipeline, services, log, clock, creds[i % len(creds)], spare, timeframe, None)
        log.clear()
        times, who, what = signal_requests(sc, len(symbols), np.random.default_rng(int(sc["seed"])))
        outcomes: dict[str, int] = {}
        lat = np.empty(times.size)
        start = clock.now()
        for i in range(times.size):
            _, outcome, lat[i] = _one(pipeline, services, log, clock, creds[int(who[i])],
                                           symbols[int(what[i])], timeframe, start + float(times[i]))
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    frame = log.to_frame()
    frame.attrs["outcomes"] = dict(sorted(outcomes.items()))
    frame.attrs["latency"] = {f"p{p}": float(np.percentile(lat, p)) for p in (50, 95, 99)}
    frame.attrs["latencies"] = lat
    frame.attrs["backends"] = backends_label(redis_url, database_url)
    return frame


def _one(pipeline: Any, services: Any, log: EventLog, clock: Clock, cred: tuple[int, str, str], symbol: str,
         timeframe: str, due: float | None) -> tuple[int, str, float]:
    """One request, as the gateway serves it: wait until due, sign, run the pipeline, close."""
    import json

    from supreme.api.auth.signing import sign_request
    from supreme.api.pipeline import SignalCall, record_request, refusal_status
    from supreme.errors import SupremeError

    if due is not None and due > clock.now():
        clock.sleep(due - clock.now())
    rid = log.next_request_id()
    client, kid, secret = cred
    body = json.dumps({"symbol": symbol, "timeframe": timeframe}).encode()
    # the client signs before sending: not the server's time
    headers = sign_request(kid, secret, "POST", PATH, body, timestamp_ms=int(clock.now() * 1000), nonce=rid)
    t0 = clock.now() if due is None else due
    address = f"10.0.{client // 256}.{client % 256}"
    call = SignalCall(rid, address, headers, "POST", PATH, body, symbol, timeframe)
    try:
        _, out = pipeline.handle(call)
        status, outcome = 200, "hit" if out["meta"]["cached"] else "miss"
    except SupremeError as exc:
        refusal = refusal_status(exc)
        status = refusal[0] if refusal is not None else 500
        outcome = "rejected" if status < 500 else "error"
    total = clock.now() - t0
    record_request(log, clock, services.metrics, rid, ENDPOINT, status, total)
    return status, outcome, total
