"""SMART on FHIR's `fhirclient` (R4 models, strict parsing) against a live server, used exactly as its docs say."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fhirclient import client
from fhirclient.models.bundle import Bundle
from fhirclient.models.condition import Condition
from fhirclient.models.patient import Patient
from fhirclient.server import FHIRNotFoundException, FHIRServer
from fhirdata import NHS, SNOMED, condition, patient
from requests import HTTPError

pytestmark = pytest.mark.live


@pytest.fixture
def smart(live_server: Any) -> client.FHIRClient:
    """fhirclient sends every request through its server's `requests` session: the bearer token goes there."""
    smart = client.FHIRClient(settings={"app_id": "closer-live-tests", "api_base": live_server.base_url})
    smart.server.session.headers["Authorization"] = live_server.authorization
    return smart


def create_patient(server: FHIRServer, nhs: str, **fields: Any) -> Patient:
    """POST a Patient with fhirclient; the reply is parsed with its strict R4 model."""
    created = Patient(patient(nhs, **fields)).create(server)
    assert created is not None, "create returned no body"
    return Patient(created)


def test_prepare_reads_and_parses_the_capability_statement(smart: client.FHIRClient) -> None:
    assert smart.prepare()  # GET /metadata, parsed strictly as an R4 CapabilityStatement
    statement = smart.server.capabilityStatement
    assert statement.fhirVersion == "4.0.1"
    assert "application/fhir+json" in statement.format
    by_type = {r.type: r for r in statement.rest[0].resource}
    assert {"Patient", "Condition", "Observation"} <= set(by_type)
    assert {"read", "create", "update", "delete", "search-type"} <= {i.code for i in by_type["Patient"].interaction}


def test_create_then_read_round_trips(smart: client.FHIRClient, new_nhs_number: Callable[[], str]) -> None:
    nhs = new_nhs_number()
    created = create_patient(smart.server, nhs, family="Hallworth", given="Edith", birth="1938-07-14")
    assert created.id
    assert created.meta.versionId == "1"

    read = Patient.read(created.id, smart.server)
    assert read.id == created.id
    assert read.identifier[0].system == NHS
    assert read.identifier[0].value == nhs
    assert read.name[0].family == "Hallworth"
    assert read.name[0].given == ["Edith"]
    assert read.birthDate.isostring == "1938-07-14"
    assert read.gender == "female"
    assert read.meta.versionId == "1"
    assert read.meta.lastUpdated is not None


def test_search_by_nhs_number(smart: client.FHIRClient, new_nhs_number: Callable[[], str]) -> None:
    nhs, other = new_nhs_number(), new_nhs_number()
    wanted = create_patient(smart.server, nhs, family="Okafor")
    create_patient(smart.server, other, family="Okafor")

    found = list(Patient.where(struct={"identifier": f"{NHS}|{nhs}"}).perform_resources_iter(smart.server))
    assert [p.id for p in found] == [wanted.id]
    assert isinstance(found[0], Patient)
    assert found[0].identifier[0].value == nhs

    [bundle] = Patient.where(struct={"identifier": f"{NHS}|{new_nhs_number()}"}).perform_iter(smart.server)
    assert bundle.type == "searchset"
    assert bundle.total == 0
    assert not bundle.entry


def test_update_vread_and_delete(smart: client.FHIRClient, new_nhs_number: Callable[[], str]) -> None:
    created = create_patient(smart.server, new_nhs_number(), family="Pemberton")
    read = Patient.read(created.id, smart.server)
    read.name[0].family = "Pemberton-Hale"
    updated = read.update()  # PUT with the instance's own server
    assert updated is not None
    assert Patient(updated).meta.versionId == "2"

    assert Patient.read(created.id, smart.server).name[0].family == "Pemberton-Hale"
    first = Patient.read_from(f"Patient/{created.id}/_history/1", smart.server)
    assert first.name[0].family == "Pemberton"
    assert first.meta.versionId == "1"

    read.delete()
    with pytest.raises(HTTPError) as gone:
        Patient.read(created.id, smart.server)
    assert gone.value.response.status_code == 410


def test_read_unknown_id_is_not_found(smart: client.FHIRClient) -> None:
    with pytest.raises(FHIRNotFoundException) as missing:
        Patient.read("no-such-patient", smart.server)
    assert missing.value.response.json()["resourceType"] == "OperationOutcome"


def test_condition_search_with_include(smart: client.FHIRClient, new_nhs_number: Callable[[], str]) -> None:
    subject = create_patient(smart.server, new_nhs_number(), family="Quinlan")
    made = Condition(condition(f"Patient/{subject.id}", code="38341003", onset="2019-02-03")).create(smart.server)
    assert made is not None

    search = Condition.where(struct={"patient": subject.id}).include("subject")
    results = list(search.perform_resources_iter(smart.server))
    conditions = [r for r in results if isinstance(r, Condition)]
    patients = [r for r in results if isinstance(r, Patient)]
    assert [c.id for c in conditions] == [made["id"]]
    assert conditions[0].code.coding[0].system == SNOMED
    assert conditions[0].code.coding[0].code == "38341003"
    assert conditions[0].subject.reference == f"Patient/{subject.id}"
    assert conditions[0].onsetDateTime.as_json() == "2019-02-03"  # the original text, not normalised
    assert [p.id for p in patients] == [subject.id]


def test_transaction_bundle(smart: client.FHIRClient, new_nhs_number: Callable[[], str]) -> None:
    nhs = new_nhs_number()
    patient_url = "urn:uuid:4c8f7f7e-4a51-4d0e-9d6b-1f1f6f1e0a01"
    transaction = Bundle(
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "fullUrl": patient_url,
                    "resource": patient(nhs, family="Trevelyan"),
                    "request": {"method": "POST", "url": "Patient"},
                },
                {
                    "resource": condition(patient_url, code="195967001"),
                    "request": {"method": "POST", "url": "Condition"},
                },
            ],
        }
    )
    reply = transaction.create(smart.server)  # fhirclient POSTs transaction Bundles to the base URL
    assert reply is not None
    response = Bundle(reply)
    assert response.type == "transaction-response"
    assert [e.response.status.split()[0] for e in response.entry] == ["201", "201"]

    found = list(Patient.where(struct={"identifier": f"{NHS}|{nhs}"}).perform_resources_iter(smart.server))
    assert len(found) == 1
    search = Condition.where(struct={"subject": f"Patient/{found[0].id}"})
    conditions = list(search.perform_resources_iter(smart.server))
    assert [c.code.coding[0].code for c in conditions] == ["195967001"]


def test_paging_follows_next_links(smart: client.FHIRClient, new_nhs_number: Callable[[], str]) -> None:
    family = "Fitzwilliam"
    ids = {create_patient(smart.server, new_nhs_number(), family=family, given=f"G{i}").id for i in range(12)}

    pages = list(Patient.where(struct={"family": family, "_count": "5"}).perform_iter(smart.server))
    assert [len(page.entry or []) for page in pages] == [5, 5, 2]
    assert all(page.total == 12 for page in pages)
    seen = [entry.resource.id for page in pages for entry in page.entry or []]
    assert sorted(seen) == sorted(ids)
