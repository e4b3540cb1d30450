"""What a mapped feed row asks of the store, and the field checks row-based feeds share. Pure: no IO.

A mapping turns one row into a `RowPlan` or raises `RowError` with a message that names the column and
the value, so the person fixing the extract knows exactly what to change. The loader (`csvload`)
carries each plan out atomically (a savepoint per row inside a transaction per batch of rows).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from adapters.localtime import BadTimestamp, parse_iso_local
from fhir_profiles.nhs_number import is_valid_nhs_number

JSON = dict[str, Any]
Row = Mapping[str, str]

# What the extracts promise: a date, or a date and a time (minutes or seconds), optionally with an offset.
# parse_iso_local alone would also take compact forms such as 20240301 and turn them into midnight.
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})?)?$")
_ODS = re.compile(r"^[A-Z0-9]{3,10}$")


class RowError(ValueError):
    """A row that cannot be stored; the message names the column and value at fault."""


@dataclass(frozen=True)
class Amend:
    """Change a resource that must already exist (e.g. mark a Patient deceased) and keep the rest of it.
    `change` gets the stored resource and returns it as it should be (unchanged means no write)."""

    resource_type: str
    resource_id: str
    change: Callable[[JSON], JSON]


@dataclass(frozen=True)
class Supersede:
    """Resources found by `search` that this row no longer lists (id not in `keep`) get `change` applied,
    so a record dropped from a re-sent row is retracted rather than left behind."""

    resource_type: str
    search: tuple[tuple[str, str], ...]
    keep: frozenset[str]
    change: Callable[[JSON], JSON]
    # The record the superseded resources hang off (e.g. the spell's Encounter). When it did not exist
    # before this row, there is nothing to supersede and the search is skipped.
    anchor: tuple[str, str] | None = None


@dataclass
class RowPlan:
    """Everything one row writes. `key` names the source record, to spot the same record twice in a file."""

    key: str
    stubs: list[JSON] = field(default_factory=list)  # created only if their id is free (writing.ensure)
    resources: list[JSON] = field(default_factory=list)  # created or updated (writing.put)
    amendments: list[Amend] = field(default_factory=list)
    supersessions: list[Supersede] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # stored, with these caveats


@dataclass(frozen=True)
class Feed:
    """One kind of extract: its name in reports, the header it must have, and its row mapping."""

    name: str
    columns: tuple[str, ...]
    map_row: Callable[[Row], RowPlan]


def value(row: Row, column: str) -> str:
    return (row.get(column) or "").strip()


def required(row: Row, column: str) -> str:
    text = value(row, column)
    if not text:
        raise RowError(f"{column} is missing")
    return text


def nhs_number(row: Row, column: str = "nhs_number") -> str:
    """The NHS number with spaces removed, or a RowError saying why it is not one."""
    raw = required(row, column)
    number = raw.replace(" ", "")
    if not number.isascii() or not number.isdigit() or len(number) != 10:
        raise RowError(f"{column} '{raw}' is not an NHS number (10 digits)")
    if not is_valid_nhs_number(number):
        raise RowError(f"{column} '{raw}' fails the NHS number Modulus 11 check digit")
    return number


def ods_code(row: Row, column: str) -> str:
    raw = required(row, column)
    code = raw.upper()
    if not _ODS.match(code):
        raise RowError(f"{column} '{raw}' is not an ODS code (3 to 10 letters and digits)")
    return code


def when(row: Row, column: str, *, needed: bool = False) -> str | None:
    """A FHIR date or dateTime from an ISO column (naive times are Europe/London); None when blank."""
    raw = required(row, column) if needed else value(row, column)
    if not raw:
        return None
    if not _ISO.match(raw):
        raise RowError(f"{column} '{raw}' is not an ISO 8601 date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM[:SS])")
    try:
        return parse_iso_local(raw)
    except BadTimestamp:
        raise RowError(f"{column} '{raw}' is not a real date or time") from None


def check_order(first_column: str, first: str, then_column: str, then: str | None) -> None:
    """Refuse an end before its start. A date-only side is compared by day, so a discharge on the day of
    a timed admission is fine."""
    if then is None:
        return
    if len(first) == 10 or len(then) == 10:
        earlier = date.fromisoformat(then[:10]) < date.fromisoformat(first[:10])
    else:
        earlier = datetime.fromisoformat(then) < datetime.fromisoformat(first)
    if earlier:
        raise RowError(f"{then_column} {then} is before {first_column} {first}")


def reference(resource_type: str, resource_id: str) -> JSON:
    return {"reference": f"{resource_type}/{resource_id}"}
