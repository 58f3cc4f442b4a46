"""The SQL handle on both back-ends."""

from __future__ import annotations

import pytest

from supreme.db import Database, DatabaseError, DatabaseUnavailable


def test_roundtrip_on_both_backends(database_url: str) -> None:
    with Database.from_url(database_url, max_size=2) as db:
        db.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)")
        db.executemany("INSERT INTO kv (k, v) VALUES (?, ?)", [("a", "1"), ("b", "2")])
        assert db.execute("SELECT v FROM kv WHERE k = ?", ("b",)) == [("2",)]
        with pytest.raises(DatabaseError):
            db.execute("INSERT INTO kv (k, v) VALUES (?, ?)", ("a", "dup"))
        assert db.execute("SELECT count(*) FROM kv") == [(2,)]


def test_memory_sqlite_is_shared_across_threads() -> None:
    import threading

    db = Database.from_url("sqlite:///:memory:")
    db.execute("CREATE TABLE t (x INTEGER)")
    th = threading.Thread(target=lambda: db.execute("INSERT INTO t VALUES (1)"))
    th.start()
    th.join()
    assert db.execute("SELECT x FROM t") == [(1,)]


def test_unreachable_postgres_is_a_clear_error() -> None:
    with pytest.raises(DatabaseUnavailable, match="PostgreSQL"):
        Database.from_url("postgresql://postgres@127.0.0.1:1/test", timeout=0.5)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        Database.from_url("mysql://x")
    with pytest.raises(ValueError):
        Database.from_url("sqlite:///:memory:", min_size=3, max_size=1)
