"""Sim vs real: the same key sequence gives the identical hit/miss sequence per tier in both worlds."""

from __future__ import annotations

import pandas as pd
import pytest

from sim.compare import compare
from sim.models import cache_hierarchy
from sim.realrun import calibrate_from_log, calibrate_tiers, run_real
from sim.workload import keys_for

N = 600


def _sim(book: str | None = None, **kw: object) -> pd.DataFrame:
    sc = {"workload.n": N, "cache.l1.capacity": 50, **kw}
    if book:
        sc["latency.book"] = book
    return cache_hierarchy.run(sc)


def test_identical_hit_miss_sequence_fakeredis_sqlite() -> None:
    real = run_real(keys_for("zipf_shifting", N, 0), capacity=50)
    sim = _sim()
    assert set(real["world"]) == {"real"}
    seq_real, seq_sim = cache_hierarchy.tier_sequence(real), cache_hierarchy.tier_sequence(sim)
    assert len(seq_real) > N and seq_real == seq_sim
    hr = compare(real, sim)["hit_ratio"]
    assert (hr["diff"].abs() < 1e-12).all()


def test_identical_sequence_on_real_servers(
    real_redis: object, real_postgres_url: str, namespace: str
) -> None:
    real = run_real(
        keys_for("zipf_shifting", N, 0),
        capacity=50,
        redis_client=real_redis,
        database_url=real_postgres_url,
        namespace=namespace,
    )
    assert cache_hierarchy.tier_sequence(real) == cache_hierarchy.tier_sequence(_sim())
    assert not list(real_redis.scan_iter(match=f"{namespace}*"))  # type: ignore[attr-defined]


def test_policy_matters_identically_in_both_worlds() -> None:
    keys = keys_for("zipf_shifting", N, 0)
    for policy in ("fifo", "s3fifo"):
        real = run_real(keys, capacity=50, policy=policy)
        assert cache_hierarchy.tier_sequence(real) == cache_hierarchy.tier_sequence(
            _sim(**{"cache.l1.policy": policy})
        )


def test_calibrated_sim_is_comparable(tmp_path: pytest.TempPathFactory) -> None:
    book = calibrate_tiers(tmp_path / "tiers.json", n=50, warmup=5)  # type: ignore[operator]
    assert {"L2.get.hit", "L3.set.ok", "source.fetch"} <= set(book)
    cal = run_real(keys_for("zipf_shifting", N, 1), capacity=50)
    insitu = calibrate_from_log(cal, tmp_path / "insitu.json")  # type: ignore[operator]
    assert {"L1.get.hit", "L2.get.miss", "L3.get.miss", "source.fetch"} <= set(insitu)
    real = run_real(keys_for("zipf_shifting", N, 0), capacity=50)
    sim = _sim(str(tmp_path / "insitu.json"), **{"source.key": "source.fetch"})  # type: ignore[operator]
    lat = compare(real, sim)["latency"]
    row = lat[(lat["component"] == "Redis_Cache_L2") & (lat["operation"] == "get")].iloc[0]
    assert 0.0 <= row["ks_distance"] <= 1.0 and row["n_real"] == row["n_sim"]
