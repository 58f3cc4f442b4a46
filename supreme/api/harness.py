"""The Test_Harness of the latency SLA: an open-loop load, where it is sent, and the verdict on it.

The load generator is **open-loop**: request *i* is scheduled at ``start + i / rate`` whatever
happened before, and its latency runs from the *scheduled* time, so a stall delays the requests
queued behind it and shows in the tail instead of being hidden (coordinated omission, Tene's wrk2).
``concurrency`` bounds requests in flight; waiting for a slot counts as latency.  Real latency is
measured on :class:`~supreme.clock.SystemClock` (or any injected clock).

Three sources, one validator (:mod:`supreme.api.sla`), chosen by :func:`check_sla`:

* a running API (:class:`RemoteTarget`): every request is signed with the auth package's
  ``sign_request`` and a fresh nonce; judged on the client's latencies;
* in process (:func:`in_process_run`): the app over fresh embedded back-ends (or ``SUPREME_*``)
  through ``httpx.ASGITransport``; violations are analysed with the server's event log, joined on
  the request id;
* an event log file, judged on its ``API_Gateway``/``request`` rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from supreme.api.sla import SlaConfig, SlaReport, analyse, format_report, load_event_log, validate
from supreme.clock import Clock, SystemClock
from supreme.events import EventLog

__all__ = [
    "ENDPOINTS", "LoadRequest", "LoadSpec", "RemoteTarget", "SlaOutcome", "build_plan", "check_sla",
    "harness_services", "in_process_run", "run_load",
]

ENDPOINTS = ("signal", "symbols", "health")


# -- the open-loop load generator ------------------------------------------------------------------------
@dataclass(frozen=True)
class LoadRequest:
    """One request to send: method, path (with query, as signed), JSON body, endpoint label."""

    method: str
    path: str
    body: bytes = b""
    endpoint: str = ""

    @property
    def label(self) -> str:
        """``"METHOD /path"`` unless given."""
        return self.endpoint or f"{self.method} {self.path.split('?')[0]}"


#: ``signer(request, index, now) -> headers`` (e.g. signature headers with a fresh nonce).
Signer = Callable[[LoadRequest, int, float], Mapping[str, str]]


async def run_load(client: Any, plan: Sequence[LoadRequest], *, rate: float, concurrency: int = 32,
                   clock: Clock | None = None, signer: Signer | None = None,
                   event_log: EventLog | None = None, warmup: int = 0) -> EventLog:
    """Send ``plan`` open-loop at ``rate`` per second through an ``httpx.AsyncClient``; log each request.

    The first ``warmup`` requests of ``plan`` are sent one after another before the measured phase
    and are not recorded: they open connections and fill caches, which is start-up, not steady state.

    Each request leaves a ``Test_Harness``/``request`` row (flow ``sla_validation``) whose latency runs
    from the scheduled send time to the last byte, whose ``request_id`` is the server's
    ``X-Request-ID`` when given (to join with the server's event log) and whose ``key`` is the endpoint.
    """
    if not rate > 0:
        raise ValueError(f"rate must be > 0 requests per second, got {rate}")
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    if not 0 <= warmup < max(1, len(plan)):
        raise ValueError(f"warmup must be >= 0 and leave requests to measure, got {warmup} of {len(plan)}")
    clock = clock if clock is not None else SystemClock()
    log = event_log if event_log is not None else EventLog(world="real")
    slots = asyncio.Semaphore(concurrency)

    async def send(i: int, req: LoadRequest) -> Any:
        headers = {"content-type": "application/json"} if req.body else {}
        if signer is not None:
            headers.update(signer(req, i, clock.now()))
        return await client.request(req.method, req.path, content=req.body or None, headers=headers)

    async def one(i: int, req: LoadRequest, scheduled: float) -> None:
        async with slots:
            rid, outcome = f"h{i}", "error"
            try:
                resp = await send(i, req)
                rid = resp.headers.get("x-request-id", rid)
                outcome, detail = _judge_response(resp)
            except Exception as exc:  # a refused connection is a result, not a crash of the harness
                outcome, detail = _judge_exception(exc)
            done = clock.now()
        log.record(done, "sla_validation", "Test_Harness", "request", outcome, request_id=rid,
                   key=req.label, latency=done - scheduled, detail=detail)

    for i, req in enumerate(plan[:warmup]):
        with contextlib.suppress(Exception):  # a failing warm-up request shows up again when measured
            await send(i, req)

    tasks: list[asyncio.Task[None]] = []
    start = clock.now()
    for j, req in enumerate(plan[warmup:]):
        i = warmup + j
        scheduled = start + j / rate
        delay = scheduled - clock.now()
        if delay > 0:
            await clock.asleep(delay)
        tasks.append(asyncio.create_task(one(i, req, scheduled)))
    await asyncio.gather(*tasks)
    return log


def _judge_response(resp: Any) -> tuple[str, str]:
    """``(outcome, detail)`` of an answer: ok, rejected (4xx), timeout (504) or error (5xx); the detail
    names the status and the API's error code, so failures group by kind."""
    status = int(resp.status_code)
    if status < 400:
        return "ok", f"status={status}"
    code = ""
    with contextlib.suppress(ValueError, AttributeError, TypeError):  # a body that is not our JSON error
        body = resp.json()
        code = str(body.get("error", "")) if isinstance(body, dict) else ""
    detail = f"status={status} {code}".rstrip()
    if status == 504:
        return "timeout", detail
    return ("rejected" if status < 500 else "error"), detail


def _judge_exception(exc: BaseException) -> tuple[str, str]:
    """``(outcome, detail)`` of a request that got no answer: timeout, or error (refused, reset ...)."""
    import httpx

    outcome = "timeout" if isinstance(exc, (httpx.TimeoutException, TimeoutError)) else "error"
    return outcome, f"{type(exc).__name__}: {exc}"


def build_plan(n: int, endpoints: Sequence[str], symbols: Sequence[str],
               timeframe: str = "1d") -> list[LoadRequest]:
    """``n`` requests cycling over ``endpoints`` (and over ``symbols`` for signals)."""
    if n < 1:
        raise ValueError(f"the number of requests must be >= 1, got {n}")
    bad = sorted(set(endpoints) - set(ENDPOINTS))
    if bad or not endpoints:
        raise ValueError(f"unknown endpoint(s) {bad}; choose from {ENDPOINTS}")
    plan = []
    for i in range(n):
        kind = endpoints[i % len(endpoints)]
        if kind == "signal":
            sym = symbols[(i // len(endpoints)) % len(symbols)]
            body = json.dumps({"symbol": sym, "timeframe": timeframe}).encode()
            plan.append(LoadRequest("POST", "/api/v1/trading/signal", body))
        elif kind == "symbols":
            plan.append(LoadRequest("GET", "/api/v1/symbols"))
        else:
            plan.append(LoadRequest("GET", "/health"))
    return plan


def _signer(key_id: str, credential: Any) -> Signer:
    from supreme.api.auth import sign_request

    def sign(req: LoadRequest, i: int, now: float) -> dict[str, str]:
        return sign_request(key_id, credential, req.method, req.path, req.body, int(now * 1000),
                            nonce=f"sla-{i}")

    return sign


# -- where the load goes ---------------------------------------------------------------------------------
@contextlib.contextmanager
def harness_services(use_settings: bool = False) -> Iterator[Any]:
    """:class:`~supreme.api.services.Services` for a load test, closed on exit.

    Rate limits sit far above any load the harness sends (it measures latency, not the limiter);
    the back-ends are a fresh fakeredis and a temporary SQLite file unless ``use_settings``.
    """
    from supreme.api.services import Services
    from supreme.config import Settings, load_settings

    with contextlib.ExitStack() as stack:
        if use_settings:
            settings = load_settings()
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="supreme-sla-")))
            settings = Settings(redis_url=None, database_url=f"sqlite:///{tmp / 'sla.db'}", data_dir=tmp)
        services = Services.from_settings(settings, ip_rate=1e5, ip_burst=100_000, key_rate=1e5,
                                          key_burst=100_000)
        stack.callback(services.close)
        yield services


def in_process_run(n: int = 1000, *, rate: float = 200.0, concurrency: int = 32,
                   endpoints: Sequence[str] = ("signal",), symbols: Sequence[str] = ("SPX", "IXIC"),
                   services: Any = None, use_settings: bool = False,
                   warmup: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the load against the app in this process; return (harness log, server log) frames."""
    import httpx

    from supreme.api.app import create_app

    with contextlib.ExitStack() as stack:
        if services is None:
            services = stack.enter_context(harness_services(use_settings))
        key = services.auth.store.create("ed25519", "signal:read", label="supreme sla (in process)")
        app = create_app(services)
        plan = build_plan(n + warmup, endpoints, symbols)

        async def go() -> pd.DataFrame:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://sla.local") as client:
                log = await run_load(client, plan, rate=rate, concurrency=concurrency, warmup=warmup,
                                     clock=services.clock, signer=_signer(key.record.key_id, key.credential))
            return log.to_frame()

        harness = asyncio.run(go())
        with contextlib.suppress(Exception):  # a throw-away key; a failed revoke must not hide the result
            services.auth.revoke(key.record.key_id)
        return harness, services.event_log.to_frame()


@dataclass(frozen=True)
class RemoteTarget:
    """A running API and the key that signs the load: ``key_file`` (Ed25519 PEM) or ``secret`` (HMAC)."""

    url: str
    key_id: str | None
    key_file: str | None
    secret: str | None
    timeout: float

    def credential(self) -> Any:
        """The signing credential (the PEM text or the secret); ValueError when none was given."""
        if not self.key_id:
            raise ValueError("--url needs --key-id and --key-file (Ed25519 PEM) or --secret (HMAC)")
        if self.key_file:
            return Path(self.key_file).read_text(encoding="ascii")
        if self.secret:
            return self.secret
        raise ValueError("--url needs --key-file (Ed25519 PEM) or --secret (HMAC)")


def remote_run(target: RemoteTarget, plan: Sequence[LoadRequest], *, rate: float, concurrency: int,
               warmup: int) -> pd.DataFrame:
    """Send ``plan`` to a running API over HTTP; the harness log."""
    import httpx

    signer = _signer(str(target.key_id), target.credential())

    async def go() -> pd.DataFrame:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=target.url, limits=limits, timeout=target.timeout) as client:
            log = await run_load(client, plan, rate=rate, concurrency=concurrency, warmup=warmup,
                                 signer=signer)
        return log.to_frame()

    return asyncio.run(go())


# -- the verdict -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoadSpec:
    """What to send: ``requests`` measured after ``warmup`` unmeasured ones, open-loop at ``rate`` per
    second with at most ``concurrency`` in flight, cycling over ``endpoints`` (and ``symbols`` for
    signals).  No defaults here: the command line states them, once."""

    requests: int
    rate: float
    warmup: int
    concurrency: int
    endpoints: tuple[str, ...]
    symbols: tuple[str, ...]


@dataclass(frozen=True)
class SlaOutcome:
    """The report, the rows it was judged on joined with the server's (when known), and the text."""

    report: SlaReport
    events: pd.DataFrame
    text: str


def check_sla(config: SlaConfig, load: LoadSpec, *, events: str | Path | None = None,
              target: RemoteTarget | None = None, use_settings: bool = False, component: str | None = None,
              top: int = 5, error_budget: float | None = None) -> SlaOutcome:
    """Judge an event log file (``events``), a running API (``target``) or, by default, the app in process.

    ``component`` names the rows that carry the total latency: ``API_Gateway`` for a file,
    ``Test_Harness`` (the client's view) when sending.  ``error_budget`` (a fraction) overrides the
    config's budgets.
    """
    server: pd.DataFrame | None = None
    if events is not None:
        frame = load_event_log(events)
        component = component or "API_Gateway"
    else:
        plan = build_plan(load.requests + load.warmup, load.endpoints, load.symbols)
        if target is not None:
            frame = remote_run(target, plan, rate=load.rate, concurrency=load.concurrency, warmup=load.warmup)
        else:
            frame, server = in_process_run(load.requests, rate=load.rate, concurrency=load.concurrency,
                                           endpoints=load.endpoints, symbols=load.symbols,
                                           use_settings=use_settings, warmup=load.warmup)
        component = component or "Test_Harness"
    report = validate(frame, config, component=component, error_budget=error_budget)
    joined = frame if server is None else pd.concat([frame, server], ignore_index=True)
    return SlaOutcome(report, joined, format_report(report, analyse(report, joined, top=top)))
