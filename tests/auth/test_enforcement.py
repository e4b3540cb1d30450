"""The API is never open: who may do what, through the app exactly as `create_app` builds it.

Nothing but /metadata, /healthz, the SMART discovery document and the token endpoint is anonymous; every
other request needs a bearer token (401 with an OperationOutcome and a WWW-Authenticate challenge when it
is missing, unknown, expired or its client revoked), and a token whose scopes do not cover the
interaction gets a 403. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from authutil import ask, form, register
from fhirdata import NHS, patient
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from closer.api.operations import Operation, OperationRegistryError, Operations, load_operations
from closer.auth.clients import revoke_client
from closer.auth.tokens import TokenService
from closer.store.schema import metadata, resources
from fhir_profiles.nhs_number import generate_nhs_number

FHIR_JSON = "application/fhir+json"
_rng = random.Random(20240612)


def nhs_number() -> str:
    return generate_nhs_number(_rng)


def send(http: FlaskClient, method: str, url: str, body: Any, headers: dict[str, str]) -> TestResponse:
    extra = {"json": body} if body is not None else {}
    return http.open(url, method=method, headers={"Accept": FHIR_JSON, **headers}, content_type=FHIR_JSON, **extra)


def created(http: FlaskClient, resource: dict[str, Any]) -> dict[str, Any]:
    response = send(http, "POST", f"/{resource['resourceType']}", resource, {})
    assert response.status_code == 201, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def snapshot(app: Flask) -> dict[str, Any]:
    """Row counts of every table (the auth tables included) and each resource's version."""
    with app.extensions["closer.engine"].connect() as conn:
        state: dict[str, Any] = {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in metadata.sorted_tables
        }
        rows = conn.execute(select(resources.c.res_type, resources.c.res_id, resources.c.version))
        state["versions"] = sorted(tuple(r) for r in rows)
    return state


def token(app: Flask, http: FlaskClient, scope: str, name: str = "ambulance", kind: str = "internal") -> dict[str, str]:
    """Headers with a bearer token granted exactly `scope`, for a newly registered client `name`. Scopes
    bound both kinds of client alike; these tests use internal ones, which see the whole store, because a
    consumer's reads are also filtered by consent (tests/consent/test_consumer_access.py)."""
    registered = register(app, name, tuple(scope.split()), kind=kind)
    response = ask(http, form(registered.assertion(), scope))
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def refused(response: TestResponse, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == FHIR_JSON
    body: dict[str, Any] = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["severity"] == "error"
    assert body["issue"][0]["code"] == code
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="closer"')
    return body


def flag(subject: str = "Patient/p1") -> dict[str, Any]:
    return {"resourceType": "Flag", "status": "active", "code": {"text": "DNACPR"}, "subject": {"reference": subject}}


def test_anonymous_request_is_401_with_an_outcome_and_a_challenge(anonymous: FlaskClient) -> None:
    response = anonymous.get("/Patient")
    body = refused(response, 401, "login")
    assert "Authorization: Bearer" in body["issue"][0]["diagnostics"]
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="closer"'


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/Patient/1"),
        ("GET", "/Patient/1/_history/1"),
        ("GET", "/Patient/_history"),
        ("GET", "/_history"),
        ("POST", "/Patient"),
        ("PUT", "/Patient/1"),
        ("DELETE", "/Patient/1"),
        ("POST", "/"),
        ("POST", "/Patient/1/$triage"),
        ("POST", "/RiskAssessment/$sign-off"),
        ("GET", "/StructureDefinition"),
    ],
)
def test_everything_else_needs_a_token(anonymous: FlaskClient, method: str, path: str) -> None:
    refused(anonymous.open(path, method=method, json={}), 401, "login")


def test_metadata_healthz_and_discovery_are_anonymous(anonymous: FlaskClient) -> None:
    assert anonymous.get("/metadata").status_code == 200
    assert anonymous.get("/metadata").get_json()["resourceType"] == "CapabilityStatement"
    assert anonymous.get("/healthz").status_code == 200
    discovery = anonymous.get("/.well-known/smart-configuration")
    assert discovery.status_code == 200
    assert discovery.get_json()["token_endpoint"] == "http://localhost/auth/token"


def test_unknown_route_is_401_without_a_token_and_404_with_one(anonymous: FlaskClient, client: FlaskClient) -> None:
    """An anonymous caller cannot tell which URLs exist."""
    for path in ("/no/such/thing/here", "/NotAType", "/Patient/1/2/3/4"):
        refused(anonymous.get(path), 401, "login")
    assert client.get("/no/such/thing/here").status_code == 404
    assert client.get("/NotAType").status_code == 404


@pytest.mark.parametrize("header", ["Bearer not-a-token", "Basic dXNlcjpwYXNz", "Bearer"])
def test_bad_token_is_401(anonymous: FlaskClient, header: str) -> None:
    response = anonymous.get("/Flag", headers={"Authorization": header})
    refused(response, 401, "unknown")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_flag_read_token(app: Flask, anonymous: FlaskClient, client: FlaskClient) -> None:
    existing = created(client, flag())
    bearer = token(app, anonymous, "system/Flag.read")

    search = anonymous.get("/Flag", headers=bearer)
    assert search.status_code == 200
    assert [e["resource"]["id"] for e in search.get_json()["entry"]] == [existing["id"]]
    assert anonymous.post("/Flag/_search", headers=bearer).status_code == 200
    assert anonymous.get(f"/Flag/{existing['id']}", headers=bearer).status_code == 200
    assert anonymous.get(f"/Flag/{existing['id']}/_history", headers=bearer).status_code == 200
    assert anonymous.get(f"/Flag/{existing['id']}/_history/1", headers=bearer).status_code == 200
    assert anonymous.get("/Flag/_history", headers=bearer).status_code == 200

    # another type: 403 whether or not the resource exists (a 404 would say which ids exist)
    body = refused(anonymous.get("/Patient/p1", headers=bearer), 403, "forbidden")
    assert "system/Patient.read" in body["issue"][0]["diagnostics"]
    refused(anonymous.get("/Patient", headers=bearer), 403, "forbidden")

    # writes, even to Flag
    response = send(anonymous, "POST", "/Flag", flag(), bearer)
    refused(response, 403, "forbidden")
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert 'scope="system/Flag.write"' in response.headers["WWW-Authenticate"]
    refused(send(anonymous, "PUT", f"/Flag/{existing['id']}", existing, bearer), 403, "forbidden")
    refused(send(anonymous, "DELETE", f"/Flag/{existing['id']}", None, bearer), 403, "forbidden")
    refused(send(anonymous, "PUT", "/Flag?status=active", flag(), bearer), 403, "forbidden")
    refused(send(anonymous, "DELETE", "/Flag?status=active", None, bearer), 403, "forbidden")

    # history across every type needs system/*.read
    body = refused(anonymous.get("/_history", headers=bearer), 403, "forbidden")
    assert "system/*.read" in body["issue"][0]["diagnostics"]
    assert client.get(f"/Flag/{existing['id']}").get_json()["meta"]["versionId"] == "1"


def test_wildcard_scopes(app: Flask, anonymous: FlaskClient) -> None:
    reader = token(app, anonymous, "system/*.read", "reader")
    assert anonymous.get("/_history", headers=reader).status_code == 200
    assert anonymous.get("/Patient", headers=reader).status_code == 200
    refused(send(anonymous, "POST", "/Flag", flag(), reader), 403, "forbidden")

    flags = token(app, anonymous, "system/Flag.*", "flags", kind="internal")
    assert send(anonymous, "POST", "/Flag", flag(), flags).status_code == 201
    assert anonymous.get("/Flag", headers=flags).status_code == 200
    refused(anonymous.get("/CarePlan", headers=flags), 403, "forbidden")


def bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


@pytest.mark.parametrize("kind", ["transaction", "batch"])
def test_bundle_with_one_forbidden_entry_is_refused_whole(app: Flask, anonymous: FlaskClient, kind: str) -> None:
    bearer = token(app, anonymous, "system/Flag.read system/Flag.write", "writer", kind="internal")
    before = snapshot(app)
    body = bundle(
        kind,
        {"resource": flag(), "request": {"method": "POST", "url": "Flag"}},
        {"resource": patient(nhs_number()), "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "GET", "url": "Flag"}},
    )
    response = send(anonymous, "POST", "/", body, bearer)
    outcome = refused(response, 403, "forbidden")
    assert outcome["issue"][0]["diagnostics"].startswith("Bundle.entry[1]: ")
    assert "system/Patient.write" in outcome["issue"][0]["diagnostics"]
    assert snapshot(app) == before  # nothing written, not even the allowed Flag

    # a read entry of a type not granted is refused too
    reads = bundle(kind, {"request": {"method": "GET", "url": "Patient?name=x"}})
    refused(send(anonymous, "POST", "/", reads, bearer), 403, "forbidden")
    assert snapshot(app) == before

    allowed = bundle(kind, {"resource": flag(), "request": {"method": "POST", "url": "Flag"}})
    assert send(anonymous, "POST", "/", allowed, bearer).status_code == 200


def test_conditional_reference_in_a_transaction_needs_read_on_its_type(
    app: Flask, anonymous: FlaskClient, client: FlaskClient
) -> None:
    """Resolving `Patient?identifier=...` searches Patients: a Flag writer may not probe them that way."""
    nhs = nhs_number()
    created(client, patient(nhs))
    bearer = token(app, anonymous, "system/Flag.write", "writer", kind="internal")
    before = snapshot(app)
    body = bundle(
        "transaction",
        {"resource": flag(f"Patient?identifier={NHS}|{nhs}"), "request": {"method": "POST", "url": "Flag"}},
    )
    refused(send(anonymous, "POST", "/", body, bearer), 403, "forbidden")
    assert snapshot(app) == before
    both = token(app, anonymous, "system/Flag.write system/Patient.read", "writer2", kind="internal")
    assert send(anonymous, "POST", "/", body, both).status_code == 200


def test_expired_token_is_401(app: Flask, anonymous: FlaskClient) -> None:
    bearer = token(app, anonymous, "system/Flag.read")
    assert anonymous.get("/Flag", headers=bearer).status_code == 200
    service: TokenService = app.extensions["closer.auth"]
    later = service.clock() + service.lifetime + 1
    service.clock = lambda: later
    response = anonymous.get("/Flag", headers=bearer)
    refused(response, 401, "expired")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_token_of_a_revoked_client_is_401(app: Flask, anonymous: FlaskClient) -> None:
    bearer = token(app, anonymous, "system/Flag.read")
    assert anonymous.get("/Flag", headers=bearer).status_code == 200
    revoke_client(app.extensions["closer.engine"], "ambulance")
    refused(anonymous.get("/Flag", headers=bearer), 401, "unknown")


def test_operations_need_their_scopes(app: Flask, anonymous: FlaskClient, client: FlaskClient) -> None:
    person = created(client, patient(nhs_number()))
    triage = f"/Patient/{person['id']}/$triage"
    parameters = {"resourceType": "Parameters", "parameter": [{"name": "decision", "valueCode": "include"}]}

    patients = token(app, anonymous, "system/Patient.* system/Flag.*", "casework", kind="internal")
    body = refused(send(anonymous, "POST", triage, parameters, patients), 403, "forbidden")
    assert "system/Task.write" in body["issue"][0]["diagnostics"]
    tasks_only = token(app, anonymous, "system/Task.write", "mdt-tasks", kind="internal")
    body = refused(send(anonymous, "POST", triage, parameters, tasks_only), 403, "forbidden")
    assert "system/Flag.write" in body["issue"][0]["diagnostics"]  # an exclusion retires the Flag
    tasks = token(app, anonymous, "system/Task.write system/Flag.write", "mdt", kind="internal")
    assert send(anonymous, "POST", triage, parameters, tasks).status_code not in (401, 403)

    readers = token(app, anonymous, "system/RiskAssessment.read", "gp", kind="internal")
    sign_off = {"resourceType": "Parameters", "parameter": [{"name": "practice", "valueString": "M82001"}]}
    body = refused(send(anonymous, "POST", "/RiskAssessment/$sign-off", sign_off, readers), 403, "forbidden")
    assert "system/RiskAssessment.write" in body["issue"][0]["diagnostics"]
    writers = token(app, anonymous, "system/RiskAssessment.write", "gp2", kind="internal")
    assert send(anonymous, "POST", "/RiskAssessment/$sign-off", sign_off, writers).status_code not in (401, 403)


def echo(call: Any) -> Any:
    raise AssertionError("not called")


def test_operation_scopes() -> None:
    """An operation's scopes: its own, or read on its type for GET and write for POST."""
    on_type = Operation(name="x", resource_type="Flag", handler=echo, methods=("GET", "POST"))
    assert on_type.required_scopes("GET") == ("system/Flag.read",)
    assert on_type.required_scopes("POST") == ("system/Flag.write",)
    system = Operation(name="y", handler=echo, methods=("GET", "POST"))
    assert system.required_scopes("GET") == ("system/*.read",)
    assert system.required_scopes("POST") == ("system/*.write",)
    own = Operation(name="z", resource_type="Patient", handler=echo, scopes=("system/Task.write", "system/Flag.*"))
    assert own.required_scopes("POST") == ("system/Task.write", "system/Flag.*")
    assert {op.name: op.scopes for op in load_operations().all()} == {
        "sign-off": ("system/RiskAssessment.write",),
        "triage": ("system/Task.write", "system/Flag.write"),
        "alerts": ("system/Flag.read",),
        "consent-check": ("system/Consent.read",),
        "refer": ("system/ServiceRequest.write",),
        "enrol": ("system/EpisodeOfCare.write", "system/CareTeam.write", "system/ServiceRequest.write"),
        "agree-plan": ("system/CarePlan.write",),
        "review": (
            "system/Task.write",
            "system/CarePlan.write",
            "system/EpisodeOfCare.write",
            "system/CareTeam.write",
            "system/Communication.write",
            "system/Flag.write",
        ),
        "programme-report": ("system/EpisodeOfCare.read", "system/Encounter.read"),
    }
    with pytest.raises(OperationRegistryError, match="not a SMART system scope"):
        Operations.of([Operation(name="bad", handler=echo, scopes=("Task.write",))])
    with pytest.raises(OperationRegistryError, match="not a resource type this server serves"):
        Operations.of([Operation(name="bad", handler=echo, scopes=("system/Nonsense.read",))])
    with pytest.raises(OperationRegistryError, match="non-empty tuple"):
        Operations.of([Operation(name="bad", handler=echo, scopes=())])


def test_search_includes_only_types_the_token_may_read(app: Flask, anonymous: FlaskClient, client: FlaskClient) -> None:
    person = created(client, patient(nhs_number()))
    alert = created(client, flag(f"Patient/{person['id']}"))
    url = "/Flag?_include=Flag:patient"

    def types(response: TestResponse) -> list[str]:
        assert response.status_code == 200, response.get_data(as_text=True)
        return sorted(e["resource"]["resourceType"] for e in response.get_json().get("entry", []))

    assert types(client.get(url)) == ["Flag", "Patient"]
    flags = token(app, anonymous, "system/Flag.read")
    assert types(anonymous.get(url, headers=flags)) == ["Flag"]
    refused(anonymous.get(f"/Patient?_revinclude=Flag:patient&_id={person['id']}", headers=flags), 403, "forbidden")
    patients = token(app, anonymous, "system/Patient.read", "patients")
    revinclude = f"/Patient?_revinclude=Flag:patient&_id={person['id']}"
    assert types(anonymous.get(revinclude, headers=patients)) == ["Patient"]
    both = token(app, anonymous, "system/Flag.read system/Patient.read", "both")
    assert types(anonymous.get(url, headers=both)) == ["Flag", "Patient"]
    inside = bundle("batch", {"request": {"method": "GET", "url": f"Flag?_id={alert['id']}&_include=Flag:patient"}})
    reply = send(anonymous, "POST", "/", inside, flags).get_json()
    assert [e["resource"]["resourceType"] for e in reply["entry"][0]["resource"]["entry"]] == ["Flag"]
