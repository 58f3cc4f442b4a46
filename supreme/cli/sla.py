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

The verdict charges failed requests (5xx, no answer, timeouts) to an error budget (``--error-budget``,
in percent, default 0.1): 10 requests that all fail are a FAIL however fast they failed.

Exit status: 0 when every endpoint meets its thresholds and its error budget, 1 on a violation
(FAIL), 2 on bad input.
"""

from __future__ import annotations

import argparse
from typing import Any

from supreme.api.harness import ENDPOINTS
from supreme.cli._args import comma_list

__all__ = ["register", "run"]


def _ms_or_none(text: str) -> float | None:
    if text.lower() in ("none", "off", "-"):
        return None
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"thresholds must be > 0 ms, got {text!r}")
    return value


def _percent(text: str) -> float:
    value = float(text)
    if not 0 <= value < 100:
        raise argparse.ArgumentTypeError(f"the error budget is a percentage in [0, 100), got {text!r}")
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
    p.add_argument("--symbols", type=comma_list, default="SPX,IXIC",
                   help="symbols for signal requests (default SPX,IXIC)")
    p.add_argument("--timeout", type=float, default=10.0, help="HTTP timeout in seconds (with --url)")
    p.add_argument("--use-settings", action="store_true",
                   help="in process: use SUPREME_REDIS_URL / SUPREME_DATABASE_URL instead of temporary ones")
    p.add_argument("--config", metavar="FILE", help="thresholds file (TOML/JSON: [default] p95_ms = 50 …)")
    p.add_argument("--p50-ms", type=_ms_or_none, default=None, help="P50 limit in ms (default: unchecked)")
    p.add_argument("--p95-ms", type=_ms_or_none, default=50.0, help="P95 limit in ms (default 50)")
    p.add_argument("--p99-ms", type=_ms_or_none, default=100.0, help="P99 limit in ms (default 100)")
    p.add_argument("--error-budget", type=_percent, default=None, metavar="PCT",
                   help="failed requests (errors + timeouts) allowed, in percent of each endpoint's requests "
                        "(default 0.1, or the --config file's error_budget_pct)")
    p.add_argument("--component", default=None,
                   help="rows that carry the total latency (default: API_Gateway for --events, "
                        "Test_Harness when sending)")
    p.add_argument("--top", type=int, default=5, help="slowest requests shown per violation (default 5)")
    p.add_argument("--out", metavar="FILE", help="write the joined event log (Parquet) here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Send (or read), validate, print; 1 on a violation (latency or error budget)."""
    from supreme.api.harness import LoadSpec, RemoteTarget, check_sla
    from supreme.api.sla import SlaConfig, SlaThresholds, load_sla_config

    if args.config:
        config = load_sla_config(args.config)
    else:
        config = SlaConfig(SlaThresholds.from_ms(args.p50_ms, args.p95_ms, args.p99_ms))
    load = LoadSpec(requests=args.requests, rate=args.rate, warmup=args.warmup, concurrency=args.concurrency,
                    endpoints=tuple(args.endpoint or ["signal"]), symbols=args.symbols)
    target = None if not args.url else RemoteTarget(args.url, args.key_id, args.key_file, args.secret,
                                                     args.timeout)
    outcome = check_sla(config, load, events=args.events or None, target=target,
                        use_settings=args.use_settings, component=args.component, top=args.top,
                        error_budget=None if args.error_budget is None else args.error_budget / 100)
    print(outcome.text)
    if args.out:
        outcome.events.to_parquet(args.out)
        print(f"wrote {len(outcome.events)} event rows to {args.out}")
    return 0 if outcome.report.passed else 1
