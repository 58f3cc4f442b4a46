"""Fixtures shared by the API tests: services over a fakeredis server a test can cut and restore."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import fakeredis
import pytest

from supreme.api.services import Services
from supreme.clock import ManualClock
from tests.api.test_app import build_services


@pytest.fixture
def svc(tmp_path: Path, clock: ManualClock) -> Iterator[Services]:
    """Services over the SPX sample on a private fakeredis and a temporary SQLite."""
    services = build_services(tmp_path, clock)
    yield services
    services.close()


@pytest.fixture
def server() -> fakeredis.FakeServer:
    """The Redis server behind L2, the nonce store and the limiters (``server.connected = False`` cuts it)."""
    return fakeredis.FakeServer()


@pytest.fixture
def cut_svc(tmp_path: Path, clock: ManualClock, server: fakeredis.FakeServer) -> Iterator[Services]:
    """Services (resilience loop included) over ``server``."""
    services = build_services(tmp_path, clock, redis_client=fakeredis.FakeRedis(server=server))
    yield services
    services.close()
