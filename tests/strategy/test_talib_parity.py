"""Every vectorised indicator against TA-Lib on recorded data, including warm-up NaNs."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from supreme.strategy import indicators as ind

talib = pytest.importorskip("talib")

DATASETS = ["sp500", "btc"]


def assert_parity(ours: np.ndarray, ref: np.ndarray, what: str) -> None:
    """Same NaN positions (warm-up) and values within 1e-9 relative to max(1, |ref|)."""
    ours, ref = np.asarray(ours), np.asarray(ref)
    assert ours.shape == ref.shape, what
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref), err_msg=f"{what}: warm-up NaNs differ")
    m = ~np.isnan(ref)
    assert m.any(), f"{what}: nothing to compare"
    err = np.abs(ours[m] - ref[m]) / np.maximum(1.0, np.abs(ref[m]))
    assert err.max() <= 1e-9, f"{what}: max relative error {err.max():.3g} at {np.argmax(err)}"


@pytest.fixture(params=DATASETS)
def data(request: pytest.FixtureRequest) -> pd.DataFrame:
    frame: pd.DataFrame = request.getfixturevalue(request.param)
    return frame


def cols(frame: pd.DataFrame) -> tuple[np.ndarray, ...]:
    return tuple(frame[c].to_numpy(np.float64) for c in ("open", "high", "low", "close", "volume"))


@pytest.mark.parametrize("period", [2, 5, 14, 30, 200])
def test_moving_averages(data: pd.DataFrame, period: int) -> None:
    c = cols(data)[3]
    assert_parity(ind.sma(c, period), talib.SMA(c, period), f"SMA({period})")
    assert_parity(ind.ema(c, period), talib.EMA(c, period), f"EMA({period})")
    assert_parity(ind.wma(c, period), talib.WMA(c, period), f"WMA({period})")


@pytest.mark.parametrize("period", [2, 6, 14, 50])
def test_rsi_and_atr(data: pd.DataFrame, period: int) -> None:
    _, h, lo, c, _ = cols(data)
    assert_parity(ind.rsi(c, period), talib.RSI(c, period), f"RSI({period})")
    assert_parity(ind.atr(h, lo, c, period), talib.ATR(h, lo, c, period), f"ATR({period})")
    assert_parity(ind.true_range(h, lo, c), talib.TRANGE(h, lo, c), "TRANGE")


@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (5, 35, 5), (3, 10, 16), (2, 3, 2)])
def test_macd_alignment(data: pd.DataFrame, fast: int, slow: int, signal: int) -> None:
    c = cols(data)[3]
    for name, ours, ref in zip(("line", "signal", "hist"), ind.macd(c, fast, slow, signal),
                               talib.MACD(c, fast, slow, signal), strict=True):
        assert_parity(ours, ref, f"MACD{(fast, slow, signal)} {name}")


def test_macd_fast_ema_is_not_seeded_at_the_start(sp500: pd.DataFrame) -> None:
    """The classic pitfall: fast EMA - slow EMA of plain EMAs differs from TA-Lib's MACD line."""
    c = cols(sp500)[3]
    naive = ind.ema(c, 12) - ind.ema(c, 26)
    ref = talib.MACD(c, 12, 26, 9)[0]
    assert abs(naive[33] - ref[33]) > 1e-6
    assert_parity(ind.macd(c, 12, 26, 9)[0], ref, "MACD line")


@pytest.mark.parametrize(
    ("period", "up", "dn"), [(2, 2.0, 2.0), (5, 1.0, 1.0), (20, 2.0, 1.5), (50, 3.0, 2.5)]
)
def test_bbands(data: pd.DataFrame, period: int, up: float, dn: float) -> None:
    c = cols(data)[3]
    for name, ours, ref in zip(("upper", "middle", "lower"), ind.bbands(c, period, up, dn),
                               talib.BBANDS(c, period, up, dn, 0), strict=True):
        assert_parity(ours, ref, f"BBANDS({period},{up},{dn}) {name}")


@pytest.mark.parametrize(("fastk", "slowk", "slowd"), [(5, 3, 3), (14, 3, 3), (9, 1, 4), (3, 5, 2)])
def test_stoch(data: pd.DataFrame, fastk: int, slowk: int, slowd: int) -> None:
    _, h, lo, c, _ = cols(data)
    ref_k, ref_d = talib.STOCH(h, lo, c, fastk, slowk, 0, slowd, 0)
    k, d = ind.stoch(h, lo, c, fastk, slowk, slowd)
    assert_parity(k, ref_k, f"STOCH{(fastk, slowk, slowd)} %K")
    assert_parity(d, ref_d, f"STOCH{(fastk, slowk, slowd)} %D")


def test_stoch_defaults_lookback_is_8(sp500: pd.DataFrame) -> None:
    _, h, lo, c, _ = cols(sp500)
    k, d = ind.stoch(h, lo, c)
    assert np.isnan(k[:8]).all() and np.isnan(d[:8]).all() and not np.isnan(k[8]) and not np.isnan(d[8])


def test_obv(data: pd.DataFrame) -> None:
    _, _, _, c, v = cols(data)
    assert_parity(ind.obv(c, v), talib.OBV(c, v), "OBV")


def test_short_inputs_are_all_nan_like_talib() -> None:
    x = np.linspace(1.0, 2.0, 10)
    for ours, ref in ((ind.ema(x, 10), talib.EMA(x, 10)), (ind.rsi(x, 10), talib.RSI(x, 10)),
                      (ind.macd(x)[0], talib.MACD(x)[0])):
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    assert ind.sma(np.array([]), 3).size == 0


def test_vwap_matches_pandas(data: pd.DataFrame) -> None:
    """VWAP is not in TA-Lib: compare with pandas cumulative and rolling sums."""
    _, h, lo, c, v = cols(data)
    pv = pd.Series((h + lo + c) / 3.0 * v)
    vol = pd.Series(v)
    anchored = (pv.cumsum() / vol.cumsum()).to_numpy()
    np.testing.assert_allclose(ind.vwap(h, lo, c, v), anchored, rtol=1e-9)
    rolling = (pv.rolling(20).sum() / vol.rolling(20).sum()).to_numpy()
    np.testing.assert_allclose(ind.vwap(h, lo, c, v, 20), rolling, rtol=1e-9)


def test_vwap_undefined_while_volume_is_zero() -> None:
    h = np.array([2.0, 3.0, 4.0])
    v = np.array([0.0, 0.0, 5.0])
    out = ind.vwap(h, h, h, v)
    assert np.isnan(out[:2]).all() and out[2] == 4.0


def test_departures_are_scale_equivariant(sp500: pd.DataFrame) -> None:
    """Tiny prices (as ADA/BTC) keep their Bollinger width and RSI, where a fixed epsilon would zero them."""
    c = cols(sp500)[3][:500]
    scale = 1e-9
    up, mid, _ = ind.bbands(c, 20)
    up_s, mid_s, _ = ind.bbands(c * scale, 20)
    np.testing.assert_allclose((up_s - mid_s)[19:], (up - mid)[19:] * scale, rtol=1e-6)
    np.testing.assert_allclose(ind.rsi(c * scale, 14)[14:], ind.rsi(c, 14)[14:], rtol=1e-9)


def test_flat_series_rsi_is_neutral_and_bands_collapse() -> None:
    x = np.full(40, 7.5)
    assert (ind.rsi(x, 14)[14:] == 50.0).all()
    up, mid, lo = ind.bbands(x, 20)
    np.testing.assert_array_equal(up[19:], mid[19:])
    np.testing.assert_array_equal(lo[19:], mid[19:])


@pytest.mark.parametrize(
    "call",
    [
        lambda: ind.sma([1.0, 2.0], 0),
        lambda: ind.ema([1.0, 2.0], -3),
        lambda: ind.rsi([1.0, 2.0], 2.5),  # type: ignore[arg-type]
        lambda: ind.macd([1.0] * 50, 26, 12, 9),
        lambda: ind.atr([1.0, 2.0], [1.0], [1.0, 2.0]),
        lambda: ind.sma(np.ones((3, 3)), 2),
        lambda: ind.bbands([1.0] * 30, 20, float("nan")),
        lambda: ind.vwap([1.0], [1.0], [1.0], [1.0], window=0),
    ],
)
def test_bad_input_raises_indicator_input_error(call: Callable[[], object]) -> None:
    with pytest.raises(ind.IndicatorInputError):
        call()
