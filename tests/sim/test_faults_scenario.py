"""Fault schedules and scenarios."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim import scenario
from sim.scenario import (
    ScenarioError,
    flatten,
    load_defaults,
    load_scenario_file,
    make_scenario,
    parse_assignment,
)
from supreme.resilience.fault_schedule import FaultError, FaultSchedule, FaultWindow


def test_fault_state_over_time() -> None:
    fs = FaultSchedule([
        FaultWindow("redis", 30.0, 10.0),
        FaultWindow("redis", 0.0, 100.0, "slow", factor=3.0),
        FaultWindow("redis", 35.0, 65.0, "slow", factor=2.0),
        FaultWindow("db", 10.0, kind="error", rate=0.5),
    ])
    assert fs.state("redis", 10.0).up and fs.state("redis", 10.0).latency_multiplier == 3.0
    st = fs.state("redis", 35.0)
    assert not st.up and st.latency_multiplier == 6.0
    assert fs.state("redis", 40.0).up  # end is exclusive
    assert fs.state("db", 5.0).error_probability == 0.0
    assert fs.state("db", 1e9).error_probability == 0.5  # open-ended window
    assert fs.state("other", 35.0).up
    rng = np.random.default_rng(0)
    assert fs.fails("redis", 35.0, rng)
    draws = [fs.fails("db", 20.0, rng) for _ in range(4000)]
    assert np.mean(draws) == pytest.approx(0.5, abs=0.03)


def test_fault_schedule_from_scenario_and_errors() -> None:
    fs = FaultSchedule.from_scenario({"seed": 1, "faults.redis.down_at": 30, "faults.redis.down_for": 10,
                                      "faults.db.slow_at": 5, "faults.db.slow_factor": 4})
    assert [(w.target, w.kind, w.start, w.end) for w in fs.windows] == [
        ("db", "slow", 5.0, math.inf), ("redis", "down", 30.0, 40.0)]
    with pytest.raises(FaultError, match=r"faults.redis.gone"):
        FaultSchedule.from_scenario({"faults.redis.gone": 1})
    with pytest.raises(FaultError):
        FaultWindow("x", 0.0, kind="melt")
    with pytest.raises(FaultError):
        FaultWindow("x", 10.0, -5.0)
    with pytest.raises(FaultError):
        FaultWindow("x", 0.0, kind="error", rate=1.5)


def test_scenario_merges_validates_and_coerces() -> None:
    defaults = {"pool.max_size": 10, "pool.timeout": 30.0, "load.kind": "step", "flag": True, "opt": None}
    sc = make_scenario(defaults, {"pool": {"max_size": 4}, "pool.timeout": 2, "faults.db.down_at": 5})
    assert sc["pool.max_size"] == 4 and sc["pool.timeout"] == 2.0 and isinstance(sc["pool.timeout"], float)
    assert sc["seed"] == 0 and sc["faults.db.down_at"] == 5 and sc["flag"] is True
    assert list(sc) == sorted(sc)
    with pytest.raises(ScenarioError, match=r"unknown scenario key 'pool.max_sise'.*pool.max_size"):
        make_scenario(defaults, {"pool.max_sise": 3})
    with pytest.raises(ScenarioError, match=r"integer"):
        make_scenario(defaults, {"pool.max_size": "four"})
    with pytest.raises(ScenarioError, match=r"true/false"):
        make_scenario(defaults, {"flag": 1})
    with pytest.raises(ScenarioError, match=r"seed"):
        make_scenario(defaults, {"seed": -1})


def test_assignments_and_files(tmp_path) -> None:
    assert parse_assignment("pool.max_size=4") == ("pool.max_size", 4)
    assert parse_assignment("load.kind=ramp") == ("load.kind", "ramp")
    assert parse_assignment("flag=false") == ("flag", False)
    with pytest.raises(ScenarioError):
        parse_assignment("novalue")
    assert flatten({"a": {"b": 1, "c": {"d": 2}}}) == {"a.b": 1, "a.c.d": 2}
    f = tmp_path / "s.json"
    f.write_text('{"seed": 3, "pool": {"max_size": 2}}')
    assert load_scenario_file(f) == {"seed": 3, "pool.max_size": 2}
    f.write_text("[1, 2]")
    with pytest.raises(ScenarioError, match=r"JSON object"):
        load_scenario_file(f)


def test_model_defaults_files_load_as_typed_scalars() -> None:
    files = [p.name for p in scenario._DEFAULTS_DIR.iterdir()]
    names = sorted(n.removesuffix(".yaml") for n in files if n.endswith(".yaml"))  # the book is .json
    assert "trading_signal" in names
    for name in names:
        defaults = load_defaults(name)
        assert defaults and all("." in key or key.isidentifier() for key in defaults)
    signal = load_defaults("api_key_auth")
    assert signal["db.median"] == 300e-6 and isinstance(signal["db.median"], float)
    assert isinstance(signal["auth.recv_window_ms"], int)


def test_model_defaults_reject_what_yaml_misreads(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(scenario, "_DEFAULTS_DIR", tmp_path)
    (tmp_path / "exp.yaml").write_text("db.p99: 1e-3\n")
    with pytest.raises(ScenarioError, match=r"'db.p99' is the string '1e-3'"):
        load_defaults("exp")
    (tmp_path / "nested.yaml").write_text("pool:\n  max_size: 4\n")
    with pytest.raises(ScenarioError, match=r"'pool' must be a string mapped to a scalar"):
        load_defaults("nested")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ScenarioError, match=r"must map dotted keys"):
        load_defaults("list")
