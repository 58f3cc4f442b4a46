"""One handle over the two SQL back-ends: SQLite (embedded default) and PostgreSQL.

PostgreSQL goes through psycopg 3 with a ``psycopg_pool.ConnectionPool``
(min/max size, acquire timeout, a check of each connection handed out);
SQLite uses one connection per thread (WAL mode) — or one shared, locked
connection for ``:memory:``, where per-thread connections would each see an
empty database.  Callers write SQL with ``?`` placeholders; the handle adapts
them to psycopg's ``%s``.

Connection failures surface as :class:`DatabaseUnavailable` so that callers
(the L3 tier, the API-key store) can degrade, and a circuit breaker can count
them, without knowing the driver.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from supreme.errors import SupremeError

__all__ = ["Database", "DatabaseError", "DatabaseUnavailable"]


class DatabaseError(SupremeError):
    """A statement failed for a reason other than connectivity."""


class DatabaseUnavailable(DatabaseError, ConnectionError):
    """The database cannot be reached (down, pool exhausted, connection lost)."""


class Database:
    """SQLite or PostgreSQL behind ``execute``/``connection``; build with :meth:`from_url`."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10, timeout: float = 5.0,
                 name: str = "supreme") -> None:
        if min_size < 0 or max_size < 1 or min_size > max_size:
            raise ValueError(f"pool sizes need 0 <= min_size <= max_size, got {min_size}/{max_size}")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.url = url
        self.name = name  #: PostgreSQL application_name of this handle's connections
        self.timeout = timeout
        self._local = threading.local()
        self._shared: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self._pool: Any = None
        if url.startswith(("postgresql://", "postgres://")):
            self.dialect = "postgresql"
            from psycopg_pool import ConnectionPool

            self._pool = ConnectionPool(
                url, min_size=min_size, max_size=max_size, timeout=timeout, open=False,
                name=name, check=ConnectionPool.check_connection,
                kwargs={"autocommit": True, "application_name": name,
                        "connect_timeout": max(1, int(timeout))},
            )
            try:
                self._pool.open(wait=min_size > 0, timeout=timeout)
            except Exception as exc:
                self._pool.close()
                raise DatabaseUnavailable(f"cannot open PostgreSQL pool for {_redact(url)}: {exc}") from exc
        elif url.startswith("sqlite:///"):
            self.dialect = "sqlite"
            self._path = url[len("sqlite:///"):]
            if self._path != ":memory:":
                Path(self._path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        else:
            raise ValueError(f"unsupported database URL {url!r} (postgresql:// or sqlite:///)")

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Database:
        """Open a handle for ``url``."""
        return cls(url, **kwargs)

    # -- connections ---------------------------------------------------------
    def _sqlite_conn(self) -> sqlite3.Connection:
        if self._path == ":memory:":
            if self._shared is None:
                self._shared = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            return self._shared
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._path, timeout=self.timeout, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A DB-API connection in autocommit mode (pooled for PostgreSQL)."""
        if self.dialect == "sqlite":
            if self._path == ":memory:":
                with self._lock:
                    yield self._sqlite_conn()
            else:
                yield self._sqlite_conn()
            return
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            with self._pool.connection(timeout=self.timeout) as conn:
                yield conn
        except PoolTimeout as exc:
            raise DatabaseUnavailable(f"no PostgreSQL connection within {self.timeout}s: {exc}") from exc
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(f"PostgreSQL connection failed: {exc}") from exc

    def sql(self, statement: str) -> str:
        """Adapt a ``?``-placeholder statement to this dialect."""
        return statement.replace("?", "%s") if self.dialect == "postgresql" else statement

    def execute(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; return its rows (empty for statements without results)."""
        stmt = self.sql(statement)
        with self.connection() as conn:
            try:
                cur = conn.execute(stmt, tuple(params))
                return list(cur.fetchall()) if cur.description else []
            except sqlite3.OperationalError as exc:
                raise DatabaseUnavailable(f"SQLite failed: {exc}") from exc
            except sqlite3.Error as exc:
                raise DatabaseError(f"SQLite statement failed: {exc}") from exc
            except Exception as exc:
                import psycopg

                if isinstance(exc, psycopg.OperationalError):
                    raise DatabaseUnavailable(f"PostgreSQL failed: {exc}") from exc
                if isinstance(exc, psycopg.Error):
                    raise DatabaseError(f"PostgreSQL statement failed: {exc}") from exc
                raise

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for many parameter rows in a single transaction (all rows or none)."""
        stmt = self.sql(statement)
        with self.connection() as conn:
            if self.dialect == "sqlite":
                try:
                    conn.execute("BEGIN")
                    try:
                        conn.executemany(stmt, [tuple(r) for r in rows])
                        conn.execute("COMMIT")
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
                except sqlite3.OperationalError as exc:
                    raise DatabaseUnavailable(f"SQLite batch failed: {exc}") from exc
                except sqlite3.Error as exc:
                    raise DatabaseError(f"SQLite batch failed: {exc}") from exc
                return
            import psycopg

            try:
                with conn.transaction(), conn.cursor() as cur:
                    cur.executemany(stmt, [tuple(r) for r in rows])
            except psycopg.OperationalError as exc:
                raise DatabaseUnavailable(f"PostgreSQL batch failed: {exc}") from exc
            except psycopg.Error as exc:
                raise DatabaseError(f"PostgreSQL batch failed: {exc}") from exc

    def pool_stats(self) -> dict[str, int]:
        """psycopg_pool's counters (empty for SQLite)."""
        return dict(self._pool.get_stats()) if self._pool is not None else {}

    @property
    def pool(self) -> Any:
        """The underlying psycopg_pool.ConnectionPool, or None for SQLite."""
        return self._pool

    def drop_connection(self) -> bool:
        """SQLite: close this thread's connection; the next call opens a fresh one.

        The embedded stand-in for a terminated PostgreSQL backend (SQLite has no server process to
        kill).  Returns whether there was a connection to drop; PostgreSQL handles return False.
        """
        conn = getattr(self._local, "conn", None) if self.dialect == "sqlite" else None
        if conn is None:
            return False
        conn.close()
        self._local.conn = None
        return True

    def close(self) -> None:
        """Close every connection this handle opened."""
        if self._pool is not None:
            self._pool.close()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        if self._shared is not None:
            self._shared.close()
            self._shared = None

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _redact(url: str) -> str:
    """Hide a password in a URL before it reaches a message or log."""
    from urllib.parse import urlparse

    p = urlparse(url)
    if p.password:
        return url.replace(f":{p.password}@", ":***@")
    return url
