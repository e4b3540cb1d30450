"""Pull search-index values out of a resource (pure: dict in, rows out).

Each search parameter names element paths; the values found there are turned into rows for the
index table of the parameter's type, by the shape of the FHIR datatype found (a CodeableConcept
gives one token per coding, a HumanName one string per part, a Period one date range, ...).
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable, Iterator
from typing import Any

from closer.fhir.validate import Validated, validate_resource
from closer.store.dates import MAX_US, MIN_US, BadDate, date_range
from closer.store.schema import INDEX_TABLES
from closer.store.searchparams import SearchParam, params_for

TOKEN_MAX = 512
STRING_NORM_MAX = 256
_CONTACT_SYSTEMS = frozenset({"phone", "fax", "email", "pager", "url", "sms", "other"})


def normalise(text: str) -> str:
    """Case- and accent-insensitive form used by string search."""
    if text.isascii():  # NFKD leaves ASCII as it is and it has no combining marks: skip that work
        return " ".join(text.lower().split())[:STRING_NORM_MAX]
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


TABLE_OF = {kind: table.name.removeprefix("idx_") for kind, table in INDEX_TABLES.items()}  # param type -> table
Tuples = dict[str, list[tuple[Any, ...]]]


class _Group:
    """Params of one resource type that read the same paths with the same filter and datatype (`patient`
    and `subject`, `participant` and `practitioner`): their values are found and made into rows once, and
    only the reference target check differs between them."""

    __slots__ = ("maker", "params", "paths", "table", "where")

    def __init__(self, param: SearchParam) -> None:
        self.paths = param.split_paths
        self.where = param.where
        self.table = TABLE_OF[param.type]
        self.maker = _VALUE_MAKERS[param.type]
        self.params: list[SearchParam] = []


class _Extractor:
    """One resource type's search params, arranged so a resource visits only the params whose first path
    element it has (most params of a type find nothing in a given resource)."""

    def __init__(self, params: dict[str, SearchParam]) -> None:
        groups: dict[tuple[Any, ...], _Group] = {}
        for param in params.values():
            key = (param.split_paths, param.where, param.type)
            groups.setdefault(key, _Group(param)).params.append(param)
        self.groups = list(groups.values())
        self.roots: dict[str, list[int]] = {}  # first path element -> positions of the groups that start there
        for position, group in enumerate(self.groups):
            for root in dict.fromkeys(parts[0] for parts in group.paths):
                self.roots.setdefault(root, []).append(position)

    def tuples(self, resource: dict[str, Any]) -> Tuples:
        """Rows as (param, *values) tuples for every index table, keyed by table name."""
        rows: Tuples = {"token": [], "string": [], "date": [], "reference": [], "number": []}
        touched: set[int] = set()
        for root in self.roots.keys() & resource.keys():
            touched.update(self.roots[root])
        for position in sorted(touched):
            group = self.groups[position]
            found = _group_rows(resource, group)
            if not found:
                continue
            out = rows[group.table]
            for param in group.params:
                if group.table == "reference":  # e.g. `patient` is subject.where(resolve() is Patient)
                    out.extend((param.name, *v) for v in found if not v[0] or param.accepts_target(v[0]))
                else:
                    out.extend((param.name, *v) for v in found)
        return rows


def _group_rows(resource: dict[str, Any], group: _Group) -> list[tuple[Any, ...]]:
    """The distinct rows of the values at the group's paths, in order of first appearance."""
    made: list[tuple[Any, ...]] = []
    maker, where = group.maker, group.where
    for parts in group.paths:
        if parts[0] not in resource:
            continue
        if len(parts) == 1:  # the common case, without the general walk
            value = resource[parts[0]]
            values = value if type(value) is list else [value]
        else:
            values = list(values_at(resource, parts))
        for value in values:
            if where and not all(isinstance(value, dict) and value.get(k) == v for k, v in where):
                continue
            maker(value, made)
    return list(dict.fromkeys(made)) if len(made) > 1 else made


class Prepared(Validated):
    """A resource that passed validate_resource, with its index rows (index_tuples) already extracted:
    made before the write, outside the write lock or in another process, so the writer does neither
    again. Like any Validated resource it must not be changed afterwards: a changed copy is a plain dict.
    The rows do not depend on `meta`, which the store sets when it writes (no search path enters it)."""

    index: Tuples


def prepare(resource: dict[str, Any]) -> Prepared:
    """Validate the resource (raising the usual 400/422 FhirError) and extract its index rows."""
    prepared = Prepared(validate_resource(resource))
    prepared.index = index_tuples(prepared)
    return prepared


@functools.cache
def _extractor(resource_type: str) -> _Extractor:
    return _Extractor(params_for(resource_type))


def index_tuples(resource: dict[str, Any]) -> Tuples:
    """The index rows of a resource under our search parameter table, as tuples of each index table's
    columns after res_type and res_id, keyed by table name."""
    return _extractor(resource["resourceType"]).tuples(resource)


# Row makers: each appends the rows of one value to `out`, as tuples of the table's columns after "param".
Made = list[tuple[Any, ...]]


def token_values(value: Any, out: Made) -> None:
    """(system, code) rows."""
    if isinstance(value, bool):
        out.append((None, "true" if value else "false"))
    elif isinstance(value, str | int):
        out.append((None, clip(str(value))))
    elif isinstance(value, dict):
        if "coding" in value:
            for coding in value.get("coding") or []:
                token_values(coding, out)
        elif "code" in value and isinstance(value["code"], str):
            out.append((clip(value.get("system")), clip(value["code"])))
        elif "value" in value and isinstance(value["value"], str):
            system = value.get("system")
            if system in _CONTACT_SYSTEMS:  # a ContactPoint: search by the number or address itself
                system = None
            out.append((clip(system), clip(value["value"])))


def uri_values(value: Any, out: Made) -> None:
    if isinstance(value, str):
        out.append((None, clip(value)))


_STRING_PARTS = (
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
)


def string_values(value: Any, out: Made) -> None:
    """(norm, raw) rows."""
    if isinstance(value, str):
        out.append((normalise(value), value))
    elif isinstance(value, dict):
        for key in _STRING_PARTS:
            part = value.get(key)
            for text in part if isinstance(part, list) else [part]:
                if isinstance(text, str):
                    out.append((normalise(text), text))


def date_values(value: Any, out: Made) -> None:
    """(low, high) rows."""
    try:
        if isinstance(value, str):
            out.append(date_range(value))
        elif isinstance(value, dict) and ("start" in value or "end" in value):
            low = date_range(value["start"])[0] if "start" in value else MIN_US
            high = date_range(value["end"])[1] if "end" in value else MAX_US
            out.append((low, high))
    except BadDate:
        return  # structure validation rejects bad dates before indexing; nothing to index here


def reference_values(value: Any, out: Made) -> None:
    """(target_type, target_id, target_url, id_system, id_value) rows."""
    if isinstance(value, str):  # canonical
        out.append((None, None, clip(value), None, None))
        return
    if not isinstance(value, dict):
        return
    ref = value.get("reference")
    if isinstance(ref, str) and not ref.startswith("#"):
        parts = ref.split("/")
        if "://" not in ref and len(parts) >= 2:
            base = parts[-4:-2] if len(parts) >= 4 and parts[-2] == "_history" else parts[-2:]
            out.append((base[0], base[1], None, None, None))
        else:
            out.append((None, None, clip(ref), None, None))
    identifier = value.get("identifier")
    if isinstance(identifier, dict) and isinstance(identifier.get("value"), str):
        out.append((None, None, None, clip(identifier.get("system")), clip(identifier["value"])))


def number_values(value: Any, out: Made) -> None:
    """(value, system, code, unit) rows."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        out.append((float(value), None, None, None))
    elif isinstance(value, dict) and isinstance(value.get("value"), int | float):
        out.append(
            (
                float(value["value"]),
                clip(value.get("system")),
                clip(value.get("code"), 128),
                clip(value.get("unit"), 128),
            )
        )


_VALUE_MAKERS: dict[str, Callable[[Any, Made], None]] = {
    "token": token_values,
    "uri": uri_values,
    "string": string_values,
    "date": date_values,
    "reference": reference_values,
    "quantity": number_values,
    "number": number_values,
}
