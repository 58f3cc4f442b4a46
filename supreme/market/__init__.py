"""Recorded market data, exchange connectors and the market-data feed.

=====================  ==========================================================
module                 job
=====================  ==========================================================
``loaders``            read CSV / Parquet / feather / ccxt JSON / exchange dumps
``chunks``             the same, chunk by chunk, for files larger than memory
``arrow_csv``          pyarrow CSV staging (rows, lines, messages as the stdlib reader's)
``resample``           candles to coarser candles, trades to candles (pandas conventions)
``validation``         ``DataValidationError``, reports, gap finding
``sample``             the bundled sample (arch's daily SPX and NASDAQ Composite)
``connector``          ``ExchangeConnector`` protocol and exchange errors
``ccxt_connector``     live exchanges via ccxt (Exchange_Connector)
``replay``             recorded data "as of" the clock (no look-ahead)
``faulty_connector``   latency, random errors, disconnect windows around a connector
``feed``               ``MarketDataFeed`` (Market_Data_Feed): queries + subscriptions
``runner`` ``demo``    replay a frame through the feed; the ``supreme demo`` job
``recorder``           page a connector's candles into a frame (``supreme record``)
=====================  ==========================================================
"""

from supreme.market.chunks import iter_ohlcv_chunks, iter_trades_chunks
from supreme.market.connector import ExchangeConnector, ExchangeError, ExchangeUnavailable, UnknownSymbol
from supreme.market.faulty_connector import FaultyConnector, InjectedFault
from supreme.market.feed import MarketDataFeed, Subscription
from supreme.market.formats import detect_format
from supreme.market.loaders import load_ohlcv, load_trades
from supreme.market.replay import ReplayConnector
from supreme.market.resample import resample_candles, trades_to_candles
from supreme.market.sample import load_sample
from supreme.market.validation import DataValidationError, ValidationReport, find_gaps, report_of

__all__ = [
    "DataValidationError",
    "ExchangeConnector",
    "ExchangeError",
    "ExchangeUnavailable",
    "FaultyConnector",
    "InjectedFault",
    "MarketDataFeed",
    "ReplayConnector",
    "Subscription",
    "UnknownSymbol",
    "ValidationReport",
    "detect_format",
    "find_gaps",
    "iter_ohlcv_chunks",
    "iter_trades_chunks",
    "load_ohlcv",
    "load_sample",
    "load_trades",
    "report_of",
    "resample_candles",
    "trades_to_candles",
]
