"""``supreme replay``: replay recorded candles through the feed (or, with ``--pipeline``, through the
whole signal path: feed -> cache L1/L2/L3 behind breakers -> strategy -> signals) and summarise it.

With ``--pipeline`` several files may be given (one symbol per file name; files of one symbol are
joined in the order given), and an output folder receives signals.parquet, events.parquet,
cache_stats.csv, summary.json and price_signals.png.  L2/L3 are an in-process fakeredis and
``OUT/l3.sqlite`` unless ``--use-settings`` (then ``SUPREME_REDIS_URL`` / ``SUPREME_DATABASE_URL``).
"""

from __future__ import annotations

import argparse
from typing import Any

from supreme.cli._args import add_progress, positive, progress_wanted
from supreme.cli.events import add_otlp, export_otlp
from supreme.market.formats import OHLCV_FORMATS, TRADE_FORMATS


def _speed(text: str) -> float | None:
    if text == "max":
        return None
    return positive(text, "--speed must be a number > 0 or 'max'", "--speed must be > 0")


def register(subparsers: Any) -> None:
    """Add the ``replay`` parser."""
    p = subparsers.add_parser("replay", help="replay recorded candles through the feed", description=__doc__)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("path", nargs="*", default=[],
                     help="OHLCV file(s): csv, parquet, feather, ccxt/freqtrade json "
                          "(--pipeline: several, SYMBOL=FILE to name the symbol)")
    src.add_argument("--sample", metavar="SYM", help="use the bundled sample instead (SPX or IXIC)")
    p.add_argument("--symbol", help="symbol to publish under (default: from the file name)")
    p.add_argument("--timeframe", help="candle timeframe, e.g. 1m (default: inferred from the data)")
    p.add_argument("--format", default="auto",
                   help="file format: auto (from name and content), or one of "
                        f"{', '.join(OHLCV_FORMATS)} (--from-trades: {', '.join(TRADE_FORMATS)})")
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
    add_progress(p)
    pipe = p.add_argument_group("pipeline (--pipeline)")
    pipe.add_argument("--pipeline", action="store_true",
                      help="run the signal path: feed -> cache (L1/L2/L3, breakers) -> strategy -> signals")
    pipe.add_argument("--symbols", help="comma-separated symbols to replay (default: every file's)")
    pipe.add_argument("--out", default="replay-out", help="output folder (default ./replay-out)")
    pipe.add_argument("--resume", action="store_true", help="continue after the position stored in L2/L3")
    pipe.add_argument("--run-name", default="replay", help="names the stored position (default replay)")
    pipe.add_argument("--block", type=int, default=1024, help="candles per step (default 1024)")
    pipe.add_argument("--use-settings", action="store_true",
                      help="L2/L3 from SUPREME_REDIS_URL / SUPREME_DATABASE_URL instead of embedded ones")
    pipe.add_argument("--no-events", action="store_true", help="do not record the event log")
    pipe.add_argument("--trace", metavar="FILE",
                      help="capture the cache's access sequence as a libCacheSim oracleGeneral trace")
    pipe.add_argument("--from-trades", action="store_true",
                      help="the files hold trades: aggregate them into --timeframe candles")
    add_otlp(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load, replay, print the summary."""
    if args.pipeline:
        return run_pipeline(args)
    if args.otlp is not None or args.otlp_endpoint is not None:
        raise ValueError("--otlp/--otlp-endpoint export the pipeline's event log: add --pipeline")
    if len(args.path) > 1:
        raise ValueError("several files need --pipeline (the plain feed replay takes one)")
    args.path = args.path[0] if args.path else None
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
                          limit=args.limit, progress=progress_wanted(args))
    print(format_summary(result.summary, title=f"replay: {rec.symbol} {rec.timeframe}"))
    return 0


def run_pipeline(args: argparse.Namespace) -> int:
    """``--pipeline``: replay the files through the signal path into ``--out``."""
    from supreme.config import load_settings
    from supreme.replay.pipeline import PipelineSettings
    from supreme.replay.runner import replay_files

    if args.sample or not args.path:
        raise ValueError("--pipeline replays files: give one or more paths")
    if args.no_events and (args.otlp is not None or args.otlp_endpoint is not None):
        raise ValueError("--otlp exports the event log, which --no-events turns off")
    settings = load_settings() if args.use_settings else None
    run = replay_files(
        args.path, args.out, symbols=args.symbols.split(",") if args.symbols else None,
        timeframe=args.timeframe, on_error=args.on_error, resume=args.resume,
        redis_url=settings.redis_url if settings else None,
        database_url=settings.database_url if settings else None,
        progress=progress_wanted(args), speed=args.speed, log_events=not args.no_events,
        settings=PipelineSettings(block_candles=args.block, run_name=args.run_name), trades=args.from_trades,
        trace=args.trace, stream_signals=True,
    )
    summary = run.result.summary()
    for note in run.result.notes:
        print(f"note: {note}")
    print(f"replay --pipeline: {summary['candles']} candles, {summary['signals']} signals in "
          f"{summary['elapsed_s']} s = {summary['candles/s']:,} candles/s")
    print(f"  actions {summary['actions']}, L2/L3 batches {summary['batches']}, "
          f"breakers {summary['breakers']}")
    if summary["resumed_from"]:
        print(f"  resumed after {summary['resumed_from']}")
    print(f"  outputs in {args.out}: {', '.join(sorted(run.outputs))}")
    for line in export_otlp(args, run.event_log):
        print(f"  {line}")
    return 0
