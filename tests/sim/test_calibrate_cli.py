"""Calibration against fakeredis/SQLite (quick) and the real servers (marked), and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sim.calibrate import calibrate, measure
from sim.latency import Empirical, LatencyBook
from sim.runner import run_model
from supreme.cli import main


def test_calibrate_fakeredis_sqlite_and_hook(tmp_path) -> None:
    calls = []
    out = tmp_path / "lat.json"
    book = calibrate(out, n=30, warmup=2, extra={"custom.op": lambda: calls.append(1)})
    assert {"L1.get", "fakeredis.get", "fakeredis.set", "sqlite.select", "custom.op"} <= set(book)
    assert len(calls) == 32
    loaded = LatencyBook.load(out)
    samples = loaded["fakeredis.get"].samples  # type: ignore[attr-defined]
    assert samples.size == 30 and (samples > 0).all()
    # a calibrated file feeds a model: its samples drive the query times
    sim = run_model("connection_pool",
                    {"duration": 1.0, "latency.book": str(out), "query.key": "sqlite.select"})
    q = sim[sim["operation"] == "query"]["latency"].to_numpy()
    assert set(np.unique(q)) <= set(loaded["sqlite.select"].samples)  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        measure(lambda: None, n=0)


def test_calibrate_sqlite_file_url_to_parquet(tmp_path) -> None:
    out = tmp_path / "lat.parquet"
    calibrate(out, fakeredis=False, l1=False, database_url=f"sqlite:///{tmp_path / 'c.db'}", n=20, warmup=1)
    frame = pd.read_parquet(out)
    assert set(frame["key"]) == {"sqlite.select"} and len(frame) == 20


@pytest.mark.real_redis
@pytest.mark.real_postgres
def test_calibrate_real_servers(real_redis, real_postgres_url, namespace, tmp_path) -> None:
    book = calibrate(tmp_path / "real.json", redis_client=real_redis, database_url=real_postgres_url,
                     n=20, warmup=2, key_prefix=namespace, fakeredis=False, sqlite=False, l1=False)
    assert {"redis.get", "redis.set", "postgresql.select", "postgresql.connect"} <= set(book)
    assert isinstance(book["redis.get"], Empirical)
    assert not list(real_redis.scan_iter(match=f"{namespace}*"))  # calibration key removed


def test_cli_list_run_sweep(tmp_path, capsys) -> None:
    assert main(["sim", "list"]) == 0
    assert "autoscaling" in capsys.readouterr().out
    scen = tmp_path / "s.json"
    scen.write_text(json.dumps({"duration": 1.0, "pool": {"max_size": 2}}))
    out = tmp_path / "log.parquet"
    assert main(["sim", "run", "connection_pool", "--scenario", str(scen), "--set", "seed=5",
                 "--out", str(out)]) == 0
    assert "requests" in capsys.readouterr().out
    log = pd.read_parquet(out)
    assert set(log["world"]) == {"sim"}
    side = json.loads(out.with_suffix(".scenario.json").read_text())
    assert side["seed"] == 5 and side["pool.max_size"] == 2
    res = tmp_path / "r.csv"
    assert main(["sim", "sweep", "autoscaling", "--grid", "hpa.max_replicas=3,6", "--set",
                 "requests.enabled=false", "--set", "duration=200", "--out", str(res)]) == 0
    assert pd.read_csv(res)["max_replicas"].tolist() == [3, 6]
    assert main(["sim", "run", "connection_pool", "--set", "pool.bogus=1"]) == 2
    assert "unknown scenario key 'pool.bogus'" in capsys.readouterr().err
    assert main(["sim", "run", "nope"]) == 2
    cal = tmp_path / "cal.json"
    assert main(["sim", "calibrate", "-n", "10", "--out", str(cal)]) == 0
    assert "fakeredis.get" in LatencyBook.load(cal)
