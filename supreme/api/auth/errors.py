"""Errors of authentication, authorisation and key management.

::

    SupremeError
    ├── AuthError                     a request is refused; carries ``status`` and ``code``
    │   ├── MissingCredentials        401 missing_credentials
    │   ├── MalformedCredentials      401 malformed_credentials
    │   ├── UnknownKey                401 unknown_key
    │   ├── RevokedKey                401 revoked_key
    │   ├── BadSignature              401 bad_signature
    │   ├── StaleTimestamp            401 stale_timestamp   (too old or too far in the future)
    │   ├── ReplayedRequest           401 replayed_request
    │   ├── InvalidSession            401 invalid_session   (unknown, used or past its refresh window)
    │   ├── SessionExpired            401 session_expired   (still refreshable)
    │   ├── InsufficientScope         403 insufficient_scope
    │   └── AuthUnavailable           503 auth_unavailable  (key store / nonce store unreachable)
    └── KeyStoreError (ValueError)    bad key-management input (type, scopes, label)
        ├── MasterKeyMissing          HMAC keys need SUPREME_MASTER_KEY
        └── SecretCorrupted           an encrypted secret does not decrypt under the master key

Every message names what is at fault but never a secret.
"""

from __future__ import annotations

from typing import ClassVar

from supreme.errors import SupremeError

__all__ = [
    "AuthError",
    "AuthUnavailable",
    "BadSignature",
    "InsufficientScope",
    "InvalidSession",
    "KeyStoreError",
    "MalformedCredentials",
    "MasterKeyMissing",
    "MissingCredentials",
    "ReplayedRequest",
    "RevokedKey",
    "SecretCorrupted",
    "SessionExpired",
    "StaleTimestamp",
    "UnknownKey",
]


class AuthError(SupremeError):
    """A request is refused; ``status`` is the HTTP status, ``code`` the JSON error code."""

    status: ClassVar[int] = 401
    code: ClassVar[str] = "unauthorized"

    def to_dict(self) -> dict[str, str]:
        """The JSON error body ``{"error": code, "message": ...}``."""
        return {"error": self.code, "message": str(self)}


class MissingCredentials(AuthError):
    """No API-key signature headers and no session token."""

    code = "missing_credentials"


class MalformedCredentials(AuthError):
    """A credential header is present but unparsable (timestamp, signature encoding, nonce)."""

    code = "malformed_credentials"


class UnknownKey(AuthError):
    """The key id is not in the key store."""

    code = "unknown_key"


class RevokedKey(AuthError):
    """The key exists but was revoked."""

    code = "revoked_key"


class BadSignature(AuthError):
    """The signature does not match the canonical request."""

    code = "bad_signature"


class StaleTimestamp(AuthError):
    """The request timestamp is outside the receive window."""

    code = "stale_timestamp"


class ReplayedRequest(AuthError):
    """The same signed request was already accepted inside the window."""

    code = "replayed_request"


class InvalidSession(AuthError):
    """The session token is unknown, already refreshed, revoked or past its refresh window."""

    code = "invalid_session"


class SessionExpired(AuthError):
    """The session expired but may still be refreshed."""

    code = "session_expired"


class InsufficientScope(AuthError):
    """Authenticated, but the key lacks a required scope."""

    status = 403
    code = "insufficient_scope"


class AuthUnavailable(AuthError):
    """A store needed to decide (database, Redis) is unreachable; the request is refused."""

    status = 503
    code = "auth_unavailable"


class KeyStoreError(SupremeError, ValueError):
    """Bad key-management input: key type, scope syntax, unknown key id on revoke."""


class MasterKeyMissing(KeyStoreError):
    """HMAC secrets are stored encrypted; without SUPREME_MASTER_KEY none can be created or used."""


class SecretCorrupted(KeyStoreError):
    """A stored secret fails authenticated decryption (wrong master key or tampered row)."""
