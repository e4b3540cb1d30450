"""Helpers for the case management tests: people registered with the synthetic county's practices, the
teams and a case manager loaded, Parameters bodies, and the steps up to an enrolled person."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from fhirdata import NHS, ODS
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from adapters.encounter_codes import EMERGENCY_ADMISSION
from casemgmt.service import load_teams
from casemgmt.settings import CaseManagementSettings, load_settings
from closer.store.sql import SqlRepository
from stratify.operations import today_in_england

JSON = dict[str, Any]
FHIR_JSON = "application/fhir+json"
NORTH_PRACTICE, SOUTH_PRACTICE = "Z91001", "Z93001"  # served by teams north-1 and south-1
MANAGER = "Practitioner/cm-alice"
# NHS numbers in the 999 test range with valid check digits.
ANN, BOB, CAT, DEN = "9990000018", "9990000026", "9990000034", "9990000042"


def today() -> date:
    return today_in_england(datetime.now(UTC))


def settings() -> CaseManagementSettings:
    return load_settings()


def repository(app: Flask) -> SqlRepository:
    repo: SqlRepository = app.extensions["closer.repository"]
    return repo


def send(client: FlaskClient, method: str, url: str, body: JSON | None = None) -> TestResponse:
    headers = {"Accept": FHIR_JSON}
    if body is None:
        return client.open(url, method=method, headers=headers)
    return client.open(url, method=method, headers=headers, json=body, content_type=FHIR_JSON)


def put(client: FlaskClient, resource: JSON) -> JSON:
    response = send(client, "PUT", f"/{resource['resourceType']}/{resource['id']}", resource)
    assert response.status_code in (200, 201), response.get_data(as_text=True)
    body: JSON = response.get_json()
    return body


def read(client: FlaskClient, resource_type: str, resource_id: str) -> JSON:
    response = send(client, "GET", f"/{resource_type}/{resource_id}")
    assert response.status_code == 200, response.get_data(as_text=True)
    body: JSON = response.get_json()
    return body


def search(client: FlaskClient, query: str) -> list[JSON]:
    response = send(client, "GET", f"/{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return [e["resource"] for e in response.get_json().get("entry", []) if e["search"]["mode"] == "match"]


def _value(value: Any) -> tuple[str, Any]:
    if isinstance(value, date):
        return "valueDate", value.isoformat()
    if isinstance(value, dict):
        return "valueReference", value
    return "valueString", value


def parameters(*pairs: tuple[str, Any]) -> JSON:
    """A Parameters body from (name, value) pairs; a list value becomes parts, a dict a Reference."""
    out: list[JSON] = []
    for name, value in pairs:
        if isinstance(value, list):
            out.append({"name": name, "part": parameters(*value)["parameter"]})
        else:
            key, raw = _value(value)
            out.append({"name": name, key: raw})
    return {"resourceType": "Parameters", "parameter": out}


def operation(client: FlaskClient, url: str, *pairs: tuple[str, Any]) -> TestResponse:
    return send(client, "POST", url, parameters(*pairs))


def ok(response: TestResponse, status: int = 200) -> JSON:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    body: JSON = response.get_json()
    return body


def outcome(response: TestResponse, status: int) -> str:
    """The diagnostics and expressions of an OperationOutcome, as one string to search."""
    body = ok(response, status)
    assert body["resourceType"] == "OperationOutcome"
    return " ".join(f"{i.get('diagnostics', '')} {' '.join(i.get('expression', []))}" for i in body["issue"])


def person(nhs: str, practice: str = NORTH_PRACTICE, **extra: Any) -> JSON:
    return {
        "resourceType": "Patient",
        "id": nhs,
        "identifier": [{"system": NHS, "value": nhs}],
        "name": [{"family": "Test", "given": [f"P{nhs[-3:]}"]}],
        "gender": "female",
        "birthDate": "1938-04-05",
        "generalPractitioner": [
            {"reference": f"Organization/{practice}", "identifier": {"system": ODS, "value": practice}}
        ],
        **extra,
    }


def emergency_admission(nhs: str, n: int, start: date) -> JSON:
    return {
        "resourceType": "Encounter",
        "id": f"enc-{nhs}-{n}",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "type": [{"coding": [dict(EMERGENCY_ADMISSION)]}],
        "subject": {"reference": f"Patient/{nhs}"},
        "period": {"start": start.isoformat(), "end": (start + timedelta(days=3)).isoformat()},
    }


def setting_up(client: FlaskClient, app: Flask, *people: str, practice: str = NORTH_PRACTICE) -> None:
    """The teams, the practices, a case manager and `people` registered with `practice`."""
    load_teams(repository(app), settings())
    for code in (NORTH_PRACTICE, SOUTH_PRACTICE):
        put(client, {"resourceType": "Organization", "id": code, "identifier": [{"system": ODS, "value": code}]})
    put(client, {"resourceType": "Practitioner", "id": "cm-alice", "name": [{"family": "Case", "given": ["Alice"]}]})
    for nhs in people:
        put(client, person(nhs, practice))


def refer(client: FlaskClient, nhs: str, source: str = "gp") -> JSON:
    return ok(operation(client, f"/Patient/{nhs}/$refer", ("source", source), ("reason", "Falls at home")), 201)


def include(client: FlaskClient, nhs: str, focus: str | None = None) -> JSON:
    pairs: list[tuple[str, Any]] = [("decision", "include"), ("reason", "Agreed at MDT"), ("decidedBy", "MDT")]
    if focus:
        pairs.append(("focus", {"reference": focus}))
    return ok(operation(client, f"/Patient/{nhs}/$triage", *pairs), 201)


def enrol(client: FlaskClient, nhs: str, tier: str | None = "moderate") -> JSON:
    pairs: list[tuple[str, Any]] = [("careManager", {"reference": MANAGER})]
    if tier:
        pairs.append(("tier", tier))
    return ok(operation(client, f"/Patient/{nhs}/$enrol", *pairs), 201)


def enrolled(client: FlaskClient, app: Flask, nhs: str, tier: str = "moderate") -> JSON:
    """Referred, included at triage and enrolled with `tier`; returns the EpisodeOfCare."""
    referral = refer(client, nhs)
    include(client, nhs, f"ServiceRequest/{referral['id']}")
    return enrol(client, nhs, tier)


def plan(description: str, next_review: date | None = None, baseline: str | None = None) -> list[tuple[str, Any]]:
    parts: list[tuple[str, Any]] = [("description", description)]
    if next_review:
        parts.append(("nextReview", next_review))
    if baseline:
        parts.append(("baseline", baseline))
    return parts


def agree(client: FlaskClient, nhs: str, *pairs: tuple[str, Any]) -> TestResponse:
    return operation(client, f"/Patient/{nhs}/$agree-plan", *pairs)


def review(client: FlaskClient, nhs: str, *pairs: tuple[str, Any]) -> TestResponse:
    return operation(client, f"/Patient/{nhs}/$review", *pairs)
