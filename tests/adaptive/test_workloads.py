"""Workload generators: seeded, well-formed, and driven by a recorded price series when given."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from supreme.adaptive import AdaptiveConfigError
from supreme.adaptive import workloads as wl
from tests.conftest import shared_or_skip

GENERATORS = [wl.dashboard_replay, wl.candle_walk, wl.volatility_bursts, wl.zipf_shifting,
              wl.scan_with_hot_set]


@pytest.mark.parametrize("gen", GENERATORS)
def test_seeded_and_well_formed(gen) -> None:
    a, b, c = gen(3000, seed=1), gen(3000, seed=1), gen(3000, seed=2)
    assert a.keys == b.keys and np.array_equal(a.times, b.times)
    assert a.keys != c.keys
    assert len(a.keys) == len(a.times) == 3000
    assert a.times[0] == 0.0 and np.all(np.diff(a.times) >= 0)
    assert all(isinstance(k, str) for k in a.keys)


def test_dashboard_keys_look_like_market_data() -> None:
    w = wl.dashboard_replay(500, seed=0)
    assert any(k.startswith("ohlcv:") and k.endswith(":1m") for k in w.keys)


def test_bursts_from_a_recorded_series() -> None:
    path = shared_or_skip("nautilus/btc-perp-20211231-20220201_1m.csv")
    prices = pd.read_csv(path, nrows=5000)
    w = wl.volatility_bursts(3000, prices=prices, seed=0)
    assert w.params["source"] == "recorded" and len(w.keys) == 3000


def test_bursts_reject_too_short_a_series() -> None:
    with pytest.raises(AdaptiveConfigError, match="closes"):
        wl.volatility_bursts(100, prices=pd.DataFrame({"close": [1.0, 2.0, np.nan]}))


def test_trace_keys_from_ids_and_objects() -> None:
    class T:
        obj_id = np.array([3, 1, 3])

    assert wl.trace_keys(np.array([1, 2])) == ["obj:1", "obj:2"]
    assert wl.trace_keys(T()) == ["obj:3", "obj:1", "obj:3"]
    with pytest.raises(AdaptiveConfigError):
        wl.trace_keys(np.zeros((2, 2)))


def test_bad_length_named() -> None:
    with pytest.raises(AdaptiveConfigError, match="n must be"):
        wl.zipf_shifting(0)
