"""``supreme faults``: inject faults against the real servers, touching only our own connections.

::

    supreme faults proxy --target 127.0.0.1:6379 --down-at 5 --down-for 10 --run-for 30
    supreme faults kill-redis --url redis://127.0.0.1:6379/0 --name my-client-name
    supreme faults terminate-pg --url postgresql://postgres@127.0.0.1:5432/test --app my-app-name
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def _proxy(args: argparse.Namespace) -> int:
    from supreme.clock import SystemClock
    from supreme.resilience.fault_schedule import FaultSchedule
    from supreme.resilience.proxy import TcpProxy

    host, _, port = args.target.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--target must be HOST:PORT, got {args.target!r}")
    if args.run_for <= 0:
        raise ValueError(f"--run-for must be > 0 seconds, got {args.run_for}")
    clock = SystemClock()
    with TcpProxy(host, int(port), listen_port=args.listen_port, latency=args.latency) as proxy:
        sched = FaultSchedule(clock=clock)
        t0 = clock.now()
        if args.down_for > 0:
            sched.add("target", t0 + args.down_at, args.down_for)
        sched.bind_proxy("target", proxy)
        print(f"proxy listening on {proxy.host}:{proxy.port} -> {args.target}", flush=True)
        while clock.now() - t0 < args.run_for:
            for kind, w in sched.apply():
                print(f"t={clock.now() - t0:7.2f}s {kind} {w.kind} window", flush=True)
            clock.sleep(0.05)
        print(f"done: {proxy.stats}")
    return 0


def _kill_redis(args: argparse.Namespace) -> int:
    import redis

    from supreme.resilience.chaos import kill_redis_clients

    client = redis.Redis.from_url(args.url)
    print(f"killed {kill_redis_clients(client, args.name)} Redis client(s) named {args.name!r}")
    return 0


def _terminate_pg(args: argparse.Namespace) -> int:
    import psycopg

    from supreme.resilience.chaos import terminate_pg_backends

    with psycopg.connect(args.url, autocommit=True) as conn:
        n = terminate_pg_backends(conn, args.app)
    print(f"terminated {n} PostgreSQL backend(s) with application_name {args.app!r}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``faults`` and its sub-commands."""
    p = subparsers.add_parser("faults", help="inject faults (proxy outages, killed connections)",
                              description=__doc__)
    sub = p.add_subparsers(dest="fault", metavar="FAULT", required=True)
    px = sub.add_parser("proxy", help="run a loopback proxy with an outage window")
    px.add_argument("--target", required=True, help="HOST:PORT of the real server")
    px.add_argument("--listen-port", type=int, default=0, help="local port (0: any free port)")
    px.add_argument("--down-at", type=float, default=5.0,
                    help="seconds after start the outage begins (default 5)")
    px.add_argument("--down-for", type=float, default=0.0, help="outage length in seconds (0: none)")
    px.add_argument("--latency", type=float, default=0.0,
                    help="seconds added to every forwarded chunk (default 0)")
    px.add_argument("--run-for", type=float, default=30.0, help="stop after this many seconds (default 30)")
    px.set_defaults(func=_proxy)
    kr = sub.add_parser("kill-redis", help="CLIENT KILL the Redis clients with a given client name")
    kr.add_argument("--url", default="redis://127.0.0.1:6379/0",
                    help="Redis to connect to (default redis://127.0.0.1:6379/0)")
    kr.add_argument("--name", required=True, help="client name (only these clients are killed)")
    kr.set_defaults(func=_kill_redis)
    tp = sub.add_parser("terminate-pg", help="pg_terminate_backend the backends with an application_name")
    tp.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test",
                    help="PostgreSQL to connect to (default postgresql://postgres@127.0.0.1:5432/test)")
    tp.add_argument("--app", required=True, help="application_name (only these backends are terminated)")
    tp.set_defaults(func=_terminate_pg)
