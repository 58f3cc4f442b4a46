"""The API-key store on SQLite and PostgreSQL, and encryption of HMAC secrets."""

from __future__ import annotations

import os

import pytest

from supreme.api.auth import (
    KeyStore,
    KeyStoreError,
    MasterKeyMissing,
    SecretCipher,
    SecretCorrupted,
    parse_scopes,
)
from supreme.clock import ManualClock
from supreme.config import load_settings
from supreme.db import Database


@pytest.fixture
def store(database_url: str, clock: ManualClock):
    db = Database.from_url(database_url)
    yield KeyStore(db, clock, SecretCipher(os.urandom(32)))
    db.close()


def test_create_get_list_revoke_roundtrip(store: KeyStore, clock: ManualClock) -> None:
    a = store.create("ed25519", "signal:read,stream:read", label="alice").record
    clock.advance(1)
    b = store.create("hmac", ["signal:read"]).record
    assert store.get(a.key_id) == a
    assert store.get(b.key_id) == b
    assert [r.key_id for r in store.list_keys()] == [a.key_id, b.key_id]
    assert a.scopes == {"signal:read", "stream:read"} and a.label == "alice" and a.created_at == 1000.0
    clock.advance(5)
    revoked = store.revoke(a.key_id)
    assert revoked.revoked and revoked.revoked_at == 1006.0
    clock.advance(5)
    assert store.revoke(a.key_id).revoked_at == 1006.0  # idempotent, first time kept
    assert store.get("ak_missing") is None
    with pytest.raises(KeyStoreError, match="ak_missing"):
        store.revoke("ak_missing")


def test_hmac_secret_is_never_stored_in_plaintext(store: KeyStore) -> None:
    created = store.create("hmac", "signal:read")
    secret = created.credential
    rows = store.db.execute("SELECT * FROM api_keys WHERE key_id = ?", (created.record.key_id,))
    assert len(rows) == 1
    raw = " ".join(str(v) for v in rows[0])
    assert secret not in raw
    assert secret.encode().hex() not in raw
    record = store.get(created.record.key_id)
    assert record is not None and record.encrypted_secret is not None and record.public_key is None
    assert store.cipher is not None
    assert store.cipher.decrypt(record.key_id, record.encrypted_secret) == secret.encode()
    for text in (repr(record), repr(created), repr(store.verifier(record)), repr(store.cipher)):
        assert secret not in text and record.encrypted_secret not in text


def test_ed25519_store_keeps_only_the_public_key(store: KeyStore) -> None:
    created = store.create("ed25519", "signal:read")
    assert "PRIVATE KEY" in created.credential
    row = store.db.execute("SELECT public_key, encrypted_secret FROM api_keys WHERE key_id = ?",
                           (created.record.key_id,))[0]
    assert row[1] is None and row[0] and "PRIVATE" not in str(row[0])
    assert created.credential not in repr(created)


def test_ciphertext_is_bound_to_its_key_id() -> None:
    cipher = SecretCipher(os.urandom(32))
    sealed = cipher.encrypt("ak_a", b"secret")
    assert cipher.decrypt("ak_a", sealed) == b"secret"
    with pytest.raises(SecretCorrupted, match="ak_b"):
        cipher.decrypt("ak_b", sealed)
    with pytest.raises(SecretCorrupted):
        SecretCipher(os.urandom(32)).decrypt("ak_a", sealed)
    with pytest.raises(SecretCorrupted):
        cipher.decrypt("ak_a", sealed[:-4] + "AAAA")


def test_hmac_without_master_key_names_the_variable(tmp_path, clock: ManualClock) -> None:
    db = Database.from_url(f"sqlite:///{tmp_path / 'k.db'}")
    store = KeyStore(db, clock, cipher=None)
    with pytest.raises(MasterKeyMissing, match="SUPREME_MASTER_KEY"):
        store.create("hmac", "signal:read")
    with pytest.raises(MasterKeyMissing, match="SUPREME_MASTER_KEY"):
        SecretCipher.from_settings(load_settings({"SUPREME_DATA_DIR": str(tmp_path)}))
    assert store.create("ed25519", "signal:read").record.key_type == "ed25519"
    assert store.list_keys()[0].key_type == "ed25519"  # nothing half-written by the failed create
    db.close()


@pytest.mark.parametrize(("scopes", "match"), [
    ("", "at least one"), ("Signal:Read", "invalid scope"), ("a b;drop", "invalid scope"),
    ([], "at least one"),
])
def test_bad_scopes_are_refused(scopes: object, match: str) -> None:
    with pytest.raises(KeyStoreError, match=match):
        parse_scopes(scopes)  # type: ignore[arg-type]


def test_bad_key_type_and_label(store: KeyStore) -> None:
    with pytest.raises(KeyStoreError, match="key type"):
        store.create("rsa", "signal:read")
    with pytest.raises(KeyStoreError, match="label"):
        store.create("ed25519", "signal:read", label="x" * 201)


def test_parse_scopes_accepts_commas_and_spaces() -> None:
    assert parse_scopes("signal:read, stream:read admin") == {"signal:read", "stream:read", "admin"}
