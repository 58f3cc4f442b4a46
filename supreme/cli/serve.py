"""``supreme serve``: run the signal API with uvicorn over the configured back-ends.

Back-ends come from ``SUPREME_REDIS_URL`` / ``SUPREME_DATABASE_URL`` (embedded fakeredis and SQLite
when unset).  Market data is the bundled arch sample plus any ``--data`` recordings, replayed on a
market clock that starts at ``--replay-start`` (default: the close of the newest candle) and runs at
``--replay-speed`` market seconds per real second.  Create a key first with ``supreme keys create
--scopes signal:read``.

Resilience runs in the server: every L2/L3 call is retried once (connectivity errors only) through its
circuit breaker; a background loop reconnects a tier whose breaker is open and half-opens it, and
raises alerts (escalated on the clock) that ``GET /api/v1/alerts`` lists and ``GET /metrics`` exports
(``supreme_alerts_active``, ``supreme_alert_incidents_total``, ``supreme_alert_escalation_level``),
with the connection pools (``supreme_pool_connections``).  Every 503 carries ``Retry-After``.
``SUPREME_ADAPTIVE`` = ``market`` (default) / ``all`` / ``off`` attaches the adaptive layer to the
cache manager (``supreme_adaptive_*`` and ``supreme_adaptations_total`` in /metrics).
"""

from __future__ import annotations

import argparse
import logging
import re
from typing import Any

from supreme.cli._args import positive

__all__ = ["register", "run"]


_NAMESPACE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def _namespace(value: str) -> str:
    """A key prefix: 1-64 letters, digits or ``_ . : -``."""
    if not _NAMESPACE.fullmatch(value):
        raise argparse.ArgumentTypeError(f"namespace must be 1-64 of [A-Za-z0-9_.:-], got {value!r}")
    return value


def register(subparsers: Any) -> None:
    """Add the ``serve`` parser."""
    p = subparsers.add_parser("serve", help="run the signal API (FastAPI + uvicorn)", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--replay-start", help="market clock start: ISO date/time (UTC) or epoch seconds")
    p.add_argument("--replay-speed", type=positive, default=1.0,
                   help="market seconds per real second (default 1)")
    p.add_argument("--data", action="append", default=[], metavar="FILE",
                   help="also serve this OHLCV recording (symbol from the file name); repeatable")
    p.add_argument("--rate", type=positive, default=500.0, help="per-key requests per second (default 500)")
    p.add_argument("--burst", type=int, default=1000, help="per-key burst (default 1000)")
    p.add_argument("--ip-rate", type=positive, default=1000.0, help="per-address requests/s (default 1000)")
    p.add_argument("--ip-burst", type=int, default=2000, help="per-address burst (default 2000)")
    p.add_argument("--live", metavar="EXCHANGE",
                   help="serve a live exchange through ccxt (e.g. binance; needs the 'live' extra) instead "
                        "of the replayed recordings; market time is then real time")
    p.add_argument("--symbols", default="BTC/USDT", help="with --live: comma-separated symbols (BTC/USDT)")
    p.add_argument("--timeframe", default="1m", help="with --live: candle timeframe (default 1m)")
    p.add_argument("--signal-path", choices=["frame", "window"], default="frame",
                   help="frame: candles through the OHLCV cache per signal miss (default); window: the "
                        "feed's candle windows, the replay pipeline's path (same signals)")
    p.add_argument("--namespace", type=_namespace, default="supreme:",
                   help="prefix of this deployment's Redis keys and cache rows (default supreme:); servers "
                        "sharing one Redis and one namespace share limits, nonces, sessions and cache")
    p.add_argument("--event-log", metavar="PATH",
                   help="keep the event log and write it here (Parquet) at shutdown; off otherwise")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                   help="uvicorn and service log level (default info)")
    p.add_argument("--drain-seconds", type=int, default=25,
                   help="on SIGTERM, seconds requests in flight may take to finish (default 25)")
    p.add_argument("--no-gc-tuning", dest="gc_tuning", action="store_false",
                   help="keep the interpreter's garbage-collector settings (default: freeze the start-up "
                        "heap, collect in larger batches; see supreme.api.gc_tuning)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the services, serve until interrupted, close them."""
    from supreme.api.server import serve

    logging.basicConfig(level=args.log_level.upper())
    live: dict[str, Any] = {}
    if args.live:
        from supreme.clock import SystemClock
        from supreme.market.ccxt_connector import CcxtConnector, make_exchange

        live = {"live_connector": CcxtConnector(make_exchange(args.live), SystemClock()),
                "live_symbols": [s.strip() for s in args.symbols.split(",") if s.strip()],
                "live_timeframe": args.timeframe}
    serve(args.host, args.port, log_level=args.log_level, event_log_path=args.event_log,
          echo=lambda message: print(f"supreme serve: {message}", flush=True),
          replay_start=args.replay_start, replay_speed=args.replay_speed, recorded=args.data,
          key_rate=args.rate, key_burst=args.burst, ip_rate=args.ip_rate, ip_burst=args.ip_burst,
          drain_seconds=args.drain_seconds, gc_tuning=args.gc_tuning, signal_path=args.signal_path,
          namespace=args.namespace, **live)
    return 0
