"""Fixtures every feed's tests share: a store on each backend (SQLite and, when reachable, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.writing import open_repository
from closer.settings import Settings
from closer.store.sql import SqlRepository


@pytest.fixture
def store(database_url: str) -> Iterator[SqlRepository]:
    repo = open_repository(Settings.from_env({}, database_url=database_url))
    yield repo
    repo.engine.dispose()
