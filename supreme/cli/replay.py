"""``supreme replay``: replay a recorded file (or the bundled sample) through the feed and summarise it."""

from __future__ import annotations

import argparse
from typing import Any


def _speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--speed must be a number > 0 or 'max', got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"--speed must be > 0, got {text!r}")
    return value


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
    from supreme.market.loaders import load_ohlcv, symbol_from_filename
    from supreme.market.runner import format_summary, replay_frame
    from supreme.market.sample import SAMPLE_TIMEFRAME, load_sample
    from supreme.market.validation import report_of

    if args.sample:
        frame = load_sample(args.sample)
        symbol = args.symbol or str(frame.attrs.get("symbol", args.sample))
        timeframe = args.timeframe or SAMPLE_TIMEFRAME
    else:
        frame = load_ohlcv(args.path, args.format, on_error=args.on_error, timeframe=args.timeframe)
        symbol = args.symbol or symbol_from_filename(args.path)
    report = report_of(frame)
    timeframe = args.timeframe or (report.timeframe if report else None)
    if timeframe is None:
        raise ValueError("cannot infer the timeframe from fewer than two candles; pass --timeframe")
    if report is not None:
        print(report.summary())
        for issue in report.issues:
            print(f"  dropped {issue.where()}: {issue.problem}")
    result = replay_frame(
        frame,
        symbol,
        timeframe,
        speed=args.speed,
        step_candles=args.step,
        limit=args.limit,
        progress=not args.no_progress,
    )
    print(format_summary(result.summary, title=f"replay: {symbol} {timeframe}"))
    return 0
