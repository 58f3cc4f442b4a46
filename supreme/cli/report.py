"""``supreme report``: the quickstart job — replay the bundled sample through feed, cache and strategy,
write figures and a Markdown report (no servers needed)."""

from __future__ import annotations

import argparse
from typing import Any

from supreme.cli._args import symbols


def register(subparsers: Any) -> None:
    """Add the ``report`` parser."""
    p = subparsers.add_parser(
        "report", help="run the quickstart and write a Markdown report with figures", description=__doc__
    )
    p.add_argument("--out", default="out", help="folder for report.md and the figures (default: ./out)")
    p.add_argument("--symbols", type=symbols, default="SPX,IXIC",
                   help="bundled sample symbols, comma-separated")
    p.add_argument("--candles", type=int, default=500, help="daily candles replayed per symbol (default 500)")
    p.add_argument("--replicas", type=int, default=2, help="service replicas sharing L2/L3 (default 2)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the quickstart; print the tier table and where the files are."""
    from lab.quickstart import format_result, run_quickstart

    # a bad symbol or count raises KeyError/ValueError: `supreme` prints it as one error line, exit 2
    result = run_quickstart(args.out, symbols=args.symbols, candles=args.candles, replicas=args.replicas)
    print(format_result(result))
    return 0
