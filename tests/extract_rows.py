"""Index rows as dicts of their columns, for tests to read and compare (the store itself keeps tuples)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from closer.store.extract import (
    Made,
    _Extractor,
    date_values,
    number_values,
    reference_values,
    string_values,
    token_values,
)
from closer.store.searchparams import SearchParam

Row = dict[str, Any]

# The columns after res_type and res_id of each index table, in table order: what the tuples hold.
COLUMNS = {
    "token": ("param", "system", "code"),
    "string": ("param", "norm", "raw"),
    "date": ("param", "low", "high"),
    "reference": ("param", "target_type", "target_id", "target_url", "id_system", "id_value"),
    "number": ("param", "value", "system", "code", "unit"),
}


def index_rows(resource: dict[str, Any], params: dict[str, SearchParam]) -> dict[str, list[Row]]:
    """Rows for every index table, keyed by table name ("token", "string", ...), under `params`."""
    tuples = _Extractor(params).tuples(resource)
    return {table: [_as_row(table, row) for row in rows] for table, rows in tuples.items()}


def _as_row(table: str, values: tuple[Any, ...], with_param: bool = True) -> Row:
    columns = COLUMNS[table] if with_param else COLUMNS[table][1:]
    return dict(zip(columns, values, strict=True))


def _rows_of(table: str, maker: Callable[[Any, Made], None], value: Any) -> Iterator[Row]:
    made: Made = []
    maker(value, made)
    return (_as_row(table, row, with_param=False) for row in made)


# The rows of one value as dicts of their columns (what index_rows shows, without "param").
def token_rows(value: Any) -> Iterator[Row]:
    return _rows_of("token", token_values, value)


def string_rows(value: Any) -> Iterator[Row]:
    return _rows_of("string", string_values, value)


def date_rows(value: Any) -> Iterator[Row]:
    return _rows_of("date", date_values, value)


def reference_rows(value: Any) -> Iterator[Row]:
    return _rows_of("reference", reference_values, value)


def number_rows(value: Any) -> Iterator[Row]:
    return _rows_of("number", number_values, value)
