"""ReplayConnector: never a candle or trade from the future (property test), ccxt semantics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supreme.clock import ManualClock
from supreme.market import ExchangeError, ReplayConnector, UnknownSymbol

TF = 60_000


def candles(ts: list[int]) -> pd.DataFrame:
    n = len(ts)
    return pd.DataFrame(
        {
            "timestamp": np.asarray(ts, dtype=np.int64),
            "open": np.full(n, 2.0),
            "high": np.full(n, 3.0),
            "low": np.full(n, 1.0),
            "close": np.arange(1, n + 1) * 1.0,
            "volume": np.ones(n),
        }
    )


@st.composite
def scenario(draw: st.DrawFn) -> tuple[list[int], list[int], float, int | None, int | None]:
    steps = draw(st.lists(st.integers(1, 5), min_size=0, max_size=40))
    start = draw(st.integers(0, 10**6)) * TF
    ts = list(np.cumsum([0, *steps]) * TF + start)
    trade_ts = sorted(draw(st.lists(st.integers(start, start + 250 * TF), max_size=40)))
    now_ms = draw(st.integers(start - 2 * TF, start + 260 * TF))
    now = now_ms / 1000.0 + draw(st.sampled_from([0.0, 0.0004, 0.0009]))
    since = draw(st.one_of(st.none(), st.integers(start - TF, start + 260 * TF)))
    limit = draw(st.one_of(st.none(), st.integers(0, 50)))
    return [int(t) for t in ts], trade_ts, now, since, limit


@settings(max_examples=300, deadline=None)
@given(scenario())
def test_no_look_ahead(case: tuple[list[int], list[int], float, int | None, int | None]) -> None:
    ts, trade_ts, now, since, limit = case
    trades = pd.DataFrame(
        {
            "timestamp": np.asarray(trade_ts, dtype=np.int64),
            "price": 1.0,
            "amount": 1.0,
            "side": "buy",
            "id": [str(i) for i in range(len(trade_ts))],
        }
    )
    clock = ManualClock(now)
    conn = ReplayConnector({"X": candles(ts)}, clock, "1m", trades={"X": trades})
    now_ms = int(np.floor(now * 1000))
    rows = conn.fetch_ohlcv("X", "1m", since, limit)
    # Never from the future.
    assert all(r[0] + TF <= now_ms for r in rows)
    # Exactly what an independent filter says.
    visible = [t for t in ts if t + TF <= now_ms]
    want = [t for t in visible if since is None or t >= since]
    if limit is not None:
        want = want[:limit] if since is not None else want[max(0, len(want) - limit) :] if limit else []
    assert [r[0] for r in rows] == want
    got_trades = conn.fetch_trades("X", since, limit)
    assert all(t["timestamp"] <= now_ms for t in got_trades)
    tv = [t for t in trade_ts if t <= now_ms and (since is None or t >= since)]
    if limit is not None:
        tv = tv[:limit] if since is not None else tv[max(0, len(tv) - limit) :] if limit else []
    assert [t["timestamp"] for t in got_trades] == tv
    if visible or any(t <= now_ms for t in trade_ts):
        assert conn.fetch_ticker("X")["timestamp"] <= now_ms
    else:
        with pytest.raises(ExchangeError, match="visible"):
            conn.fetch_ticker("X")


def test_candle_appears_exactly_at_close(clock: ManualClock) -> None:
    start = 1_700_000_040_000
    clock.set(start / 1000)
    conn = ReplayConnector({"X": candles([start, start + TF])}, clock, "1m")
    assert conn.fetch_ohlcv("X") == []
    clock.set((start + TF) / 1000 - 0.001)
    assert conn.fetch_ohlcv("X") == []
    clock.set((start + TF) / 1000)
    assert [r[0] for r in conn.fetch_ohlcv("X")] == [start]
    assert conn.last_closed_ms("X") == start
    ticker = conn.fetch_ticker("X")
    assert ticker["last"] == 1.0 and ticker["timestamp"] == start + TF


def test_errors(clock: ManualClock) -> None:
    conn = ReplayConnector({"X": candles([0, TF])}, clock, "1m")
    with pytest.raises(UnknownSymbol, match="'Y'"):
        conn.fetch_ohlcv("Y")
    with pytest.raises(KeyError):
        conn.fetch_trades("Y")
    with pytest.raises(ExchangeError, match="not '5m'"):
        conn.fetch_ohlcv("X", "5m")
    with pytest.raises(ValueError, match="strictly increasing"):
        ReplayConnector({"X": candles([TF, 0])}, clock, "1m")
    assert conn.symbols == ["X"] and conn.timeframes == ["1m"]
