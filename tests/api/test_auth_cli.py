"""``supreme keys`` in process, against a temporary SQLite file named by SUPREME_DATABASE_URL."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from supreme.api.auth import AuthService, KeyStore, RevokedKey, SecretCipher, sign_request
from supreme.cli import main
from supreme.clock import SystemClock
from supreme.db import Database


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    monkeypatch.setenv("SUPREME_DATABASE_URL", url)
    monkeypatch.setenv("SUPREME_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SUPREME_MASTER_KEY", raising=False)
    monkeypatch.delenv("SUPREME_REDIS_URL", raising=False)
    return url


def test_create_list_revoke_ed25519(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "create", "--type", "ed25519", "--scopes", "signal:read,stream:read",
                 "--label", "bot 1", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["scopes"] == ["signal:read", "stream:read"] and created["label"] == "bot 1"
    assert "PRIVATE KEY" in created["credential"]

    # The printed private key really works against the stored public key.
    db = Database.from_url(db_url)
    clock = SystemClock()
    service = AuthService(KeyStore(db, clock), clock)
    headers = sign_request(created["key_id"], created["credential"], "GET", "/x", b"",
                           round(clock.now() * 1000))
    assert service.authenticate(headers, "GET", "/x", b"", ["stream:read"]).key_id == created["key_id"]

    assert main(["keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert created["key_id"] in listing and "active" in listing and "PRIVATE" not in listing

    assert main(["keys", "revoke", created["key_id"]]) == 0
    assert f"revoked {created['key_id']}" in capsys.readouterr().out
    assert main(["keys", "list", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["revoked_at"] is not None
    service.invalidate(created["key_id"])
    headers = sign_request(created["key_id"], created["credential"], "GET", "/y", b"",
                           round(clock.now() * 1000))
    with pytest.raises(RevokedKey):
        service.authenticate(headers, "GET", "/y", b"")
    db.close()


def test_hmac_needs_master_key_then_works(db_url: str, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["keys", "create", "--type", "hmac", "--scopes", "signal:read"]) == 2
    assert "SUPREME_MASTER_KEY" in capsys.readouterr().err
    assert main(["keys", "master-key"]) == 0
    master = capsys.readouterr().out.strip()
    assert len(base64.b64decode(master)) == 32
    monkeypatch.setenv("SUPREME_MASTER_KEY", master)
    assert main(["keys", "create", "--type", "hmac", "--scopes", "signal:read"]) == 0
    out = capsys.readouterr().out
    secret = out.strip().splitlines()[-1]
    key_id = out.split()[1]
    db = Database.from_url(db_url)
    raw = db.execute("SELECT * FROM api_keys WHERE key_id = ?", (key_id,))
    assert raw and secret not in " ".join(map(str, raw[0]))
    clock = SystemClock()
    service = AuthService(KeyStore(db, clock, SecretCipher(base64.b64decode(master))), clock)
    headers = sign_request(key_id, secret, "POST", "/s", b"{}",
                           round(clock.now() * 1000))
    assert service.authenticate(headers, "POST", "/s", b"{}").key_id == key_id
    db.close()


def test_bad_input_gives_one_line_errors(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "create", "--scopes", "Bad Scope!"]) == 2
    assert "invalid scope" in capsys.readouterr().err
    assert main(["keys", "revoke", "ak_nothere"]) == 2
    assert "ak_nothere" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["keys", "create", "--type", "rsa", "--scopes", "signal:read"])


def test_revoke_ends_sessions_in_configured_redis(db_url: str, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  real_redis: object) -> None:
    from supreme.api.auth import SessionStore
    from tests.conftest import REAL_REDIS_URL

    monkeypatch.setenv("SUPREME_REDIS_URL", REAL_REDIS_URL)
    assert main(["keys", "create", "--scopes", "signal:read", "--json"]) == 0
    key_id = json.loads(capsys.readouterr().out)["key_id"]
    sessions = SessionStore(real_redis, SystemClock())  # the CLI uses the default "supreme:" namespace
    issued = sessions.create(key_id, frozenset({"signal:read"}))
    try:
        assert main(["keys", "revoke", key_id]) == 0
        assert "ended 1 session(s)" in capsys.readouterr().out
    finally:
        sessions.end(issued.token)
