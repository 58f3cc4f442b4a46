"""The fault run of issue 17: Redis cut under a steady load of signed requests, on the real clock.

::

    real Redis <- TcpProxy <- redis-py client (L2, nonces, sessions, rate limits) <- Services <- app
    app lifespan runs (resilience loop on); httpx over the ASGI transport sends signed signal requests
    at ``rate``/s for ``before + cut + after`` s, while a writer thread puts ``write_rate`` cache
    entries/s through the CacheManager; the proxy cuts Redis at ``before`` for ``cut`` s.

Judged afterwards: every request answered (200, or 503 with ``Retry-After``; never another 5xx, never
no answer), the breaker-open alert fired during the cut and resolved after it, the L2 breaker closed
within ``close_within`` s of Redis returning, and every cache write reads back from Redis directly
(not through the proxy) and from L3.  Used by ``tests/api/test_fault_serve.py`` (a short cut) and
``benchmarks/bench_fault_serve.py`` (the 10 s cut of the issue).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["FaultServeReport", "run_fault_serve"]

SIGNAL = "/api/v1/trading/signal"


@dataclass
class FaultServeReport:
    """Figures of one fault run (times in seconds; ``None``: never happened)."""

    rate: float
    cut: float
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    unanswered: int = 0
    missing_retry_after: int = 0
    other_5xx: int = 0
    achieved_rate: float = 0.0
    latency_p99: float = 0.0
    phase_p99: dict[str, float] = field(default_factory=dict)
    breaker_opened_after_cut: float | None = None
    alert_fired_after_cut: float | None = None
    breaker_closed_after_restore: float | None = None
    alert_resolved_after_restore: float | None = None
    writes: int = 0
    writes_lost_l2: int = 0
    writes_lost_l3: int = 0
    pending_at_end: int = 0
    write_errors: list[str] = field(default_factory=list)
    request_errors: list[str] = field(default_factory=list)
    retry_after_values: Counter[str] = field(default_factory=Counter)

    def ok(self, close_within: float = 5.0) -> bool:
        """Every criterion of the issue's fault run holds."""
        return (self.unanswered == 0 and self.other_5xx == 0 and self.missing_retry_after == 0
                and self.alert_fired_after_cut is not None and self.alert_resolved_after_restore is not None
                and self.breaker_closed_after_restore is not None
                and self.breaker_closed_after_restore <= close_within
                and self.writes > 0 and self.writes_lost_l2 == 0 and self.writes_lost_l3 == 0)

    def lines(self) -> list[str]:
        """The figures as text."""
        def s(v: float | None) -> str:
            return "never" if v is None else f"{v:.2f} s"
        return [
            f"load: {self.sent} signed requests at {self.rate:g}/s (achieved {self.achieved_rate:.1f}/s), "
            f"Redis cut {self.cut:g} s",
            f"answers: {dict(sorted(self.statuses.items()))}, unanswered {self.unanswered}, "
            f"other 5xx {self.other_5xx}, 503 without Retry-After {self.missing_retry_after}, "
            f"Retry-After values {dict(self.retry_after_values)}",
            f"client P99 latency {self.latency_p99 * 1000:.1f} ms; by phase "
            + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in self.phase_p99.items())
            + (f" (cut/before ratio {self.phase_p99['cut'] / self.phase_p99['before']:.2f}x)"
               if self.phase_p99.get("before") and "cut" in self.phase_p99 else ""),
            f"breaker opened {s(self.breaker_opened_after_cut)} after the cut; alert fired "
            f"{s(self.alert_fired_after_cut)} after the cut",
            f"breaker closed {s(self.breaker_closed_after_restore)} after Redis returned; alert resolved "
            f"{s(self.alert_resolved_after_restore)} after",
            f"writes: {self.writes}, lost in L2 {self.writes_lost_l2}, lost in L3 {self.writes_lost_l3}, "
            f"write errors {len(self.write_errors)}, "
            f"still journalled when the load ended {self.pending_at_end}",
            f"verdict: {'PASS' if self.ok() else 'FAIL'}",
        ]


def run_fault_serve(redis_url: str, *, database_url: str | None = None, rate: float = 100.0,
                    before: float = 2.0, cut: float = 10.0, after: float = 8.0, write_rate: float = 20.0,
                    concurrency: int = 64) -> FaultServeReport:
    """Run the fault scenario against the app in this process (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="supreme-fault-") as tmp:
        return asyncio.run(_run(redis_url, database_url or f"sqlite:///{Path(tmp) / 'fault.db'}", Path(tmp),
                                rate, before, cut, after, write_rate, concurrency))


async def _run(redis_url: str, db_url: str, tmp: Path, rate: float, before: float, cut: float, after: float,
               write_rate: float, concurrency: int) -> FaultServeReport:
    import redis

    from supreme.api.services import Services
    from supreme.clock import SystemClock
    from supreme.config import Settings
    from supreme.resilience.proxy import TcpProxy

    parts = urlsplit(redis_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    client = redis.Redis.from_url(proxy.url(redis_url), socket_timeout=0.5, socket_connect_timeout=0.5)
    namespace = f"supreme-fault-{uuid.uuid4().hex[:8]}:"
    settings = Settings(redis_url=None, database_url=db_url, data_dir=tmp)
    svc = Services.from_settings(settings, SystemClock(), redis_client=client, namespace=namespace,
                                 symbols=["SPX"], ip_rate=1e5, ip_burst=100_000, key_rate=1e5,
                                 key_burst=100_000)
    report = FaultServeReport(rate, cut)
    direct = redis.Redis.from_url(redis_url)
    try:
        written = await _drive(svc, proxy, report, before, cut, after, write_rate, concurrency)
        _read_back(svc, direct, namespace, written, report)
    finally:
        svc.close()
        proxy.close()
        with contextlib.suppress(Exception):
            for k in direct.scan_iter(match=f"{namespace}*", count=1000):
                direct.delete(k)
        direct.close()
    return report


async def _drive(svc: Any, proxy: Any, report: FaultServeReport, before: float, cut: float, after: float,
                 write_rate: float, concurrency: int) -> list[str]:
    """Load, cut, restore and watch (all on the service's real clock); the keys written."""
    import httpx

    from supreme.api.app import create_app

    key = svc.auth.store.create("ed25519", "signal:read", label="fault run")
    app = create_app(svc)
    clock = svc.clock
    total = before + cut + after
    stop = threading.Event()
    written: list[str] = []
    writer = threading.Thread(target=_writer, args=(svc, written, write_rate, stop, report), daemon=True)
    marks: dict[str, float] = {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://fault.local",
                                     timeout=10.0) as http:
            t0 = clock.now()
            writer.start()
            watch = asyncio.ensure_future(_watch(svc, marks, t0 + total + 2.0))
            faults = asyncio.ensure_future(_faults(proxy, clock, t0, before, cut, marks))
            latencies = await _load(http, svc, key, report, t0, total, concurrency)
            await faults
            await watch
            stop.set()
            await asyncio.to_thread(writer.join, 10.0)
    report.writes = len(written)
    report.achieved_rate = report.sent / max(total, 1e-9)
    cut_at, back_at = marks.get("cut"), marks.get("restore")
    assert cut_at is not None and back_at is not None
    report.latency_p99 = _p99([lat for _, lat in latencies])
    phases = {"before": [lat for t, lat in latencies if t < cut_at],
              "cut": [lat for t, lat in latencies if cut_at <= t < back_at],
              "after": [lat for t, lat in latencies if t >= back_at]}
    report.phase_p99 = {k: _p99(v) for k, v in phases.items() if v}
    report.breaker_opened_after_cut = _since(marks.get("breaker_open"), cut_at)
    report.alert_fired_after_cut = _since(marks.get("alert_fired"), cut_at)
    report.breaker_closed_after_restore = _since(marks.get("breaker_closed"), back_at)
    report.alert_resolved_after_restore = _since(marks.get("alert_resolved"), back_at)
    return written


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else 0.0


def _since(t: float | None, t0: float) -> float | None:
    return None if t is None else t - t0


async def _faults(proxy: Any, clock: Any, t0: float, before: float, cut: float,
                  marks: dict[str, float]) -> None:
    """Cut Redis at ``t0 + before`` for ``cut`` s."""
    await clock.asleep(max(0.0, t0 + before - clock.now()))
    proxy.outage()
    marks["cut"] = clock.now()
    await clock.asleep(max(0.0, t0 + before + cut - clock.now()))
    proxy.restore()
    marks["restore"] = clock.now()


async def _watch(svc: Any, marks: dict[str, float], until: float) -> None:
    """Note when the L2 breaker opens/closes and the breaker alert fires/resolves (after the cut)."""
    clock = svc.clock
    breaker = svc.breakers["L2"]
    rule = f"breaker_open:{breaker.name}"
    while clock.now() < until:
        now = clock.now()
        if "cut" in marks:
            state = breaker.state.value
            firing = any(i.rule == rule for i in svc.resilience.alerts.active())
            if state != "closed":
                marks.setdefault("breaker_open", now)
            if firing:
                marks.setdefault("alert_fired", now)
            if "restore" in marks and "breaker_open" in marks:
                if state == "closed":
                    marks.setdefault("breaker_closed", now)
                if "alert_fired" in marks and not firing:
                    marks.setdefault("alert_resolved", now)
        await clock.asleep(0.02)


async def _load(http: Any, svc: Any, key: Any, report: FaultServeReport, t0: float, total: float,
                concurrency: int) -> list[tuple[float, float]]:
    """Open-loop signed requests at ``report.rate``/s for ``total`` s; ``(sent at, latency)`` pairs."""
    from supreme.api.auth import sign_request

    clock = svc.clock
    body = json.dumps({"symbol": "SPX", "timeframe": "1d"}).encode()
    sem = asyncio.Semaphore(concurrency)
    latencies: list[tuple[float, float]] = []
    n = int(total * report.rate)

    async def one(i: int) -> None:
        async with sem:
            start = clock.now()
            headers = sign_request(key.record.key_id, key.credential, "POST", SIGNAL, body, int(start * 1000),
                                   nonce=f"fault-{i}")
            headers["content-type"] = "application/json"
            try:
                resp = await http.post(SIGNAL, content=body, headers=headers)
            except Exception as exc:  # no answer at all is what the run must never see
                report.unanswered += 1
                report.request_errors.append(f"request {i}: {type(exc).__name__}: {exc}")
                return
            latencies.append((start, clock.now() - start))
            report.statuses[resp.status_code] += 1
            if resp.status_code == 503:
                value = resp.headers.get("retry-after")
                if value is None:
                    report.missing_retry_after += 1
                else:
                    report.retry_after_values[value] += 1
            elif resp.status_code >= 500:
                report.other_5xx += 1

    tasks = []
    for i in range(n):
        await clock.asleep(max(0.0, t0 + i / report.rate - clock.now()))
        tasks.append(asyncio.ensure_future(one(i)))
        report.sent += 1
    await asyncio.gather(*tasks)
    return latencies


def _writer(svc: Any, written: list[str], rate: float, stop: threading.Event,
            report: FaultServeReport) -> None:
    """Cache writes at ``rate``/s through the manager until ``stop`` (each must survive the cut)."""
    clock = svc.clock
    t0, i = clock.now(), 0
    while not stop.is_set():
        k = f"fault:w{i}"
        try:
            svc.cache.set(k, {"i": i, "t": clock.now()})
            written.append(k)
        except Exception as exc:  # a refused write is reported, never counted as written
            report.write_errors.append(f"{k}: {type(exc).__name__}: {exc}")
        i += 1
        clock.sleep(max(0.0, t0 + i / rate - clock.now()))


def _read_back(svc: Any, direct: Any, namespace: str, written: list[str], report: FaultServeReport) -> None:
    """Every written key is in Redis (read without the proxy) and in L3 (read from the tier itself)."""
    # what the journals still held when the load ended (replayed by the calls after the cut, else here)
    report.pending_at_end = sum(svc.cache.pending().values())
    svc.cache.flush_pending()
    l3 = next(t for t in svc.cache.tiers if getattr(t, "name", "") == "L3")
    for k in written:
        if not direct.exists(f"{namespace}cache:{k}"):
            report.writes_lost_l2 += 1
        if not l3.contains(k):
            report.writes_lost_l3 += 1
