"""L3: a SQL byte store on :class:`supreme.db.Database` (PostgreSQL via psycopg_pool, or SQLite).

Schema, created on first use::

    cache_entries(key TEXT PRIMARY KEY, value BYTEA|BLOB NOT NULL,
                  expires_at DOUBLE PRECISION|REAL NULL, updated_at …, hits BIGINT|INTEGER)
    index on expires_at

Expiry times are absolute seconds on the injected clock; an expired row is a miss
and is deleted when read (``purge_expired`` removes the rest in bulk).  Writes are
upserts (``INSERT … ON CONFLICT (key) DO UPDATE``, valid in both dialects).  With
``track_hits`` a read is ``UPDATE … SET hits = hits + 1 … RETURNING`` — one round
trip that also keeps the access count.  The database is opened lazily, so a
manager can start while PostgreSQL is down; ``DatabaseUnavailable`` becomes
:class:`TierUnavailable`, any other ``DatabaseError`` a :class:`TierError`.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from supreme.cache.tiers.base import DEFAULT_MAX_VALUE_BYTES, CacheTier, TierError, TierUnavailable
from supreme.clock import Clock
from supreme.db import Database, DatabaseError, DatabaseUnavailable

__all__ = ["SqlTier"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class SqlTier(CacheTier):
    """L3 SQL tier; ``db`` is a :class:`Database` or a database URL (opened on first use)."""

    name = "L3"

    def __init__(
        self,
        db: Database | str,
        *,
        clock: Clock,
        table: str = "cache_entries",
        namespace: str = "",
        track_hits: bool = True,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
        name: str = "L3",
        db_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(name=name, max_value_bytes=max_value_bytes)
        if not _IDENT.match(table):
            raise ValueError(f"table name {table!r} is not a plain SQL identifier")
        self.clock = clock
        self.table = table
        self.namespace = namespace
        self.track_hits = track_hits
        self._db: Database | None = db if isinstance(db, Database) else None
        self._url = db if isinstance(db, str) else db.url
        self._owns = not isinstance(db, Database)
        self._db_options = dict(db_options or {})
        self._ready = False
        self._init_lock = threading.Lock()

    # -- plumbing -------------------------------------------------------------
    def database(self) -> Database:
        """The open handle with the schema in place (TierUnavailable if it cannot be reached)."""
        if self._ready and self._db is not None:
            return self._db
        with self._init_lock:
            if self._db is None:
                try:
                    self._db = Database.from_url(self._url, **self._db_options)
                except DatabaseUnavailable as exc:
                    raise TierUnavailable(f"{self.name}: {exc}") from exc
            if not self._ready:
                self._create_schema(self._db)
                self._ready = True
        return self._db

    def _create_schema(self, db: Database) -> None:
        pg = db.dialect == "postgresql"
        blob, real, integer = ("BYTEA", "DOUBLE PRECISION", "BIGINT") if pg else ("BLOB", "REAL", "INTEGER")
        t = self.table
        ddl = (
            f"CREATE TABLE IF NOT EXISTS {t} (key TEXT PRIMARY KEY, value {blob} NOT NULL, "
            f"expires_at {real} NULL, updated_at {real} NOT NULL, hits {integer} NOT NULL DEFAULT 0)",
            f"CREATE INDEX IF NOT EXISTS {t}_expires_at ON {t} (expires_at)",
        )
        for attempt in (1, 2):
            try:
                for stmt in ddl:
                    db.execute(stmt)
                return
            except DatabaseUnavailable as exc:
                raise TierUnavailable(f"{self.name}: cannot create {t}: {exc}") from exc
            except DatabaseError as exc:
                # two processes racing CREATE … IF NOT EXISTS in PostgreSQL: the loser retries once
                if attempt == 2:
                    raise TierError(f"{self.name}: cannot create table {t}: {exc}") from exc

    def _run(self, op: str, key: str, stmt: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        db = self.database()
        try:
            return db.execute(stmt, params)
        except DatabaseUnavailable as exc:
            raise TierUnavailable(f"{self.name} {op} {key!r}: {exc}") from exc
        except DatabaseError as exc:
            raise TierError(f"{self.name} {op} {key!r}: {exc}") from exc

    # -- hooks ----------------------------------------------------------------
    def _read(self, key: str, count: bool) -> bytes | None:
        k = self.namespace + key
        t = self.table
        if count:
            stmt = f"UPDATE {t} SET hits = hits + 1 WHERE key = ? RETURNING value, expires_at"
        else:
            stmt = f"SELECT value, expires_at FROM {t} WHERE key = ?"
        rows = self._run("GET", key, stmt, (k,))
        if not rows:
            return None
        value, expires_at = rows[0]
        if expires_at is not None:
            now = self.clock.now()
            if expires_at <= now:
                # only the row we saw expire: a concurrent refresh has a later expiry
                self._run("EXPIRE", key, f"DELETE FROM {t} WHERE key = ? AND expires_at <= ?", (k, now))
                return None
        return bytes(value)

    def _get(self, key: str) -> bytes | None:
        return self._read(key, self.track_hits)

    def _peek(self, key: str) -> bytes | None:
        return self._read(key, False)

    def _upsert(self) -> str:
        return (f"INSERT INTO {self.table} (key, value, expires_at, updated_at, hits) VALUES (?, ?, ?, ?, 0) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at, "
                "updated_at = excluded.updated_at")

    def _set(self, key: str, value: bytes, ttl: float | None) -> None:
        now = self.clock.now()
        expires_at = None if ttl is None else now + ttl
        self._run("SET", key, self._upsert(), (self.namespace + key, value, expires_at, now))

    def _set_many(self, items: list[tuple[str, bytes, float | None]]) -> None:
        now = self.clock.now()
        rows = [(self.namespace + k, v, None if ttl is None else now + ttl, now) for k, v, ttl in items]
        what = f"{items[0][0]!r}…({len(items)} keys)" if items else "(no keys)"
        try:
            self.database().executemany(self._upsert(), rows)  # one transaction: all rows or none
        except DatabaseUnavailable as exc:
            raise TierUnavailable(f"{self.name} SET {what}: {exc}") from exc
        except DatabaseError as exc:
            raise TierError(f"{self.name} SET {what}: {exc}") from exc

    def _delete(self, key: str) -> bool:
        rows = self._run("DEL", key, f"DELETE FROM {self.table} WHERE key = ? RETURNING key",
                         (self.namespace + key,))
        return bool(rows)

    # -- maintenance ----------------------------------------------------------
    def purge_expired(self) -> int:
        """Delete every expired row (using the expires_at index); return how many."""
        rows = self._run("PURGE", "*", f"DELETE FROM {self.table} WHERE expires_at <= ? RETURNING key",
                         (self.clock.now(),))
        return len(rows)

    def hits_of(self, key: str) -> int | None:
        """The stored hit count of ``key`` (None if absent)."""
        rows = self._run("HITS", key, f"SELECT hits FROM {self.table} WHERE key = ?", (self.namespace + key,))
        return int(rows[0][0]) if rows else None

    def close(self) -> None:
        """Close the database handle if this tier opened it."""
        if self._owns and self._db is not None:
            self._db.close()
            self._db = None
            self._ready = False
