"""``supreme keys``: create, list and revoke API keys in ``SUPREME_DATABASE_URL`` (SQLite by default).

``create`` prints the private key (Ed25519, PKCS#8 PEM) or the HMAC secret exactly once; the store
keeps only the public key or the secret encrypted under ``SUPREME_MASTER_KEY``.  ``revoke`` also ends
the key's sessions in ``SUPREME_REDIS_URL`` when one is configured.  ``master-key`` prints a fresh
value for ``SUPREME_MASTER_KEY``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from supreme.api.auth.cipher import SecretCipher, generate_master_key
from supreme.api.auth.keys import KEY_TYPES, KeyRecord, KeyStore
from supreme.clock import SystemClock
from supreme.config import load_settings
from supreme.db import Database

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``supreme keys ...`` to the top-level parser."""
    parser = subparsers.add_parser("keys", help="manage API keys (create, list, revoke)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="keys_command", metavar="ACTION", required=True)

    create = sub.add_parser("create", help="create a key and print its credential once")
    create.add_argument("--type", dest="key_type", choices=KEY_TYPES, default="ed25519",
                        help="ed25519 (asymmetric, the default) or hmac (needs SUPREME_MASTER_KEY)")
    create.add_argument("--scopes", required=True, help="comma-separated, e.g. signal:read,stream:read")
    create.add_argument("--label", default="", help="free text shown by 'list'")
    create.add_argument("--json", action="store_true", help="print one JSON object")
    create.set_defaults(func=_create)

    lst = sub.add_parser("list", help="list keys (never credentials)")
    lst.add_argument("--json", action="store_true", help="print JSON lines")
    lst.set_defaults(func=_list)

    revoke = sub.add_parser("revoke", help="revoke a key and end its sessions")
    revoke.add_argument("key_id", help="the key's id (ak_..., as printed by create and list)")
    revoke.set_defaults(func=_revoke)

    master = sub.add_parser("master-key", help="print a fresh base64 value for SUPREME_MASTER_KEY")
    master.set_defaults(func=lambda args: _print(generate_master_key()))


def _print(text: str) -> int:
    print(text)
    return 0


def _store() -> KeyStore:
    settings = load_settings()
    cipher = SecretCipher(settings.master_key) if settings.master_key is not None else None
    return KeyStore(Database.from_url(settings.database_url), SystemClock(), cipher)


def _iso(t: float | None) -> str:
    return "" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _as_dict(record: KeyRecord) -> dict[str, Any]:
    return {"key_id": record.key_id, "type": record.key_type, "scopes": sorted(record.scopes),
            "created_at": _iso(record.created_at), "revoked_at": _iso(record.revoked_at) or None,
            "label": record.label}


def _create(args: argparse.Namespace) -> int:
    store = _store()
    try:
        created = store.create(args.key_type, args.scopes, args.label)
    finally:
        store.db.close()
    record = created.record
    if args.json:
        print(json.dumps({**_as_dict(record), "credential": created.credential}))
        return 0
    what = "private key (PKCS#8 PEM)" if record.key_type == "ed25519" else "secret"
    print(f"key_id: {record.key_id}")
    print(f"type:   {record.key_type}")
    print(f"scopes: {','.join(sorted(record.scopes))}")
    print(f"{what} - shown only this once, store it now:")
    print(created.credential.rstrip("\n"))
    return 0


def _list(args: argparse.Namespace) -> int:
    store = _store()
    try:
        records = store.list_keys()
    finally:
        store.db.close()
    if args.json:
        for record in records:
            print(json.dumps(_as_dict(record)))
        return 0
    print(f"{'KEY_ID':<20} {'TYPE':<8} {'STATUS':<8} {'CREATED':<21} {'SCOPES':<30} LABEL")
    for r in records:
        status = "revoked" if r.revoked else "active"
        print(f"{r.key_id:<20} {r.key_type:<8} {status:<8} {_iso(r.created_at):<21} "
              f"{','.join(sorted(r.scopes)):<30} {r.label}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    store = _store()
    try:
        record = store.revoke(args.key_id)
    finally:
        store.db.close()
    ended = 0
    settings = load_settings()
    if settings.redis_url:
        import redis

        from supreme.api.auth.sessions import SessionStore

        client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2)
        try:
            ended = SessionStore(client, SystemClock()).revoke_key(record.key_id)
        except Exception as exc:  # the key is revoked either way; sessions then fail on the key check
            print(f"supreme keys: warning: sessions not ended ({exc}); they fail the key check instead",
                  file=sys.stderr)
        finally:
            client.close()
    print(f"revoked {record.key_id} at {_iso(record.revoked_at)}; ended {ended} session(s)")
    return 0
