"""``supreme replay``: replay a recorded file (or the bundled sample) through the feed and summarise it."""

from __future__ import annotations

import argparse
from typing import Any

from supreme.cli._args import positive


def _speed(text: str) -> float | None:
    if text == "max":
        return None
    return positive(text, "--speed must be a number > 0 or 'max'", "--speed must be > 0")


def register(subparsers: Any) -> None:
    """Add the ``replay`` parser."""
    p = subparsers.add_parser("replay", help="replay recorded candles through the feed", description=__doc__)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("path", nargs="?", help="OHLCV file: csv, parquet, feather, ccxt/freqtrade json")
    src.add_argument("--sample", metavar="SYM", help="use the bundled sample instead (SPX or IXIC)")
    p.add_argument("--symbol", help="symbol to publish under (default: from the file name)")
    p.add_argument("--timeframe", help="candle timeframe, e.g. 1m (default: inferred from the data)")
    p.add_argument("--format", default="auto", help="file format (default: auto)")
    p.add_argument(
        "--speed", type=_speed, default=None, help="market seconds per real second, or 'max' (default: max)"
    )
    p.add_argument("--step", type=int, default=1, help="candles of market time between polls (default 1)")
    p.add_argument("--limit", type=int, help="replay only the first N rows")
    p.add_argument(
        "--on-error",
        choices=["raise", "skip"],
        default="raise",
        help="bad rows: stop with an error, or drop and report them (default raise)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load, replay, print the summary."""
    from supreme.market.recording import open_recording, open_sample
    from supreme.market.runner import format_summary, replay_frame

    if args.sample:
        rec = open_sample(args.sample, timeframe=args.timeframe, symbol=args.symbol)
    else:
        rec = open_recording(args.path, args.format, on_error=args.on_error, timeframe=args.timeframe,
                             symbol=args.symbol)
    if rec.timeframe is None:
        raise ValueError("cannot infer the timeframe from fewer than two candles; pass --timeframe")
    report = rec.report
    if report is not None:
        print(report.summary())
        for issue in report.issues:
            print(f"  dropped {issue.where()}: {issue.problem}")
    result = replay_frame(rec.frame, rec.symbol, rec.timeframe, speed=args.speed, step_candles=args.step,
                          limit=args.limit, progress=not args.no_progress)
    print(format_summary(result.summary, title=f"replay: {rec.symbol} {rec.timeframe}"))
    return 0
