"""FHIR operations (`$name`) as plugins, free of Flask.

An operation is an `Operation` value registered in the `closer.operations` entry point group (built-ins
too), so a plugin package adds `$something` without touching the host. The routes find the operation by
name, turn the request into an `OperationCall` (the input Parameters already parsed into a small
multi-dict of Python values) and render the `Reply` its handler returns.

Operation names are unique across the server: each one is published under one canonical,
CANONICAL_BASE/OperationDefinition/<name>, so two operations with one name would claim one definition.
A duplicate, a plugin that cannot be loaded or an operation that names an unknown resource type stops
start-up: a server silently missing `$sign-off` would answer 404s that look like the caller's fault.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from closer.api.interactions import Reply
from closer.errors import FhirError, invalid, not_found
from closer.settings import Settings
from closer.store.repository import Repository
from closer.store.searchparams import SEARCH_PARAMS
from fhir_profiles.canonical import CANONICAL_BASE

ENTRY_POINT_GROUP = "closer.operations"
OPERATION_DEFINITION_BASE = f"{CANONICAL_BASE}/OperationDefinition"
HTTP_METHODS = ("GET", "POST")
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
DATE_PATTERN = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")
Resource = dict[str, Any]

# value[x] types whose JSON is a string, and the numeric ones; every other type is a complex datatype (dict).
STRING_TYPES = frozenset(
    {
        "String",
        "Code",
        "Id",
        "Uri",
        "Url",
        "Canonical",
        "Oid",
        "Uuid",
        "Markdown",
        "Base64Binary",
        "Time",
        "DateTime",
        "Instant",
    }
)
INTEGER_TYPES = frozenset({"Integer", "PositiveInt", "UnsignedInt"})


class OperationRegistryError(RuntimeError):
    """The registered operations cannot all be served (duplicate name, broken plugin); fix and restart."""


def param_expression(name: str) -> str:
    """The FHIRPath of an input parameter, for OperationOutcome.issue.expression."""
    return f"Parameters.parameter.where(name = '{name}')"


@dataclass(frozen=True)
class Params:
    """The input parameters of one call, in order, as (name, value) pairs; a name may repeat.

    Values are Python values: str for string-like types (string, code, uri, dateTime...), `date` for a
    full valueDate (a partial one stays a str), bool, int, float, dict for complex types (Reference,
    Identifier, Coding...) and for a `resource`, and a nested Params for `part`. Query parameters of a
    GET are all str; the typed accessors below read both forms, so handlers need not care which it was.
    """

    items: tuple[tuple[str, Any], ...] = ()

    def names(self) -> set[str]:
        return {name for name, _ in self.items}

    def all(self, name: str) -> list[Any]:
        return [value for key, value in self.items if key == name]

    def one(self, name: str, *, required: bool = False) -> Any:
        """The single value of `name` (None if absent); 400 if it is missing but required, or repeated."""
        values = self.all(name)
        if len(values) > 1:
            raise invalid(
                f"Parameter '{name}' is given {len(values)} times; it takes one value", param_expression(name)
            )
        if not values:
            if required:
                raise invalid(f"Parameter '{name}' is required", param_expression(name))
            return None
        return values[0]

    def text(self, name: str, *, required: bool = False) -> str | None:
        """A string-like value, stripped; an empty one counts as absent."""
        value = self.one(name, required=required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise invalid(f"Parameter '{name}' must be a string value", param_expression(name))
        if not value.strip():
            if required:
                raise invalid(f"Parameter '{name}' must not be empty", param_expression(name))
            return None
        return value.strip()

    def day(self, name: str, *, required: bool = False) -> date | None:
        """A full date (YYYY-MM-DD), from a valueDate or a query string."""
        value = self.one(name, required=required)
        if value is None or isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise invalid(
                f"Parameter '{name}' must be a full date (YYYY-MM-DD), not '{value}'", param_expression(name)
            ) from None

    def reference(self, name: str, *, required: bool = False) -> str | None:
        """A literal reference 'Type/id', from a valueReference or a query string."""
        value = self.one(name, required=required)
        if value is None:
            return None
        text = value.get("reference") if isinstance(value, dict) else value
        if not isinstance(text, str) or not re.fullmatch(r"[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}", text):
            raise invalid(
                f"Parameter '{name}' must be a literal reference 'Type/id', not {text!r}", param_expression(name)
            )
        return text

    def identifier(self, name: str, *, required: bool = False) -> tuple[str | None, str] | None:
        """(system, value) from a valueIdentifier, or from 'system|value' or a bare value in a string."""
        value = self.one(name, required=required)
        if value is None:
            return None
        if isinstance(value, dict):
            system, found = value.get("system"), value.get("value")
        elif isinstance(value, str):
            system, bar, found = value.rpartition("|")
            system = system if bar else None
        else:
            system, found = None, None
        if not isinstance(found, str) or not found.strip():
            raise invalid(f"Parameter '{name}' must be an identifier with a value", param_expression(name))
        return (str(system) if system else None), found.strip()


def parse_parameters(body: Any) -> Params:
    """A Parameters resource as Params; 400 naming the parameter for anything we cannot read."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        kind = body.get("resourceType") if isinstance(body, dict) else type(body).__name__
        raise invalid(f"The body of an operation must be a Parameters resource, not {kind!r}", "Parameters")
    raw = body.get("parameter", [])
    if not isinstance(raw, list):
        raise invalid("Parameters.parameter must be a list", "Parameters.parameter")
    return Params(tuple(_parameters(raw, "Parameters.parameter")))


def _parameters(raw: list[Any], path: str) -> Iterator[tuple[str, Any]]:
    for index, parameter in enumerate(raw):
        where = f"{path}[{index}]"
        if not isinstance(parameter, dict):
            raise invalid(f"{where} must be an object", where)
        name = parameter.get("name")
        if not isinstance(name, str) or not name.strip():
            raise invalid(f"{where} has no name", f"{where}.name")
        values = [key for key in parameter if key.startswith("value") or key in ("resource", "part")]
        if len(values) != 1:
            raise invalid(
                f"Parameter '{name}' must have exactly one of value[x], resource or part (it has "
                f"{', '.join(values) or 'none'})",
                where,
            )
        key = values[0]
        if key == "part":
            if not isinstance(parameter["part"], list):
                raise invalid(f"Parameter '{name}': part must be a list", f"{where}.part")
            yield name, Params(tuple(_parameters(parameter["part"], f"{where}.part")))
        elif key == "resource":
            if not isinstance(parameter["resource"], dict) or "resourceType" not in parameter["resource"]:
                raise invalid(f"Parameter '{name}': resource must be a FHIR resource", f"{where}.resource")
            yield name, parameter["resource"]
        else:
            yield name, _value(name, key[len("value") :], parameter[key], f"{where}.{key}")


def _value(name: str, kind: str, value: Any, where: str) -> Any:
    """One value[x] as a Python value, after checking its JSON has the type's shape."""

    def bad(expected: str) -> FhirError:
        return invalid(f"Parameter '{name}': value{kind} must be {expected}, not {value!r}", where)

    if kind == "Date":
        if not isinstance(value, str) or not DATE_PATTERN.match(value):
            raise bad("a date (YYYY, YYYY-MM or YYYY-MM-DD)")
        try:
            return date.fromisoformat(value) if len(value) == 10 else value
        except ValueError:
            raise bad("a real calendar date") from None
    if kind in STRING_TYPES:
        if not isinstance(value, str):
            raise bad("a string")
        return value
    if kind == "Boolean":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if kind in INTEGER_TYPES:
        if not isinstance(value, int) or isinstance(value, bool):
            raise bad("a whole number")
        return value
    if kind == "Decimal":
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise bad("a number")
        return value
    if not kind or not kind[0].isupper():
        raise invalid(f"Parameter '{name}': '{where.rsplit('.', 1)[-1]}' is not a FHIR value[x] element", where)
    if not isinstance(value, dict):
        raise bad(f"a {kind} object")
    return value


def query_parameters(items: Iterable[tuple[str, str]]) -> Params:
    """Query-string parameters (GET, or alongside a POST body) as Params; _format and _pretty are not inputs."""
    return Params(tuple((k, v) for k, v in items if k not in ("_format", "_pretty")))


@dataclass(frozen=True)
class OperationCall:
    """Everything a handler gets: the store, the host settings, where it was invoked and its inputs."""

    operation: Operation
    method: str
    repository: Repository
    settings: Settings
    base: str
    resource_type: str | None
    resource_id: str | None
    params: Params
    readable: Callable[[str], bool] = lambda resource_type: True  # may the caller read this type (scopes)?

    def target(self) -> Resource:
        """The resource an instance-level operation was invoked on (404/410 if there is none)."""
        if self.resource_type is None or self.resource_id is None:
            raise invalid(f"${self.operation.name} is not invoked on a resource instance")
        return self.repository.read(self.resource_type, self.resource_id)


Handler = Callable[[OperationCall], Reply]


@dataclass(frozen=True, kw_only=True)
class Operation:
    """One operation: `$name` on a resource type (`instance` for `/<type>/<id>/$name`), or at system
    level (`resource_type` None). `inputs`, when given, lists the parameter names it accepts: any other
    is a 400, so a misspelt optional parameter is never silently ignored.

    `scopes` lists the SMART scopes a caller's token must cover to invoke it, e.g. ("system/Task.write",)
    for an operation that writes Tasks (`system/X.*` needs both read and write). None means the default:
    read on the operation's resource type for GET and write for POST (`system/*.read` / `system/*.write`
    at system level), so an operation that writes other types than its own must say so here."""

    name: str
    handler: Handler
    resource_type: str | None = None
    instance: bool = False
    methods: tuple[str, ...] = ("POST",)
    inputs: tuple[str, ...] | None = None
    documentation: str = ""
    scopes: tuple[str, ...] | None = None
    audited: bool = False  # every call is audited, an internal caller's too (not only consumers' reads)

    def required_scopes(self, method: str) -> tuple[str, ...]:
        """The SMART scopes a caller needs to invoke this operation with `method` (GET or POST)."""
        if self.scopes is not None:
            return self.scopes
        mode = "read" if method in ("GET", "HEAD") else "write"
        return (f"system/{self.resource_type or '*'}.{mode}",)

    @property
    def definition(self) -> str:
        return f"{OPERATION_DEFINITION_BASE}/{self.name}"

    @property
    def path(self) -> str:
        """Where it is invoked, e.g. /Patient/[id]/$triage."""
        if self.resource_type is None:
            return f"/${self.name}"
        return f"/{self.resource_type}{'/[id]' if self.instance else ''}/${self.name}"

    def problems(self) -> list[str]:
        """What makes this operation impossible to serve; empty when it is fine."""
        found = []
        if not NAME_PATTERN.match(self.name):
            found.append(f"'{self.name}' is not a valid operation name")
        if self.resource_type is None and self.instance:
            found.append(f"${self.name} is instance-level but names no resource type")
        if self.resource_type is not None and self.resource_type not in SEARCH_PARAMS:
            found.append(f"${self.name} is on {self.resource_type}, a resource type this server does not serve")
        if not self.methods or set(self.methods) - set(HTTP_METHODS):
            found.append(f"${self.name}: methods must be some of {', '.join(HTTP_METHODS)}, not {self.methods}")
        if not callable(self.handler):
            found.append(f"${self.name}: handler is not callable")
        if self.scopes is not None:
            from closer.auth.scopes import ScopeError, parse_scope  # here: closer.auth imports this module's users

            if isinstance(self.scopes, str) or not self.scopes:
                found.append(f"${self.name}: scopes must be a non-empty tuple of SMART scopes, or None")
            else:
                for scope in self.scopes:
                    try:
                        parse_scope(scope, SEARCH_PARAMS)
                    except ScopeError as exc:
                        found.append(f"${self.name}: {exc}")
        return found


@dataclass
class Operations:
    """The registry the routes consult: operations by name."""

    by_name: dict[str, Operation] = field(default_factory=dict)

    @classmethod
    def of(cls, operations: Iterable[Operation], sources: dict[str, str] | None = None) -> Operations:
        """Check each operation and refuse duplicate names; `sources` says where each came from."""
        registry = cls()
        where = sources or {}
        for operation in operations:
            if not isinstance(operation, Operation):
                raise OperationRegistryError(f"{operation!r} is not an Operation")
            problems = operation.problems()
            if problems:
                raise OperationRegistryError("; ".join(problems))
            if operation.name in registry.by_name:
                raise OperationRegistryError(
                    f"Two operations are named '{operation.name}': "
                    f"{where.get(operation.name, registry.by_name[operation.name].path)} and {operation.path}"
                )
            registry.by_name[operation.name] = operation
        return registry

    def all(self) -> list[Operation]:
        return sorted(self.by_name.values(), key=lambda op: op.name)

    def on_type(self, resource_type: str) -> list[Operation]:
        return [op for op in self.all() if op.resource_type == resource_type]

    def system(self) -> list[Operation]:
        return [op for op in self.all() if op.resource_type is None]

    def find(self, name: str, resource_type: str | None, instance: bool) -> Operation:
        """The operation invoked at this level, or a 404 that says where it is invoked instead."""
        operation = self.by_name.get(name)
        here = f"/{resource_type}{'/[id]' if instance else ''}/${name}" if resource_type else f"/${name}"
        if operation is None:
            raise not_found(f"Unknown operation '${name}' (invoked as {here})")
        if operation.resource_type != resource_type or operation.instance != instance:
            raise not_found(f"Operation '${name}' is not invoked as {here}; invoke it as {operation.path}")
        return operation


def load_operations(entries: Iterable[EntryPoint] | None = None) -> Operations:
    """The operations registered in the closer.operations entry point group. Each entry point's name
    must be its operation's name; a duplicate or unloadable entry point is a start-up error."""
    chosen = list(entry_points(group=ENTRY_POINT_GROUP) if entries is None else entries)
    seen: dict[str, str] = {}
    loaded: list[Operation] = []
    for entry in chosen:
        if entry.name in seen:
            raise OperationRegistryError(
                f"Two plugins register '{entry.name}' in {ENTRY_POINT_GROUP}: {seen[entry.name]} and {entry.value}"
            )
        seen[entry.name] = entry.value
        try:
            operation = entry.load()
        except Exception as exc:
            raise OperationRegistryError(
                f"{ENTRY_POINT_GROUP} '{entry.name}': {entry.value} could not be loaded: {exc}"
            ) from exc
        if not isinstance(operation, Operation):
            raise OperationRegistryError(f"{ENTRY_POINT_GROUP} '{entry.name}': {entry.value} is not an Operation")
        if operation.name != entry.name:
            raise OperationRegistryError(
                f"{ENTRY_POINT_GROUP} '{entry.name}': {entry.value} is the operation '{operation.name}'; "
                "the entry point must carry the operation's name"
            )
        loaded.append(operation)
    return Operations.of(loaded, seen)


def invoke(
    operation: Operation,
    method: str,
    *,
    repository: Repository,
    settings: Settings,
    base: str,
    resource_type: str | None,
    resource_id: str | None,
    params: Params,
    readable: Callable[[str], bool] | None = None,
) -> Reply:
    """Check the inputs against what the operation accepts and run its handler."""
    if operation.inputs is not None:
        unknown = sorted(params.names() - set(operation.inputs))
        if unknown:
            raise invalid(
                f"Unknown parameter '{unknown[0]}' for ${operation.name} "
                f"(it takes {', '.join(operation.inputs) or 'none'})",
                param_expression(unknown[0]),
            )
    call = OperationCall(operation, method, repository, settings, base, resource_type, resource_id, params)
    if readable is not None:
        call = replace(call, readable=readable)
    return operation.handler(call)
