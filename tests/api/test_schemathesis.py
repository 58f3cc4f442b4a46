"""Property-based fuzzing of every documented operation: zero server errors, errors always JSON.

Requests carry a valid session token (so the signal route gets past authentication and its body is
what is fuzzed); the fuzzer may still replace or drop the Authorization header.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from supreme.api.app import create_app
from supreme.api.auth import sign_request
from supreme.clock import SystemClock
from tests.api.test_app import build_services

_tmp = tempfile.TemporaryDirectory(prefix="supreme-fuzz-")
_clock = SystemClock()
_services = build_services(Path(_tmp.name), _clock,  # type: ignore[arg-type]
                           ip_rate=1e5, ip_burst=100_000, key_rate=1e5, key_burst=100_000)
_app = create_app(_services)
_key = _services.auth.store.create("ed25519", "signal:read")


def _token() -> str:
    from fastapi.testclient import TestClient

    path = "/api/v1/auth/session"
    headers = sign_request(_key.record.key_id, _key.credential, "POST", path, b"", int(_clock.now() * 1000),
                           nonce="fuzz-login")
    return str(TestClient(_app).post(path, headers=headers).json()["token"])


_TOKEN = _token()
schema = schemathesis.openapi.from_asgi("/openapi.json", _app)


@pytest.fixture(scope="module", autouse=True)
def _cleanup() -> Any:
    yield
    _services.close()
    _tmp.cleanup()


@schema.parametrize()
@settings(max_examples=25, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_no_server_errors(case: Any) -> None:
    headers = {"authorization": f"Bearer {_TOKEN}"}
    if case.headers:
        headers.update(case.headers)
    response = case.call(headers=headers)
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text)
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body.get("error"), str) and isinstance(body.get("message"), str), body
