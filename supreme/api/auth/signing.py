"""Exchange-style request signing: the canonical string, client-side signing, server-side checks.

Canonical string (UTF-8), five lines joined by ``\\n``::

    {timestamp_ms}\\n{METHOD}\\n{path_with_query}\\n{nonce}\\n{sha256_hex(body)}

* ``timestamp_ms`` — decimal integer milliseconds since the epoch on the sender's clock (``X-Timestamp``).
* ``METHOD`` — upper-case HTTP method.
* ``path_with_query`` — the request target exactly as sent on the request line: the raw,
  still percent-encoded path, plus ``?`` and the raw query string when the query is non-empty
  (ASGI ``raw_path`` + ``query_string``; httpx ``URL.raw_path``).  No re-ordering, no decoding.
* ``nonce`` — the ``X-Nonce`` header, or the empty string when absent.  It lets a client send two
  identical requests in the same millisecond.
* ``sha256_hex(body)`` — lower-case hex SHA-256 of the raw body bytes (of ``b""`` when empty).

Headers: ``X-API-Key`` (key id), ``X-Timestamp``, ``X-Signature`` (standard base64 of the raw
signature: 64 bytes for Ed25519, 32 for HMAC-SHA256), optional ``X-Nonce`` (1-64 characters of
``[A-Za-z0-9._~-]``).  Ed25519 keys sign the canonical bytes with the private key (the server keeps
only the public key); HMAC keys use HMAC-SHA256 with the ASCII secret as the key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from supreme.api.auth.errors import BadSignature, MalformedCredentials

__all__ = [
    "HEADER_KEY",
    "HEADER_NONCE",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "SignedRequest",
    "canonical_string",
    "hmac_signature",
    "load_private_key",
    "sign_request",
    "verify_ed25519",
    "verify_hmac",
]

HEADER_KEY = "X-API-Key"
HEADER_TIMESTAMP = "X-Timestamp"
HEADER_SIGNATURE = "X-Signature"
HEADER_NONCE = "X-Nonce"

_NONCE_RE = re.compile(r"^[A-Za-z0-9._~-]{1,64}$")
_KEY_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TS_RE = re.compile(r"^[0-9]{1,16}$")


def canonical_string(timestamp_ms: int, method: str, path_with_query: str, body: bytes,
                     nonce: str | None = None) -> bytes:
    """The bytes that are signed (see the module docstring)."""
    digest = hashlib.sha256(body).hexdigest()
    return f"{int(timestamp_ms)}\n{method.upper()}\n{path_with_query}\n{nonce or ''}\n{digest}".encode()


def load_private_key(pem: str | bytes) -> Ed25519PrivateKey:
    """An Ed25519 private key from PKCS#8 PEM text (as printed by ``supreme keys create``)."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise MalformedCredentials(f"not a PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise MalformedCredentials(f"expected an Ed25519 private key, got {type(key).__name__}")
    return key


def hmac_signature(secret: str | bytes, message: bytes) -> bytes:
    """Raw HMAC-SHA256 of ``message`` under ``secret``."""
    key = secret.encode("ascii") if isinstance(secret, str) else secret
    return hmac.digest(key, message, "sha256")  # the one-shot C path: same bytes as hmac.new(...).digest()


def sign_request(key_id: str, private_key_or_secret: Ed25519PrivateKey | str | bytes, method: str,
                 path: str, body: bytes | str = b"", timestamp_ms: int = 0,
                 nonce: str | None = None) -> dict[str, str]:
    """Headers that authenticate one request (client side).

    ``private_key_or_secret`` is an ``Ed25519PrivateKey``, its PEM text (Ed25519), or an HMAC
    secret (any other ``str``/``bytes``).  ``path`` is the path with query as it will be sent.
    """
    if isinstance(body, str):
        body = body.encode()
    if nonce is not None and not _NONCE_RE.match(nonce):
        raise MalformedCredentials(f"nonce must be 1-64 characters of [A-Za-z0-9._~-], got {nonce!r}")
    message = canonical_string(timestamp_ms, method, path, body, nonce)
    key = private_key_or_secret
    if isinstance(key, (str, bytes)) and _looks_like_pem(key):
        key = load_private_key(key)
    if isinstance(key, Ed25519PrivateKey):
        signature = key.sign(message)
    else:
        signature = hmac_signature(key, message)
    headers = {
        HEADER_KEY: key_id,
        HEADER_TIMESTAMP: str(int(timestamp_ms)),
        HEADER_SIGNATURE: base64.b64encode(signature).decode("ascii"),
    }
    if nonce is not None:
        headers[HEADER_NONCE] = nonce
    return headers


def _looks_like_pem(value: str | bytes) -> bool:
    head = value[:11]
    return head == "-----BEGIN " or head == b"-----BEGIN "


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """The parsed signature headers of one request."""

    key_id: str
    timestamp_ms: int
    signature: bytes
    nonce: str | None

    @classmethod
    def from_headers(cls, key_id: str, timestamp: str, signature: str, nonce: str | None) -> SignedRequest:
        """Parse header values; malformed values raise :class:`MalformedCredentials`."""
        if not _KEY_ID_RE.match(key_id):
            raise MalformedCredentials(f"{HEADER_KEY} must be 1-64 characters of [A-Za-z0-9_-]")
        if not _TS_RE.match(timestamp):
            raise MalformedCredentials(
                f"{HEADER_TIMESTAMP} must be integer milliseconds, got {timestamp[:32]!r}")
        if nonce is not None and not _NONCE_RE.match(nonce):
            raise MalformedCredentials(f"{HEADER_NONCE} must be 1-64 characters of [A-Za-z0-9._~-]")
        if len(signature) > 200:
            raise MalformedCredentials(f"{HEADER_SIGNATURE} is too long ({len(signature)} characters)")
        try:
            raw = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MalformedCredentials(f"{HEADER_SIGNATURE} is not valid base64") from exc
        return cls(key_id=key_id, timestamp_ms=int(timestamp), signature=raw, nonce=nonce)


def verify_ed25519(public_key: Ed25519PublicKey, signature: bytes, message: bytes, key_id: str) -> None:
    """Raise :class:`BadSignature` unless ``signature`` is ``public_key``'s signature of ``message``."""
    try:
        public_key.verify(signature, message)
    except InvalidSignature as exc:
        raise BadSignature(f"Ed25519 signature does not match the request for key {key_id}") from exc


def verify_hmac(secret: bytes, signature: bytes, message: bytes, key_id: str) -> None:
    """Raise :class:`BadSignature` unless ``signature`` is HMAC-SHA256(secret, message) (constant time)."""
    expected = hmac.digest(secret, message, "sha256")
    if not hmac.compare_digest(expected, signature):
        raise BadSignature(f"HMAC signature does not match the request for key {key_id}")
