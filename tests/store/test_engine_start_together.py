"""A server, a publisher and a feed started together all open (and create) the same new SQLite store."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from closer.store.engine import make_engine


def _open(url: str) -> str:
    try:
        make_engine(url).dispose()
    except Exception as exc:  # reported back: the assertion names it
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def test_processes_opening_a_new_sqlite_store_at_once_all_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    with multiprocessing.get_context("spawn").Pool(6) as pool:
        results = pool.map(_open, [url] * 6)
    assert results == ["ok"] * 6
