"""Bundle builders for search results, history and batch/transaction responses."""

from __future__ import annotations

from typing import Any

from closer.store.repository import HistoryEntry

Resource = dict[str, Any]


def searchset(
    base: str,
    matches: list[Resource],
    included: list[Resource],
    total: int | None,
    links: dict[str, str],
    outcome: Resource | None = None,
) -> Resource:
    entries = [_entry(base, r, "match") for r in matches] + [_entry(base, r, "include") for r in included]
    if outcome is not None:
        entries.append({"resource": outcome, "search": {"mode": "outcome"}})
    bundle: Resource = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        bundle["total"] = total
    bundle["link"] = [{"relation": rel, "url": url} for rel, url in links.items()]
    if entries:
        bundle["entry"] = entries
    return bundle


def _entry(base: str, resource: Resource, mode: str) -> Resource:
    return {
        "fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
        "resource": resource,
        "search": {"mode": mode},
    }


def history(base: str, entries: list[HistoryEntry], links: dict[str, str], total: int | None = None) -> Resource:
    bundle: Resource = {"resourceType": "Bundle", "type": "history"}
    if total is not None:
        bundle["total"] = total
    bundle["link"] = [{"relation": rel, "url": url} for rel, url in links.items()]
    items = []
    for e in entries:
        url = f"{e.resource_type}/{e.resource_id}"
        item: Resource = {"fullUrl": f"{base}/{url}"}
        if e.resource is not None:
            item["resource"] = e.resource
        item["request"] = {"method": e.method, "url": url if e.method != "POST" else e.resource_type}
        status = {"POST": "201 Created", "PUT": "200 OK", "DELETE": "204 No Content"}[e.method]
        item["response"] = {"status": status, "etag": f'W/"{e.version}"', "lastModified": e.last_updated}
        items.append(item)
    if items:
        bundle["entry"] = items
    return bundle
