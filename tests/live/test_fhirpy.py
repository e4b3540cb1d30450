"""beda.software's `fhirpy` (2.x, synchronous client) against a live server, used exactly as its docs say."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fhirdata import NHS, SNOMED, condition, patient
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome, ResourceNotFound
from fhirpy.lib import SyncFHIRResource

pytestmark = pytest.mark.live


@pytest.fixture
def fhir(live_server: Any) -> SyncFHIRClient:
    return SyncFHIRClient(live_server.base_url, authorization=live_server.authorization)


def save_patient(fhir: SyncFHIRClient, nhs: str, **fields: Any) -> SyncFHIRResource:
    body = patient(nhs, **fields)
    del body["resourceType"]
    resource = fhir.resource("Patient", **body)
    resource.save()
    return resource


def save_condition(fhir: SyncFHIRClient, subject: SyncFHIRResource, code: str) -> SyncFHIRResource:
    body = condition(subject.reference, code=code)
    del body["resourceType"]
    resource = fhir.resource("Condition", **body)
    resource.save()
    return resource


def test_crud(fhir: SyncFHIRClient, new_nhs_number: Callable[[], str]) -> None:
    nhs = new_nhs_number()
    created = save_patient(fhir, nhs, family="Abernethy", given="Rose", birth="1941-11-30")
    assert created.id
    assert created["meta"]["versionId"] == "1"

    read = fhir.reference("Patient", created.id).to_resource()
    assert read.serialize() == created.serialize()
    assert read["identifier"] == [{"system": NHS, "value": nhs}]
    assert read["name"] == [{"family": "Abernethy", "given": ["Rose"]}]
    assert read["birthDate"] == "1941-11-30"
    assert fhir.resources("Patient").search(_id=created.id).get().id == created.id

    read["name"][0]["family"] = "Abernethy-Cole"
    read["telecom"] = [{"system": "phone", "value": "01632 960001"}]
    read.save()  # PUT, as the resource has an id
    assert read.id == created.id
    assert read["meta"]["versionId"] == "2"
    again = fhir.reference("Patient", created.id).to_resource()
    assert again["name"][0]["family"] == "Abernethy-Cole"
    assert again["telecom"] == [{"system": "phone", "value": "01632 960001"}]

    again.delete()
    with pytest.raises(ResourceNotFound):  # 410 Gone
        fhir.reference("Patient", created.id).to_resource()
    with pytest.raises(ResourceNotFound):
        fhir.resources("Patient").search(_id=created.id).get()


def test_rejected_write_raises_operation_outcome(fhir: SyncFHIRClient) -> None:
    bad = fhir.resource("Patient", identifier=[{"system": NHS, "value": "9990000019"}])  # check digit is wrong
    with pytest.raises(OperationOutcome) as rejected:
        bad.save()
    issue = rejected.value.resource["issue"][0]
    assert issue["severity"] == "error"
    assert "NHS number" in issue["diagnostics"]


def test_chained_search(fhir: SyncFHIRClient, new_nhs_number: Callable[[], str]) -> None:
    nhs, other_nhs = new_nhs_number(), new_nhs_number()
    subject = save_patient(fhir, nhs, family="Zabrinski")
    other = save_patient(fhir, other_nhs, family="Yelverton")
    wanted = {save_condition(fhir, subject, "44054006").id, save_condition(fhir, subject, "38341003").id}
    save_condition(fhir, other, "44054006")

    by_nhs = fhir.resources("Condition").search(**{"patient.identifier": f"{NHS}|{nhs}"}).fetch_all()
    assert {c.id for c in by_nhs} == wanted
    by_name = fhir.resources("Condition").search(subject__Patient__name="Zabrinski").fetch_all()
    assert {c.id for c in by_name} == wanted
    both = fhir.resources("Condition").search(subject__Patient__name="Zabrinski", code=f"{SNOMED}|38341003")
    assert [c["code"]["coding"][0]["code"] for c in both.fetch_all()] == ["38341003"]
    assert fhir.resources("Condition").search(**{"patient.identifier": f"{NHS}|{new_nhs_number()}"}).fetch() == []


def test_paging_sees_every_resource_once(fhir: SyncFHIRClient, new_nhs_number: Callable[[], str]) -> None:
    family = "Pagebrook"
    births = ["1931-01-01", "1932-02-02", "1933-03-03"]  # ties on the sort key need a stable tie-breaker
    ids = [save_patient(fhir, new_nhs_number(), family=family, birth=births[i % 3]).id for i in range(25)]
    search = fhir.resources("Patient").search(family=family)
    assert search.count() == 25

    first_page = search.limit(10).fetch()
    assert len(first_page) == 10
    raw = search.limit(10).fetch_raw()
    assert [link["relation"] for link in raw["link"]] == ["self", "next"]

    unsorted = [p.id for p in search.limit(10).fetch_all()]  # follows Bundle.link "next" to the end
    assert sorted(unsorted) == sorted(ids)
    assert len(unsorted) == len(set(unsorted))

    newest_first = [(p["birthDate"], p.id) for p in search.sort("-birthdate").limit(10)]
    assert sorted(i for _, i in newest_first) == sorted(ids)
    assert [b for b, _ in newest_first] == sorted((b for b, _ in newest_first), reverse=True)


def test_conditional_update(fhir: SyncFHIRClient, new_nhs_number: Callable[[], str]) -> None:
    nhs = new_nhs_number()
    search = fhir.resources("Patient").search(identifier=f"{NHS}|{nhs}")
    body = patient(nhs, family="Marchetti")
    del body["resourceType"]

    made, created = search.update(fhir.resource("Patient", **body))  # PUT /Patient?identifier=...
    assert created
    body["gender"] = "other"
    changed, created = search.update(fhir.resource("Patient", **body))
    assert not created
    assert changed.id == made.id
    assert changed["meta"]["versionId"] == "2"
    assert search.get()["gender"] == "other"
