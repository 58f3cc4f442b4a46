"""``supreme demo``: replay the bundled sample through the real feed, print a summary, write a figure."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``demo`` parser."""
    p = subparsers.add_parser(
        "demo", help="replay the bundled sample (no servers) and write a figure", description=__doc__
    )
    p.add_argument("--out", default="out", help="folder for the figure and summary (default: ./out)")
    p.add_argument("--symbol", default="SPX", help="bundled sample symbol: SPX or IXIC (default SPX)")
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo and print where its files are."""
    from supreme.market.demo import run_demo
    from supreme.market.runner import format_summary

    result = run_demo(args.out, args.symbol, progress=args.progress)
    print(
        format_summary(
            result["summary"], title=f"demo: {result['summary']['symbol']} replayed through the feed"
        )
    )
    print(f"figure:  {result['figure']}")
    print(f"summary: {result['summary_path']}")
    return 0
