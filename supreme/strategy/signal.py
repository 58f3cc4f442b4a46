"""The trading signal: what the strategy engine answers and the caches store as JSON.

``to_dict()`` gives only JSON-safe values (str, int, finite float, list, dict), so
``Signal.from_dict(json.loads(json.dumps(s.to_dict(), allow_nan=False))) == s`` exactly (Python's
float repr round-trips).  Non-finite indicator values are refused at construction: strict JSON
(and PostgreSQL ``jsonb``) has no NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from supreme.errors import SupremeError

__all__ = ["Action", "Signal", "SignalFormatError"]


class SignalFormatError(SupremeError, ValueError):
    """A signal (or its dict form) has a missing, mistyped or out-of-range field."""


class Action(StrEnum):
    """What the signal recommends."""

    BUY = "BUY"
    SELL = "SELL"
    HOLD = "HOLD"


_FIELDS = ("symbol", "timeframe", "action", "confidence", "indicators", "as_of", "reasons")


@dataclass(frozen=True)
class Signal:
    """A recommendation for one symbol and timeframe as of a candle close time (ms UTC)."""

    symbol: str
    timeframe: str
    action: Action
    confidence: float
    indicators: dict[str, float] = field(default_factory=dict)
    as_of: int = 0
    reasons: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in ("symbol", "timeframe"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise SignalFormatError(f"Signal.{name} must be a non-empty string, got {value!r}")
        try:
            object.__setattr__(self, "action", Action(self.action))
        except ValueError:
            raise SignalFormatError(
                f"Signal.action must be one of BUY/SELL/HOLD, got {self.action!r}"
            ) from None
        conf = self.confidence
        if isinstance(conf, bool) or not isinstance(conf, int | float) or not 0.0 <= conf <= 1.0:
            raise SignalFormatError(f"Signal.confidence must be a number in [0, 1], got {conf!r}")
        object.__setattr__(self, "confidence", float(conf))
        if isinstance(self.as_of, bool) or not isinstance(self.as_of, int):
            raise SignalFormatError(f"Signal.as_of must be integer milliseconds, got {self.as_of!r}")
        if not isinstance(self.indicators, dict):
            raise SignalFormatError(f"Signal.indicators must be a dict, got {type(self.indicators).__name__}")
        clean: dict[str, float] = {}
        for key, value in self.indicators.items():
            if not isinstance(key, str):
                raise SignalFormatError(f"indicator name must be a string, got {key!r}")
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise SignalFormatError(f"indicator {key!r} must be a finite number, got {value!r}")
            clean[key] = float(value)
        object.__setattr__(self, "indicators", clean)
        if not isinstance(self.reasons, list) or not all(isinstance(r, str) for r in self.reasons):
            raise SignalFormatError(f"Signal.reasons must be a list of strings, got {self.reasons!r}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (plain str/int/float/list/dict)."""
        return {
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "action": self.action.value,
            "confidence": self.confidence,
            "indicators": dict(self.indicators),
            "as_of": self.as_of,
            "reasons": list(self.reasons),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Signal:
        """Rebuild a signal from :meth:`to_dict` output (e.g. after a JSON round-trip)."""
        if not isinstance(data, dict):
            raise SignalFormatError(f"a signal must be a dict, got {type(data).__name__}")
        missing = [k for k in _FIELDS if k not in data]
        extra = sorted(set(data) - set(_FIELDS))
        if missing or extra:
            raise SignalFormatError(f"signal dict has missing fields {missing} / unknown fields {extra}")
        indicators, reasons = data["indicators"], data["reasons"]
        return cls(
            symbol=data["symbol"],
            timeframe=data["timeframe"],
            action=data["action"],
            confidence=data["confidence"],
            indicators=dict(indicators) if isinstance(indicators, dict) else indicators,
            as_of=data["as_of"],
            reasons=list(reasons) if isinstance(reasons, list) else reasons,
        )
