"""Latency models and the LatencyBook."""

from __future__ import annotations

import numpy as np
import pytest

from sim.latency import (
    Constant,
    Empirical,
    Exponential,
    LatencyBook,
    LatencyError,
    LatencyModel,
    LogNormal,
    TruncatedNormal,
)


def _draw(model: LatencyModel, n: int = 20000, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.array([model.sample(rng) for _ in range(n)])


def test_lognormal_matches_median_and_p99() -> None:
    x = _draw(LogNormal(80e-6, 300e-6))
    assert np.median(x) == pytest.approx(80e-6, rel=0.05)
    assert np.percentile(x, 99) == pytest.approx(300e-6, rel=0.1)


def test_other_parametric_models() -> None:
    assert set(_draw(Constant(0.5), 10)) == {0.5}
    assert _draw(Exponential(2e-3)).mean() == pytest.approx(2e-3, rel=0.05)
    t = _draw(TruncatedNormal(1e-3, 1e-3, low=0.0))
    assert t.min() >= 0.0
    assert _draw(TruncatedNormal(-5.0, 0.1, low=0.0), 10).max() == 0.0  # clipped, terminates


def test_empirical_resamples_only_measured_values() -> None:
    samples = np.array([1e-3, 2e-3, 5e-3])
    x = _draw(Empirical(samples), 3000)
    assert set(np.unique(x)) == set(samples)
    assert (x == 5e-3).mean() == pytest.approx(1 / 3, abs=0.05)


def test_same_seed_same_draws() -> None:
    m = LogNormal(1e-3, 5e-3)
    assert np.array_equal(_draw(m, 100, seed=7), _draw(m, 100, seed=7))
    assert not np.array_equal(_draw(m, 100, seed=7), _draw(m, 100, seed=8))


@pytest.mark.parametrize("bad", [
    lambda: LogNormal(0.0, 1.0), lambda: LogNormal(2.0, 1.0), lambda: Exponential(-1.0),
    lambda: Constant(float("nan")), lambda: Empirical([]), lambda: Empirical([1.0, -1.0]),
    lambda: TruncatedNormal(1.0, 0.0),
])
def test_bad_parameters_raise(bad) -> None:
    with pytest.raises(LatencyError):
        bad()


def test_book_defaults_and_fallback() -> None:
    book = LatencyBook.defaults()
    rng = np.random.default_rng(0)
    assert 0 < book.sample("redis.get", rng) < 0.1
    book["exchange"] = Constant(0.05)
    assert book.sample("exchange.unknown_op", rng) == 0.05  # "a.b" falls back to "a"
    with pytest.raises(LatencyError, match=r"no latency model for 'nothing.get'"):
        book["nothing.get"]
    with pytest.raises(LatencyError):
        book["x"] = object()  # type: ignore[assignment]


def test_book_round_trips_json_and_parquet(tmp_path) -> None:
    book = LatencyBook({"L2.get": Empirical([1e-4, 2e-4]), "L3.get": LogNormal(3e-4, 1e-3)})
    again = LatencyBook.load(book.save(tmp_path / "b.json"))
    assert list(again) == ["L2.get", "L3.get"]
    assert np.array_equal(again["L2.get"].samples, [1e-4, 2e-4])  # type: ignore[attr-defined]
    assert again["L3.get"] == LogNormal(3e-4, 1e-3)
    with pytest.raises(LatencyError, match=r"Parquet holds samples only"):
        book.save(tmp_path / "b.parquet")
    samples_only = LatencyBook({"L2.get": Empirical([1e-4, 2e-4, 3e-4])})
    back = LatencyBook.load(samples_only.save(tmp_path / "s.parquet"))
    assert np.array_equal(back["L2.get"].samples, [1e-4, 2e-4, 3e-4])  # type: ignore[attr-defined]


def test_book_load_errors_name_the_file(tmp_path) -> None:
    with pytest.raises(LatencyError, match=r"does not exist"):
        LatencyBook.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(LatencyError, match=r"bad.json"):
        LatencyBook.load(bad)
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"models": {"a": {"kind": "weibull"}}}')
    with pytest.raises(LatencyError, match=r"weibull"):
        LatencyBook.load(wrong)


@pytest.mark.parametrize("tier", ["L2", "L3"])
@pytest.mark.parametrize("op", ["get", "set", "delete"])
def test_default_book_prices_every_remote_tier_operation(tier: str, op: str) -> None:
    """Every call the simulated tiers can make has a default cost (an expired L3 entry is deleted)."""
    import simpy

    from sim.tiers import SimIO

    io = SimIO(simpy.Environment(), LatencyBook.defaults(), np.random.default_rng(0))
    assert io.draw(f"{tier}.{op}.ok", f"{tier}.{op}") > 0
