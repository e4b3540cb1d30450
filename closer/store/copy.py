"""Copying a whole store from one database to another, e.g. from the embedded SQLite file a pilot ran on
to the PostgreSQL server it moves to. Every table of the store's schema (resources, history, outbox,
search indexes, and the tables adapters and stratification keep beside them) is copied row for row.

The target must be empty: copying into a live store would mix two histories. On PostgreSQL the rows go
in with COPY, the secondary indexes are dropped first and built once at the end (much faster than
maintaining them row by row), and the outbox sequence is moved past the copied events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Table, func, select, text
from sqlalchemy.engine import Connection, Engine

from closer.store.schema import metadata

CHUNK = 20_000
Progress = Callable[[str, int], None]  # (table, rows copied so far)


class CopyError(RuntimeError):
    """The copy cannot start (the target already holds data); the message says which table."""


def copy_store(source: Engine, target: Engine, progress: Progress | None = None) -> dict[str, int]:
    """Copy every table that exists in `source` into the empty store at `target`; returns rows per table."""
    tell = progress or (lambda table, rows: None)
    metadata.create_all(target)
    with source.connect() as src_conn:
        present = {t for t in metadata.sorted_tables if source.dialect.has_table(src_conn, t.name)}
    copied: dict[str, int] = {}
    with target.begin() as dst:
        for table in metadata.sorted_tables:
            if dst.execute(select(func.count()).select_from(table)).scalar():
                raise CopyError(f"the target's {table.name} table is not empty: copy into a new database")
        postgres = dst.dialect.name == "postgresql"
        if postgres:
            for table in metadata.sorted_tables:
                for index in table.indexes:
                    index.drop(dst)
        for table in metadata.sorted_tables:
            if table not in present:
                continue
            with source.connect() as src:
                copied[table.name] = _copy_table(src, dst, table, postgres, tell)
        if postgres:
            for table in metadata.sorted_tables:
                for index in table.indexes:
                    index.create(dst)
            _advance_sequences(dst)
    return copied


def _rows(src: Connection, table: Table) -> Iterator[list[tuple[Any, ...]]]:
    result = src.execution_options(stream_results=True, yield_per=CHUNK).execute(select(*table.columns))
    for chunk in result.partitions(CHUNK):
        yield [tuple(row) for row in chunk]


def _copy_table(src: Connection, dst: Connection, table: Table, postgres: bool, tell: Progress) -> int:
    names = [c.name for c in table.columns]
    booleans = [i for i, c in enumerate(table.columns) if c.type.python_type is bool]
    count = 0
    if postgres:
        driver = dst.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor, cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
            for chunk in _rows(src, table):
                for row in chunk:
                    copy.write_row(_typed(row, booleans))
                count += len(chunk)
                tell(table.name, count)
        return count
    for chunk in _rows(src, table):
        dst.execute(table.insert(), [dict(zip(names, _typed(row, booleans), strict=True)) for row in chunk])
        count += len(chunk)
        tell(table.name, count)
    return count


def _typed(row: tuple[Any, ...], booleans: list[int]) -> tuple[Any, ...]:
    """SQLite hands booleans back as 0/1; PostgreSQL's COPY wants real booleans."""
    if not booleans:
        return row
    values = list(row)
    for i in booleans:
        if values[i] is not None:
            values[i] = bool(values[i])
    return tuple(values)


def _advance_sequences(dst: Connection) -> None:
    """Serial keys (the outbox's seq, run ids) continue after the copied rows."""
    for table in metadata.sorted_tables:
        for column in table.primary_key.columns:
            if column.autoincrement is True and column.type.python_type is int:
                dst.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                        f"COALESCE((SELECT MAX({column.name}) FROM {table.name}), 0) + 1, false)"
                    )
                )
