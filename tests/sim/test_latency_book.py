"""CPU time in the model, the latency book (versioned, measured, loaded by default), sim validate, and
the signal flow's default workload."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sim.book import BOOK_FORMAT, SCHEMA_VERSION, default_book_path, load_book, read_book, write_book
from sim.errors import SimError
from sim.latency import Constant, Empirical, LatencyBook, LatencyError
from sim.models import cache_hierarchy, trading_signal
from sim.scenario import ScenarioError
from sim.validate import calibrate_book, validate, verdict
from sim.workload import MARKET_EPOCH_MS, market_frames, market_open_arrivals, signal_requests
from supreme.cli import main

SHIPPED = Path(trading_signal.__file__).parent / "defaults" / "latency_book.json"


def _cpu_book(tmp_path: Path, cpu: float) -> Path:
    """A book whose only figures are a fixed CPU time per signal request and free I/O."""
    zero = Constant(0.0)
    models = {k: zero for k in ("api.overhead", "auth.nonce.set", "auth.keystore.select", "exchange.fetch",
                                "redis.get", "redis.set", "postgresql.select", "postgresql.upsert",
                                "L1.get", "L1.set")}
    models.update({"cpu.signal.hit": Constant(cpu), "cpu.signal.miss": Constant(cpu)})
    return write_book(tmp_path / "cpu.json", {"trading_signal": models}, backends={}, note="test book")


@pytest.mark.parametrize("rate, grows", [(2000.0, True), (500.0, False)])
def test_cpu_bound_service_saturates_in_the_model(tmp_path: Path, rate: float, grows: bool) -> None:
    """1 ms of CPU per request on one core serves 1000 requests/s: at 2000/s the queue and the latency
    grow through the run (and the waits are on the cores); at 500/s they stay flat."""
    book = _cpu_book(tmp_path, 1e-3)
    log = trading_signal.run({"latency.book": str(book), "requests": 1500, "load.rate": rate,
                              "load.burst": 1.0, "api.workers": 8, "cpu.workers": 1,
                              "ratelimit.rate": 1e6, "ratelimit.burst": 10**6})
    lat = log[(log["component"] == "API_Gateway") & (log["operation"] == "request")]["latency"].to_numpy()
    first, last = np.median(lat[:100]), np.median(lat[-100:])
    cpu_waits = log[(log["component"] == "Worker_CPU") & (log["operation"] == "queue")]
    if grows:
        assert last > 5 * first and last > 0.3  # ~0.75 s behind by the end of a 0.75 s run
        assert len(cpu_waits) > 1000
    else:
        assert last < 3 * first and np.percentile(lat, 99) < 0.02
    # two cores halve the CPU queue: the same overload is served
    two = trading_signal.run({"latency.book": str(book), "requests": 1500, "load.rate": rate,
                              "load.burst": 1.0, "api.workers": 8, "cpu.workers": 2,
                              "ratelimit.rate": 1e6, "ratelimit.burst": 10**6})
    lat2 = two[(two["component"] == "API_Gateway") & (two["operation"] == "request")]["latency"].to_numpy()
    assert np.percentile(lat2, 99) < 0.02


def test_without_cpu_figures_nothing_is_charged(tmp_path: Path) -> None:
    log = trading_signal.run({"latency.book": None, "requests": 200})
    assert not (log["component"] == "Worker_CPU").any()


def test_book_schema_version_and_format_are_checked(tmp_path: Path) -> None:
    path = _cpu_book(tmp_path, 1e-4)
    doc = json.loads(path.read_text())
    assert doc["format"] == BOOK_FORMAT and doc["schema_version"] == SCHEMA_VERSION
    doc["schema_version"] = 1
    old = tmp_path / "old.json"
    old.write_text(json.dumps(doc))
    with pytest.raises(LatencyError, match=r"old.json: latency book schema version 1 is not the supported 2"):
        read_book(old)
    with pytest.raises(LatencyError, match="schema version 1"):
        trading_signal.run({"latency.book": str(old), "requests": 10})
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(LatencyError, match=r"bad\.json"):
        load_book(tmp_path / "bad.json")
    with pytest.raises(LatencyError, match="does not exist"):
        load_book(tmp_path / "missing.json")


def test_unknown_scenario_key_names_it() -> None:
    with pytest.raises(ScenarioError, match=r"unknown scenario key 'cpu.workerz'.*cpu.workers"):
        trading_signal.run({"cpu.workerz": 2})
    with pytest.raises(SimError, match=r"market\.source must be 'recordings' or 'sample'"):
        trading_signal.run({"market.source": "nasdaq", "requests": 5})
    with pytest.raises(SimError, match="set timeframe to '1m'"):
        trading_signal.run({"timeframe": "1d", "requests": 5})


def test_shipped_book_is_measured_and_loaded_by_default(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    monkeypatch.delenv("SUPREME_LATENCY_BOOK", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no user book
    assert default_book_path() == SHIPPED
    doc = read_book(SHIPPED)
    meta = doc["meta"]
    assert "measured by `supreme sim calibrate` on this machine" in meta["note"]
    assert meta["machine"]["cpus"] and meta["backends"]["redis"].startswith("fakeredis")
    assert {"Rate_Limiter.check", "Auth_Service.validate", "Response_Formatter.format"} <= set(meta["steps"])
    book = load_book(SHIPPED, "trading_signal")
    assert isinstance(book["cpu.signal.hit"], Empirical) and isinstance(book["cpu.signal.miss"], Empirical)
    assert np.median(book["cpu.signal.miss"].samples) > np.median(book["cpu.signal.hit"].samples)  # type: ignore[attr-defined]
    # the default scenario loads it: CPU is charged (Worker_CPU resource in use), so latency > 0 on hits
    log = trading_signal.run({"requests": 300})
    assert log.attrs["latency"]["p50"] > 1e-4
    # the env var wins, and must name an existing file
    custom = _cpu_book(tmp_path, 5e-3)
    monkeypatch.setenv("SUPREME_LATENCY_BOOK", str(custom))
    assert default_book_path() == custom
    slow = trading_signal.run({"requests": 50, "load.rate": 20.0, "load.burst": 1.0})
    assert slow.attrs["latency"]["p50"] == pytest.approx(5e-3, rel=0.01)
    monkeypatch.setenv("SUPREME_LATENCY_BOOK", str(tmp_path / "nope.json"))
    with pytest.raises(LatencyError, match=r"SUPREME_LATENCY_BOOK names .*nope\.json"):
        default_book_path()


def test_plain_latency_files_still_load(tmp_path: Path) -> None:
    path = LatencyBook({"redis.get": Constant(1e-4)}).save(tmp_path / "plain.json")
    assert load_book(path)["redis.get"].sample(np.random.default_rng(0)) == 1e-4
    assert cache_hierarchy.run({"latency.book": str(path), "workload.n": 50}).shape[0] > 0


def test_calibrate_then_validate_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A small real calibration on fakeredis + SQLite, then validation on another seed."""
    out = tmp_path / "book.json"
    calibrate_book(out, requests=300, n=20)
    meta = read_book(out)["meta"]
    assert meta["backends"] == {"redis": "fakeredis (in process)", "database": "SQLite (temporary file)"}
    assert meta["created"].endswith("Z")
    sig = load_book(out, "trading_signal")
    # (wake.lag needs >= 5 arrivals at an idle worker: a loaded machine may give fewer in 300 requests)
    assert {"cpu.signal.hit", "cpu.signal.miss", "L2.get.miss", "L3.set.ok"} <= set(sig)
    cache = load_book(out, "cache_hierarchy")
    assert {"cpu.cache.hit", "cpu.cache.miss", "L2.get.hit", "source.fetch"} <= set(cache)
    table = validate("trading_signal", book=out, overrides={"requests": 300})
    assert list(table["compare"]) == ["sim vs real", "sim vs sim (seed+1)"]
    assert table.attrs["n_real"] == table.attrs["n_sim"] == 300
    assert np.isfinite(table[["p50_err", "p99_err", "ks"]].to_numpy()).all()
    assert set(verdict(table)) == {"p50", "p99", "ks"}
    assert main(["sim", "validate", "cache_hierarchy", "--book", str(out), "--no-real-floor",
                 "--set", "workload.n=300"]) == 0
    text = capsys.readouterr().out
    assert "sim vs real" in text and "KS within 2x noise floor" in text
    assert main(["sim", "validate", "nope"]) == 2
    assert "no validation for model 'nope'" in capsys.readouterr().err


@pytest.mark.real_redis
@pytest.mark.real_postgres
def test_validate_on_real_servers(real_postgres_url: str, tmp_path: Path) -> None:
    table = validate("trading_signal", redis_url="redis://127.0.0.1:6379/0", database_url=real_postgres_url,
                     book=SHIPPED, overrides={"requests": 200})
    assert table.attrs["scenario"]["l2.backend"] == "redis" and table.attrs["n_real"] == 200


def test_default_workload_many_symbols_of_1m_candles_with_misses_and_a_burst() -> None:
    frames, tf, origin = market_frames(48)
    assert len(frames) == 48 and tf == "1m" and "btc-perp" in origin
    for frame in frames.values():
        assert int(frame["timestamp"].iloc[0]) == MARKET_EPOCH_MS
        assert (np.diff(frame["timestamp"].to_numpy()) == 60_000).all()
    assert len({round(float(f["close"].iloc[0]), 6) for f in frames.values()}) == 48  # distinct paths
    log = trading_signal.run({"latency.book": None})
    n = log.attrs["outcomes"]
    total = sum(n.values())
    assert 0.015 <= n["miss"] / total <= 0.04  # the stated ~2.4 % strategy runs (two candle closes)
    sc = trading_signal.DEFAULTS
    t, who, what = signal_requests({**sc, "seed": 0}, 48, np.random.default_rng(0))
    t2, _, _ = signal_requests({**sc, "seed": 0}, 48, np.random.default_rng(0))
    assert (t == t2).all() and who.max() < sc["clients"] and what.max() < 48
    assert np.bincount(what, minlength=48)[0] > 3 * np.bincount(what, minlength=48)[-1]  # Zipf popularity
    first5 = (t < 5.0).sum() / 5.0
    assert first5 > 2.5 * sc["load.rate"]  # the market-open rush
    with pytest.raises(ValueError, match="burst >= 1"):
        market_open_arrivals(10, 100.0, np.random.default_rng(0), burst=0.5)


def test_workload_falls_back_to_the_bundled_sample(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SUPREME_SHARED_DATA", str(tmp_path))
    frames, tf, origin = market_frames(4, window=300)
    assert tf == "1d" and "bundled daily sample" in origin and len(frames) == 4
    with pytest.raises(ValueError, match="windows of"):
        market_frames(10_000)


def test_wake_lag_counts_only_arrivals_at_an_idle_worker() -> None:
    """Due at 0, 1, 2, ... s; each starts 0.1 ms late and takes 10 ms, except request 3, which takes 1.5 s
    (so request 4 arrives while the worker is busy: its late start is queueing, not wake-up lag)."""
    from sim.book import cpu_from_log, wake_from_log
    from supreme.events import EventLog

    log = EventLog(world="real")
    for i in range(8):
        due, service = float(i), (1.5 if i == 3 else 0.01)
        start = due + 1e-4 if i != 4 else 4.51
        rid = f"r{i}"
        log.record(start + 1e-3, "trading_signal", "Rate_Limiter", "check", request_id=rid, latency=1e-3)
        log.record(start + service, "trading_signal", "API_Gateway", "check_signal_cache", "hit",
                   request_id=rid, latency=service / 2)
        log.record(start + service, "request_pipeline", "API_Gateway", "request", request_id=rid,
                   latency=start + service - due, detail="status=200")
    frame = log.to_frame()
    lag = wake_from_log(frame)["wake.lag"].samples  # type: ignore[attr-defined]
    assert lag.size == 7 and np.allclose(lag, 1e-4)
    cpu = cpu_from_log(frame)["cpu.signal.hit"].samples  # type: ignore[attr-defined]
    assert sorted(np.round(cpu, 6))[-1] == 1.5 and np.allclose(sorted(cpu)[:7], 0.01)


def test_validated_cache_scenario_loads_the_default_book_and_never_hides_a_missing_cost(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without --book, `sim validate cache_hierarchy` simulates with the default (measured) book; a book
    that lacks a cost is a LatencyError, not 2,000 quiet error rows compared with the real run."""
    from sim.validate import scenario_for

    monkeypatch.delenv("SUPREME_LATENCY_BOOK", raising=False)
    monkeypatch.setattr("sim.book.USER_BOOK", tmp_path / "absent.json")
    sc = scenario_for("cache_hierarchy", {"workload.n": 300})
    assert sc["latency.book"] == "default"
    log = cache_hierarchy.run(sc)
    assert not (log["outcome"] == "error").any()
    assert cache_hierarchy.summarize(log)["source_fetches"] > 0
    with pytest.raises(LatencyError, match=r"source\.fetch"):
        cache_hierarchy.run({**sc, "latency.book": None})  # typed defaults have no source.fetch


def test_back_to_back_requests_draw_their_own_cpu_class(tmp_path: Path) -> None:
    """A request that waited for the worker is charged ``cpu.signal.hit.busy`` (runs warm, back to back);
    one that woke an idle worker ``cpu.signal.hit``: a cheap busy class drains the same overload."""
    cold = _cpu_book(tmp_path, 1e-3)
    doc = json.loads(cold.read_text())
    doc["by_model"]["trading_signal"]["cpu.signal.hit.busy"] = Constant(1e-4).spec()
    warm = tmp_path / "warm.json"
    warm.write_text(json.dumps(doc))
    sc = {"requests": 1500, "load.rate": 2000.0, "load.burst": 1.0, "api.workers": 1, "cpu.workers": 1,
          "ratelimit.rate": 1e6, "ratelimit.burst": 10**6}

    def p99(book: Path) -> float:
        log = trading_signal.run({"latency.book": str(book), **sc})
        lat = log[(log["component"] == "API_Gateway") & (log["operation"] == "request")]["latency"]
        return float(np.percentile(lat.to_numpy(), 99))

    assert p99(cold) > 0.3 and p99(warm) < 0.02  # 1 ms each saturates one core at 2000/s; 0.1 ms does not
    shipped = load_book(SHIPPED, "trading_signal")
    assert {"cpu.signal.hit", "cpu.signal.hit.busy"} <= set(shipped)
