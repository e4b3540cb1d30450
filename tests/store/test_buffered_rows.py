"""The repository buffers rows as tuples in column order (closer.store.sql); these are those orders."""

from __future__ import annotations

from extract_rows import COLUMNS

from closer.store.schema import INDEX_TABLES, outbox, resource_history, resources
from closer.store.sql import _inserted_columns


def test_the_tuples_the_repository_builds_follow_the_tables_columns() -> None:
    assert _inserted_columns(resources) == ("res_type", "res_id", "version", "last_updated", "deleted", "content")
    assert _inserted_columns(resource_history) == ("res_type", "res_id", "version", "last_updated", "method", "content")
    assert _inserted_columns(outbox) == ("res_type", "res_id", "version", "action", "occurred")
    for name, table in INDEX_TABLES.items():
        if name in COLUMNS:
            assert _inserted_columns(table) == ("res_type", "res_id", *COLUMNS[name])


def test_no_search_parameter_reads_meta() -> None:
    """Prepared index rows are extracted before the store sets meta, so no path may start there."""
    from closer.store.searchparams import SEARCH_PARAMS

    assert not [
        p.name for params in SEARCH_PARAMS.values() for p in params.values() for x in p.paths if x.startswith("meta")
    ]
