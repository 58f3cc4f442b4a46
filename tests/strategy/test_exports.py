"""The public API of supreme.strategy is locked here (httpx's habit)."""

from __future__ import annotations

import supreme.strategy as strategy
from supreme.config import ConfigError
from supreme.errors import SupremeError


def test_public_api_is_exactly_this() -> None:
    assert sorted(strategy.__all__) == sorted([
        "Action", "CandleSource", "Decision", "IndicatorInputError", "InsufficientData", "InvalidMarketData",
        "RuleConfig", "RuleConfigError", "Signal", "SignalFormatError", "StrategyEngine", "TradingRules",
        "timeframe_ms",
    ])
    for name in strategy.__all__:
        assert hasattr(strategy, name), name


def test_exception_tree() -> None:
    for exc in (strategy.IndicatorInputError, strategy.SignalFormatError, strategy.InvalidMarketData):
        assert issubclass(exc, SupremeError) and issubclass(exc, ValueError)
    assert issubclass(strategy.RuleConfigError, ConfigError)
    assert issubclass(strategy.InsufficientData, SupremeError)
