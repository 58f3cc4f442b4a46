"""``supreme demo``: the main job on the embedded default, no servers needed.

1. Replays the bundled sample through the real feed, then prints a summary and writes a price figure.
2. Runs the quickstart experiment (notebook 01). The bundled sample goes through feed → cache
   manager (L1 memory, L2 fakeredis, L3 SQLite) → strategy engine. It writes the signals figure,
   the per-tier hit-ratio figure and a Markdown report.
"""

from __future__ import annotations

import argparse
from typing import Any

from supreme.cli._args import add_progress, progress_wanted, symbols


def register(subparsers: Any) -> None:
    """Add the ``demo`` parser."""
    p = subparsers.add_parser(
        "demo", help="the main job: replay the bundled sample through feed, cache and strategy (no servers)",
        description=__doc__,
        epilog="A first run also compiles the numba kernels (about 10 s more); later runs load them "
               "from disk.",
    )
    p.add_argument("--out", default="out", help="folder for figures, summary and report (default: ./out)")
    p.add_argument("--symbol", default="SPX", help="sample replayed through the feed: SPX or IXIC")
    p.add_argument("--symbols", type=symbols, default="SPX,IXIC",
                   help="samples of the quickstart, comma-separated")
    add_progress(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run both parts and print where their files are."""
    from lab.quickstart import format_result, run_quickstart
    from supreme.config import load_settings
    from supreme.market.demo import run_demo
    from supreme.market.runner import format_summary

    load_settings()  # a malformed SUPREME_* variable fails here, before any work
    result = run_demo(args.out, args.symbol, progress=progress_wanted(args))
    print(format_summary(result["summary"],
                         title=f"demo: {result['summary']['symbol']} replayed through the feed"))
    print(f"figure:  {result['figure']}")
    print(f"summary: {result['summary_path']}")
    quick = run_quickstart(args.out, symbols=args.symbols)
    print()
    print(format_result(quick, route=True))
    return 0
