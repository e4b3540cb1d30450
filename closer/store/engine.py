"""Database engines for the two backends: SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from closer.store.schema import metadata
from closer.store.writelock import WriteQueue, queued, write_queue_for

WRITE_OPTION = "closer_write"
SQLITE_CACHE_KIB = 32 * 1024


def make_engine(url: str, *, sqlite_synchronous: str = "FULL", pool_size: int = 5) -> Engine:
    """Create the engine and the tables. SQLite gets WAL mode and write transactions that take the
    write lock up front (BEGIN IMMEDIATE), so two writers queue instead of failing on lock upgrade."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = _sqlite_engine(url, parsed.database, sqlite_synchronous)
    elif parsed.get_backend_name() == "postgresql":
        engine = create_engine(url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True)
    else:
        raise ValueError(f"Unsupported database URL '{parsed.render_as_string(hide_password=True)}'")
    # As a write transaction behind the other writers: a server, a publisher and a feed started together
    # all create the tables, and a deferred transaction that finds a write lock taken fails at once.
    with writing(engine) as conn:
        metadata.create_all(conn)
    return engine


def _sqlite_engine(url: str, database: str | None, synchronous: str) -> Engine:
    if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
        raise ValueError(f"CLOSER_SQLITE_SYNCHRONOUS must be OFF, NORMAL, FULL or EXTRA, not {synchronous}")
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute("PRAGMA busy_timeout=30000")
        # A 32 MB page cache per connection (SQLite's default is 2 MB) keeps the index b-trees of a
        # county-sized store in memory, so ingest does not slow down as the store grows.
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION)
        # straight to the driver: every read and write starts here, and a statement through SQLAlchemy's
        # execution path costs several times the BEGIN itself
        conn.connection.dbapi_connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def write_queue(engine: Engine) -> WriteQueue | None:
    """The queue for this engine's writers (one per database file in a process): SQLite files need one,
    PostgreSQL does not."""
    return _queue_for(engine.url.database or "") if engine.dialect.name == "sqlite" else None


@cache
def _queue_for(database: str) -> WriteQueue | None:
    return write_queue_for(database)


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction queued behind the store's other SQLite writers (PostgreSQL needs no queue), for
    tables written outside the Repository: auth, audit, publisher, runs."""
    with queued(write_queue(engine)), engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            yield conn
