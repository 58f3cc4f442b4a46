"""Sim-vs-sim comparison and sweeps (serial vs a two-worker dask LocalCluster)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from sim.compare import compare, compare_with_noise_floor, hit_ratios, latency_errors
from sim.runner import ModelRunOne, run_model
from sim.sweep import SweepError, expand_grid, parse_grid, run_sweep
from supreme.events import EventLog

POOL = {"duration": 3.0, "pool.max_size": 3, "query.scale": 30.0}


def _step(frame: pd.DataFrame, component: str, operation: str) -> dict[str, Any]:
    row = frame[(frame["component"] == component) & (frame["operation"] == operation)]
    assert len(row) == 1
    return {str(k): v for k, v in row.iloc[0].items()}


def test_compare_two_sim_logs_and_noise_floor() -> None:
    a = run_model("connection_pool", {**POOL, "seed": 1})
    b = run_model("connection_pool", {**POOL, "seed": 2})
    c = run_model("connection_pool", {**POOL, "seed": 3})
    same = latency_errors(a, a)
    assert (same["ks_distance"] == 0).all() and (same["p99_rel_err"] == 0).all()
    res = compare_with_noise_floor(a, b, c)
    q = _step(res["latency"], "Database", "query")
    assert 0 < q["ks_distance"] < 0.2 and 0 < q["ks_distance_floor"] < 0.2  # same distribution, seed noise
    assert q["n_real"] > 100
    slow = run_model("connection_pool", {**POOL, "seed": 2, "query.scale": 60.0})
    q2 = _step(compare(a, slow)["latency"], "Database", "query")
    assert q2["ks_distance"] > max(0.3, 3 * q["ks_distance_floor"])
    assert q2["p50_rel_err"] == pytest.approx(1.0, abs=0.3)


def test_hit_ratios_per_tier() -> None:
    def log(outcomes: list[tuple[str, str]], world: str) -> pd.DataFrame:
        el = EventLog(run_id=world, world=world)
        for i, (tier, outcome) in enumerate(outcomes):
            el.record(float(i), "cache_hierarchy", "Cache_Manager", "get", outcome, tier=tier)
        return el.to_frame()

    seq = [("L1", "hit"), ("L1", "miss"), ("L2", "hit"), ("L1", "hit"), ("L1", "miss"), ("L2", "miss")]
    hr = hit_ratios(log(seq, "real"), log(seq, "sim"))
    assert hr["tier"].tolist() == ["L1", "L2"]
    assert hr["hit_ratio_real"].tolist() == [0.5, 0.5] and (hr["diff"] == 0).all()
    with pytest.raises(ValueError, match=r"missing columns"):
        hit_ratios(pd.DataFrame({"x": [1]}), log(seq, "sim"))


def test_grid_expansion_and_parsing() -> None:
    grid = parse_grid(["pool.max_size=2,4", "seed=0,1"])
    assert grid == {"pool.max_size": [2, 4], "seed": [0, 1]}
    scenarios = expand_grid(grid, base={"duration": 1.0})
    assert scenarios[:2] == [{"duration": 1.0, "pool.max_size": 2, "seed": 0},
                             {"duration": 1.0, "pool.max_size": 2, "seed": 1}]
    assert len(scenarios) == 4
    with pytest.raises(SweepError):
        parse_grid(["nokey"])
    with pytest.raises(SweepError):
        expand_grid({"a": []})
    with pytest.raises(SweepError, match=r"executor"):
        run_sweep(ModelRunOne("connection_pool"), scenarios[:1], executor="bogus", progress=False)


def test_dask_sweep_equals_serial_sweep() -> None:
    pytest.importorskip("distributed")
    scenarios = expand_grid({"pool.max_size": [2, 6], "seed": [0, 1]},
                            base={"duration": 1.0, "query.scale": 30.0})
    run_one = ModelRunOne("connection_pool")
    serial = run_sweep(run_one, scenarios, "serial", progress=False)
    dask = run_sweep(run_one, scenarios, "dask", progress=False)
    assert len(serial) == 4 and serial["seed"].tolist() == [0, 1, 0, 1]
    assert "load.rate" in serial.columns  # every row carries its full scenario
    assert_frame_equal(serial, dask)
    assert serial.loc[serial["pool.max_size"] == 2, "wait_p99"].min() > 0
