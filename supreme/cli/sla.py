"""``supreme sla``: send N requests open-loop and judge P50/P95/P99 per endpoint against the SLA.

Three sources, one validator (:mod:`supreme.api.sla`):

* ``--url http://host:port --key-id ak_… --key-file key.pem`` (or ``--secret``): a running API; every
  request is signed with the auth package's ``sign_request`` and a fresh nonce.  Judged on the client's
  latencies (from the scheduled send time); the server's steps are not visible over HTTP.
* in process (default, no ``--url``/``--events``): the app over fresh embedded back-ends (fakeredis, a
  temporary SQLite; ``--use-settings`` uses ``SUPREME_*`` instead) through ``httpx.ASGITransport``;
  violations are analysed with the server's event log, joined on the request id.
* ``--events FILE``: an event log (Parquet/CSV, the shared schema; e.g. from ``supreme sim run`` or
  ``supreme serve --event-log``) judged on its ``API_Gateway``/``request`` rows.

Exit status: 0 when every endpoint meets its thresholds, 1 on a violation, 2 on bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["build_plan", "in_process_run", "register", "run"]

ENDPOINTS = ("signal", "symbols", "health")


def build_plan(n: int, endpoints: Sequence[str], symbols: Sequence[str], timeframe: str = "1d") -> list[Any]:
    """``n`` requests cycling over ``endpoints`` (and over ``symbols`` for signals)."""
    from supreme.api.sla import LoadRequest

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


def _signer(key_id: str, credential: Any) -> Any:
    from supreme.api.auth import sign_request

    def sign(req: Any, i: int, now: float) -> dict[str, str]:
        return sign_request(key_id, credential, req.method, req.path, req.body, int(now * 1000),
                            nonce=f"sla-{i}")

    return sign


def in_process_run(n: int = 1000, *, rate: float = 200.0, concurrency: int = 32,
                   endpoints: Sequence[str] = ("signal",), symbols: Sequence[str] = ("SPX", "IXIC"),
                   services: Any = None, use_settings: bool = False,
                   warmup: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the load against the app in this process; return (harness log, server log) frames."""
    import httpx

    from supreme.api.app import create_app
    from supreme.api.services import Services
    from supreme.api.sla import run_load
    from supreme.config import Settings, load_settings

    tmp: tempfile.TemporaryDirectory[str] | None = None
    own = services is None
    if services is None:
        if use_settings:
            settings = load_settings()
        else:
            tmp = tempfile.TemporaryDirectory(prefix="supreme-sla-")
            settings = Settings(redis_url=None, database_url=f"sqlite:///{Path(tmp.name) / 'sla.db'}",
                                data_dir=Path(tmp.name))
        services = Services.from_settings(settings, ip_rate=1e5, ip_burst=100_000, key_rate=1e5,
                                          key_burst=100_000)
    try:
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
    finally:
        if own:
            services.close()
        if tmp is not None:
            tmp.cleanup()


def _url_run(args: argparse.Namespace, plan: list[Any]) -> pd.DataFrame:
    import httpx

    from supreme.api.sla import run_load

    if not args.key_id:
        raise ValueError("--url needs --key-id and --key-file (Ed25519 PEM) or --secret (HMAC)")
    if args.key_file:
        credential: Any = Path(args.key_file).read_text(encoding="ascii")
    elif args.secret:
        credential = args.secret
    else:
        raise ValueError("--url needs --key-file (Ed25519 PEM) or --secret (HMAC)")

    async def go() -> pd.DataFrame:
        limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
        async with httpx.AsyncClient(base_url=args.url, limits=limits, timeout=args.timeout) as client:
            log = await run_load(client, plan, rate=args.rate, concurrency=args.concurrency,
                                 warmup=args.warmup, signer=_signer(args.key_id, credential))
        return log.to_frame()

    return asyncio.run(go())


def _ms_or_none(text: str) -> float | None:
    if text.lower() in ("none", "off", "-"):
        return None
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"thresholds must be > 0 ms, got {text!r}")
    return value


def register(subparsers: Any) -> None:
    """Add the ``sla`` parser."""
    p = subparsers.add_parser("sla", help="latency SLA validation (P50/P95/P99 per endpoint)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--url", help="base URL of a running API, e.g. http://127.0.0.1:8000")
    src.add_argument("--events", metavar="FILE", help="judge an event log (Parquet/CSV) instead of sending")
    p.add_argument("--key-id", help="API key id (with --url)")
    p.add_argument("--key-file", help="Ed25519 private key PEM (with --url)")
    p.add_argument("--secret", help="HMAC secret (with --url)")
    p.add_argument("-n", "--requests", type=int, default=1000, help="requests to send (default 1000)")
    p.add_argument("--rate", type=float, default=200.0, help="scheduled requests per second (default 200)")
    p.add_argument("--warmup", type=int, default=10,
                   help="requests sent one by one before the measured ones, not counted (default 10)")
    p.add_argument("--concurrency", type=int, default=32, help="requests in flight at most (default 32)")
    p.add_argument("--endpoint", action="append", choices=ENDPOINTS,
                   help="endpoint(s) to exercise, cycled (default: signal)")
    p.add_argument("--symbols", default="SPX,IXIC", help="symbols for signal requests (default SPX,IXIC)")
    p.add_argument("--timeout", type=float, default=10.0, help="HTTP timeout in seconds (with --url)")
    p.add_argument("--use-settings", action="store_true",
                   help="in process: use SUPREME_REDIS_URL / SUPREME_DATABASE_URL instead of temporary ones")
    p.add_argument("--config", metavar="FILE", help="thresholds file (TOML/JSON: [default] p95_ms = 50 …)")
    p.add_argument("--p50-ms", type=_ms_or_none, default=None, help="P50 limit in ms (default: unchecked)")
    p.add_argument("--p95-ms", type=_ms_or_none, default=50.0, help="P95 limit in ms (default 50)")
    p.add_argument("--p99-ms", type=_ms_or_none, default=100.0, help="P99 limit in ms (default 100)")
    p.add_argument("--component", default=None,
                   help="rows that carry the total latency (default: API_Gateway for --events, "
                        "Test_Harness when sending)")
    p.add_argument("--top", type=int, default=5, help="slowest requests shown per violation (default 5)")
    p.add_argument("--out", metavar="FILE", help="write the joined event log (Parquet) here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Send (or read), validate, print; 1 on violation."""
    from supreme.api.sla import (
        SlaConfig,
        SlaThresholds,
        analyse,
        format_report,
        load_event_log,
        load_sla_config,
        validate,
    )

    if args.config:
        config = load_sla_config(args.config)
    else:
        config = SlaConfig(SlaThresholds(p50=None if args.p50_ms is None else args.p50_ms / 1e3,
                                         p95=None if args.p95_ms is None else args.p95_ms / 1e3,
                                         p99=None if args.p99_ms is None else args.p99_ms / 1e3))
    endpoints = args.endpoint or ["signal"]
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
    server: pd.DataFrame | None = None
    if args.events:
        events = load_event_log(args.events)
        component = args.component or "API_Gateway"
    else:
        plan = build_plan(args.requests + args.warmup, endpoints, symbols)
        if args.url:
            events = _url_run(args, plan)
        else:
            events, server = in_process_run(args.requests, rate=args.rate, concurrency=args.concurrency,
                                            endpoints=endpoints, symbols=symbols,
                                            use_settings=args.use_settings, warmup=args.warmup)
        component = args.component or "Test_Harness"
    report = validate(events, config, component=component)
    joined = events if server is None else pd.concat([events, server], ignore_index=True)
    print(format_report(report, analyse(report, joined, top=args.top)))
    if args.out:
        joined.to_parquet(args.out)
        print(f"wrote {len(joined)} event rows to {args.out}")
    return 0 if report.passed else 1
