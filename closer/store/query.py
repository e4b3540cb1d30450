"""Parse FHIR search query parameters into a structured query (pure: no SQL, no Flask).

The SQL layer turns a `SearchQuery` into a statement; keeping parsing here means the rules of FHIR
search syntax (prefixes, modifiers, chains, result parameters) can be tested without a database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from closer.errors import FhirError, invalid
from closer.store.dates import BadDate, date_range
from closer.store.searchparams import SearchParam, params_for

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
MODIFIERS = {
    "token": {"not", "missing"},
    "uri": {"missing"},
    "string": {"exact", "contains", "missing"},
    "date": {"missing"},
    "reference": {"identifier", "missing"},
    "quantity": {"missing"},
    "number": {"missing"},
}
RESULT_PARAMS = {
    "_count",
    "_offset",
    "_sort",
    "_include",
    "_revinclude",
    "_summary",
    "_elements",
    "_total",
    "_format",
    "_pretty",
}
SUMMARY_MODES = {"true", "false", "text", "data", "count"}
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class DateValue:
    prefix: str
    low: int
    high: int


@dataclass(frozen=True)
class NumberValue:
    prefix: str
    value: float
    low: float  # the range the value's precision implies, for eq/ne
    high: float
    system: str | None = None
    code: str | None = None


@dataclass(frozen=True)
class TokenValue:
    system: str | None  # None: any system
    code: str | None  # None: any code in the system ("system|")
    no_system: bool = False  # "|code": only codes without a system


@dataclass(frozen=True)
class ReferenceValue:
    target_type: str | None
    target_id: str | None = None
    url: str | None = None


Value = DateValue | NumberValue | TokenValue | ReferenceValue | str


@dataclass
class Criterion:
    """One search parameter with its OR-ed values; `chain` holds the criterion on the referenced type."""

    param: SearchParam | None  # None for the common _id / _lastUpdated parameters
    name: str
    modifier: str | None
    values: list[Value]
    chain: Criterion | None = None
    chain_type: str | None = None
    missing: bool | None = None


@dataclass(frozen=True)
class Include:
    source_type: str  # "*" for any type
    param: str  # "*" for every reference parameter
    target_type: str | None = None


@dataclass
class SearchQuery:
    resource_type: str
    criteria: list[Criterion] = field(default_factory=list)
    count: int = 20
    offset: int = 0
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (param, descending)
    includes: list[Include] = field(default_factory=list)
    revincludes: list[Include] = field(default_factory=list)
    summary: str | None = None
    elements: list[str] = field(default_factory=list)
    total: str = "accurate"
    unknown: list[str] = field(default_factory=list)  # params ignored under lenient handling


def parse_search(
    resource_type: str,
    items: Iterable[tuple[str, str]],
    *,
    strict: bool = False,
    default_count: int = 20,
    max_count: int = 1000,
) -> SearchQuery:
    """Build a SearchQuery from (name, value) pairs as they appear in the query string."""
    query = SearchQuery(resource_type, count=default_count)
    for raw_name, raw_value in items:
        if raw_name in RESULT_PARAMS:
            _apply_result_param(query, raw_name, raw_value, max_count)
            continue
        try:
            criterion = parse_criterion(resource_type, raw_name, raw_value)
        except UnknownParameter as exc:
            if strict:
                raise FhirError(str(exc), 400, "not-supported") from None
            query.unknown.append(raw_name)
            continue
        query.criteria.append(criterion)
    return query


class UnknownParameter(Exception):
    """A search parameter this server does not know for the resource type."""


def parse_criterion(resource_type: str, raw_name: str, raw_value: str) -> Criterion:
    name, _, rest = raw_name.partition(".")
    name, _, modifier_text = name.partition(":")
    modifier = modifier_text or None
    if name in ("_id", "_lastUpdated"):
        if rest or (modifier and modifier != "missing"):
            raise invalid(f"Modifier or chain not supported on {name}")
        kind = "token" if name == "_id" else "date"
        values = [_parse_value(kind, v, name) for v in split_values(raw_value)]
        if name == "_id":
            values = [v.code for v in values if isinstance(v, TokenValue) and v.code]
        return Criterion(None, name, None, values)
    param = params_for(resource_type).get(name)
    if param is None:
        raise UnknownParameter(f"Unknown search parameter '{name}' for resource type {resource_type}")
    if rest:
        return _chained(param, modifier, rest, raw_value)
    if modifier == "missing":
        if raw_value not in ("true", "false"):
            raise invalid(f"{raw_name} must be true or false")
        return Criterion(param, name, modifier, [], missing=raw_value == "true")
    if modifier is not None and modifier not in MODIFIERS[param.type]:
        if param.type == "reference" and modifier in param.targets:
            values = [_parse_reference(v, modifier) for v in split_values(raw_value)]
            return Criterion(param, name, None, list(values))
        raise FhirError(
            f"Modifier ':{modifier}' is not supported on {param.type} parameter '{name}'", 400, "not-supported"
        )
    if param.type == "reference" and modifier == "identifier":
        return Criterion(param, name, modifier, [_parse_value("token", v, name) for v in split_values(raw_value)])
    kind = param.type
    values = [
        _parse_reference(v, None) if kind == "reference" else _parse_value(kind, v, name)
        for v in split_values(raw_value)
    ]
    return Criterion(param, name, modifier, list(values))


def _chained(param: SearchParam, modifier: str | None, rest: str, raw_value: str) -> Criterion:
    if param.type != "reference":
        raise invalid(f"'{param.name}' is not a reference parameter and cannot be chained")
    if modifier and modifier not in param.targets:
        raise FhirError(
            f"Chain type ':{modifier}' is not a target of reference parameter '{param.name}'", 400, "not-supported"
        )
    targets = [modifier] if modifier else list(param.targets)
    if len(targets) != 1:
        raise invalid(f"Chain on '{param.name}' is ambiguous: add a type, e.g. {param.name}:{targets[0]}.{rest}")
    inner = parse_criterion(targets[0], rest, raw_value)
    return Criterion(param, param.name, None, [], chain=inner, chain_type=targets[0])


def split_values(raw: str) -> list[str]:
    """Split OR-ed values on the commas that are not escaped as \\,.

    The parts keep their escapes (\\, \\| \\$ \\\\) so a token can still tell an escaped `|` from
    the system separator; the value parsers remove them with `unescape`.
    """
    return [p for p in _split_escaped(raw, ",") if p != ""] or [""]


def _split_escaped(raw: str, separator: str, maxsplit: int = -1) -> list[str]:
    """Split on `separator` where it is not preceded by an escaping backslash; escapes are kept."""
    parts: list[str] = []
    current: list[str] = []
    chars = iter(raw)
    for char in chars:
        if char == "\\":
            current.append(char + next(chars, ""))
        elif char == separator and maxsplit != len(parts):
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def unescape(text: str) -> str:
    """Remove the search escapes: a backslash makes the next character literal."""
    return re.sub(r"\\(.)", r"\1", text, flags=re.DOTALL)


def _parse_value(kind: str, raw: str, name: str) -> Value:
    if kind in ("token", "uri"):
        if kind == "uri":
            return TokenValue(None, unescape(raw))
        pieces = _split_escaped(raw, "|", maxsplit=1)
        if len(pieces) == 2:
            system, code = unescape(pieces[0]), unescape(pieces[1])
            return TokenValue(system or None, code or None, no_system=system == "")
        return TokenValue(None, unescape(raw))
    if kind == "string":
        return unescape(raw)
    prefix, text = _prefix(raw)
    if kind == "date":
        try:
            low, high = date_range(text)
        except BadDate as exc:
            raise invalid(f"Invalid date in search parameter '{name}': {exc}") from None
        return DateValue(prefix, low, high)
    if kind in ("quantity", "number"):
        number_text, *unit = [unescape(piece) for piece in _split_escaped(text, "|")]
        if not _NUMBER.match(number_text):
            raise invalid(f"Invalid number '{number_text}' in search parameter '{name}'")
        value = float(number_text)
        half = _half_precision(number_text)
        unit_system: str | None = (unit[0] or None) if unit else None
        unit_code: str | None = (unit[1] or None) if len(unit) > 1 else None
        return NumberValue(prefix, value, value - half, value + half, unit_system, unit_code)
    raise invalid(f"Unsupported parameter type {kind}")


def _prefix(raw: str) -> tuple[str, str]:
    if len(raw) > 2 and raw[:2] in PREFIXES and (raw[2].isdigit() or raw[2] in "-+."):
        return raw[:2], raw[2:]
    return "eq", raw


def _half_precision(number_text: str) -> float:
    mantissa = number_text.lower().split("e")[0]
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    exponent = int(number_text.lower().split("e")[1]) if "e" in number_text.lower() else 0
    return 0.5 * 10 ** (exponent - decimals)


def _parse_reference(raw: str, type_modifier: str | None) -> ReferenceValue:
    raw = unescape(raw)
    if "://" in raw:
        parts = raw.rstrip("/").split("/")
        return ReferenceValue(parts[-2] if len(parts) >= 2 else None, parts[-1], url=raw)
    if "/" in raw:
        target_type, _, target_id = raw.partition("/")
        if type_modifier and target_type != type_modifier:
            raise invalid(f"Reference '{raw}' does not match the type modifier :{type_modifier}")
        return ReferenceValue(target_type, target_id)
    return ReferenceValue(type_modifier, raw)


def _apply_result_param(query: SearchQuery, name: str, value: str, max_count: int) -> None:
    if name == "_count":
        query.count = min(_non_negative(name, value), max_count)
    elif name == "_offset":
        query.offset = _non_negative(name, value)
    elif name == "_sort":
        query.sort = [(p.lstrip("-"), p.startswith("-")) for p in value.split(",") if p.strip("-")]
        for param, _desc in query.sort:
            if param not in ("_id", "_lastUpdated") and param not in params_for(query.resource_type):
                raise invalid(f"Cannot sort by unknown parameter '{param}'")
    elif name in ("_include", "_revinclude"):
        include = _parse_include(value, name)
        (query.includes if name == "_include" else query.revincludes).append(include)
    elif name == "_summary":
        if value not in SUMMARY_MODES:
            raise invalid(f"_summary must be one of {', '.join(sorted(SUMMARY_MODES))}")
        query.summary = value
    elif name == "_elements":
        query.elements = [e.strip() for e in value.split(",") if e.strip()]
    elif name == "_total":
        if value not in ("none", "estimate", "accurate"):
            raise invalid("_total must be none, estimate or accurate")
        query.total = value


def _non_negative(name: str, value: str) -> int:
    if not value.isdigit():
        raise invalid(f"{name} must be a non-negative integer, got '{value}'")
    return int(value)


def _parse_include(value: str, name: str) -> Include:
    if value == "*":
        return Include("*", "*")
    parts = value.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise invalid(f"{name} must look like Type:param or Type:param:TargetType, got '{value}'")
    source, param = parts[0], parts[1]
    if source != "*" and param != "*":
        known = params_for(source).get(param)
        if known is None or known.type != "reference":
            raise invalid(f"{name}: '{param}' is not a reference search parameter of {source}")
    return Include(source, param, parts[2] if len(parts) == 3 else None)
