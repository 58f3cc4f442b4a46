"""Issue 17's fault run, scaled down: Redis cut for 3 s under 100 signed requests/s, on real Redis."""

from __future__ import annotations

import pytest

from supreme.api.fault_serve import run_fault_serve
from tests.conftest import REAL_REDIS_URL

pytestmark = pytest.mark.real_redis


def test_redis_cut_under_signed_load(real_redis: object) -> None:
    report = run_fault_serve(REAL_REDIS_URL, rate=100.0, before=1.5, cut=3.0, after=6.0)
    text = "\n".join(report.lines())
    assert report.sent == 1050, text
    assert report.unanswered == 0 and report.other_5xx == 0, text
    assert set(report.statuses) <= {200, 503} and report.statuses[200] > 0 and report.statuses[503] > 0, text
    assert report.missing_retry_after == 0, text
    assert report.alert_fired_after_cut is not None and report.alert_resolved_after_restore is not None, text
    closed = report.breaker_closed_after_restore
    assert closed is not None and closed <= 5.0, text
    assert report.writes > 100 and report.writes_lost_l2 == 0 and report.writes_lost_l3 == 0, text
    assert report.ok(), text
