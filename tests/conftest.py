"""Shared fixtures: every store and API test runs once on SQLite and once on PostgreSQL.

The PostgreSQL half uses CLOSER_TEST_POSTGRES_URL (default: the local server's `test` database) in a
schema of its own (one per test process), and is skipped with the reason when the server cannot be reached.

The API is never open, in tests either: the `client` fixture is a Flask test client that authenticates
for real, as a registered internal client with `system/*.*` (one client and one token per app, from the
real token endpoint), sending `Authorization: Bearer ...` on every request. `anonymous` is one that does not.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bearer import authenticated
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from adapters.writing import open_repository
from closer.app import create_app
from closer.settings import Settings
from closer.store.schema import metadata
from closer.store.sql import SqlRepository

PG_SCHEMA = f"closer_test_{os.getpid()}"  # one schema per test process, so parallel runs never collide
PG_BASE_URL = os.environ.get("CLOSER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
FHIR_JSON = "application/fhir+json"


def postgres_url() -> str:
    joiner = "&" if "?" in PG_BASE_URL else "?"
    return f"{PG_BASE_URL}{joiner}options=-csearch_path%3D{PG_SCHEMA}"


_pg_state: dict[str, Any] = {}


def postgres_available() -> str | None:
    """None if usable (the schema is then created, with the store's tables), else the reason it is not."""
    if "reason" not in _pg_state:
        try:
            engine = create_engine(PG_BASE_URL, connect_args={"connect_timeout": 3})
            with engine.begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
                conn.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
            engine.dispose()
            _pg_state["engine"] = create_engine(postgres_url(), poolclass=NullPool)
            metadata.create_all(_pg_state["engine"])
            _pg_state["reason"] = None
        except Exception as exc:
            _pg_state["reason"] = f"PostgreSQL not reachable at {PG_BASE_URL}: {exc.__class__.__name__}: {exc}"
    reason: str | None = _pg_state["reason"]
    return reason


def _truncate_postgres(url: str) -> None:
    """Empty the store's tables (DELETE is much faster than TRUNCATE on tables this small)."""
    engine = _pg_state["engine"] if url == postgres_url() and "engine" in _pg_state else create_engine(url)
    metadata.create_all(engine)
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
    if engine is not _pg_state.get("engine"):
        engine.dispose()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Drop this process's PostgreSQL schema."""
    if _pg_state.get("reason", "unused") is None:
        _pg_state["engine"].dispose()
        engine = create_engine(PG_BASE_URL)
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/closer.db"
    reason = postgres_available()
    if reason:
        pytest.skip(reason)
    url = postgres_url()
    _truncate_postgres(url)
    return url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings.from_env({}, database_url=database_url, max_body_bytes=1024 * 1024)


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    application = create_app(settings)
    yield application
    application.extensions["closer.engine"].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return authenticated(app)


@pytest.fixture
def anonymous(app: Flask) -> FlaskClient:
    """A test client with no credentials."""
    return app.test_client()


@pytest.fixture
def repo(app: Flask) -> Any:
    return app.extensions["closer.repository"]


@pytest.fixture
def store(database_url: str) -> Iterator[SqlRepository]:
    """A store on each backend without the web app, as feeds and batch jobs use it."""
    repo = open_repository(Settings.from_env({}, database_url=database_url))
    yield repo
    repo.engine.dispose()
