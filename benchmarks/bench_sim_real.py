"""Data-path models: SimPy throughput, wall time per million signal requests, and sim-vs-real figures.

1. events/s of a bare SimPy loop vs the trading-signal model (log on and off), same run;
2. wall time to simulate N signal requests with per-step logging off (aggregates only), and the
   extrapolation to 1,000,000 when N is smaller (stated in the output); then where that time goes:
   the real SignalPipeline.handle, the clients' real HMAC signing, and the rest (SimPy, the model's
   glue, the event log), per request, and the floor the real objects alone put on 1,000,000 requests;
3. the cache-hierarchy flow, sim vs real, after calibration: hit ratio per tier (must be equal),
   P50/P99 relative error and KS distance per step, beside the sim-vs-sim noise floor (two seeds),
   for fakeredis+SQLite and for real Redis+PostgreSQL (skipped with a note when unreachable).
   Two calibrations: ``tiers`` (sim.calibrate timing the real tier calls in a tight loop) and
   ``in-situ`` (the empirical step latencies of a real calibration run on another key sequence);
4. end to end after ``sim.validate.calibrate_book`` (CPU per request, wake-up lag, tier I/O in situ):
   the real SignalPipeline and the real cache run vs their models, with the seed noise floor and a
   real rerun (the real run's own noise), on both back-end pairs.

Run: ``.venv/bin/python benchmarks/bench_sim_real.py [--requests 100000] [--keys 3000] [--speed-only]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import simpy
from bench_sim import _count, _counting_step, _orig_step, bare_loop

from sim.compare import compare, latency_errors
from sim.models import cache_hierarchy, trading_signal
from sim.realrun import calibrate_from_log, calibrate_tiers, run_real
from sim.workload import keys_for

STEPS = [
    ("Memory_Cache_L1", "get"),
    ("Redis_Cache_L2", "get"),
    ("PostgreSQL_L3", "get"),
    ("Redis_Cache_L2", "set"),
    ("PostgreSQL_L3", "set"),
    ("External_Source", "fetch"),
    ("Cache_Manager", "get"),
    ("Application", "response"),
]


def events_per_second(requests: int) -> None:
    """Bare loop vs the signal-flow model, events counted by wrapping Environment.step."""
    # warm-up: the first run imports the service and loads the candle sample (~1 s, once per process),
    # which is not the model's speed; the bare loop is timed warm as well
    trading_signal.run({"requests": 200})
    base, n = bare_loop()
    print(f"bare SimPy loop           : {base:12,.0f} events/s ({n} timeouts)")
    simpy.Environment.step = _counting_step  # type: ignore[method-assign]
    try:
        for label, enabled in (("log on", True), ("log off", False)):
            _count[0] = 0
            t0 = time.perf_counter()
            trading_signal.run({"requests": requests, "log.enabled": enabled})
            dt = time.perf_counter() - t0
            rate = _count[0] / dt
            print(
                f"trading_signal ({label:7s}): {rate:12,.0f} events/s, {requests / dt:9,.0f} requests/s, "
                f"ratio to bare loop {rate / base:5.3f}"
            )
    finally:
        simpy.Environment.step = _orig_step  # type: ignore[method-assign]


def million(requests: int) -> None:
    """Wall time for ``requests`` signal requests with logging off; extrapolated to 1e6 if fewer."""
    t0 = time.perf_counter()
    log = trading_signal.run(
        {
            "requests": requests,
            "log.enabled": False,
            "load.rate": 2000.0,
            "clients": 64,
            "ratelimit.rate": 1000.0,
            "ratelimit.burst": 100,
        }
    )
    dt = time.perf_counter() - t0
    note = "measured" if requests >= 1_000_000 else f"extrapolated linearly from {requests:,}"
    print(
        f"{requests:,} signal requests (log off): {dt:7.1f} s wall, "
        f"{log.attrs['sim_seconds']:.0f} s simulated, "
        f"outcomes {log.attrs['outcomes']}, p99 {log.attrs['latency']['p99'] * 1e3:.2f} ms"
    )
    print(f"1,000,000 signal requests: {dt * 1_000_000 / requests:7.1f} s wall ({note})")


def real_share(requests: int) -> None:
    """CPU time per request inside the real objects vs the rest of the model, log on and off."""
    from supreme.api.pipeline import SignalPipeline

    acc = {"pipeline": 0.0, "signing": 0.0}
    clock = time.process_time
    orig_handle, orig_call = SignalPipeline.handle, trading_signal.SignalService.call

    def handle(self: Any, call: Any) -> Any:
        t0 = clock()
        try:
            return orig_handle(self, call)
        finally:
            acc["pipeline"] += clock() - t0

    def sign(self: Any, *args: Any) -> Any:
        t0 = clock()
        try:
            return orig_call(self, *args)
        finally:
            acc["signing"] += clock() - t0

    SignalPipeline.handle = handle  # type: ignore[method-assign]
    trading_signal.SignalService.call = sign  # type: ignore[method-assign,assignment]
    try:
        for label, enabled in (("log on", True), ("log off", False)):
            acc.update(pipeline=0.0, signing=0.0)
            t0 = clock()
            trading_signal.run({"requests": requests, "log.enabled": enabled})
            per = 1e6 / requests
            total, pipe, sig = (clock() - t0) * per, acc["pipeline"] * per, acc["signing"] * per
            print(
                f"CPU per request ({label:7s}): {total:6.1f} us = real SignalPipeline.handle {pipe:6.1f} us "
                f"({pipe / total:4.0%}) + clients' real signing {sig:5.1f} us + SimPy, model glue and "
                f"log {total - pipe - sig:6.1f} us; the real objects alone: {(pipe + sig):5.1f} s per 1e6"
            )
    finally:
        SignalPipeline.handle = orig_handle  # type: ignore[method-assign]
        trading_signal.SignalService.call = orig_call  # type: ignore[method-assign]


def _table(real: pd.DataFrame, sim: pd.DataFrame, floor: pd.DataFrame) -> pd.DataFrame:
    lat = compare(real, sim)["latency"].set_index(["component", "operation"])
    fl = floor.set_index(["component", "operation"])
    rows = []
    for key in STEPS:
        if key not in lat.index:
            continue
        r = lat.loc[key]
        f = fl.loc[key] if key in fl.index else None
        rows.append(
            {
                "step": f"{key[0]}.{key[1]}",
                "n": int(r["n_real"]),
                "p50_real_us": r["p50_real"] * 1e6,
                "p50_sim_us": r["p50_sim"] * 1e6,
                "p50_err": r["p50_rel_err"],
                "p99_real_us": r["p99_real"] * 1e6,
                "p99_sim_us": r["p99_sim"] * 1e6,
                "p99_err": r["p99_rel_err"],
                "ks": r["ks_distance"],
                "ks_floor": None if f is None else f["ks_distance"],
                "p99_err_floor": None if f is None else f["p99_rel_err"],
            }
        )
    return pd.DataFrame(rows)


def sim_vs_real(label: str, n: int, **backend: Any) -> None:
    """Calibrate on one key sequence, compare sim and real on another."""
    keys = keys_for("zipf_shifting", n, 0)
    base = {"workload.n": n, "workload.seed": 0, "cache.l1.capacity": 100, "source.key": "source.fetch"}
    with tempfile.TemporaryDirectory() as tmp:
        tiers_book = Path(tmp) / "tiers.json"
        insitu_book = Path(tmp) / "insitu.json"
        calibrate_tiers(tiers_book, n=500, **backend)
        calibrate_from_log(run_real(keys_for("zipf_shifting", n, 1), capacity=100, **backend), insitu_book)
        real = run_real(keys, capacity=100, **backend)
        for cal, book in (("tiers", tiers_book), ("in-situ", insitu_book)):
            sim = cache_hierarchy.run({**base, "latency.book": str(book)})
            sim2 = cache_hierarchy.run({**base, "latency.book": str(book), "seed": 1})
            same = cache_hierarchy.tier_sequence(real) == cache_hierarchy.tier_sequence(sim)
            hr = compare(real, sim)["hit_ratio"]
            print(
                f"\n== {label}, calibration {cal}: identical hit/miss sequence: {same}; hit ratios "
                + ", ".join(
                    f"{t} {a:.4f}/{b:.4f}"
                    for t, a, b in zip(hr["tier"], hr["hit_ratio_real"], hr["hit_ratio_sim"], strict=True)
                )
            )
            table = _table(real, sim, latency_errors(sim, sim2, names=("sim", "sim2")))
            print(table.to_string(index=False, float_format=lambda v: f"{v:9.3f}"))


def signal_sim_vs_real(label: str, **backend: Any) -> None:
    """The signal flow after calibration on this machine (sim.validate): calibrate on the calibration
    seed, then the real pipeline vs the model on seed 0, the seed noise floor and a real rerun."""
    from sim.validate import calibrate_book, validate, verdict

    with tempfile.TemporaryDirectory() as tmp:
        book = calibrate_book(Path(tmp) / "book.json", n=200, **backend)
        for model in ("trading_signal", "cache_hierarchy"):
            table = validate(model, book=book, real_floor=True, **backend)
            v = verdict(table)
            print(
                f"\n== {model} end to end, {label}, calibrated book ({table.attrs['n_real']} requests); "
                f"targets P50 {'met' if v['p50'] else 'NOT met'}, P99 {'met' if v['p99'] else 'NOT met'}, "
                f"KS {'met' if v['ks'] else 'NOT met'}"
            )
            cols = ["compare", "p50_ref", "p50_other", "p50_err", "p99_ref", "p99_other", "p99_err", "ks"]
            shown = table[cols].copy()
            for c in ("p50_ref", "p50_other", "p99_ref", "p99_other"):
                shown[c] = shown[c] * 1e3  # ms
            print(shown.to_string(index=False, float_format=lambda v: f"{v:9.3f}"))


def main() -> None:
    """Run all three parts."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--events-requests", type=int, default=20_000)
    ap.add_argument("--keys", type=int, default=3000)
    ap.add_argument("--speed-only", action="store_true", help="parts 1 and 2 only (the model's speed)")
    args = ap.parse_args()
    events_per_second(args.events_requests)
    million(args.requests)
    real_share(args.events_requests)
    if args.speed_only:
        return
    sim_vs_real("fakeredis + SQLite", args.keys)
    signal_sim_vs_real("fakeredis + SQLite")
    try:
        import psycopg
        import redis

        redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_connect_timeout=1).ping()
        psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", connect_timeout=2).close()
    except Exception as exc:
        print(f"\nreal Redis + PostgreSQL unreachable, skipped: {exc}")
        return
    sim_vs_real(
        "real Redis + PostgreSQL",
        args.keys,
        redis_url="redis://127.0.0.1:6379/0",
        database_url="postgresql://postgres@127.0.0.1:5432/test",
    )
    signal_sim_vs_real(
        "real Redis + PostgreSQL",
        redis_url="redis://127.0.0.1:6379/0",
        database_url="postgresql://postgres@127.0.0.1:5432/test",
    )


if __name__ == "__main__":
    main()
