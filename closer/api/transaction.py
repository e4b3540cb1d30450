"""Batch and transaction Bundles.

A transaction is atomic: every entry runs inside one repository transaction, in the order the FHIR
spec gives (DELETE, POST, PUT/PATCH, GET), after `urn:uuid:` fullUrls and conditional references
(`Patient?identifier=...`) have been resolved to real ids. A batch runs each entry on its own and
reports each outcome in the response.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from closer.api import interactions as ix
from closer.errors import FhirError, internal_error, invalid, not_supported, precondition_failed
from closer.fhir.model import is_resource_type
from closer.fhir.outcome import operation_outcome
from closer.fhir.validate import Validated, validate_resource, with_id
from closer.store.repository import Repository

Resource = dict[str, Any]
log = logging.getLogger("closer.api")
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
READ, WRITE = "read", "write"  # the modes of closer.auth.scopes
Authorize = Callable[[str, str], None]  # (resource type, mode): raises when the caller may not


@dataclass
class Entry:
    index: int
    method: str
    path: list[str]  # e.g. ["Patient", "123"]
    query: list[tuple[str, str]]
    resource: Resource | None
    full_url: str | None
    if_none_exist: str | None
    if_match: str | None


def process(
    repo: Repository, paging: ix.Paging, body: Any, *, minimal: bool = False, authorize: Authorize | None = None
) -> ix.Reply:
    """Run a batch or transaction; `minimal` (Prefer: return=minimal) leaves written resources out of the
    response entries, which keeps bulk loads from sending every resource back.

    `authorize(resource_type, "read" | "write")` raises (a 403) when the caller may not: every entry is
    checked before anything runs, so a Bundle with one entry the caller's scopes do not cover is refused
    whole and nothing is written, for a batch as for a transaction. Conditional references in a
    transaction (`Patient?identifier=...`) search their type, so they need read on it too."""
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise invalid("POST to the base URL takes a Bundle of type batch or transaction")
    kind = body.get("type")
    if kind not in ("batch", "transaction"):
        raise invalid(f"Bundle.type must be batch or transaction, not {kind!r}", "Bundle.type")
    entries = [_entry(i, e) for i, e in enumerate(body.get("entry") or [])]
    check = authorize or _allow_all
    for entry in entries:
        with _blame(entry):
            check(entry.path[0], READ if entry.method in ("GET", "HEAD") else WRITE)
    if kind == "transaction":
        return ix.Reply(200, _transaction(repo, paging, entries, minimal, check))
    return ix.Reply(200, _batch(repo, paging, entries, minimal, check))


def _entry(index: int, raw: Any) -> Entry:
    where = f"Bundle.entry[{index}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("request"), dict):
        raise invalid(f"{where} has no request", f"{where}.request")
    request = raw["request"]
    method = str(request.get("method", "")).upper()
    if method not in ORDER:
        raise invalid(f"{where}.request.method {method!r} is not supported", f"{where}.request.method")
    url = request.get("url")
    if not isinstance(url, str) or not url:
        raise invalid(f"{where}.request.url is missing", f"{where}.request.url")
    parts = urlsplit(url)
    path = [p for p in parts.path.split("/") if p]
    if not path or not is_resource_type(path[0]):
        raise invalid(f"{where}.request.url {url!r} does not name a resource type", f"{where}.request.url")
    resource = raw.get("resource")
    if method in ("POST", "PUT") and not isinstance(resource, dict):
        raise invalid(f"{where} needs a resource for {method}", f"{where}.resource")
    return Entry(
        index,
        method,
        path,
        parse_qsl(parts.query, keep_blank_values=True),
        resource,
        raw.get("fullUrl"),
        request.get("ifNoneExist"),
        request.get("ifMatch"),
    )


def _allow_all(resource_type: str, mode: str) -> None:
    """No caller to check (in-process use, e.g. tests of the Bundle logic itself)."""


def _transaction(
    repo: Repository, paging: ix.Paging, entries: list[Entry], minimal: bool, authorize: Authorize
) -> Resource:
    replies: dict[int, ix.Reply] = {}
    for entry in entries:
        with _blame(entry):
            _check_entry_type(entry)
            if entry.resource is not None and entry.method in ("POST", "PUT"):
                # Validate before the write lock is taken, so concurrent writers validate in parallel.
                entry.resource = validate_resource(entry.resource)
    with repo.transaction() as tx:
        ids = _assign_ids(tx, entries)
        for entry in entries:
            if entry.resource is not None:
                resolve = partial(_resolve, tx, index=entry.index, authorize=authorize)
                with _blame(entry):
                    rewritten = _rewrite_references(entry.resource, ids, resolve)
                    # Only reference strings changed, to valid `Type/id` values: the resource stays valid.
                    entry.resource = Validated(rewritten) if isinstance(entry.resource, Validated) else rewritten
        changed: dict[tuple[str, str], int] = {}
        for entry in sorted(entries, key=lambda e: ORDER[e.method]):
            with _blame(entry):
                replies[entry.index] = _execute(tx, paging, entry, ids, authorize)
                _claim_identity(changed, entry, replies[entry.index])
    return _response_bundle("transaction-response", paging.base, entries, replies, minimal)


def _claim_identity(changed: dict[tuple[str, str], int], entry: Entry, reply: ix.Reply) -> None:
    """The spec says a transaction SHALL fail if two of its DELETE/POST/PUT entries touch one resource."""
    if entry.method in ("GET", "HEAD"):
        return
    if reply.resource is not None and reply.resource.get("id"):
        key = (str(reply.resource["resourceType"]), str(reply.resource["id"]))
    elif len(entry.path) >= 2:
        key = (entry.path[0], entry.path[1])
    else:
        return
    if key in changed:
        other = changed[key]
        raise invalid(
            f"{key[0]}/{key[1]} is also changed by Bundle.entry[{other}]; a transaction changes a resource once"
        )
    changed[key] = entry.index


@contextmanager
def _blame(entry: Entry) -> Iterator[None]:
    """Name the failing entry in every issue of an error, so the client knows which one to fix."""
    prefix = f"Bundle.entry[{entry.index}]"

    def named(text: str) -> str:
        return text if text.startswith(prefix) else f"{prefix}: {text}"

    try:
        yield
    except FhirError as exc:
        exc.diagnostics = named(exc.diagnostics)
        exc.issues = [replace(issue, diagnostics=named(issue.diagnostics)) for issue in exc.issues]
        raise


def _batch(repo: Repository, paging: ix.Paging, entries: list[Entry], minimal: bool, authorize: Authorize) -> Resource:
    replies: dict[int, ix.Reply] = {}
    for entry in entries:
        try:
            with repo.transaction() as tx:
                replies[entry.index] = _execute(tx, paging, entry, {}, authorize)
        except FhirError as exc:
            replies[entry.index] = ix.Reply(exc.status, operation_outcome(exc.all_issues()))
        except Exception:
            # Earlier entries are committed, so the client must learn which entry failed, not get a bare 500.
            error_id = uuid.uuid4().hex
            log.exception("unhandled error in batch entry", extra={"entry": entry.index, "error_id": error_id})
            replies[entry.index] = ix.Reply(500, operation_outcome([internal_error(error_id)]))
    return _response_bundle("batch-response", paging.base, entries, replies, minimal)


def _assign_ids(repo: Repository, entries: list[Entry]) -> dict[str, str]:
    """Map each entry's fullUrl to the `Type/id` it will have once the transaction has run."""
    ids: dict[str, str] = {}
    for entry in entries:
        if not entry.full_url or entry.resource is None:
            continue
        resource_type = entry.path[0]
        if entry.method == "POST":
            target = None
            if entry.if_none_exist:
                found = ix.find_matches(repo, resource_type, ix.parse_qs_items(entry.if_none_exist), limit=2)
                if len(found) > 1:
                    raise precondition_failed(f"Bundle.entry[{entry.index}]: ifNoneExist matched several resources")
                target = found[0]["id"] if found else None
            entry_id = target or repo.new_id()
            entry.if_none_exist = None if target else entry.if_none_exist
            entry.resource = with_id(entry.resource, entry_id)
            if target:
                entry.method = "GET"
                entry.path = [resource_type, target]
            ids[entry.full_url] = f"{resource_type}/{entry_id}"
        elif entry.method == "PUT":
            if len(entry.path) >= 2:
                ids[entry.full_url] = f"{resource_type}/{entry.path[1]}"
            elif entry.query:
                found = ix.find_matches(repo, resource_type, entry.query, limit=2)
                entry_id = found[0]["id"] if len(found) == 1 else entry.resource.get("id") or repo.new_id()
                entry.resource = with_id(entry.resource, entry_id)
                ids[entry.full_url] = f"{resource_type}/{entry_id}"
    return ids


def _resolve(repo: Repository, conditional: str, *, index: int, authorize: Authorize) -> str:
    """Turn `Patient?identifier=...` into `Patient/<id>`; it must match exactly one resource."""
    resource_type, _, query = conditional.partition("?")
    authorize(resource_type, READ)
    found = ix.find_matches(repo, resource_type, parse_qsl(query, keep_blank_values=True), limit=2)
    if len(found) != 1:
        how = "no" if not found else "more than one"
        raise precondition_failed(
            f"Bundle.entry[{index}]: conditional reference {conditional!r} matched {how} resource"
        )
    return f"{resource_type}/{found[0]['id']}"


def _rewrite_references(value: Any, ids: dict[str, str], resolve: Callable[[str], str]) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, child in value.items():
            if key == "reference" and isinstance(child, str):
                if child in ids:
                    child = ids[child]
                elif "?" in child and is_resource_type(child.split("?")[0]):
                    child = resolve(child)
                elif child.startswith("urn:uuid:"):
                    raise invalid(f"Reference {child!r} does not match any fullUrl in the transaction")
                out[key] = child
            else:
                out[key] = _rewrite_references(child, ids, resolve)
        return out
    if isinstance(value, list):
        return [_rewrite_references(v, ids, resolve) for v in value]
    return value


def _check_entry_type(entry: Entry) -> None:
    """The same type checks as the REST routes: a Bundle is no way round a read-only or unserved type."""
    ix.check_type(entry.path[0], writing=entry.method not in ("GET", "HEAD"))


def _execute(repo: Repository, paging: ix.Paging, entry: Entry, ids: dict[str, str], authorize: Authorize) -> ix.Reply:
    _check_entry_type(entry)
    resource_type, rest = entry.path[0], entry.path[1:]

    def readable(included_type: str) -> bool:
        try:
            authorize(included_type, READ)
        except FhirError:
            return False
        return True

    base = paging.base
    if entry.method == "DELETE":
        if rest:
            return ix.delete(repo, resource_type, rest[0])
        return ix.conditional_delete(repo, resource_type, entry.query)
    if entry.method == "POST":
        assert entry.resource is not None
        new_id = entry.resource.get("id") if entry.full_url in ids else None
        return ix.create(repo, base, resource_type, entry.resource, entry.if_none_exist, resource_id=new_id)
    if entry.method == "PUT":
        if rest:
            return ix.update(repo, base, resource_type, rest[0], entry.resource, entry.if_match)
        return ix.conditional_update(repo, base, resource_type, entry.query, entry.resource, entry.if_match)
    if entry.method == "PATCH":
        raise not_supported("PATCH is not supported in Bundles yet", 405)
    if len(rest) == 0:
        return ix.search(repo, paging, resource_type, entry.query, strict=False, readable=readable)
    if rest[-1] == "_history" and len(rest) <= 2:
        return ix.history(repo, paging, resource_type, rest[0] if len(rest) == 2 else None, entry.query)
    if len(rest) == 1:
        return ix.read(repo, base, resource_type, rest[0])
    if len(rest) == 3 and rest[1] == "_history":
        return ix.vread(repo, base, resource_type, rest[0], rest[2])
    raise invalid(f"Bundle.entry[{entry.index}]: unsupported request URL")


_STATUS_TEXT = {200: "200 OK", 201: "201 Created", 204: "204 No Content"}


def _response_bundle(
    kind: str, base: str, entries: list[Entry], replies: dict[int, ix.Reply], minimal: bool
) -> Resource:
    out = []
    for entry in entries:
        reply = replies[entry.index]
        response: Resource = {"status": _STATUS_TEXT.get(reply.status, str(reply.status))}
        if "Location" in reply.headers:
            response["location"] = reply.headers["Location"].removeprefix(base + "/")
        if "ETag" in reply.headers:
            response["etag"] = reply.headers["ETag"]
        last_updated = ((reply.resource or {}).get("meta") or {}).get("lastUpdated")
        if "ETag" in reply.headers and last_updated:
            response["lastModified"] = last_updated
        item: Resource = {}
        if reply.resource is not None and reply.resource.get("resourceType") == "OperationOutcome":
            response["outcome"] = reply.resource
        elif reply.resource is not None:
            if reply.resource.get("id"):
                item["fullUrl"] = f"{base}/{reply.resource['resourceType']}/{reply.resource['id']}"
            if not (minimal and entry.method in WRITES):
                item["resource"] = reply.resource
        item["response"] = response
        out.append(item)
    return {"resourceType": "Bundle", "type": kind, "entry": out}
