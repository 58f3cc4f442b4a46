"""Signal: validation and an exact JSON round-trip."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supreme.strategy import Action, Signal, SignalFormatError

finite = st.floats(allow_nan=False, allow_infinity=False)

signals = st.builds(
    Signal,
    symbol=st.text(min_size=1, max_size=12),
    timeframe=st.sampled_from(["1m", "5m", "1h", "1d"]),
    action=st.sampled_from(list(Action)),
    confidence=st.floats(0.0, 1.0),
    indicators=st.dictionaries(st.text(max_size=10), finite, max_size=8),
    as_of=st.integers(0, 2**53),
    reasons=st.lists(st.text(max_size=40), max_size=5),
)


@given(signals)
def test_json_round_trip_is_exact(sig: Signal) -> None:
    text = json.dumps(sig.to_dict(), allow_nan=False)
    back = Signal.from_dict(json.loads(text))
    assert back == sig
    assert back.to_dict() == sig.to_dict()
    assert isinstance(back.action, Action)


def test_action_accepts_its_string_value() -> None:
    sig = Signal("BTC/USDT", "1m", "BUY", 0.5, {"rsi": 40}, 1_000, ["x"])  # type: ignore[arg-type]
    assert sig.action is Action.BUY and sig.indicators == {"rsi": 40.0}
    assert sig.to_dict()["action"] == "BUY"


@pytest.mark.parametrize(
    "changes",
    [
        {"symbol": ""},
        {"action": "STRONG_BUY"},
        {"confidence": 1.5},
        {"confidence": -0.1},
        {"confidence": float("nan")},
        {"confidence": True},
        {"as_of": 1.5},
        {"indicators": {"rsi": float("nan")}},
        {"indicators": {"rsi": float("inf")}},
        {"indicators": {"rsi": "55"}},
        {"reasons": "not a list"},
        {"reasons": [1, 2]},
    ],
)
def test_bad_fields_are_refused_by_name(changes: dict[str, object]) -> None:
    base: dict[str, object] = {"symbol": "ETH/USDT", "timeframe": "1m", "action": "HOLD", "confidence": 0.5,
            "indicators": {"rsi": 50.0}, "as_of": 60_000, "reasons": []}
    base.update(changes)
    field = next(iter(changes))
    with pytest.raises(SignalFormatError, match=field if field != "indicators" else "rsi"):
        Signal.from_dict(base)


def test_from_dict_names_missing_and_unknown_fields() -> None:
    good = Signal("X", "1m", Action.SELL, 0.2, {}, 1, []).to_dict()
    with pytest.raises(SignalFormatError, match="as_of"):
        Signal.from_dict({k: v for k, v in good.items() if k != "as_of"})
    with pytest.raises(SignalFormatError, match="bogus"):
        Signal.from_dict({**good, "bogus": 1})
    with pytest.raises(SignalFormatError):
        Signal.from_dict(["not", "a", "dict"])
