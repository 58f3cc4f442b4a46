"""Configurable trading rules: weighted votes of trend, MACD and RSI rules, gated by a volatility filter.

Pseudocode (the "Apply trading logic" step of the Complete Trading Signal Flow)::

    votes  = trend:  sign(EMA_fast - EMA_slow)                 weight w_trend
             macd:   sign(MACD histogram)                      weight w_macd
             rsi:    +1 if RSI < oversold, -1 if > overbought  weight w_rsi   (mean reversion)
    score  = sum(w * vote) / sum(w)                            in [-1, 1]
    if ATR/close or Bollinger bandwidth lies outside its band: action = HOLD (volatility veto)
    elif score >=  threshold: BUY
    elif score <= -threshold: SELL
    else: HOLD
    confidence = |score| for BUY/SELL, 1 - |score| for HOLD   in [0, 1]

Every rule adds a human-readable reason naming the figures behind its vote.  Bandwidth is
``(upper - lower) / middle``.  Indicators are computed over the whole window handed in (the engine
passes ``history`` candles), so Wilder/EMA seeds have decayed by the last candle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import numpy as np

from supreme.config import ConfigError
from supreme.strategy import indicator_kernels as kern
from supreme.strategy import indicators as ind
from supreme.strategy.signal import Action
from supreme.strategy.vote import ACTION_CODES, vote, vote_params

__all__ = ["Decision", "RuleConfig", "RuleConfigError", "TradingRules"]


class RuleConfigError(ConfigError):
    """A rule setting is nonsense (e.g. fast period >= slow period); the message names it."""


_PERIODS = ("ema_fast", "ema_slow", "macd_signal", "rsi_period", "atr_period", "bb_period",
            "stoch_fastk", "stoch_slowk", "stoch_slowd", "vwap_window", "history")


@dataclass(frozen=True)
class RuleConfig:
    """Periods, thresholds and weights of the rules; validated on construction."""

    ema_fast: int = 12
    ema_slow: int = 26
    macd_signal: int = 9
    rsi_period: int = 14
    rsi_oversold: float = 30.0
    rsi_overbought: float = 70.0
    atr_period: int = 14
    atr_pct_min: float = 0.0
    atr_pct_max: float = 0.10
    bb_period: int = 20
    bb_nbdev: float = 2.0
    bandwidth_min: float = 0.0
    bandwidth_max: float = 1.0
    stoch_fastk: int = 5
    stoch_slowk: int = 3
    stoch_slowd: int = 3
    vwap_window: int = 20
    trend_weight: float = 0.35
    macd_weight: float = 0.35
    rsi_weight: float = 0.30
    threshold: float = 0.25
    history: int = 200

    def __post_init__(self) -> None:
        for name in _PERIODS:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise RuleConfigError(f"RuleConfig.{name} must be an integer >= 1, got {v!r}")
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name not in _PERIODS and (isinstance(v, bool) or not isinstance(v, int | float)
                                           or not math.isfinite(v)):
                raise RuleConfigError(f"RuleConfig.{f.name} must be a finite number, got {v!r}")
        if self.ema_fast >= self.ema_slow:
            raise RuleConfigError(
                f"RuleConfig.ema_fast ({self.ema_fast}) must be shorter than ema_slow ({self.ema_slow})"
            )
        if not 0.0 <= self.rsi_oversold < self.rsi_overbought <= 100.0:
            raise RuleConfigError(
                "RuleConfig needs 0 <= rsi_oversold < rsi_overbought <= 100, got "
                f"{self.rsi_oversold} and {self.rsi_overbought}"
            )
        for lo_name, hi_name in (("atr_pct_min", "atr_pct_max"), ("bandwidth_min", "bandwidth_max")):
            lo, hi = getattr(self, lo_name), getattr(self, hi_name)
            if not 0.0 <= lo < hi:
                raise RuleConfigError(f"RuleConfig needs 0 <= {lo_name} < {hi_name}, got {lo} and {hi}")
        if self.bb_nbdev <= 0:
            raise RuleConfigError(f"RuleConfig.bb_nbdev must be > 0, got {self.bb_nbdev}")
        weights = {n: getattr(self, n) for n in ("trend_weight", "macd_weight", "rsi_weight")}
        if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise RuleConfigError(f"RuleConfig weights must be >= 0 with a positive sum, got {weights}")
        if not 0.0 < self.threshold <= 1.0:
            raise RuleConfigError(f"RuleConfig.threshold must be in (0, 1], got {self.threshold}")
        if self.history < self.min_candles:
            raise RuleConfigError(
                f"RuleConfig.history ({self.history}) is shorter than the longest lookback "
                f"({self.min_candles} candles)"
            )

    @property
    def min_candles(self) -> int:
        """Fewest candles for every indicator to be defined at the last one."""
        return max(
            self.ema_slow,
            ind.macd_lookback(self.ema_fast, self.ema_slow, self.macd_signal) + 1,
            self.rsi_period + 1,
            self.atr_period + 1,
            self.bb_period,
            ind.stoch_lookback(self.stoch_fastk, self.stoch_slowk, self.stoch_slowd) + 1,
            self.vwap_window,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuleConfig:
        """Build from a flat dict, refusing unknown keys by name."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise RuleConfigError(f"unknown RuleConfig settings: {unknown}")
        return cls(**data)


class Decision(NamedTuple):
    """The rules' verdict: action, confidence in [0, 1], net score in [-1, 1], reasons."""

    action: Action
    confidence: float
    score: float
    reasons: list[str]


class TradingRules:
    """Computes the indicator snapshot of a candle window and turns it into a :class:`Decision`."""

    def __init__(self, config: RuleConfig | None = None) -> None:
        self.config = config if config is not None else RuleConfig()
        self._kernel_args(self.config)
        self._params, self._params_of = vote_params(self.config), self.config

    def _kernel_args(self, c: RuleConfig) -> None:
        # RuleConfig is frozen: the snapshot kernel's parameters are built once per config object
        self._args_of = c
        self._periods = np.array([c.ema_fast, c.ema_slow, c.macd_signal, c.rsi_period, c.atr_period,
                                  c.bb_period, c.stoch_fastk, c.stoch_slowk, c.stoch_slowd, c.vwap_window],
                                 dtype=np.int64)
        self._nbdev = float(c.bb_nbdev)

    @property
    def min_candles(self) -> int:
        """Fewest candles the rules accept."""
        return self.config.min_candles

    def indicators(
        self,
        high: np.ndarray[Any, Any],
        low: np.ndarray[Any, Any],
        close: np.ndarray[Any, Any],
        volume: np.ndarray[Any, Any],
    ) -> dict[str, float]:
        """Latest value of every indicator over the window ("Process technical indicators")."""
        if self.config is not self._args_of:  # the config was replaced
            self._kernel_args(self.config)
        arrays = [np.ascontiguousarray(a, dtype=np.float64) for a in (high, low, close, volume)]
        size = arrays[2].size
        if any(a.ndim != 1 or a.size != size for a in arrays):
            ind._same_length(high=high, low=low, close=close, volume=volume)  # raises, naming the fault
        # one compiled call for every latest value (bit-identical to the public functions' last values)
        h, lo, c, v = arrays
        values = kern._snapshot_kernel(h, lo, c, v, self._periods, self._nbdev).tolist()
        # a zero-volume window has no VWAP; drop what is undefined rather than carry NaN
        return {name: v for name, v in zip(kern.SNAPSHOT_FIELDS, values, strict=True) if math.isfinite(v)}

    def decide(self, values: dict[str, float]) -> Decision:
        """Weighted vote of the rules plus the volatility veto ("Apply trading logic")."""
        c = self.config
        if self._params_of is not c:  # the config was replaced
            self._params, self._params_of = vote_params(c), c
        fast, slow = values.get("ema_fast", math.nan), values.get("ema_slow", math.nan)
        hist, r = values.get("macd_hist", math.nan), values.get("rsi", math.nan)
        atr_pct, bw = values.get("atr_pct", math.nan), values.get("bb_bandwidth", math.nan)
        code, v_trend, v_macd, v_rsi, veto, score, confidence = vote(
            fast, slow, hist, r, atr_pct, bw, self._params)
        action = _ACTIONS[code]
        word = {1: ("up", "above"), -1: ("down", "below"), 0: ("flat", "at")}[v_trend]
        state = "oversold" if v_rsi > 0 else "overbought" if v_rsi < 0 else "neutral"
        reasons = [
            f"trend {word[0]}: EMA({c.ema_fast})={fast:.6g} {word[1]} EMA({c.ema_slow})={slow:.6g}"
            f" -> {_vote_word(v_trend)} (weight {c.trend_weight:g})",
            f"MACD histogram {hist:+.6g} -> {_vote_word(v_macd)} (weight {c.macd_weight:g})",
            f"momentum: RSI({c.rsi_period})={r:.4g} {state} "
            f"[{c.rsi_oversold:g}, {c.rsi_overbought:g}] -> {_vote_word(v_rsi)}"
            f" (weight {c.rsi_weight:g})",
        ]
        if veto == 1:
            reasons.append(f"volatility filter: ATR% {atr_pct:.4%} outside "
                           f"[{c.atr_pct_min:.4%}, {c.atr_pct_max:.4%}] -> HOLD")
        elif veto == 2:
            reasons.append(f"volatility filter: Bollinger bandwidth {bw:.4g} outside "
                           f"[{c.bandwidth_min:g}, {c.bandwidth_max:g}] -> HOLD")
        elif action is Action.HOLD:
            reasons.append(f"net score {score:+.3f} inside +/-{c.threshold:g}: no clear direction")
        reasons.append(f"decision {action.value}: net score {score:+.3f}, confidence {confidence:.3f}")
        return Decision(action, confidence, score, reasons)


_ACTIONS = tuple(Action(name) for name in ACTION_CODES)


def _vote_word(vote: int) -> str:
    return {1: "BUY vote", -1: "SELL vote", 0: "no vote"}[vote]
