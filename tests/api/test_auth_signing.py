"""Canonical string and client-side signing (no stores involved)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from supreme.api.auth import MalformedCredentials, canonical_string, sign_request
from supreme.api.auth.signing import SignedRequest, load_private_key


def test_canonical_string_is_exactly_the_documented_layout() -> None:
    body = b'{"symbol":"BTC/USDT"}'
    got = canonical_string(1700000000123, "post", "/api/v1/trading/signal?x=1&y=%20", body, "n-1")
    want = f"1700000000123\nPOST\n/api/v1/trading/signal?x=1&y=%20\nn-1\n{hashlib.sha256(body).hexdigest()}"
    assert got == want.encode()
    empty = canonical_string(5, "GET", "/p", b"")
    assert empty == b"5\nGET\n/p\n\n" + hashlib.sha256(b"").hexdigest().encode()


def test_hmac_headers_match_an_independent_computation() -> None:
    h = sign_request("ak_1", "s3cret", "GET", "/a?b=c", b"", 42, nonce="abc")
    msg = canonical_string(42, "GET", "/a?b=c", b"", "abc")
    want = base64.b64encode(hmac.new(b"s3cret", msg, hashlib.sha256).digest()).decode()
    assert h == {"X-API-Key": "ak_1", "X-Timestamp": "42", "X-Signature": want, "X-Nonce": "abc"}


def test_ed25519_signature_verifies_with_public_key_and_pem_is_accepted() -> None:
    from cryptography.hazmat.primitives import serialization

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    h1 = sign_request("ak_1", key, "POST", "/x", b"body", 7)
    h2 = sign_request("ak_1", pem, "POST", "/x", b"body", 7)
    assert h1 == h2  # Ed25519 is deterministic
    key.public_key().verify(base64.b64decode(h1["X-Signature"]), canonical_string(7, "POST", "/x", b"body"))
    assert "X-Nonce" not in h1


@pytest.mark.parametrize("nonce", ["", "has space", "x" * 65, "ünï"])
def test_bad_nonce_is_refused_client_side(nonce: str) -> None:
    with pytest.raises(MalformedCredentials, match="nonce"):
        sign_request("ak_1", "s", "GET", "/", b"", 1, nonce=nonce)


@pytest.mark.parametrize(("key_id", "ts", "sig", "match"), [
    ("ak_1", "12.5", "AAAA", "X-Timestamp"),
    ("ak_1", "-5", "AAAA", "X-Timestamp"),
    ("ak 1", "1", "AAAA", "X-API-Key"),
    ("ak_1", "1", "not*base64", "X-Signature"),
    ("ak_1", "1", "A" * 300, "too long"),
])
def test_malformed_headers_are_named(key_id: str, ts: str, sig: str, match: str) -> None:
    with pytest.raises(MalformedCredentials, match=match):
        SignedRequest.from_headers(key_id, ts, sig, None)


def test_load_private_key_rejects_garbage() -> None:
    with pytest.raises(MalformedCredentials):
        load_private_key("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")


def test_error_table_statuses_and_codes() -> None:
    from supreme.api.auth import errors as e
    from supreme.errors import SupremeError

    table = {
        e.MissingCredentials: (401, "missing_credentials"),
        e.MalformedCredentials: (401, "malformed_credentials"),
        e.UnknownKey: (401, "unknown_key"), e.RevokedKey: (401, "revoked_key"),
        e.BadSignature: (401, "bad_signature"), e.StaleTimestamp: (401, "stale_timestamp"),
        e.ReplayedRequest: (401, "replayed_request"), e.InvalidSession: (401, "invalid_session"),
        e.SessionExpired: (401, "session_expired"), e.InsufficientScope: (403, "insufficient_scope"),
        e.AuthUnavailable: (503, "auth_unavailable"),
    }
    for cls, (status, code) in table.items():
        err = cls("why")
        assert isinstance(err, SupremeError)
        assert (err.status, err.code, err.to_dict()) == (status, code, {"error": code, "message": "why"})
    assert issubclass(e.MasterKeyMissing, ValueError) and issubclass(e.SecretCorrupted, e.KeyStoreError)


def test_public_api_is_locked() -> None:
    import supreme.api.auth as auth
    import supreme.api.ratelimit as rl

    assert set(auth.__all__) == {
        "AuthError", "AuthService", "AuthUnavailable", "BadSignature", "CreatedKey", "InsufficientScope",
        "InvalidSession", "IssuedSession", "KeyRecord", "KeyStore", "KeyStoreError", "MalformedCredentials",
        "MasterKeyMissing", "MissingCredentials", "Principal", "ReplayGuard", "ReplayedRequest", "RevokedKey",
        "SecretCipher", "SecretCorrupted", "SessionExpired", "SessionInfo", "SessionStore", "StaleTimestamp",
        "UnknownKey", "canonical_string", "generate_master_key", "load_private_key", "parse_scopes",
        "sign_request",
    }
    assert set(rl.__all__) == {
        "GCRA", "InMemoryRateLimiter", "RateLimitConfigError", "RateLimitResult", "RateLimiter",
        "RateLimiterUnavailable", "RedisRateLimiter", "rate_limit_headers", "too_many_requests",
    }
    for module in (auth, rl):
        for name in module.__all__:
            assert hasattr(module, name), name
