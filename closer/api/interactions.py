"""The FHIR RESTful interactions, free of Flask: each takes a Repository and parsed request parts and
returns a Reply. The HTTP routes and the batch/transaction processor both call these, so an entry in
a Bundle behaves exactly like the same request sent on its own."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from closer.api.shaping import shape
from closer.errors import FhirError, invalid, not_supported, precondition_failed
from closer.fhir import bundle
from closer.fhir.outcome import information
from closer.fhir.validate import with_id
from closer.store.dates import BadDate, date_range
from closer.store.query import SearchQuery, parse_search
from closer.store.repository import Repository, WriteResult
from closer.store.searchparams import SEARCH_PARAMS

Resource = dict[str, Any]
Items = list[tuple[str, str]]
READ_ONLY_TYPES = frozenset({"CodeSystem", "StructureDefinition"})
"""Definitions Closer ships and publishes at start-up (closer.store.profiles); clients only read them."""


@dataclass
class Reply:
    status: int
    resource: Resource | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Paging:
    """What search and history need to build links: base URL and page sizes."""

    base: str
    default_count: int = 20
    max_count: int = 1000


def version_headers(base: str, resource: Resource) -> dict[str, str]:
    meta = resource.get("meta") or {}
    headers = {"ETag": f'W/"{meta.get("versionId", "")}"'}
    if "lastUpdated" in meta:
        headers["Last-Modified"] = http_date(meta["lastUpdated"])
    headers["Location"] = f"{base}/{resource['resourceType']}/{resource['id']}/_history/{meta.get('versionId')}"
    return headers


def http_date(instant: str) -> str:
    """A FHIR instant as an HTTP-date (RFC 9110), the format the Last-Modified header requires."""
    moment = datetime.fromisoformat(instant.replace("Z", "+00:00")).astimezone(UTC)
    return format_datetime(moment.replace(microsecond=0), usegmt=True)


def _write_reply(base: str, result: WriteResult) -> Reply:
    status = 201 if result.created else 200
    return Reply(status, result.resource, version_headers(base, result.resource))


def check_type(resource_type: str, *, writing: bool = False) -> str:
    """404 for a type this server does not serve, 405 for a write to a read-only type."""
    if resource_type not in SEARCH_PARAMS:
        raise FhirError(f"Resource type '{resource_type}' is not supported by this server", 404, "not-supported")
    if writing and resource_type in READ_ONLY_TYPES:
        raise not_supported(f"{resource_type} is read-only on this server", 405)
    return resource_type


def check_body(resource_type: str, body: Any, resource_id: str | None = None) -> Resource:
    if not isinstance(body, dict):
        raise invalid("The request body must be a FHIR resource")
    if body.get("resourceType") != resource_type:
        raise invalid(f"Body is a {body.get('resourceType')!r} but the URL names {resource_type}", "resourceType")
    if resource_id is not None and body.get("id") != resource_id:
        raise invalid(f"Body id {body.get('id')!r} does not match the URL id {resource_id!r}", f"{resource_type}.id")
    return body


def read(repo: Repository, base: str, resource_type: str, resource_id: str) -> Reply:
    resource = repo.read(resource_type, resource_id)
    headers = version_headers(base, resource)
    headers.pop("Location")
    return Reply(200, resource, headers)


def vread(repo: Repository, base: str, resource_type: str, resource_id: str, version: str) -> Reply:
    resource = repo.vread(resource_type, resource_id, version)
    headers = version_headers(base, resource)
    headers.pop("Location")
    return Reply(200, resource, headers)


def create(
    repo: Repository,
    base: str,
    resource_type: str,
    body: Any,
    if_none_exist: str | None = None,
    resource_id: str | None = None,
) -> Reply:
    resource = check_body(resource_type, body)
    with repo.transaction() as tx:
        if if_none_exist:
            existing = find_matches(tx, resource_type, parse_qs_items(if_none_exist), limit=2)
            if len(existing) > 1:
                raise precondition_failed(f"If-None-Exist '{if_none_exist}' matched more than one resource")
            if existing:
                return Reply(200, existing[0], version_headers(base, existing[0]))
        return _write_reply(base, tx.create(with_id(resource, None), resource_id=resource_id))


def update(
    repo: Repository, base: str, resource_type: str, resource_id: str, body: Any, if_match: str | None = None
) -> Reply:
    resource = check_body(resource_type, body, resource_id)
    return _write_reply(base, repo.update(resource, if_match=if_match))


def conditional_update(
    repo: Repository, base: str, resource_type: str, criteria: Items, body: Any, if_match: str | None = None
) -> Reply:
    resource = check_body(resource_type, body)
    with repo.transaction() as tx:
        found = find_matches(tx, resource_type, criteria, limit=2)
        if len(found) > 1:
            raise precondition_failed("Conditional update matched more than one resource")
        if found:
            if resource.get("id") not in (None, found[0]["id"]):
                raise invalid("Body id does not match the resource the condition found", f"{resource_type}.id")
            return _write_reply(base, tx.update(with_id(resource, found[0]["id"]), if_match=if_match))
        if resource.get("id"):
            return _write_reply(base, tx.update(resource, if_match=if_match))
        return _write_reply(base, tx.create(resource))


def delete(repo: Repository, resource_type: str, resource_id: str) -> Reply:
    result = repo.delete(resource_type, resource_id)
    if result is None:
        raise FhirError(f"{resource_type}/{resource_id} is not known", 404, "not-found")
    headers = {"ETag": f'W/"{result.resource["meta"]["versionId"]}"'} if result.action == "delete" else {}
    return Reply(204, None, headers)


def conditional_delete(repo: Repository, resource_type: str, criteria: Items) -> Reply:
    if not criteria:
        raise invalid("A conditional delete needs search criteria")
    with repo.transaction() as tx:
        found = find_matches(tx, resource_type, criteria, limit=2)
        if len(found) > 1:
            raise precondition_failed("Conditional delete matched more than one resource")
        if found:
            tx.delete(resource_type, found[0]["id"])
    return Reply(204)


def find_matches(repo: Repository, resource_type: str, criteria: Items, limit: int) -> list[Resource]:
    """Resources matching conditional-interaction criteria (strict: unknown parameters are errors)."""
    query = parse_search(resource_type, criteria, strict=True)
    if not query.criteria:
        raise invalid(f"Condition '{urlencode(criteria)}' has no search criteria")
    query.count, query.offset, query.total = limit, 0, "none"
    return repo.search(query).matches


def parse_qs_items(text: str) -> Items:
    from urllib.parse import parse_qsl

    return parse_qsl(text.lstrip("?"), keep_blank_values=True)


def search(
    repo: Repository,
    paging: Paging,
    resource_type: str,
    items: Items,
    *,
    strict: bool,
    readable: Callable[[str], bool] | None = None,
) -> Reply:
    """A search; `readable(type)`, when given, says which types the caller may read: resources that
    `_include`/`_revinclude` would add of any other type are left out (the caller's scopes bound the reply)."""
    query = parse_search(
        resource_type, items, strict=strict, default_count=paging.default_count, max_count=paging.max_count
    )
    result = repo.search(query)
    included = result.included
    if readable is not None:
        included = [r for r in included if readable(str(r.get("resourceType")))]
    matches = [shape(r, query.summary, query.elements) for r in result.matches]
    links = _search_links(paging.base, resource_type, items, query, result.has_more)
    outcome = information(f"Unknown search parameters ignored: {', '.join(query.unknown)}") if query.unknown else None
    return Reply(200, bundle.searchset(paging.base, matches, included, result.total, links, outcome))


def _search_links(base: str, resource_type: str, items: Items, query: SearchQuery, has_more: bool) -> dict[str, str]:
    kept = [(k, v) for k, v in items if k not in ("_offset", "_count") and k not in query.unknown]

    def page(offset: int) -> str:
        return f"{base}/{resource_type}?{urlencode([*kept, ('_count', str(query.count)), ('_offset', str(offset))])}"

    links = {"self": page(query.offset)}
    if query.offset > 0:
        links["first"] = page(0)
        links["previous"] = page(max(0, query.offset - query.count))
    if has_more and query.count > 0:
        links["next"] = page(query.offset + query.count)
    return links


def history(
    repo: Repository,
    paging: Paging,
    resource_type: str | None,
    resource_id: str | None,
    items: Iterable[tuple[str, str]],
) -> Reply:
    params = dict(items)
    unknown = set(params) - {"_since", "_count", "_offset", "_format", "_pretty"}
    if unknown:
        raise invalid(f"Unsupported history parameters: {', '.join(sorted(unknown))}")
    since = None
    if "_since" in params:
        try:
            since = date_range(params["_since"])[0]
        except BadDate as exc:
            raise invalid(f"_since: {exc}") from None
    count = min(_int_param(params, "_count", paging.default_count), paging.max_count)
    offset = _int_param(params, "_offset", 0)
    entries, has_more = repo.history(resource_type, resource_id, since=since, count=count, offset=offset)
    path = "/".join(p for p in (resource_type, resource_id) if p)
    path = f"{paging.base}/{path}/_history" if path else f"{paging.base}/_history"
    kept = [(k, v) for k, v in params.items() if k in ("_since",)]

    def page(at: int) -> str:
        return f"{path}?{urlencode([*kept, ('_count', str(count)), ('_offset', str(at))])}"

    links = {"self": page(offset)}
    if offset:
        links["previous"] = page(max(0, offset - count))
    if has_more and count > 0:
        links["next"] = page(offset + count)
    return Reply(200, bundle.history(paging.base, entries, links))


def _int_param(params: dict[str, str], name: str, default: int) -> int:
    value = params.get(name)
    if value is None:
        return default
    if not value.isdigit():
        raise invalid(f"{name} must be a non-negative integer")
    return int(value)
