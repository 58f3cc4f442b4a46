"""Trading rules on hand-made series and hand-made indicator snapshots; config validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from supreme.strategy import Action, RuleConfig, RuleConfigError, TradingRules


def trending(n: int = 200, direction: int = 1) -> tuple[np.ndarray, ...]:
    """An accelerating trend (a constant-speed one has a MACD histogram decaying to +-0)."""
    move = 100.0 * 1.004 ** np.arange(n)
    close = move if direction > 0 else 400.0 - move
    open_ = np.concatenate([[close[0]], close[:-1]])
    high = np.maximum(open_, close) * 1.001
    low = np.minimum(open_, close) * 0.999
    return high, low, close, np.full(n, 10.0)


def test_steadily_rising_series_is_a_buy_with_trend_reasons() -> None:
    rules = TradingRules()
    values = rules.indicators(*trending())
    decision = rules.decide(values)
    assert decision.action is Action.BUY
    assert 0.0 < decision.confidence <= 1.0
    assert any(r.startswith("trend up") for r in decision.reasons)
    assert any("MACD histogram +" in r for r in decision.reasons)
    # RSI is 100 on a series that never falls: the momentum rule disagrees, lowering confidence
    assert values["rsi"] == 100.0 and any("overbought" in r for r in decision.reasons)
    assert decision.confidence == pytest.approx((0.35 + 0.35 - 0.30) / 1.0)


def test_steadily_falling_series_is_a_sell() -> None:
    rules = TradingRules()
    decision = rules.decide(rules.indicators(*trending(direction=-1)))
    assert decision.action is Action.SELL
    assert any(r.startswith("trend down") for r in decision.reasons)


def test_volatility_filter_vetoes_to_hold() -> None:
    rules = TradingRules(RuleConfig(atr_pct_min=0.0, atr_pct_max=0.001))
    decision = rules.decide(rules.indicators(*trending()))
    assert decision.action is Action.HOLD
    assert any("volatility filter: ATR%" in r for r in decision.reasons)
    narrow = TradingRules(RuleConfig(bandwidth_min=0.5, bandwidth_max=1.0))
    decision = narrow.decide(narrow.indicators(*trending()))
    assert decision.action is Action.HOLD and any("bandwidth" in r for r in decision.reasons)


SNAPSHOT = {"ema_fast": 101.0, "ema_slow": 100.0, "macd_hist": -0.5, "rsi": 50.0, "atr_pct": 0.01,
            "bb_bandwidth": 0.05}


def test_conflicting_votes_hold_with_high_confidence() -> None:
    decision = TradingRules(RuleConfig(trend_weight=1, macd_weight=1, rsi_weight=1)).decide(SNAPSHOT)
    assert decision.action is Action.HOLD and decision.score == 0.0 and decision.confidence == 1.0
    assert any("no clear direction" in r for r in decision.reasons)


def test_weights_decide_which_rule_counts() -> None:
    only_rsi = TradingRules(RuleConfig(trend_weight=0, macd_weight=0, rsi_weight=1))
    assert only_rsi.decide({**SNAPSHOT, "rsi": 20.0}).action is Action.BUY
    assert only_rsi.decide({**SNAPSHOT, "rsi": 80.0}).action is Action.SELL
    only_macd = TradingRules(RuleConfig(trend_weight=0, macd_weight=1, rsi_weight=0))
    d = only_macd.decide(SNAPSHOT)
    assert d.action is Action.SELL and d.confidence == 1.0


def test_missing_indicators_degrade_to_no_vote_and_veto() -> None:
    decision = TradingRules().decide({})
    assert decision.action is Action.HOLD and any("volatility filter" in r for r in decision.reasons)


@given(
    fast=st.floats(1, 1e5), slow=st.floats(1, 1e5), hist=st.floats(-10, 10), rsi=st.floats(0, 100),
    atr_pct=st.floats(0, 0.2), bw=st.floats(0, 2),
    w=st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0.01, 1)), thr=st.floats(0.01, 1.0),
)
def test_confidence_is_always_in_unit_interval(fast: float, slow: float, hist: float, rsi: float,
                                              atr_pct: float, bw: float, w: tuple[float, float, float],
                                              thr: float) -> None:
    rules = TradingRules(RuleConfig(trend_weight=w[0], macd_weight=w[1], rsi_weight=w[2], threshold=thr))
    d = rules.decide({"ema_fast": fast, "ema_slow": slow, "macd_hist": hist, "rsi": rsi,
                      "atr_pct": atr_pct, "bb_bandwidth": bw})
    assert 0.0 <= d.confidence <= 1.0 and -1.0 <= d.score <= 1.0 and d.reasons
    if d.action is Action.BUY:
        assert d.score >= thr
    if d.action is Action.SELL:
        assert d.score <= -thr


@pytest.mark.parametrize(
    ("settings", "names"),
    [
        ({"ema_fast": 26, "ema_slow": 12}, "ema_fast"),
        ({"ema_fast": 20, "ema_slow": 20}, "ema_fast"),
        ({"rsi_oversold": 70, "rsi_overbought": 30}, "rsi_oversold"),
        ({"rsi_overbought": 120}, "rsi_overbought"),
        ({"rsi_oversold": -5}, "rsi_oversold"),
        ({"atr_pct_min": 0.2, "atr_pct_max": 0.1}, "atr_pct_min"),
        ({"bandwidth_min": -1}, "bandwidth_min"),
        ({"trend_weight": -1}, "weights"),
        ({"trend_weight": 0, "macd_weight": 0, "rsi_weight": 0}, "weights"),
        ({"threshold": 0}, "threshold"),
        ({"threshold": 1.5}, "threshold"),
        ({"rsi_period": 0}, "rsi_period"),
        ({"rsi_period": 14.5}, "rsi_period"),
        ({"bb_period": True}, "bb_period"),
        ({"history": 20}, "history"),
        ({"bb_nbdev": 0}, "bb_nbdev"),
        ({"rsi_weight": math.nan}, "rsi_weight"),
    ],
)
def test_nonsense_config_is_refused_by_name(settings: dict[str, object], names: str) -> None:
    with pytest.raises(RuleConfigError, match=names):
        RuleConfig(**settings)  # type: ignore[arg-type]


def test_config_errors_are_value_errors_and_from_dict_names_unknown_keys() -> None:
    with pytest.raises(ValueError):
        RuleConfig(ema_fast=30)
    with pytest.raises(RuleConfigError, match="ema_fats"):
        RuleConfig.from_dict({"ema_fats": 5})
    assert RuleConfig.from_dict({"ema_fast": 5}).ema_fast == 5


def test_min_candles_covers_the_longest_lookback() -> None:
    cfg = RuleConfig()
    assert cfg.min_candles == 26 + 9 - 1  # MACD(12, 26, 9) is defined from index 33
    assert RuleConfig(bb_period=60, history=100).min_candles == 60
    rules = TradingRules(cfg)
    h, lo, c, v = trending(cfg.min_candles)
    values = rules.indicators(h, lo, c, v)
    assert all(math.isfinite(x) for x in values.values()) and "macd_hist" in values
