"""Pull search-index values out of a resource (pure: dict in, rows out).

Each search parameter names element paths; the values found there are turned into rows for the
index table of the parameter's type, by the shape of the FHIR datatype found (a CodeableConcept
gives one token per coding, a HumanName one string per part, a Period one date range, ...).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from typing import Any

from closer.store.dates import MAX_US, MIN_US, BadDate, date_range
from closer.store.searchparams import SearchParam

Row = dict[str, Any]
TOKEN_MAX = 512
STRING_NORM_MAX = 256
_CONTACT_SYSTEMS = frozenset({"phone", "fax", "email", "pager", "url", "sms", "other"})


def normalise(text: str) -> str:
    """Case- and accent-insensitive form used by string search."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())[:STRING_NORM_MAX]


def clip(text: str | None, limit: int = TOKEN_MAX) -> str | None:
    return None if text is None else text[:limit]


def values_at(resource: Any, path: str | tuple[str, ...]) -> Iterator[Any]:
    """Every value at an element path (dotted, or already split), walking through lists at any level."""
    current: list[Any] = [resource]
    for part in path.split(".") if isinstance(path, str) else path:
        following: list[Any] = []
        for node in current:
            if isinstance(node, dict) and part in node:
                value = node[part]
                following.extend(value if isinstance(value, list) else [value])
        current = following
    yield from current


def param_values(resource: dict[str, Any], param: SearchParam) -> Iterator[Any]:
    for parts in param.split_paths:
        if parts[0] not in resource:  # most params of a type find nothing in a given resource
            continue
        for value in values_at(resource, parts):
            if param.where and not all(isinstance(value, dict) and value.get(k) == v for k, v in param.where):
                continue
            yield value


def index_rows(resource: dict[str, Any], params: dict[str, SearchParam]) -> dict[str, list[Row]]:
    """Rows for every index table, keyed by table name ("token", "string", ...)."""
    rows: dict[str, list[Row]] = {"token": [], "string": [], "date": [], "reference": [], "number": []}
    for param in params.values():
        if not any(parts[0] in resource for parts in param.split_paths):
            continue
        table = "number" if param.type == "quantity" else "token" if param.type == "uri" else param.type
        seen: set[tuple[Any, ...]] = set()
        for value in param_values(resource, param):
            for row in _ROW_MAKERS[param.type](value):
                if row.get("target_type") and not param.accepts_target(row["target_type"]):
                    continue  # e.g. `patient` is subject.where(resolve() is Patient)
                key = tuple(row.values())
                if key not in seen:
                    seen.add(key)
                    rows[table].append({"param": param.name, **row})
    return rows


def token_rows(value: Any) -> Iterator[Row]:
    if isinstance(value, bool):
        yield {"system": None, "code": "true" if value else "false"}
    elif isinstance(value, str | int):
        yield {"system": None, "code": clip(str(value))}
    elif isinstance(value, dict):
        if "coding" in value:
            for coding in value.get("coding") or []:
                yield from token_rows(coding)
        elif "code" in value and isinstance(value["code"], str):
            yield {"system": clip(value.get("system")), "code": clip(value["code"])}
        elif "value" in value and isinstance(value["value"], str):
            system = value.get("system")
            if system in _CONTACT_SYSTEMS:  # a ContactPoint: search by the number or address itself
                system = None
            yield {"system": clip(system), "code": clip(value["value"])}


def uri_rows(value: Any) -> Iterator[Row]:
    if isinstance(value, str):
        yield {"system": None, "code": clip(value)}


def string_rows(value: Any) -> Iterator[Row]:
    if isinstance(value, str):
        yield {"norm": normalise(value), "raw": value}
    elif isinstance(value, dict):
        for key in (
            "text",
            "family",
            "given",
            "prefix",
            "suffix",
            "line",
            "city",
            "district",
            "state",
            "postalCode",
            "country",
            "display",
            "name",
        ):
            part = value.get(key)
            for text in part if isinstance(part, list) else [part]:
                if isinstance(text, str):
                    yield {"norm": normalise(text), "raw": text}


def date_rows(value: Any) -> Iterator[Row]:
    try:
        if isinstance(value, str):
            low, high = date_range(value)
            yield {"low": low, "high": high}
        elif isinstance(value, dict) and ("start" in value or "end" in value):
            low = date_range(value["start"])[0] if "start" in value else MIN_US
            high = date_range(value["end"])[1] if "end" in value else MAX_US
            yield {"low": low, "high": high}
    except BadDate:
        return  # structure validation rejects bad dates before indexing; nothing to index here


def reference_rows(value: Any) -> Iterator[Row]:
    if isinstance(value, str):  # canonical
        yield _reference_row(target_url=clip(value))
        return
    if not isinstance(value, dict):
        return
    ref = value.get("reference")
    if isinstance(ref, str) and not ref.startswith("#"):
        parts = ref.split("/")
        if "://" not in ref and len(parts) >= 2:
            base = parts[-4:-2] if len(parts) >= 4 and parts[-2] == "_history" else parts[-2:]
            yield _reference_row(target_type=base[0], target_id=base[1])
        else:
            yield _reference_row(target_url=clip(ref))
    identifier = value.get("identifier")
    if isinstance(identifier, dict) and isinstance(identifier.get("value"), str):
        yield _reference_row(id_system=clip(identifier.get("system")), id_value=clip(identifier["value"]))


def _reference_row(**values: Any) -> Row:
    row: Row = {
        "target_type": None,
        "target_id": None,
        "target_url": None,
        "id_system": None,
        "id_value": None,
    }
    row.update(values)
    return row


def number_rows(value: Any) -> Iterator[Row]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        yield {"value": float(value), "system": None, "code": None, "unit": None}
    elif isinstance(value, dict) and isinstance(value.get("value"), int | float):
        yield {
            "value": float(value["value"]),
            "system": clip(value.get("system")),
            "code": clip(value.get("code"), 128),
            "unit": clip(value.get("unit"), 128),
        }


_ROW_MAKERS = {
    "token": token_rows,
    "uri": uri_rows,
    "string": string_rows,
    "date": date_rows,
    "reference": reference_rows,
    "quantity": number_rows,
    "number": number_rows,
}
