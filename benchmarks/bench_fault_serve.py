"""Issue 17's fault run at full size: Redis cut for 10 s under 100 signed requests/s, in process.

The app (lifespan on: the resilience loop runs) talks to the real Redis through a loopback TcpProxy;
httpx sends signed signal requests over the ASGI transport while a writer thread puts cache entries
through the CacheManager; the proxy cuts Redis for ``--cut`` seconds.  Printed: answers by status,
503s without ``Retry-After``, P99 latency per phase with the cut/before ratio (the in-run baseline),
when the breaker opened and the alert fired after the cut, when both cleared after Redis returned,
and writes lost (read back from Redis directly and from L3).  See :mod:`supreme.api.fault_serve`.

Run: ``.venv/bin/python benchmarks/bench_fault_serve.py [--cut 10] [--rate 100] [--database-url URL]``
(needs the real Redis on 127.0.0.1:6379; L3 is a temporary SQLite file unless ``--database-url``).
Exits 1 when a criterion fails.
"""

from __future__ import annotations

import argparse
import sys

from supreme.api.fault_serve import run_fault_serve


def main(argv: list[str] | None = None) -> int:
    """Run the scenario and print its figures."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--database-url", default=None, help="L3 and key store (default: temporary SQLite)")
    ap.add_argument("--rate", type=float, default=100.0, help="signed requests per second")
    ap.add_argument("--before", type=float, default=3.0, help="seconds of load before the cut")
    ap.add_argument("--cut", type=float, default=10.0, help="seconds Redis is cut")
    ap.add_argument("--after", type=float, default=8.0, help="seconds of load after Redis returns")
    args = ap.parse_args(argv)
    report = run_fault_serve(args.redis_url, database_url=args.database_url, rate=args.rate,
                             before=args.before, cut=args.cut, after=args.after)
    print("\n".join(report.lines()))
    return 0 if report.ok() else 1


if __name__ == "__main__":
    sys.exit(main())
