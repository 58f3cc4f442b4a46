"""The ``supreme faults`` command."""

from __future__ import annotations

import uuid

import pytest

from supreme.cli import main
from tests.conftest import REAL_POSTGRES_URL, REAL_REDIS_URL


def test_proxy_command_runs_a_bounded_outage(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["faults", "proxy", "--target", "127.0.0.1:1", "--down-at", "0.05", "--down-for", "0.1",
               "--run-for", "0.4"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "start down window" in out and "end down window" in out and "done:" in out


def test_bad_arguments_are_clear_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["faults", "proxy", "--target", "nohost"]) == 2
    assert "HOST:PORT" in capsys.readouterr().err
    assert main(["faults", "kill-redis", "--url", REAL_REDIS_URL, "--name", ""]) == 2
    assert "non-empty" in capsys.readouterr().err


@pytest.mark.real_redis
def test_kill_redis_command(real_redis: object, capsys: pytest.CaptureFixture[str]) -> None:
    import redis

    name = f"supreme-test-{uuid.uuid4().hex[:8]}"
    victim = redis.Redis.from_url(REAL_REDIS_URL, client_name=name)
    victim.ping()
    assert main(["faults", "kill-redis", "--url", REAL_REDIS_URL, "--name", name]) == 0
    assert "killed 1 Redis client" in capsys.readouterr().out
    victim.close()


@pytest.mark.real_postgres
def test_terminate_pg_command(real_postgres_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    import psycopg

    app = f"supreme-test-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(REAL_POSTGRES_URL, application_name=app):
        assert main(["faults", "terminate-pg", "--url", REAL_POSTGRES_URL, "--app", app]) == 0
    assert "terminated 1 PostgreSQL backend" in capsys.readouterr().out
