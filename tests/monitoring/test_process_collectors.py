"""The API's /metrics carries prometheus_client's default process, platform and GC collectors."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from supreme.api.app import create_app
from supreme.clock import ManualClock
from supreme.monitoring.metrics import Metrics
from tests.api.test_app import build_services


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def test_metrics_has_no_process_collectors_by_default() -> None:
    names = _samples(Metrics().exposition().decode())
    assert not [n for n in names if n.startswith(("process_", "python_"))]


def test_process_collectors_describe_this_process() -> None:
    fams = _samples(Metrics(process_collectors=True).exposition().decode())
    (labels, value), = fams["python_info"]
    assert value == 1.0
    assert labels["major"] == str(sys.version_info.major)
    assert labels["minor"] == str(sys.version_info.minor)
    assert {lab["generation"] for lab, _ in fams["python_gc_collections_total"]} == {"0", "1", "2"}
    if sys.platform.startswith("linux"):  # ProcessCollector reads /proc: Linux only
        (_, rss), = fams["process_resident_memory_bytes"]
        assert rss > 1_000_000  # a Python with numpy and prometheus_client loaded is well over 1 MB
        (_, fds), = fams["process_open_fds"]
        assert 0 < fds <= len(os.listdir("/proc/self/fd")) + 5


def test_two_metrics_with_process_collectors_do_not_collide() -> None:
    a, b = Metrics(process_collectors=True), Metrics(process_collectors=True)
    assert "python_info" in _samples(a.exposition().decode())
    assert "python_info" in _samples(b.exposition().decode())


def test_api_metrics_endpoint_serves_process_and_platform_metrics(tmp_path: Path) -> None:
    services = build_services(tmp_path, ManualClock(1_700_000_000.0))
    try:
        text = TestClient(create_app(services)).get("/metrics").text
    finally:
        services.close()
    fams = _samples(text)
    assert "python_info" in fams
    assert "python_gc_objects_collected_total" in fams
    assert fams["supreme_ws_connections"] == [({}, 0.0)]  # the service's own metrics are still there
    if sys.platform.startswith("linux"):
        assert fams["process_cpu_seconds_total"][0][1] > 0
