"""The Repository interface: the only way data enters or leaves the store.

Later stages wrap it (the consent-guarded repository gives consumers a filtered view), so callers
depend on this protocol, never on the SQL implementation.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from closer.store.query import SearchQuery

Resource = dict[str, Any]


@dataclass(frozen=True)
class WriteResult:
    """The stored resource after a write and what happened ("create", "update", "delete", "noop")."""

    resource: Resource
    action: str

    @property
    def created(self) -> bool:
        return self.action == "create"


@dataclass
class SearchResult:
    matches: list[Resource]
    total: int | None  # None when not counted (_total=none)
    included: list[Resource] = field(default_factory=list)
    has_more: bool = False


@dataclass(frozen=True)
class HistoryEntry:
    resource_type: str
    resource_id: str
    version: int
    last_updated: str
    method: str  # POST | PUT | DELETE
    resource: Resource | None  # None for a delete


@dataclass(frozen=True)
class OutboxEvent:
    seq: int
    resource_type: str
    resource_id: str
    version: int
    action: str


class Repository(Protocol):
    def new_id(self) -> str: ...

    def create(self, resource: Resource, *, resource_id: str | None = None) -> WriteResult: ...

    def read(self, resource_type: str, resource_id: str) -> Resource: ...

    def vread(self, resource_type: str, resource_id: str, version: str) -> Resource: ...

    def update(self, resource: Resource, *, if_match: str | None = None) -> WriteResult: ...

    def delete(self, resource_type: str, resource_id: str) -> WriteResult | None: ...

    def search(self, query: SearchQuery) -> SearchResult: ...

    def included(self, query: SearchQuery, matches: list[Resource]) -> list[Resource]: ...

    def history(
        self,
        resource_type: str | None = None,
        resource_id: str | None = None,
        *,
        since: int | None = None,
        count: int = 20,
        offset: int = 0,
    ) -> tuple[list[HistoryEntry], bool]: ...

    def transaction(self) -> AbstractContextManager[Repository]: ...

    def savepoint(self) -> AbstractContextManager[Repository]: ...

    def put_many(self, batch: list[Resource]) -> list[WriteResult]: ...

    def read_many(self, keys: set[tuple[str, str]]) -> dict[tuple[str, str], tuple[Resource, bool]]: ...

    def events(self, after_seq: int = 0, limit: int = 100) -> Iterator[OutboxEvent]: ...

    def referring(
        self, source_types: list[str], param: str, target_type: str, target_ids: list[str], *, limit: int | None = None
    ) -> list[Resource]: ...

    def referring_identified(
        self,
        source_types: list[str],
        param: str,
        target_type: str,
        identifier: tuple[str, str],
        *,
        limit: int | None = None,
    ) -> list[Resource]: ...
