"""Helpers shared by the REST API tests: requests with FHIR headers, outcome checks, DB snapshots."""

from __future__ import annotations

import random
from typing import Any

from fhirdata import NHS
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from closer.store.schema import metadata, resources
from fhir_profiles.nhs_number import generate_nhs_number

FHIR_JSON = "application/fhir+json"
FHIR_XML = "application/fhir+xml"
BASE = "http://localhost"
JSON_HEADERS = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}

_rng = random.Random(20240611)


def nhs_number() -> str:
    """A fresh valid NHS number from the 999 test range (reproducible across runs)."""
    return generate_nhs_number(_rng)


def nhs_query(value: str) -> str:
    return f"identifier={NHS}|{value}"


def send(
    client: FlaskClient,
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> TestResponse:
    """One request with FHIR JSON headers; dict bodies are sent as JSON, bytes/str as they are."""
    all_headers = {**JSON_HEADERS, **(headers or {})}
    if isinstance(body, dict | list):
        kwargs["json"] = body
        kwargs.setdefault("content_type", all_headers.pop("Content-Type"))
    elif body is not None:
        kwargs["data"] = body
    return client.open(url, method=method, headers=all_headers, **kwargs)


def created(client: FlaskClient, resource: dict[str, Any], **headers: str) -> dict[str, Any]:
    """POST a resource, insist on 201 and return the stored resource."""
    response = send(client, "POST", f"/{resource['resourceType']}", resource, headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def put(client: FlaskClient, resource: dict[str, Any], **headers: str) -> TestResponse:
    return send(client, "PUT", f"/{resource['resourceType']}/{resource['id']}", resource, headers)


def outcome(response: TestResponse, status: int) -> dict[str, Any]:
    """Assert the response is an OperationOutcome with this status and return it."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == FHIR_JSON
    body: dict[str, Any] = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"], "an OperationOutcome needs at least one issue"
    for issue in body["issue"]:
        assert issue["severity"] in ("fatal", "error", "warning", "information")
        assert issue["code"]
    return body


def expressions(oo: dict[str, Any]) -> list[str]:
    return [e for issue in oo["issue"] for e in issue.get("expression", [])]


def diagnostics(oo: dict[str, Any]) -> str:
    return " ".join(issue.get("diagnostics", "") for issue in oo["issue"])


def snapshot(app: Flask) -> dict[str, Any]:
    """Row counts of every store table plus each resource's version and deleted flag."""
    engine = app.extensions["closer.engine"]
    state: dict[str, Any] = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            state[table.name] = conn.execute(select(func.count()).select_from(table)).scalar_one()
        rows = conn.execute(select(resources.c.res_type, resources.c.res_id, resources.c.version, resources.c.deleted))
        state["versions"] = sorted((r.res_type, r.res_id, r.version, bool(r.deleted)) for r in rows)
    return state


def search(client: FlaskClient, url: str) -> dict[str, Any]:
    response = send(client, "GET", url)
    assert response.status_code == 200, response.get_data(as_text=True)
    bundle: dict[str, Any] = response.get_json()
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "searchset"
    return bundle


def ids(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode") != "outcome"]


def found(client: FlaskClient, url: str) -> set[str]:
    """The ids a search matched."""
    return set(ids(search(client, url)))


def check(client: FlaskClient, cases: list[tuple[str, set[str]]]) -> None:
    """Run every search and report all that returned the wrong resources at once."""
    wrong = [(url, got, want) for url, want in cases if (got := found(client, url)) != want]
    assert not wrong, "\n".join(f"{url}: got {sorted(got)}, want {sorted(want)}" for url, got, want in wrong)
