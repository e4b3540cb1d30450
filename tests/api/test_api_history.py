"""Instance, type and system history, with _since, _count paging and deletions."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from apiutil import BASE, created, nhs_number, outcome, put, send
from fhirdata import condition, patient
from flask.testing import FlaskClient


def history(client: FlaskClient, url: str, **params: str) -> dict[str, Any]:
    response = send(client, "GET", url, query_string=params) if params else send(client, "GET", url)
    assert response.status_code == 200, response.get_data(as_text=True)
    bundle: dict[str, Any] = response.get_json()
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "history"
    return bundle


def links(bundle: dict[str, Any]) -> dict[str, str]:
    return {link["relation"]: link["url"] for link in bundle["link"]}


def versions(bundle: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(method, url, etag) of each entry, in bundle order."""
    return [(e["request"]["method"], e["request"]["url"], e["response"]["etag"]) for e in bundle.get("entry", [])]


def _patient_with_three_versions(client: FlaskClient) -> str:
    stored = created(client, patient(nhs_number(), family="One"))
    assert put(client, {**stored, "name": [{"family": "Two"}]}).status_code == 200
    assert send(client, "DELETE", f"/Patient/{stored['id']}").status_code == 204
    return str(stored["id"])


def test_instance_history_newest_first_with_delete_entry(client: FlaskClient) -> None:
    pid = _patient_with_three_versions(client)
    bundle = history(client, f"/Patient/{pid}/_history")
    assert versions(bundle) == [
        ("DELETE", f"Patient/{pid}", 'W/"3"'),
        ("PUT", f"Patient/{pid}", 'W/"2"'),
        ("POST", "Patient", 'W/"1"'),
    ]
    delete, update, create = bundle["entry"]
    assert "resource" not in delete
    assert delete["fullUrl"] == f"{BASE}/Patient/{pid}"
    assert update["resource"]["name"][0]["family"] == "Two"
    assert update["resource"]["meta"]["versionId"] == "2"
    assert create["resource"]["name"][0]["family"] == "One"
    assert create["response"]["status"].startswith("201")
    assert update["response"]["status"].startswith("200")
    assert delete["response"]["status"].split()[0] in ("200", "204")
    for entry in bundle["entry"]:
        assert entry["response"]["lastModified"].endswith("Z")
    assert links(bundle)["self"].startswith(f"{BASE}/Patient/{pid}/_history")


def test_type_history_lists_only_that_type(client: FlaskClient) -> None:
    first = created(client, patient(nhs_number()))
    second = created(client, patient(nhs_number()))
    cond = created(client, condition(f"Patient/{first['id']}"))
    bundle = history(client, "/Patient/_history")
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert urls == [f"{BASE}/Patient/{second['id']}", f"{BASE}/Patient/{first['id']}"]
    conditions = history(client, "/Condition/_history")
    assert [e["resource"]["id"] for e in conditions["entry"]] == [cond["id"]]
    assert "entry" not in history(client, "/Flag/_history")


def test_system_history_spans_types_including_deletions(client: FlaskClient) -> None:
    pid = _patient_with_three_versions(client)
    cond = created(client, condition(f"Patient/{pid}"))
    bundle = history(client, "/_history")
    mine = [v for v in versions(bundle) if not v[1].startswith(("StructureDefinition", "CodeSystem"))]
    assert mine == [
        ("POST", "Condition", 'W/"1"'),
        ("DELETE", f"Patient/{pid}", 'W/"3"'),
        ("PUT", f"Patient/{pid}", 'W/"2"'),
        ("POST", "Patient", 'W/"1"'),
    ]
    assert bundle["entry"][0]["resource"]["id"] == cond["id"]


def test_since_excludes_older_versions(client: FlaskClient) -> None:
    old = created(client, patient(nhs_number()))
    time.sleep(0.005)
    new = created(client, patient(nhs_number()))
    since = new["meta"]["lastUpdated"]
    assert since > old["meta"]["lastUpdated"]
    for url in ("/_history", "/Patient/_history"):
        bundle = history(client, url, _since=since)
        assert [e["resource"]["id"] for e in bundle["entry"]] == [new["id"]]
        assert parse_qs(urlsplit(links(bundle)["self"]).query)["_since"] == [since]
    instance = history(client, f"/Patient/{old['id']}/_history", _since=since)
    assert "entry" not in instance
    # Offsets other than Z are understood.
    assert "entry" not in history(client, "/Patient/_history", _since="2999-01-01T00:00:00+01:00")
    assert len(history(client, "/Patient/_history", _since="2000-01-01T00:00:00+01:00")["entry"]) == 2


def test_count_pages_with_next_and_previous_links(client: FlaskClient) -> None:
    stored = created(client, patient(nhs_number(), family="V1"))
    for n in range(2, 6):
        assert put(client, {**stored, "name": [{"family": f"V{n}"}]}).status_code == 200
    url = f"/Patient/{stored['id']}/_history"
    seen: list[str] = []
    page = history(client, url, _count="2")
    pages = 0
    while True:
        pages += 1
        assert len(page.get("entry", [])) <= 2
        seen.extend(e["resource"]["meta"]["versionId"] for e in page.get("entry", []))
        if pages > 1:
            assert "previous" in links(page)
        nxt = links(page).get("next")
        if nxt is None:
            break
        assert nxt.startswith(BASE)
        assert parse_qs(urlsplit(nxt).query)["_count"] == ["2"]
        page = history(client, nxt.removeprefix(BASE))
    assert seen == ["5", "4", "3", "2", "1"]
    assert pages == 3


def test_system_history_count_and_next(client: FlaskClient) -> None:
    for _ in range(3):
        created(client, patient(nhs_number()))
    first = history(client, "/_history", _count="1")
    assert len(first["entry"]) == 1
    second = history(client, links(first)["next"].removeprefix(BASE))
    assert len(second["entry"]) == 1
    assert second["entry"][0]["fullUrl"] != first["entry"][0]["fullUrl"]


def test_history_can_be_rendered_as_xml(client: FlaskClient) -> None:
    _patient_with_three_versions(client)
    response = send(client, "GET", "/Patient/_history?_format=xml")
    assert response.status_code == 200
    assert response.mimetype == "application/fhir+xml"
    assert b"<Bundle" in response.data and b'value="DELETE"' in response.data


def test_count_edge_cases_give_no_next_link(client: FlaskClient) -> None:
    created(client, patient(nhs_number()))
    created(client, patient(nhs_number()))
    full = history(client, "/Patient/_history", _count="2")
    assert len(full["entry"]) == 2
    assert "next" not in links(full)
    for url in ("/_history", "/Patient/_history"):
        empty = history(client, url, _count="0")
        assert "entry" not in empty
        assert "next" not in links(empty)


def test_history_errors(client: FlaskClient) -> None:
    outcome(send(client, "GET", "/Patient/nobody/_history"), 404)
    outcome(send(client, "GET", "/Spaceship/_history"), 404)
    oo = outcome(send(client, "GET", "/Patient/_history?_since=yesterday"), 400)
    assert "_since" in oo["issue"][0]["diagnostics"]
    outcome(send(client, "GET", "/Patient/_history?_count=many"), 400)
    outcome(send(client, "GET", "/Patient/_history?_count=-1"), 400)
    outcome(send(client, "GET", "/_history?_offset=x"), 400)
    outcome(send(client, "GET", "/Patient/_history?family=Smith"), 400)
