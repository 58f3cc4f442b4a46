"""The seams the services and the SLA command are built from: options, recordings, the harness verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from supreme.api.harness import LoadSpec, RemoteTarget, build_plan, check_sla
from supreme.api.services import ServiceOptions, Services
from supreme.api.sla import SlaConfig, SlaThresholds
from supreme.config import Settings
from supreme.events import EventLog
from supreme.market.recording import open_sample


def test_unknown_service_option_is_refused(tmp_path: Path) -> None:
    settings = Settings(redis_url=None, database_url=f"sqlite:///{tmp_path / 'a.db'}", data_dir=tmp_path)
    with pytest.raises(TypeError, match="ip_rat"):
        Services.from_settings(settings, ip_rat=1.0)
    assert ServiceOptions().key_rate == 500.0


def test_sample_recording_names_itself() -> None:
    rec = open_sample("spx")
    assert rec.symbol == "SPX" and rec.timeframe == "1d" and rec.source == "bundled arch sample"
    assert open_sample("SPX", symbol="X", timeframe="1w").symbol == "X"


def test_remote_target_needs_a_key() -> None:
    with pytest.raises(ValueError, match="--key-id"):
        RemoteTarget("http://127.0.0.1:1", None, None, None, 1.0).credential()
    assert RemoteTarget("http://h", "ak_1", None, "s3cret", 1.0).credential() == "s3cret"


def test_check_sla_judges_an_event_log(tmp_path: Path) -> None:
    log = EventLog(run_id="t", world="sim")
    for i in range(100):
        log.record(i, "request_pipeline", "API_Gateway", "request", request_id=f"r{i}", key="GET /health",
                   latency=(i + 1) / 1000.0)
    path = tmp_path / "log.parquet"
    log.to_frame().to_parquet(path)
    load = LoadSpec(requests=1, rate=1.0, warmup=0, concurrency=1, endpoints=("health",), symbols=())
    ok = check_sla(SlaConfig(SlaThresholds.from_ms(None, 96, 101)), load, events=path)
    assert ok.report.passed and "SLA validation PASSED" in ok.text and len(ok.events) == 100
    assert not check_sla(SlaConfig(SlaThresholds.from_ms(None, 50, None)), load, events=path).report.passed
    assert [r.path for r in build_plan(3, ("health", "symbols"), ())] == ["/health", "/api/v1/symbols",
                                                                           "/health"]
