"""The SLA validator on synthetic event logs with known percentiles, on files, and on an in-process run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from supreme.api.sla import (
    SlaConfig,
    SlaThresholds,
    analyse,
    format_report,
    load_event_log,
    load_sla_config,
    percentile,
    request_latencies,
    validate,
)
from supreme.cli import main
from supreme.config import ConfigError
from supreme.events import EventLog

EP = "POST /api/v1/trading/signal"


def synthetic(n: int = 1000, seed: int = 7) -> EventLog:
    """Requests with latencies 1..n ms in shuffled order, each with an engine step of 60 % of it."""
    rng = np.random.default_rng(seed)
    log = EventLog(run_id="syn", world="sim")
    for i, ms in enumerate(rng.permutation(np.arange(1, n + 1))):
        rid = f"s{i}"
        lat = float(ms) / 1000.0
        log.record(i, "trading_signal", "Strategy_Engine", "process_indicators", request_id=rid,
                   latency=0.6 * lat)
        log.record(i, "request_pipeline", "API_Gateway", "request", request_id=rid, key=EP, latency=lat)
        log.record(i, "request_pipeline", "API_Gateway", "request", request_id=f"h{i}", key="GET /health",
                   latency=0.001)
    return log


def test_exact_percentiles_on_a_known_sample() -> None:
    frame = synthetic().to_frame()
    report = validate(frame, SlaConfig(SlaThresholds(p50=None, p95=0.951, p99=0.991)))
    row = report.table.set_index("endpoint").loc[EP]
    assert (row["n"], row["p50"], row["p95"], row["p99"], row["max"]) == (1000, 0.5, 0.95, 0.99, 1.0)
    assert report.passed
    strict = validate(frame, SlaConfig(SlaThresholds(p95=0.95, p99=1.0)))  # limits are strict upper bounds
    assert not strict.passed
    assert strict.violations["endpoint"].tolist() == [EP]
    assert "p95 950.000 ms >= 950.000 ms" in strict.violations["violations"].iloc[0]


def test_percentile_is_nearest_rank() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.0
    assert percentile([5.0], 99) == 5.0
    assert np.isnan(percentile([], 95))


def test_analysis_names_the_steps_of_the_slowest_requests() -> None:
    frame = synthetic().to_frame()
    report = validate(frame, SlaConfig(SlaThresholds(p95=0.05, p99=0.1),
                                       endpoints={"GET /health": SlaThresholds(p95=0.01, p99=0.01)}))
    assert report.violations["endpoint"].tolist() == [EP]
    table = analyse(report, frame, top=3)
    assert table["latency"].tolist() == [1.0, 0.999, 0.998]
    assert "Strategy_Engine.process_indicators 600.00 ms" in table["steps"].iloc[0]
    text = format_report(report, table)
    assert "SLA validation FAILED" in text and "GET /health" in text


def test_span_fallback_without_gateway_rows() -> None:
    log = EventLog()
    log.record(1.0, "trading_signal", "Rate_Limiter", "check", request_id="a", latency=0.5)
    log.record(3.0, "trading_signal", "Strategy_Engine", "apply_trading_logic", request_id="a", latency=1.0)
    lat = request_latencies(log.to_frame())
    assert lat["latency"].tolist() == [2.5]


def test_files_and_config(tmp_path: Path) -> None:
    frame = synthetic(200).to_frame()
    pq, csv = tmp_path / "ev.parquet", tmp_path / "ev.csv"
    frame.to_parquet(pq)
    frame.to_csv(csv, index=False)
    for path in (pq, csv):
        got = validate(load_event_log(path)).table.set_index("endpoint")
        assert got.loc[EP, "p99"] == pytest.approx(0.198)
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError, match="not an event log"):
        load_event_log(tmp_path / "bad.csv")
    cfg = tmp_path / "sla.toml"
    cfg.write_text('[default]\np95_ms = 20\np99_ms = 40\n[endpoints."GET /health"]\np99_ms = 5\n')
    config = load_sla_config(cfg)
    assert config.for_endpoint(EP) == SlaThresholds(p95=0.02, p99=0.04)
    assert config.for_endpoint("GET /health") == SlaThresholds(p95=0.02, p99=0.005)
    cfg.write_text("[default]\np95 = 20\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        load_sla_config(cfg)


def test_cli_judges_a_simulated_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sim.parquet"
    synthetic(100).to_frame().to_parquet(path)
    assert main(["sla", "--events", str(path), "--p95-ms", "96", "--p99-ms", "100"]) == 0
    assert "SLA validation PASSED" in capsys.readouterr().out
    assert main(["sla", "--events", str(path), "--p95-ms", "50"]) == 1
    out = capsys.readouterr().out
    assert "SLA validation FAILED" in out and "Strategy_Engine.process_indicators" in out
    assert main(["sla", "--events", str(tmp_path / "missing.parquet")]) == 2


def test_in_process_run_joins_server_steps() -> None:
    from supreme.api.harness import in_process_run

    harness, server = in_process_run(40, rate=400.0, concurrency=8, endpoints=("signal", "health"))
    report = validate(harness, component="Test_Harness")
    table = report.table.set_index("endpoint")
    assert table.loc[EP, "n"] == 20 and table.loc["GET /health", "n"] == 20
    assert table["errors"].sum() == 0
    # every harness row carries the server's request id, so server steps join on it
    gw = server[(server["component"] == "API_Gateway") & (server["operation"] == "request")]
    assert set(harness["request_id"]) <= set(gw["request_id"])
    # client latency (from the scheduled time) is never below the server's own total
    merged = harness.merge(gw, on="request_id", suffixes=("_client", "_server"))
    assert (merged["latency_client"] >= merged["latency_server"]).all()
    server_report = validate(server)  # the same validator on the server's own log
    assert set(server_report.table["endpoint"]) == {EP, "GET /health"}
    assert isinstance(pd.DataFrame(server_report.table), pd.DataFrame)


def test_warmup_requests_are_sent_but_not_measured() -> None:
    from supreme.api.harness import in_process_run

    harness, server = in_process_run(20, rate=400.0, concurrency=4, endpoints=("health",), warmup=5)
    assert len(harness) == 20  # only the measured requests are in the harness log
    gw = server[(server["component"] == "API_Gateway") & (server["operation"] == "request")]
    assert len(gw) == 25  # the server saw the warm-up requests too
    assert not set(harness["request_id"]) - set(gw["request_id"])


def test_warmup_must_leave_requests_to_measure() -> None:
    import asyncio

    from supreme.api.harness import LoadRequest, run_load

    with pytest.raises(ValueError, match="warmup"):
        asyncio.run(run_load(None, [LoadRequest("GET", "/health")] * 3, rate=10.0, warmup=3))


# -- the error budget -------------------------------------------------------------------------------------
def with_failures(errors: int, timeouts: int, rejected: int, n: int = 1000) -> EventLog:
    """``n`` fast requests (1 ms) of which the first ``errors`` failed, the next ``timeouts`` timed out and
    the next ``rejected`` were refused; details name two kinds of error."""
    log = EventLog(run_id="fail", world="real")
    for i in range(n):
        if i < errors:
            outcome, detail = "error", "status=503 auth_unavailable" if i % 2 else "ConnectError: refused"
        elif i < errors + timeouts:
            outcome, detail = "timeout", "ReadTimeout: read"
        elif i < errors + timeouts + rejected:
            outcome, detail = "rejected", "status=429 rate_limited"
        else:
            outcome, detail = "ok", "status=200"
        log.record(i, "request_pipeline", "API_Gateway", "request", outcome, request_id=f"q{i}", key=EP,
                   latency=0.001, detail=detail)
    return log


def test_judge_charges_failures_to_the_error_budget() -> None:
    from supreme.api.sla import judge

    fast = {"p50": 0.001, "p95": 0.001, "p99": 0.001}
    limits = SlaThresholds()  # P95 < 50 ms, P99 < 100 ms, budget 0.1 %
    assert limits.error_budget == 0.001
    assert judge(1000, 1, fast, limits).passed  # 0.1 % is within a 0.1 % budget
    two = judge(1000, 2, fast, limits)
    assert not two.passed and two.error_rate == 0.002
    assert two.violations == ("failed 2/1000 = 0.200 % > budget 0.100 %",)
    every = judge(10, 10, fast, limits)  # the dead back-end: fast, and every request failed
    assert not every.passed and every.error_rate == 1.0
    assert judge(10, 0, fast, limits).passed
    assert not judge(10, 1, fast, SlaThresholds(error_budget=0.0)).passed
    assert judge(10, 1, fast, SlaThresholds(error_budget=0.1)).passed
    slow = judge(10, 10, {"p50": 0.2, "p95": 0.2, "p99": 0.2}, limits)  # both reasons are given
    assert len(slow.violations) == 3 and slow.violations[0].startswith("failed 10/10")
    assert judge(0, 0, {}, limits).violations == ("no requests",)
    with pytest.raises(ValueError, match="failed <= n"):
        judge(5, 6, fast, limits)
    with pytest.raises(ConfigError, match="error budget"):
        SlaThresholds(error_budget=1.5)


def test_validate_counts_errors_and_timeouts_not_refusals() -> None:
    frame = with_failures(errors=4, timeouts=2, rejected=30).to_frame()
    report = validate(frame)
    row = report.table.set_index("endpoint").loc[EP]
    assert (row["n"], row["errors"], row["timeouts"], row["rejected"]) == (1000, 4, 2, 30)
    assert row["error_rate"] == pytest.approx(0.006) and row["error_budget"] == 0.001
    assert not report.passed and "failed 6/1000 = 0.600 %" in row["violations"]
    assert validate(frame, error_budget=0.01).passed  # the function's own override
    assert validate(with_failures(0, 0, 30).to_frame()).passed  # refusals alone are not charged
    with pytest.raises(ConfigError, match="error budget"):
        validate(frame, error_budget=-0.1)


def test_report_shows_rate_budget_and_failure_kinds() -> None:
    report = validate(with_failures(errors=4, timeouts=2, rejected=0).to_frame())
    text = format_report(report)
    assert "0.60%" in text and "0.10%" in text and "SLA validation FAILED" in text
    assert "Failed requests by kind (6 in 3 kind(s)):" in text
    assert "2 x POST /api/v1/trading/signal error: status=503 auth_unavailable" in text
    assert "2 x POST /api/v1/trading/signal timeout: ReadTimeout: read" in text
    # many kinds of failure: the report stays bounded
    log = EventLog()
    for i in range(200):
        log.record(i, "request_pipeline", "API_Gateway", "request", "error", request_id=f"e{i}", key=EP,
                   latency=0.001, detail=f"kind {i % 40}")
    text = format_report(validate(log.to_frame()), kinds=5)
    assert text.count(" x POST ") == 5 and "175 x in 35 other kind(s)" in text
    assert len(text.splitlines()) < 20


def test_error_budget_in_config_and_on_the_command_line(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "sla.toml"
    cfg.write_text('[default]\nerror_budget_pct = 1.0\n[endpoints."GET /health"]\nerror_budget_pct = 0\n')
    config = load_sla_config(cfg)
    assert config.for_endpoint(EP).error_budget == 0.01
    assert config.for_endpoint("GET /health").error_budget == 0
    cfg.write_text("[default]\nerror_budget_pct = 150\n")
    with pytest.raises(ConfigError, match="error_budget_pct"):
        load_sla_config(cfg)
    path = tmp_path / "ev.parquet"
    with_failures(errors=4, timeouts=2, rejected=0).to_frame().to_parquet(path)
    assert main(["sla", "--events", str(path)]) == 1
    assert "failed 6/1000 = 0.600 % > budget 0.100 %" in capsys.readouterr().out
    assert main(["sla", "--events", str(path), "--error-budget", "1"]) == 0
    assert "SLA validation PASSED" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["sla", "--events", str(path), "--error-budget", "100"])


def test_harness_outcomes_name_the_kind_of_failure() -> None:
    import httpx

    from supreme.api.harness import _judge_exception, _judge_response

    assert _judge_response(httpx.Response(200)) == ("ok", "status=200")
    assert _judge_response(httpx.Response(503, json={"error": "auth_unavailable"})) == \
        ("error", "status=503 auth_unavailable")
    assert _judge_response(httpx.Response(429, json={"error": "rate_limited"})) == \
        ("rejected", "status=429 rate_limited")
    assert _judge_response(httpx.Response(504, text="<html>timeout</html>")) == ("timeout", "status=504")
    assert _judge_response(httpx.Response(502, content=b"\xff\x00")) == ("error", "status=502")
    assert _judge_exception(httpx.ReadTimeout("timed out")) == ("timeout", "ReadTimeout: timed out")
    assert _judge_exception(httpx.ConnectError("refused"))[0] == "error"


def test_dead_redis_fails_with_a_short_clear_report(tmp_path: Path) -> None:
    """The issue's case: ``SUPREME_REDIS_URL=redis://127.0.0.1:1/0 supreme sla -n 10 --use-settings``."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "SUPREME_REDIS_URL": "redis://127.0.0.1:1/0",
           "SUPREME_DATABASE_URL": f"sqlite:///{tmp_path / 'keys.db'}", "SUPREME_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "supreme", "sla", "-n", "10", "--use-settings"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "SLA validation FAILED" in done.stdout and "PASSED" not in done.stdout
    assert "failed 10/10 = 100.000 % > budget 0.100 %" in done.stdout
    assert "10 x POST /api/v1/trading/signal error: status=503 auth_unavailable" in done.stdout
    assert "Traceback" not in done.stderr
    # one line per kind of failure: 20 signed requests (10 warm-up) hit the nonce store, one line says so
    assert done.stderr.count("nonce store (Redis) failed: ConnectionError") == 1
    assert len(done.stderr.splitlines()) <= 5, done.stderr
    assert len(done.stdout.splitlines()) <= 20, done.stdout
