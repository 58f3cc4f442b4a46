"""Clock, config and event-log basics."""

from __future__ import annotations

import pytest

from supreme.clock import Clock, ManualClock, ScaledClock, SystemClock
from supreme.config import ConfigError, load_settings
from supreme.events import COLUMNS, EventLog


def test_manual_clock_moves_only_forward() -> None:
    c = ManualClock(5.0)
    assert c.now() == 5.0
    c.sleep(2.5)
    assert c.now() == 7.5
    with pytest.raises(ValueError):
        c.advance(-1)
    with pytest.raises(ValueError):
        c.set(1.0)
    assert isinstance(c, Clock)


def test_system_clock_is_monotonic_epoch() -> None:
    c = SystemClock()
    a, b = c.now(), c.now()
    assert b >= a > 1.6e9


def test_scaled_clock_runs_at_speed() -> None:
    base = ManualClock(0.0)
    c = ScaledClock(start=1_000.0, speed=60.0, base=base)
    base.advance(2.0)
    assert c.now() == pytest.approx(1_120.0)
    c.sleep(60.0)  # one scaled minute is one base second
    assert base.now() == pytest.approx(3.0)
    with pytest.raises(ValueError):
        ScaledClock(0.0, speed=0)


def test_settings_defaults_need_no_server(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = load_settings({"SUPREME_DATA_DIR": str(tmp_path)})
    assert s.uses_fakeredis
    assert s.database_kind == "sqlite"
    assert s.sqlite_path == str(tmp_path / "supreme.db")


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("SUPREME_REDIS_URL", "http://localhost"),
        ("SUPREME_REDIS_URL", "redis://:abc"),
        ("SUPREME_DATABASE_URL", "mysql://x"),
        ("SUPREME_DATABASE_URL", "sqlite://relative.db"),
        ("SUPREME_MASTER_KEY", "not-base64!"),
        ("SUPREME_MASTER_KEY", "c2hvcnQ="),
        ("SUPREME_LOG_EVENTS", "maybe"),
    ],
)
def test_invalid_settings_name_the_variable(var: str, value: str) -> None:
    with pytest.raises(ConfigError, match=var):
        load_settings({var: value})


def test_postgres_url_accepted() -> None:
    s = load_settings({"SUPREME_DATABASE_URL": "postgresql://u@127.0.0.1:5432/test"})
    assert s.database_kind == "postgresql"


def test_event_log_frame_and_switch() -> None:
    log = EventLog(run_id="x", world="sim")
    log.record(1.0, "cache_hierarchy", "Cache_Manager", "get", "hit", key="k", tier="L1", nbytes=10)
    frame = log.to_frame()
    assert list(frame.columns) == list(COLUMNS)
    assert frame.loc[0, "outcome"] == "hit" and frame.loc[0, "world"] == "sim"
    off = EventLog(enabled=False)
    off.record(1.0, "f", "c", "op")
    assert len(off) == 0 and off.to_frame().empty
    with pytest.raises(ValueError):
        EventLog(world="other")


def test_event_log_cap_keeps_newest_rows() -> None:
    log = EventLog(max_rows=3)
    for i in range(5):
        log.record(float(i), "f", "c", "op")
    assert len(log) == 3
    assert log.to_frame()["time"].tolist() == [2.0, 3.0, 4.0]
    with pytest.raises(ValueError):
        EventLog(max_rows=0)


def test_request_ids_repeat_per_log() -> None:
    a, b = EventLog(run_id="s"), EventLog(run_id="s")
    assert [a.next_request_id() for _ in range(3)] == [b.next_request_id() for _ in range(3)]
