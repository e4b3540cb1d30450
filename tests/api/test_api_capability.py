"""/healthz, the CapabilityStatement, and the StructureDefinitions and CodeSystems we publish."""

from __future__ import annotations

from typing import Any

from apiutil import FHIR_JSON, FHIR_XML, send
from flask.testing import FlaskClient

from closer.store.searchparams import SEARCH_PARAMS
from fhir_profiles import CANONICAL_BASE, load_code_systems, load_profiles

PATIENT_PROFILE = f"{CANONICAL_BASE}/StructureDefinition/closer-patient"


def capability(client: FlaskClient) -> dict[str, Any]:
    response = send(client, "GET", "/metadata")
    assert response.status_code == 200
    assert response.mimetype == FHIR_JSON
    statement: dict[str, Any] = response.get_json()
    assert statement["resourceType"] == "CapabilityStatement"
    return statement


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["X-Request-ID"]


def test_capability_lists_every_resource_type_with_its_search_params(client: FlaskClient) -> None:
    resources = {r["type"]: r for r in capability(client)["rest"][0]["resource"]}
    assert set(resources) == set(SEARCH_PARAMS)
    for name, params in SEARCH_PARAMS.items():
        declared = {p["name"]: p["type"] for p in resources[name]["searchParam"]}
        for param in params.values():
            assert declared.get(param.name) == param.type, f"{name}.{param.name}"
        assert {"_id", "_lastUpdated"} <= set(declared)
        assert resources[name]["profile"] == f"http://hl7.org/fhir/StructureDefinition/{name}"


def test_capability_statement_header_and_interactions(client: FlaskClient) -> None:
    statement = capability(client)
    assert statement["fhirVersion"] == "4.0.1"
    assert statement["kind"] == "instance"
    assert statement["status"] == "active"
    assert set(statement["format"]) >= {FHIR_JSON, FHIR_XML}
    assert statement["implementation"]["url"] == "http://localhost"
    rest = statement["rest"][0]
    assert rest["mode"] == "server"
    assert {i["code"] for i in rest["interaction"]} >= {"transaction", "batch", "history-system"}
    resources = {r["type"]: r for r in rest["resource"]}
    patient = resources["Patient"]
    assert {i["code"] for i in patient["interaction"]} >= {
        "read",
        "vread",
        "update",
        "delete",
        "create",
        "search-type",
        "history-instance",
        "history-type",
    }
    assert patient["versioning"] == "versioned-update"
    assert patient["conditionalCreate"] is True
    assert patient["updateCreate"] is True
    for name in ("StructureDefinition", "CodeSystem"):
        read_only = {i["code"] for i in resources[name]["interaction"]}
        assert "read" in read_only
        assert not read_only & {"create", "update", "delete"}
        assert resources[name]["updateCreate"] is False


def test_capability_lists_our_profiles_as_supported(client: FlaskClient) -> None:
    resources = {r["type"]: r for r in capability(client)["rest"][0]["resource"]}
    assert PATIENT_PROFILE in resources["Patient"]["supportedProfile"]
    for url, definition in load_profiles().items():
        assert url in resources[definition["type"]]["supportedProfile"]


def test_capability_statement_as_xml(client: FlaskClient) -> None:
    response = send(client, "GET", "/metadata?_format=xml")
    assert response.status_code == 200
    assert response.mimetype == FHIR_XML
    assert b"<CapabilityStatement" in response.data
    assert b'<fhirVersion value="4.0.1"/>' in response.data


def test_our_patient_profile_is_readable_and_searchable(client: FlaskClient) -> None:
    response = send(client, "GET", "/StructureDefinition/closer-patient")
    assert response.status_code == 200
    definition = response.get_json()
    assert definition["resourceType"] == "StructureDefinition"
    assert definition["url"] == PATIENT_PROFILE
    assert definition["type"] == "Patient"
    assert definition["meta"]["versionId"] == "1"
    assert response.headers["ETag"] == 'W/"1"'
    found = send(client, "GET", "/StructureDefinition", query_string={"url": PATIENT_PROFILE}).get_json()
    assert [e["resource"] for e in found["entry"]] == [definition]


def test_restart_does_not_add_profile_versions(client: FlaskClient, app: Any) -> None:
    from closer.store.profiles import publish_profiles

    publish_profiles(app.extensions["closer.repository"])
    response = send(client, "GET", "/StructureDefinition/closer-patient/_history")
    assert response.status_code == 200
    assert len(response.get_json()["entry"]) == 1


def test_our_code_systems_are_readable_and_searchable(client: FlaskClient) -> None:
    assert load_code_systems()
    for url, shipped in load_code_systems().items():
        response = send(client, "GET", f"/CodeSystem/{shipped['id']}")
        assert response.status_code == 200
        published = response.get_json()
        assert {k: v for k, v in published.items() if k != "meta"} == shipped
        assert published["meta"]["versionId"] == "1"
        found = send(client, "GET", "/CodeSystem", query_string={"url": url}).get_json()
        assert [e["resource"] for e in found["entry"]] == [published]
    tiers = send(client, "GET", "/CodeSystem", query_string={"code": "below-threshold"}).get_json()
    assert [e["resource"]["id"] for e in tiers["entry"]] == ["risk-tier"]


def test_code_systems_are_read_only(client: FlaskClient) -> None:
    code_system = send(client, "GET", "/CodeSystem/risk-tier").get_json()
    response = send(client, "PUT", "/CodeSystem/risk-tier", {**code_system, "status": "retired"})
    assert response.status_code == 405
    assert send(client, "DELETE", "/CodeSystem/risk-tier").status_code == 405
    assert send(client, "GET", "/CodeSystem/risk-tier").get_json() == code_system


def test_restart_does_not_add_code_system_versions(client: FlaskClient, app: Any) -> None:
    from closer.store.profiles import publish_profiles

    publish_profiles(app.extensions["closer.repository"])
    response = send(client, "GET", "/CodeSystem/risk-tier/_history")
    assert len(response.get_json()["entry"]) == 1
