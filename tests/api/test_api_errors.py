"""Every error answers with an OperationOutcome and the right status, leaves the store unchanged, and is never a 500
unless the server itself failed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from apiutil import FHIR_JSON, created, diagnostics, expressions, nhs_number, outcome, put, send, snapshot
from fhirdata import NHS, patient
from flask import Flask
from flask.testing import FlaskClient

from closer.api import interactions
from fhir_profiles import CANONICAL_BASE

PATIENT_PROFILE = f"{CANONICAL_BASE}/StructureDefinition/closer-patient"


@pytest.fixture
def seeded(client: FlaskClient, app: Flask) -> dict[str, Any]:
    """One stored Patient, so 'nothing changed' is checked against a non-empty store."""
    return created(client, patient(nhs_number()))


def rejected(client: FlaskClient, app: Flask, status: int, method: str, url: str, body: Any, **headers: str) -> dict:
    """Send a request that must fail with `status`, and prove it changed nothing."""
    before = snapshot(app)
    oo = outcome(send(client, method, url, body, headers), status)
    assert snapshot(app) == before
    return oo


# -- malformed bodies -------------------------------------------------------------------------------


MALFORMED_JSON = {
    "truncated": b'{"resourceType": "Patient", "gender": ',
    "text": b"not json at all",
    "bad-utf8": b"\xff\xfe{}",
    "too-deep": b"[" * 5000 + b"]" * 5000,
}
MALFORMED_XML = {
    "unclosed": b"<Patient xmlns='http://hl7.org/fhir'><gender value='female'/>",
    "no-namespace": b"<Patient><gender value='female'/></Patient>",
    "unknown-element": b"<Patient xmlns='http://hl7.org/fhir'><shoeSize value='9'/></Patient>",
    "wrong-type": b"<Observation xmlns='http://hl7.org/fhir'><status value='final'/></Observation>",
    "json-as-xml": b'{"resourceType": "Patient"}',
}


def test_malformed_json_is_400(client: FlaskClient, app: Flask, seeded: dict) -> None:
    for name, raw in MALFORMED_JSON.items():
        oo = rejected(client, app, 400, "POST", "/Patient", raw)
        assert oo["issue"][0]["code"] == "invalid", name
        rejected(client, app, 400, "PUT", f"/Patient/{seeded['id']}", raw)
        rejected(client, app, 400, "POST", "/", raw)


def test_malformed_or_wrong_xml_is_400(client: FlaskClient, app: Flask, seeded: dict) -> None:
    for raw in MALFORMED_XML.values():
        rejected(client, app, 400, "POST", "/Patient", raw, **{"Content-Type": "application/fhir+xml"})
    # External entities are neither fetched nor echoed back.
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE Patient [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<Patient xmlns="http://hl7.org/fhir"><name><family value="&xxe;"/></name></Patient>'
    )
    oo = rejected(client, app, 400, "POST", "/Patient", xxe, **{"Content-Type": "application/fhir+xml"})
    assert "root:" not in json.dumps(oo)


def test_empty_or_non_object_body_is_400(client: FlaskClient, app: Flask, seeded: dict) -> None:
    rejected(client, app, 400, "POST", "/Patient", b"")
    rejected(client, app, 400, "PUT", f"/Patient/{seeded['id']}", b"  ")
    for body in ([], "a string", 42, None, [patient(nhs_number())]):
        rejected(client, app, 400, "POST", "/Patient", json.dumps(body).encode())


# -- wrong content ----------------------------------------------------------------------------------


def test_wrong_or_missing_resource_type_is_400(client: FlaskClient, app: Flask, seeded: dict) -> None:
    oo = rejected(client, app, 400, "POST", "/Patient", {"resourceType": "Observation", "status": "final"})
    assert "Observation" in diagnostics(oo)
    rejected(client, app, 400, "PUT", f"/Patient/{seeded['id']}", {**seeded, "resourceType": "Practitioner"})
    untyped = {k: v for k, v in patient(nhs_number()).items() if k != "resourceType"}
    rejected(client, app, 400, "POST", "/Patient", untyped)


def test_unknown_or_empty_elements_are_named(client: FlaskClient, app: Flask, seeded: dict) -> None:
    oo = rejected(client, app, 400, "POST", "/Patient", patient(nhs_number(), foo="bar"))
    assert "Patient.foo" in expressions(oo)
    oo = rejected(client, app, 400, "PUT", f"/Patient/{seeded['id']}", {**seeded, "foo": "bar"})
    assert "Patient.foo" in expressions(oo)
    nested = patient(nhs_number(), name=[{"family": "Smith", "middle": "X"}])
    assert "Patient.name[0].middle" in expressions(rejected(client, app, 400, "POST", "/Patient", nested))
    empty = patient(nhs_number(), telecom=[])
    assert "Patient.telecom" in expressions(rejected(client, app, 400, "POST", "/Patient", empty))
    bad_reference = {"resourceType": "Condition", "subject": {"reference": 42}}
    rejected(client, app, 400, "POST", "/Condition", bad_reference)


def test_bad_birth_date_is_named(client: FlaskClient, app: Flask, seeded: dict) -> None:
    for value in ("1950-13-45", "yesterday", "02/03/1950", 19500302, "1950-02-30"):
        oo = rejected(client, app, 400, "POST", "/Patient", patient(nhs_number(), birth=value))
        assert "Patient.birthDate" in expressions(oo), value


def test_required_binding_violation_names_the_element(client: FlaskClient, app: Flask, seeded: dict) -> None:
    oo = rejected(client, app, 422, "POST", "/Patient", patient(nhs_number(), gender="x"))
    assert "Patient.gender" in expressions(oo)
    assert "administrative-gender" in diagnostics(oo)
    rejected(client, app, 422, "PUT", f"/Patient/{seeded['id']}", {**seeded, "gender": "M"})


def test_nhs_number_with_bad_check_digit_is_422(client: FlaskClient, app: Flask, seeded: dict) -> None:
    good = nhs_number()
    bad = good[:9] + str((int(good[9]) + 1) % 10)
    oo = rejected(client, app, 422, "POST", "/Patient", patient(bad))
    assert "Patient.identifier[0].value" in expressions(oo)
    spaced = f"{good[:3]} {good[3:6]} {good[6:]}"
    oo = rejected(client, app, 422, "POST", "/Patient", patient(spaced))
    assert "Patient.identifier[0].value" in expressions(oo)


def test_profile_violations_are_422(client: FlaskClient, app: Flask, seeded: dict) -> None:
    claims = patient(nhs_number(), meta={"profile": [PATIENT_PROFILE]})
    no_birth_date = {k: v for k, v in claims.items() if k != "birthDate"}
    oo = rejected(client, app, 422, "POST", "/Patient", no_birth_date)
    assert any("birthDate" in e for e in expressions(oo)), oo
    unknown = patient(nhs_number(), meta={"profile": [f"{CANONICAL_BASE}/StructureDefinition/closer-nothing"]})
    oo = rejected(client, app, 422, "POST", "/Patient", unknown)
    assert "Patient.meta.profile[0]" in expressions(oo)


def test_patient_claiming_our_profile_with_birth_date_is_accepted(client: FlaskClient) -> None:
    stored = created(client, patient(nhs_number(), meta={"profile": [PATIENT_PROFILE]}))
    assert stored["meta"]["profile"] == [PATIENT_PROFILE]
    # Profiles we do not hold from outside our canonical base are accepted unchecked.
    outside = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"
    assert created(client, patient(nhs_number(), meta={"profile": [outside]}))["meta"]["profile"] == [outside]


def test_id_mismatch_or_invalid_id_is_400(client: FlaskClient, app: Flask, seeded: dict) -> None:
    oo = rejected(client, app, 400, "PUT", f"/Patient/{seeded['id']}", {**seeded, "id": "another"})
    assert "Patient.id" in expressions(oo)
    without_id = {k: v for k, v in seeded.items() if k != "id"}
    rejected(client, app, 400, "PUT", f"/Patient/{seeded['id']}", without_id)
    for bad in ("bad_id!", "a" * 65):
        rejected(client, app, 400, "PUT", f"/Patient/{bad}", patient(nhs_number(), id=bad))


# -- unsupported requests ---------------------------------------------------------------------------


def test_unknown_resource_type_is_404(client: FlaskClient, app: Flask, seeded: dict) -> None:
    oo = rejected(client, app, 404, "GET", "/Spaceship/1", None)
    assert "Spaceship" in diagnostics(oo)
    rejected(client, app, 404, "GET", "/Spaceship", None)
    rejected(client, app, 404, "POST", "/Spaceship", {"resourceType": "Spaceship"})
    rejected(client, app, 404, "PUT", "/Spaceship/1", {"resourceType": "Spaceship", "id": "1"})
    rejected(client, app, 404, "DELETE", "/Spaceship/1", None)
    rejected(client, app, 404, "POST", "/Medication", {"resourceType": "Medication"})


def test_an_unknown_contained_resource_type_is_400(client: FlaskClient, app: Flask, seeded: dict) -> None:
    stu3 = {"resourceType": "ProcedureRequest", "id": "p1", "status": "active"}
    oo = rejected(client, app, 400, "POST", "/Patient", patient(nhs_number(), contained=[stu3]))
    assert "'ProcedureRequest' is not an R4 resource type" in diagnostics(oo)


def test_body_over_the_size_limit_is_413(client: FlaskClient, app: Flask, seeded: dict) -> None:
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert limit == 1024 * 1024
    padding = "x" * (limit + 10)
    raw = json.dumps(patient(nhs_number(), text={"status": "generated", "div": f"<div>{padding}</div>"})).encode()
    oo = rejected(client, app, 413, "POST", "/Patient", raw)
    assert oo["issue"][0]["code"] == "too-long"
    assert str(limit) in diagnostics(oo)
    rejected(client, app, 413, "PUT", f"/Patient/{seeded['id']}", raw)
    rejected(client, app, 413, "POST", "/", raw)


def test_unsupported_media_type_is_415(client: FlaskClient, app: Flask, seeded: dict) -> None:
    raw = json.dumps(patient(nhs_number())).encode()
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "image/png", "application/fhir+yaml"):
        oo = rejected(client, app, 415, "POST", "/Patient", raw, **{"Content-Type": content_type})
        assert oo["issue"][0]["code"] == "not-supported"
        assert content_type in diagnostics(oo)
    rejected(client, app, 415, "PUT", f"/Patient/{seeded['id']}", json.dumps(seeded), **{"Content-Type": "text/plain"})
    before = snapshot(app)
    outcome(client.post("/Patient", data=raw, headers={"Accept": FHIR_JSON}), 415)  # no Content-Type at all
    assert snapshot(app) == before


def test_method_not_allowed_is_405(client: FlaskClient, app: Flask, seeded: dict) -> None:
    before = snapshot(app)
    cases = [
        ("PATCH", f"/Patient/{seeded['id']}"),
        ("PATCH", "/Patient"),
        ("POST", f"/Patient/{seeded['id']}"),
        ("PUT", f"/Patient/{seeded['id']}/_history/1"),
        ("DELETE", f"/Patient/{seeded['id']}/_history/1"),
    ]
    for method, url in cases:
        response = send(client, method, url, {**seeded, "gender": "male"})
        oo = outcome(response, 405)
        assert oo["issue"][0]["code"] == "not-supported"
        assert response.headers.get("Allow"), (method, url)
        assert method not in response.headers["Allow"]
    assert snapshot(app) == before
    assert send(client, "GET", f"/Patient/{seeded['id']}").get_json() == seeded


def test_writing_a_read_only_type_is_405(client: FlaskClient, app: Flask) -> None:
    definition = send(client, "GET", "/StructureDefinition/closer-patient").get_json()
    rejected(client, app, 405, "PUT", "/StructureDefinition/closer-patient", {**definition, "status": "retired"})
    rejected(client, app, 405, "DELETE", "/StructureDefinition/closer-patient", None)
    rejected(client, app, 405, "POST", "/StructureDefinition", {**definition, "id": None})


def test_unknown_format_accept_or_route(client: FlaskClient, seeded: dict) -> None:
    outcome(send(client, "GET", f"/Patient/{seeded['id']}?_format=yaml"), 406)
    outcome(send(client, "GET", f"/Patient/{seeded['id']}", headers={"Accept": "text/html"}), 406)
    outcome(send(client, "GET", "/Patient/a/b/c/d/e"), 404)


# -- unexpected failures ----------------------------------------------------------------------------


def test_unexpected_exception_is_500_with_correlation_id(
    client: FlaskClient, repo: Any, monkeypatch: pytest.MonkeyPatch, seeded: dict
) -> None:
    def boom(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("secret-internal-detail")

    monkeypatch.setattr(repo, "read", boom)
    monkeypatch.setattr(repo, "search", boom)
    response = send(client, "GET", f"/Patient/{seeded['id']}", headers={"X-Request-ID": "corr-1234"})
    oo = outcome(response, 500)
    assert oo["issue"][0]["code"] == "exception"
    assert "corr-1234" in diagnostics(oo)
    assert response.headers["X-Request-ID"] == "corr-1234"
    text = response.get_data(as_text=True)
    for leak in ("Traceback", "RuntimeError", "secret-internal-detail", 'File "', ".py"):
        assert leak not in text

    # Without an X-Request-ID the server makes one up and quotes it.
    response = send(client, "GET", "/Patient?family=Smith")
    oo = outcome(response, 500)
    request_id = response.headers["X-Request-ID"]
    assert len(request_id) >= 16
    assert request_id in diagnostics(oo)
    assert "secret-internal-detail" not in response.get_data(as_text=True)


def fail_second_body_check(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make the second resource the API checks raise an unexpected error; returns the calls seen."""
    real = interactions.check_body
    calls: list[str] = []

    def fails_second_time(resource_type: str, body: Any, resource_id: str | None = None) -> Any:
        calls.append(resource_type)
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        return real(resource_type, body, resource_id)

    monkeypatch.setattr(interactions, "check_body", fails_second_time)
    return calls


def test_unexpected_exception_mid_transaction_rolls_back(
    client: FlaskClient, app: Flask, monkeypatch: pytest.MonkeyPatch, seeded: dict
) -> None:
    calls = fail_second_body_check(monkeypatch)
    number = nhs_number()
    transaction = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": patient(number), "request": {"method": "POST", "url": "Patient"}},
            {"resource": patient(nhs_number()), "request": {"method": "POST", "url": "Patient"}},
        ],
    }
    oo = rejected(client, app, 500, "POST", "/", transaction)
    assert "disk on fire" not in diagnostics(oo)
    assert len(calls) == 2
    monkeypatch.undo()
    found = send(client, "GET", f"/Patient?identifier={NHS}|{number}").get_json()
    assert found["total"] == 0


def test_errors_render_as_xml_when_asked(client: FlaskClient) -> None:
    response = send(client, "GET", "/Patient/missing", headers={"Accept": "application/fhir+xml"})
    assert response.status_code == 404
    assert response.mimetype == "application/fhir+xml"
    assert b"<OperationOutcome" in response.data
    assert b'<code value="not-found"/>' in response.data


def test_update_after_rejected_write_still_sees_original(client: FlaskClient, seeded: dict) -> None:
    assert put(client, {**seeded, "gender": "x"}).status_code == 422
    current = send(client, "GET", f"/Patient/{seeded['id']}")
    assert current.get_json() == seeded
    assert current.headers["ETag"] == 'W/"1"'


def test_unexpected_exception_in_one_batch_entry_is_reported_on_that_entry(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fail_second_body_check(monkeypatch)
    first, second = nhs_number(), nhs_number()
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": patient(first), "request": {"method": "POST", "url": "Patient"}},
            {"resource": patient(second), "request": {"method": "POST", "url": "Patient"}},
        ],
    }
    response = send(client, "POST", "/", batch)
    assert response.status_code == 200
    ok, failed = response.get_json()["entry"]
    assert ok["response"]["status"].startswith("201")
    assert failed["response"]["status"] == "500"
    failed_issue = failed["response"]["outcome"]["issue"][0]
    assert failed_issue["code"] == "exception" and "correlation id" in failed_issue["diagnostics"]
    assert "disk on fire" not in response.get_data(as_text=True)
    assert len(calls) == 2
    monkeypatch.undo()
    assert send(client, "GET", f"/Patient?identifier={NHS}|{first}").get_json()["total"] == 1
    assert send(client, "GET", f"/Patient?identifier={NHS}|{second}").get_json()["total"] == 0
