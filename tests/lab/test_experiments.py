"""Fast tests of the lab package: deterministic results, reports written, bad input refused."""

from __future__ import annotations

import pandas as pd
import pytest

from lab import adaptive, deployment, eviction, hierarchy, quickstart, sweeps


def test_mrc_table_is_deterministic_and_opt_is_a_bound() -> None:
    traces = eviction.market_workloads(3000, seed=1)
    a = eviction.mrc_table(traces, fractions=[0.05, 0.2])
    b = eviction.mrc_table(eviction.market_workloads(3000, seed=1), fractions=[0.05, 0.2])
    pd.testing.assert_frame_equal(a, b)
    opt = a[a["policy"] == "opt"].set_index(["workload", "size"])["miss_ratio"]
    online = a[a["policy"] != "opt"].set_index(["workload", "size"])["miss_ratio"]
    assert (online >= opt.reindex(online.index) - 1e-12).all()
    win = eviction.winners(a)
    assert set(win["workload"]) == set(traces) and (win["best"] != "opt").all()
    assert "Overall wins" in eviction.conclusion(a, "note")


def test_standard_trace_missing_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("SUPREME_SHARED_TRACES", str(tmp_path))
    trace, note = eviction.standard_trace()
    assert trace is None and "not available" in note


def test_quickstart_writes_report_and_figures(tmp_path) -> None:
    r1 = quickstart.run_quickstart(tmp_path / "a", candles=30, replicas=2, requests_per_candle=2)
    r2 = quickstart.run_quickstart(tmp_path / "b", candles=30, replicas=2, requests_per_candle=2)
    pd.testing.assert_frame_equal(r1["signals"], r2["signals"])
    pd.testing.assert_frame_equal(r1["tiers"], r2["tiers"])
    assert r1["report"].exists() and "| L1 |" in r1["report"].read_text(encoding="utf-8")
    assert all(p.exists() and p.stat().st_size > 0 for p in r1["figures"].values())
    t = r1["tiers"]
    # one source fetch per symbol and candle; every other request is answered by a tier
    assert t.loc["source", "hits"] == 30 * 2
    assert t.loc["L1", "lookups"] == 30 * 2 * 2 * 2
    assert len(r1["signals"]) == 30 * 2


def test_quickstart_refuses_bad_arguments(tmp_path) -> None:
    with pytest.raises(ValueError, match="candles"):
        quickstart.run_quickstart(tmp_path, candles=0)


def test_adaptive_timeline_sums_to_the_whole_run() -> None:
    w = adaptive.make_workloads(4000, seed=2, names=["dashboard_replay"])["dashboard_replay"]
    cap = adaptive.capacity_for(w, 0.1)
    tl, log = adaptive.timeline(w, cap)
    whole = adaptive.simulate_adaptive(w, cap)
    misses = (tl["adaptive"] * tl["requests"]).round().sum()
    assert misses == whole["demand_misses"] and tl["requests"].sum() == len(w.keys)
    assert not adaptive.adaptations(log).empty


def test_deployment_rollouts_and_hpa() -> None:
    logs = deployment.rollouts(seed=3)
    hpa = {"base": deployment.autoscale(seed=3)}
    text = deployment.conclusion(logs, hpa)
    assert "good build: succeeded" in text and "bad build: aborted" in text
    assert "bug on live traffic: rolled_back" in text
    tl = deployment.hpa_timeline(hpa["base"])
    assert tl["desired"].max() > 2 and (tl["decision"] == "scale_up").any()
    capped = deployment.autoscale_edited(lambda d: d["spec"].update(maxReplicas=4), seed=3)
    assert deployment.hpa_timeline(capped)["desired"].max() == 4
    table = deployment.manifest_table()
    assert set(table["file"]) == {"deployment.yaml", "rollout.yaml", "analysis-template.yaml", "hpa.yaml"}


def test_sweep_run_one_reproduces_a_row() -> None:
    grid = {"cache.policy": ["lru", "s3fifo"], "cache.size": [20], "prefetch.threshold": [0.4, 1.0]}
    df = sweeps.run_grid(grid, {"workload.n": 1500}, executor="serial")
    assert len(df) == 4
    row = df.iloc[1]
    again = sweeps.run_one(row[[*grid, "workload.name", "workload.n", "seed"]].to_dict())
    assert again["miss_ratio"] == row["miss_ratio"]
    assert df.loc[df["prefetch.threshold"] == 1.0, "prefetch_accuracy"].isna().all()


def test_promotion_paths_follow_the_diagram() -> None:
    df = hierarchy.promotion_paths()
    answered = df[(df["component"] == "Cache_Manager") & (df["operation"] == "get")]
    assert answered["tier"].tolist() == ["source", "L3", "L2", "L1"]
    l3 = df[df["request_id"] == "2-L3-hit"]
    assert l3[l3["operation"] == "promote"]["component"].tolist() == ["Redis_Cache_L2", "Memory_Cache_L1"]


def test_real_outage_loses_nothing_and_matches_the_breaker_story() -> None:
    from lab import resilience

    sc = {"duration": 60.0, "faults.redis.down_at": 15.0, "faults.redis.down_for": 20.0, "seed": 4}
    real = resilience.run_real_outage(sc)
    assert real["wrong"] == 0 and real["lost_in_l2"] == 0 and real["pending"] == 0
    assert real["journaled"] > 0  # writes did arrive during the outage and were replayed
    states = resilience.breaker_timeline(real["log"])["state"].tolist()
    assert states[0] == "closed" and "open" in states and states[-1] == "closed"
    again = resilience.run_real_outage(sc)
    pd.testing.assert_frame_equal(resilience.breaker_timeline(real["log"]),
                                  resilience.breaker_timeline(again["log"]))


def test_streaming_fanout_counts_and_delays() -> None:
    from lab import streaming

    table, delays = streaming.fanout([1, 3], seed=0, duration=20.0)
    assert table["connections"].tolist() == [1, 3]
    assert (table["updates_received"] <= table["broadcasts"] * table["clients"]).all()
    assert (delays[3]["delay"] >= 0).all() and len(delays[3]) == table["updates_received"].iloc[1]


def test_sla_conclusion_marks_real_figures_live() -> None:
    from lab import latency

    sim = latency.run_sim(200, seed=1)
    assert sim.attrs["sla"]["passed"] in (True, False)
    fake_real = {"report": latency.validate(sim, latency.sla_config()),
                 "latencies": latency.request_latencies(sim)["latency"].to_numpy(float)}
    text = latency.conclusion(fake_real, sim)
    real_lines = [line for line in text.splitlines() if line.startswith("- real")]
    assert real_lines and all("(live)" in line for line in real_lines)


def test_calibrated_comparison_from_the_shipped_book() -> None:
    """Notebook 06: the stored real run and the calibrated model, both judged by the real validator."""
    from lab import latency

    book = latency.book_path(None)
    real = latency.stored_real(book)
    sim = latency.run_calibrated(book, 0)
    table = latency.compare_worlds(real, sim, latency.run_calibrated(book, 1))
    assert list(table.index) == ["sim vs real", "sim vs sim (seed+1)"]
    judged = latency.verdicts(real, sim)
    assert judged.loc["real (stored run)", "n"] == judged.loc["sim", "n"] == 4000
    text = latency.calibrated_conclusion(table, judged)
    assert "(live)" not in text and ("real passed" in text or "real failed" in text)
    assert latency.book_info(book)["redis"].startswith("fakeredis")


def test_replay_recording_falls_back_to_the_bundled_sample(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from lab.replay import replay_recording

    monkeypatch.setenv("SUPREME_SHARED_DATA", str(tmp_path / "nowhere"))
    out = replay_recording(tmp_path / "out")
    assert out["source"].startswith("bundled SPX daily sample") and "nowhere" in out["source"]
    assert out["symbol"] == "SPX" and out["l3_equals_file"] is True
    assert out["result"].candles == 5031 and out["figure"].exists()
