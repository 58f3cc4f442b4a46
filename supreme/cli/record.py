"""``supreme record``: download candles from a live exchange with ccxt into a CSV the loaders read."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``record`` parser."""
    p = subparsers.add_parser(
        "record", help="record live candles via ccxt (network needed)", description=__doc__
    )
    p.add_argument("--exchange", default="binance", help="ccxt exchange id (default binance)")
    p.add_argument("--symbol", required=True, help="unified symbol, e.g. BTC/USDT")
    p.add_argument("--timeframe", default="1m", help="candle timeframe (default 1m)")
    p.add_argument("--since", required=True, help="start, ISO 8601 UTC (2024-01-01T00:00) or epoch ms")
    p.add_argument("--until", help="end (exclusive), same forms (default: now)")
    p.add_argument("--limit", type=int, default=1000, help="candles per request (default 1000)")
    p.add_argument("--out", required=True, help="CSV to write, e.g. data/recorded/binance_BTC-USDT_1m.csv")
    p.set_defaults(func=run)


def _to_ms(text: str) -> int:
    import pandas as pd

    if text.isdigit():
        return int(text)
    stamp = pd.Timestamp(text)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.value // 1_000_000)


def run(args: argparse.Namespace) -> int:
    """Page through ``fetch_ohlcv`` from ``--since`` and write ``timestamp,open,high,low,close,volume``."""
    from supreme.clock import SystemClock
    from supreme.market.ccxt_connector import CcxtConnector, make_exchange
    from supreme.market.recorder import record_ohlcv

    clock = SystemClock()
    connector = CcxtConnector(make_exchange(args.exchange), clock)
    since = _to_ms(args.since)
    until = _to_ms(args.until) if args.until else None
    frame = record_ohlcv(connector, args.symbol, args.timeframe, since, until, clock=clock, page=args.limit)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)
    print(f"recorded {len(frame)} {args.timeframe} candles of {args.symbol} from {args.exchange} into {out}")
    return 0
