"""Shared fixtures: the clock, the event log, and both worlds of each back-end.

Back-end fixtures are parametrised over the embedded default and the real
server: ``redis_client``/``redis_url`` over fakeredis and the Redis on
127.0.0.1:6379, ``database_url`` over SQLite and the PostgreSQL on
127.0.0.1:5432 (database ``test``).  With ``CI`` set an unreachable real server
fails the test; elsewhere it skips with a reason naming the server.  A test that
reaches a real server is marked ``real_redis``/``real_postgres`` (by the real
parameter or fixture it uses), so ``make check`` can leave the servers out.

Tests share the real servers with other runs, so every test gets its own key
namespace in Redis and its own schema in PostgreSQL, removed afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from supreme.clock import ManualClock
from supreme.events import EventLog

REAL_REDIS_URL = os.environ.get("SUPREME_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REAL_POSTGRES_URL = os.environ.get("SUPREME_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = bool(os.environ.get("CI"))


def _unavailable(what: str, exc: BaseException) -> None:
    msg = f"{what} is not reachable ({type(exc).__name__}: {exc})"
    if IN_CI:
        pytest.fail(f"{msg}; CI requires it", pytrace=False)
    pytest.skip(reason=msg)


def real_redis_or_skip() -> Any:
    """A redis-py client on the real server, or skip/fail as the rules say."""
    import redis

    client = redis.Redis.from_url(REAL_REDIS_URL, socket_connect_timeout=1, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        _unavailable(f"Redis at {REAL_REDIS_URL}", exc)
    return client


def real_postgres_or_skip() -> str:
    """The real PostgreSQL URL after a connection check, or skip/fail."""
    import psycopg

    try:
        with psycopg.connect(REAL_POSTGRES_URL, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        _unavailable(f"PostgreSQL at {REAL_POSTGRES_URL}", exc)
    return REAL_POSTGRES_URL


#: Fixtures that reach a real server, and the marker a test using one gets.
_SERVER_FIXTURES = {"real_redis": "real_redis", "real_postgres_url": "real_postgres"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests that use a real server, so ``-m "not real_redis and not real_postgres"`` runs none."""
    for item in items:
        for fixture, marker in _SERVER_FIXTURES.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)


@pytest.fixture
def clock() -> ManualClock:
    """A hand-driven clock starting at t=1000 s."""
    return ManualClock(1000.0)


@pytest.fixture
def event_log() -> EventLog:
    """A fresh, enabled event log."""
    return EventLog(run_id="test", world="real")


@pytest.fixture
def namespace() -> str:
    """A unique key prefix so tests sharing a real server never collide."""
    return f"t{uuid.uuid4().hex[:10]}:"


@pytest.fixture(params=["fakeredis", pytest.param("redis", marks=pytest.mark.real_redis)])
def redis_backend(request: pytest.FixtureRequest, namespace: str) -> Iterator[tuple[str, object]]:
    """``(kind, client)`` for fakeredis and the real Redis; keys under ``namespace`` are removed after."""
    if request.param == "fakeredis":
        import fakeredis

        server = fakeredis.FakeServer()
        yield "fakeredis", fakeredis.FakeRedis(server=server)
        return
    client = real_redis_or_skip()
    yield "redis", client
    for key in client.scan_iter(match=f"{namespace}*", count=1000):
        client.delete(key)
    client.close()


@pytest.fixture
def redis_client(redis_backend: tuple[str, object]) -> object:
    """A redis-py compatible client: fakeredis, then the real server."""
    return redis_backend[1]


@pytest.fixture
def real_redis(namespace: str) -> Iterator[object]:
    """Only the real Redis (skips or fails when unreachable)."""
    client = real_redis_or_skip()
    yield client
    for key in client.scan_iter(match=f"{namespace}*", count=1000):
        client.delete(key)
    client.close()


def _pg_schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture
def real_postgres_url() -> Iterator[str]:
    """A URL on the real PostgreSQL whose search_path is a fresh schema, dropped after."""
    import psycopg

    base = real_postgres_or_skip()
    schema = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield _pg_schema_url(base, schema)
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.real_postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """SQLite in a temp dir, then a fresh schema on the real PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'supreme.db'}"
        return
    yield request.getfixturevalue("real_postgres_url")


def shared_or_skip(relative: str, kind: str = "data") -> Path:
    """A file under ../shared (data or traces); CI requires it, elsewhere skip."""
    from supreme.paths import SharedDataMissing, shared_data, shared_trace

    try:
        return shared_data(relative) if kind == "data" else shared_trace(relative)
    except SharedDataMissing as exc:
        if IN_CI:
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(reason=str(exc))
        raise  # unreachable; keeps type checkers happy
