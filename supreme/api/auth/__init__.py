"""Authentication of the signal API: API keys (Ed25519 / HMAC-SHA256 signatures), sessions, scopes.

Modules: :mod:`.errors` (exception tree), :mod:`.signing` (canonical string, ``sign_request``),
:mod:`.cipher` (AES-256-GCM for stored HMAC secrets), :mod:`.keys` (the ``api_keys`` table),
:mod:`.nonces` (replay refusal), :mod:`.sessions` (Session_Store), :mod:`.service` (Auth_Service).
Everything runs on an injected :class:`supreme.clock.Clock`, so a SimPy model drives the same objects.
"""

from __future__ import annotations

from supreme.api.auth.cipher import SecretCipher, generate_master_key
from supreme.api.auth.errors import (
    AuthError,
    AuthUnavailable,
    BadSignature,
    InsufficientScope,
    InvalidSession,
    KeyStoreError,
    MalformedCredentials,
    MasterKeyMissing,
    MissingCredentials,
    ReplayedRequest,
    RevokedKey,
    SecretCorrupted,
    SessionExpired,
    StaleTimestamp,
    UnknownKey,
)
from supreme.api.auth.keys import CreatedKey, KeyRecord, KeyStore, parse_scopes
from supreme.api.auth.nonces import ReplayGuard
from supreme.api.auth.service import AuthService, Principal
from supreme.api.auth.sessions import IssuedSession, SessionInfo, SessionStore
from supreme.api.auth.signing import canonical_string, load_private_key, sign_request

__all__ = [
    "AuthError", "AuthService", "AuthUnavailable", "BadSignature", "CreatedKey", "InsufficientScope",
    "InvalidSession", "IssuedSession", "KeyRecord", "KeyStore", "KeyStoreError", "MalformedCredentials",
    "MasterKeyMissing", "MissingCredentials", "Principal", "ReplayGuard", "ReplayedRequest", "RevokedKey",
    "SecretCipher", "SecretCorrupted", "SessionExpired", "SessionInfo", "SessionStore", "StaleTimestamp",
    "UnknownKey", "canonical_string", "generate_master_key", "load_private_key", "parse_scopes",
    "sign_request",
]
