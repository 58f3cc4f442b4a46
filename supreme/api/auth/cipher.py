"""Encryption of stored HMAC secrets under the server master key (AES-256-GCM).

The server must recompute HMAC signatures, so it keeps each HMAC secret — but only encrypted:
``AES-256-GCM(master_key, nonce=12 random bytes, plaintext=secret, associated_data=key_id)``,
stored as ``"v1:" + base64(nonce + ciphertext_and_tag)``.  Binding the key id as associated data
means a ciphertext copied onto another key's row fails to decrypt.

Choice when ``SUPREME_MASTER_KEY`` is unset: creating or using an HMAC key fails with
:class:`MasterKeyMissing` naming the variable (no dev-mode key file: a key file beside the database
would protect nothing).  Ed25519 keys need no master key.  ``supreme keys master-key`` prints a fresh one.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from supreme.api.auth.errors import MasterKeyMissing, SecretCorrupted
from supreme.config import Settings

__all__ = ["SecretCipher", "generate_master_key"]

_PREFIX = "v1:"


def generate_master_key() -> str:
    """A fresh base64 32-byte value for ``SUPREME_MASTER_KEY``."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


class SecretCipher:
    """Encrypts/decrypts secrets with AES-256-GCM, the key id as associated data."""

    __slots__ = ("_aead",)

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise MasterKeyMissing(f"SUPREME_MASTER_KEY must be 32 bytes, got {len(master_key)}")
        self._aead = AESGCM(master_key)

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretCipher:
        """The cipher for ``settings.master_key``; raises :class:`MasterKeyMissing` when unset."""
        if settings.master_key is None:
            raise MasterKeyMissing(
                "SUPREME_MASTER_KEY is not set: HMAC secrets are stored encrypted under it "
                "(generate one with 'supreme keys master-key'), or use --type ed25519"
            )
        return cls(settings.master_key)

    def encrypt(self, key_id: str, secret: bytes) -> str:
        """The storable text of ``secret`` for ``key_id``."""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, secret, key_id.encode())
        return _PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, key_id: str, stored: str) -> bytes:
        """The secret of ``key_id``; raises :class:`SecretCorrupted` on any mismatch."""
        if not stored.startswith(_PREFIX):
            raise SecretCorrupted(f"stored secret of key {key_id} has an unknown format")
        try:
            blob = base64.b64decode(stored[len(_PREFIX):], validate=True)
            return self._aead.decrypt(blob[:12], blob[12:], key_id.encode())
        except (binascii.Error, ValueError, InvalidTag) as exc:
            raise SecretCorrupted(
                f"stored secret of key {key_id} does not decrypt (wrong SUPREME_MASTER_KEY or tampered row)"
            ) from exc

    def __repr__(self) -> str:
        return "SecretCipher(<master key hidden>)"
