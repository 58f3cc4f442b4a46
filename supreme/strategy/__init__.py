"""Strategy engine: indicators (vectorised and incremental), trading rules and signals.

Exceptions::

    SupremeError
    ├── IndicatorInputError (ValueError)   bad period / array shape         (indicators)
    ├── SignalFormatError (ValueError)     malformed signal or signal dict  (signal)
    ├── ConfigError (ValueError)
    │   └── RuleConfigError                nonsense rule settings           (rules)
    ├── InsufficientData                   too few closed candles           (engine)
    └── InvalidMarketData (ValueError)     broken candles from the source   (engine)
"""

from supreme.strategy.engine import (
    CandleSource,
    InsufficientData,
    InvalidMarketData,
    StrategyEngine,
    timeframe_ms,
)
from supreme.strategy.indicators import IndicatorInputError
from supreme.strategy.rules import Decision, RuleConfig, RuleConfigError, TradingRules
from supreme.strategy.signal import Action, Signal, SignalFormatError

__all__ = [
    "Action",
    "CandleSource",
    "Decision",
    "IndicatorInputError",
    "InsufficientData",
    "InvalidMarketData",
    "RuleConfig",
    "RuleConfigError",
    "Signal",
    "SignalFormatError",
    "StrategyEngine",
    "TradingRules",
    "timeframe_ms",
]
