"""SMART v1 system scopes (`system/Flag.read`, `system/*.write`, `system/CarePlan.*`): parsing and matching.

Pure code: no Flask, no SQL. A granted scope covers a wanted one when its resource type is the same or
`*`, and its mode is the same or `*`. `system/*.read` therefore covers `system/Flag.read`, and
`system/Flag.*` covers both `system/Flag.read` and `system/Flag.write`, but `system/Flag.read` covers
neither `system/*.read` nor `system/Flag.*`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

READ = "read"
WRITE = "write"
ANY = "*"
MODES = (READ, WRITE, ANY)
_SCOPE = re.compile(r"^system/(?P<type>\*|[A-Z][A-Za-z]{1,63})\.(?P<mode>read|write|\*)$")


class ScopeError(ValueError):
    """A scope that is not a SMART v1 system scope, or names a resource type this server does not serve."""


@dataclass(frozen=True, order=True)
class Scope:
    resource_type: str  # a resource type, or "*"
    mode: str  # "read", "write" or "*"

    def __str__(self) -> str:
        return f"system/{self.resource_type}.{self.mode}"

    def covers(self, other: Scope) -> bool:
        """True when whoever holds this scope may do everything `other` allows."""
        type_ok = self.resource_type == ANY or self.resource_type == other.resource_type
        mode_ok = self.mode == ANY or self.mode == other.mode
        return type_ok and mode_ok

    def allows(self, resource_type: str, mode: str) -> bool:
        """True when this scope permits `mode` ("read" or "write") on `resource_type`."""
        return self.covers(Scope(resource_type, mode))


def parse_scope(text: str, known_types: Collection[str] | None = None) -> Scope:
    found = _SCOPE.match(text)
    if found is None:
        raise ScopeError(
            f"'{text}' is not a SMART system scope: write system/<ResourceType or *>.<read, write or *>, "
            "e.g. system/Flag.read"
        )
    scope = Scope(found["type"], found["mode"])
    if known_types is not None and scope.resource_type != ANY and scope.resource_type not in known_types:
        raise ScopeError(f"'{text}' names {scope.resource_type}, which is not a resource type this server serves")
    return scope


def parse_scopes(text: str | Iterable[str], known_types: Collection[str] | None = None) -> tuple[Scope, ...]:
    """Space-separated scopes (an OAuth `scope` parameter) or a list of them, in order, without repeats."""
    items = text.split() if isinstance(text, str) else [part for item in text for part in item.split()]
    out: list[Scope] = []
    for item in items:
        scope = parse_scope(item, known_types)
        if scope not in out:
            out.append(scope)
    return tuple(out)


def format_scopes(scopes: Iterable[Scope]) -> str:
    return " ".join(str(s) for s in scopes)


def covered(granted: Iterable[Scope], wanted: Scope) -> bool:
    return any(g.covers(wanted) for g in granted)


def not_covered(granted: Iterable[Scope], wanted: Iterable[Scope]) -> list[Scope]:
    """The wanted scopes no granted scope covers (empty when `wanted` is a subset of `granted`)."""
    held = tuple(granted)
    return [w for w in wanted if not covered(held, w)]


def permits(granted: Iterable[Scope], resource_type: str, mode: str) -> bool:
    """True when the scopes permit `mode` ("read" or "write") on `resource_type`."""
    if mode not in (READ, WRITE):
        raise ValueError(f"mode must be 'read' or 'write', not {mode!r}")
    return any(g.allows(resource_type, mode) for g in granted)
