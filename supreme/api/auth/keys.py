"""The API-key store: table ``api_keys`` on SQLite or PostgreSQL (through :class:`supreme.db.Database`).

=================  ===============================================================
column             meaning
=================  ===============================================================
key_id             public identifier sent in ``X-API-Key`` (``ak_`` + 16 hex)
key_type           ``'ed25519'`` or ``'hmac'``
public_key         Ed25519 raw public key, base64 (NULL for HMAC keys)
encrypted_secret   HMAC secret sealed by :class:`SecretCipher` (NULL for Ed25519 keys)
scopes             space-separated scopes, e.g. ``signal:read stream:read``
created_at         clock seconds
revoked_at         clock seconds, NULL while the key is active
label              free text for humans
=================  ===============================================================

The schema is created on first use.  Private keys and plaintext secrets are returned once, by
:meth:`KeyStore.create`, and never stored.  The scope ``admin`` satisfies every requirement.
"""

from __future__ import annotations

import base64
import re
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nacl.exceptions import CryptoError
from nacl.signing import VerifyKey

from supreme.api.auth.cipher import SecretCipher
from supreme.api.auth.errors import BadSignature, KeyStoreError, MasterKeyMissing
from supreme.api.auth.signing import verify_hmac
from supreme.clock import Clock
from supreme.db import Database

__all__ = ["ADMIN_SCOPE", "KEY_TYPES", "CreatedKey", "KeyRecord", "KeyStore", "Verifier", "parse_scopes"]

KEY_TYPES = ("ed25519", "hmac")
ADMIN_SCOPE = "admin"
_SCOPE_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,31}(:[a-z0-9_.*-]{1,32}){0,3}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    key_type TEXT NOT NULL CHECK (key_type IN ('ed25519', 'hmac')),
    public_key TEXT,
    encrypted_secret TEXT,
    scopes TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    revoked_at DOUBLE PRECISION,
    label TEXT NOT NULL DEFAULT ''
)
"""
_COLUMNS = "key_id, key_type, public_key, encrypted_secret, scopes, created_at, revoked_at, label"


def parse_scopes(scopes: str | Iterable[str]) -> frozenset[str]:
    """Scopes from ``"a,b"``/``"a b"`` or an iterable; each must look like ``signal:read``."""
    items = re.split(r"[,\s]+", scopes) if isinstance(scopes, str) else list(scopes)
    result = frozenset(s.strip() for s in items if s and s.strip())
    bad = sorted(s for s in result if not _SCOPE_RE.match(s))
    if bad:
        raise KeyStoreError(f"invalid scope(s) {bad}: use lower-case names like 'signal:read' or 'admin'")
    if not result:
        raise KeyStoreError("a key needs at least one scope, e.g. signal:read")
    return result


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One row of ``api_keys``; the encrypted secret is kept out of ``repr``."""

    key_id: str
    key_type: str
    scopes: frozenset[str]
    created_at: float
    revoked_at: float | None = None
    label: str = ""
    public_key: str | None = None
    encrypted_secret: str | None = field(default=None, repr=False)

    @property
    def revoked(self) -> bool:
        """True once the key was revoked."""
        return self.revoked_at is not None

    def allows(self, required: Iterable[str]) -> bool:
        """True when every required scope is granted (``admin`` grants all)."""
        return ADMIN_SCOPE in self.scopes or set(required) <= self.scopes


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A new key and its credential (PEM private key or HMAC secret), shown to the user once."""

    record: KeyRecord
    credential: str = field(repr=False)


class Verifier:
    """Checks signatures for one key: the loaded public key or the decrypted HMAC secret.

    Ed25519 goes through libsodium (PyNaCl's ``VerifyKey``, loaded once per key: about half the cost of
    ``cryptography``'s verify); keys and signatures are the same 32- and 64-byte raw Ed25519 values.
    """

    __slots__ = ("_key_id", "_public", "_secret")

    def __init__(self, key_id: str, public: Ed25519PublicKey | bytes | None = None,
                 secret: bytes | None = None) -> None:
        self._key_id = key_id
        if isinstance(public, Ed25519PublicKey):
            public = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self._public = VerifyKey(public) if public is not None else None
        self._secret = secret

    def verify(self, signature: bytes, message: bytes) -> None:
        """Raise :class:`BadSignature` unless ``signature`` signs ``message``."""
        if self._public is not None:
            try:
                self._public.verify(message, signature)
            except (CryptoError, ValueError, TypeError) as exc:  # wrong signature, or not 64 bytes
                raise BadSignature(f"Ed25519 signature does not match the request for key {self._key_id}") \
                    from exc
        else:
            assert self._secret is not None
            verify_hmac(self._secret, signature, message, self._key_id)

    def __repr__(self) -> str:
        kind = "ed25519" if self._public is not None else "hmac"
        return f"Verifier({self._key_id!r}, {kind})"


class KeyStore:
    """Create, look up, list and revoke API keys in the database."""

    def __init__(self, db: Database, clock: Clock, cipher: SecretCipher | None = None) -> None:
        self.db = db
        self.clock = clock
        self.cipher = cipher
        self._schema_ready = False
        self._lock = threading.Lock()

    def ensure_schema(self) -> None:
        """Create ``api_keys`` if it does not exist (idempotent)."""
        if self._schema_ready:
            return
        with self._lock:
            if not self._schema_ready:
                self.db.execute(_SCHEMA)
                self._schema_ready = True

    # -- writes --------------------------------------------------------------
    def create(self, key_type: str, scopes: str | Iterable[str], label: str = "") -> CreatedKey:
        """A new key; the returned credential is the only copy of the private key / secret."""
        if key_type not in KEY_TYPES:
            raise KeyStoreError(f"key type must be one of {KEY_TYPES}, got {key_type!r}")
        if len(label) > 200:
            raise KeyStoreError(f"label is too long ({len(label)} > 200 characters)")
        scope_set = parse_scopes(scopes)
        self.ensure_schema()
        key_id = "ak_" + secrets.token_hex(8)
        public_text: str | None = None
        sealed: str | None = None
        if key_type == "ed25519":
            private = Ed25519PrivateKey.generate()
            raw_public = private.public_key().public_bytes(serialization.Encoding.Raw,
                                                           serialization.PublicFormat.Raw)
            public_text = base64.b64encode(raw_public).decode("ascii")
            credential = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()).decode("ascii")
        else:
            if self.cipher is None:
                raise MasterKeyMissing(
                    "SUPREME_MASTER_KEY is not set: HMAC secrets are stored encrypted under it "
                    "(generate one with 'supreme keys master-key'), or use --type ed25519"
                )
            credential = secrets.token_urlsafe(32)
            sealed = self.cipher.encrypt(key_id, credential.encode("ascii"))
        record = KeyRecord(key_id=key_id, key_type=key_type, scopes=scope_set, created_at=self.clock.now(),
                           label=label, public_key=public_text, encrypted_secret=sealed)
        self.db.execute(
            f"INSERT INTO api_keys ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (record.key_id, record.key_type, record.public_key, record.encrypted_secret,
             " ".join(sorted(scope_set)), record.created_at, None, label),
        )
        return CreatedKey(record=record, credential=credential)

    def revoke(self, key_id: str) -> KeyRecord:
        """Mark ``key_id`` revoked (idempotent: the first revocation time is kept)."""
        self.ensure_schema()
        self.db.execute("UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                        (self.clock.now(), key_id))
        record = self.get(key_id)
        if record is None:
            raise KeyStoreError(f"no API key with id {key_id!r}")
        return record

    # -- reads ---------------------------------------------------------------
    def get(self, key_id: str) -> KeyRecord | None:
        """The record of ``key_id``, or None."""
        self.ensure_schema()
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE key_id = ?", (key_id,))
        return _record(rows[0]) if rows else None

    def list_keys(self) -> list[KeyRecord]:
        """Every key, oldest first."""
        self.ensure_schema()
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at, key_id")
        return [_record(r) for r in rows]

    def verifier(self, record: KeyRecord) -> Verifier:
        """A :class:`Verifier` for ``record`` (decrypts the HMAC secret with the master key)."""
        if record.key_type == "ed25519":
            assert record.public_key is not None
            raw = base64.b64decode(record.public_key)
            if len(raw) != 32:
                raise KeyStoreError(f"key {record.key_id}: its stored Ed25519 public key is {len(raw)} bytes")
            return Verifier(record.key_id, public=raw)
        if self.cipher is None:
            raise MasterKeyMissing(
                f"key {record.key_id} is an HMAC key but SUPREME_MASTER_KEY is not set, so its secret "
                "cannot be decrypted"
            )
        assert record.encrypted_secret is not None
        return Verifier(record.key_id, secret=self.cipher.decrypt(record.key_id, record.encrypted_secret))


def _record(row: tuple[object, ...]) -> KeyRecord:
    key_id, key_type, public_key, sealed, scopes, created_at, revoked_at, label = row
    return KeyRecord(
        key_id=str(key_id), key_type=str(key_type), scopes=frozenset(str(scopes).split()),
        created_at=float(created_at),  # type: ignore[arg-type]
        revoked_at=None if revoked_at is None else float(revoked_at),  # type: ignore[arg-type]
        label=str(label or ""), public_key=None if public_key is None else str(public_key),
        encrypted_secret=None if sealed is None else str(sealed),
    )
