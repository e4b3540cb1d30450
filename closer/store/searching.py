"""Every match of a search, page by page: for jobs that must see all of a patient's (or a feed's) records,
where one page would silently leave some out."""

from __future__ import annotations

from collections.abc import Iterator

from closer.store.query import parse_search
from closer.store.repository import Repository, Resource

PAGE = 100


def search_all(
    repo: Repository, resource_type: str, criteria: list[tuple[str, str]], page: int = PAGE
) -> Iterator[Resource]:
    """The matches of `resource_type?criteria`, reading one page at a time in the store's order."""
    offset = 0
    while True:
        query = parse_search(resource_type, criteria, strict=True, max_count=page)
        query.count, query.offset, query.total = page, offset, "none"
        result = repo.search(query)
        yield from result.matches
        if not result.has_more or not result.matches:
            return
        offset += len(result.matches)
