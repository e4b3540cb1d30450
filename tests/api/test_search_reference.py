"""Reference search over the REST API: Type/id, bare ids, type modifiers, :identifier and chains."""

from __future__ import annotations

from typing import Any

from apiutil import check, created, found, nhs_number, send
from fhirdata import NHS, condition, observation, patient
from flask.testing import FlaskClient

OTHER_SERVER = "https://other.example/fhir"


def about(client: FlaskClient, subject: dict[str, Any]) -> str:
    resource = condition("Patient/x")
    resource["subject"] = subject
    return str(created(client, resource)["id"])


class World:
    def __init__(self, client: FlaskClient) -> None:
        self.numbers = [nhs_number(), nhs_number()]
        self.okafor = str(created(client, patient(self.numbers[0], family="Okafor", given="Chidi"))["id"])
        self.smith = str(created(client, patient(self.numbers[1], family="Smith", gender="male"))["id"])
        self.c_okafor = about(client, {"reference": f"Patient/{self.okafor}"})
        self.c_smith = about(client, {"reference": f"Patient/{self.smith}/_history/1"})
        self.c_group = about(client, {"reference": "Group/g1"})
        self.c_identifier = about(client, {"identifier": {"system": NHS, "value": self.numbers[0]}})
        self.c_absolute = about(client, {"reference": f"{OTHER_SERVER}/Patient/{self.okafor}"})


def test_type_and_id_bare_id_and_type_modifier(client: FlaskClient) -> None:
    w = World(client)
    check(
        client,
        [
            (f"/Condition?subject=Patient/{w.okafor}", {w.c_okafor}),
            (f"/Condition?subject={w.okafor}", {w.c_okafor}),
            (f"/Condition?subject:Patient={w.okafor}", {w.c_okafor}),
            (f"/Condition?subject=Patient/{w.smith}", {w.c_smith}),  # stored as a versioned reference
            ("/Condition?subject=Group/g1", {w.c_group}),
            ("/Condition?subject=g1", {w.c_group}),
            ("/Condition?subject:Group=g1", {w.c_group}),
            ("/Condition?subject:Patient=g1", set()),
            (f"/Condition?subject=Patient/{w.okafor},Patient/{w.smith}", {w.c_okafor, w.c_smith}),
            (f"/Condition?patient={w.okafor}", {w.c_okafor}),
            (f"/Condition?patient=Patient/{w.smith}", {w.c_smith}),
            ("/Condition?patient=g1", set()),  # `patient` only reaches Patient references
            ("/Condition?subject=Patient/nobody", set()),
        ],
    )


def test_patient_param_only_reaches_patient_references(client: FlaskClient) -> None:
    w = World(client)
    assert found(client, "/Condition?patient=Group/g1") == set()
    assert w.c_group in found(client, "/Condition?patient:missing=true")


def test_absolute_reference(client: FlaskClient) -> None:
    w = World(client)
    absolute = found(client, f"/Condition?subject={OTHER_SERVER}/Patient/{w.okafor}")
    assert w.c_absolute in absolute
    assert w.c_smith not in absolute and w.c_group not in absolute
    assert w.c_absolute not in found(client, f"/Condition?subject=Patient/{w.okafor}")


def test_identifier_modifier_uses_reference_identifier(client: FlaskClient) -> None:
    w = World(client)
    check(
        client,
        [
            (f"/Condition?subject:identifier={NHS}|{w.numbers[0]}", {w.c_identifier}),
            (f"/Condition?subject:identifier={w.numbers[0]}", {w.c_identifier}),
            (f"/Condition?subject:identifier={NHS}|", {w.c_identifier}),
            (f"/Condition?subject:identifier=urn:other|{w.numbers[0]}", set()),
            (f"/Condition?subject:identifier={w.numbers[1]}", set()),  # not the referenced Patient's identifier
        ],
    )


def test_chains(client: FlaskClient) -> None:
    w = World(client)
    check(
        client,
        [
            (f"/Condition?patient.identifier={NHS}|{w.numbers[0]}", {w.c_okafor}),
            (f"/Condition?patient.identifier={w.numbers[1]}", {w.c_smith}),
            (f"/Condition?subject:Patient.identifier={NHS}|{w.numbers[0]}", {w.c_okafor}),
            ("/Condition?subject:Patient.name=okafor", {w.c_okafor}),
            ("/Condition?subject:Patient.name=OKA", {w.c_okafor}),
            ("/Condition?subject:Patient.family:exact=Smith", {w.c_smith}),
            ("/Condition?subject:Patient.family:exact=smith", set()),
            ("/Condition?patient.name=okafor,smith", {w.c_okafor, w.c_smith}),
            ("/Condition?patient.gender=male", {w.c_smith}),
            ("/Condition?patient.gender:not=male", {w.c_okafor}),
            ("/Condition?patient.name=okafor&patient.gender=male", set()),
            ("/Condition?patient.birthdate=1950-03-02", {w.c_okafor, w.c_smith}),
            (f"/Condition?patient._id={w.smith}", {w.c_smith}),
            ("/Condition?patient.name=nobody", set()),
        ],
    )


def test_chain_from_observation(client: FlaskClient) -> None:
    w = World(client)
    obs = str(created(client, observation(f"Patient/{w.smith}", 80))["id"])
    created(client, observation(f"Patient/{w.okafor}", 60))
    check(
        client,
        [
            (f"/Observation?patient.identifier={NHS}|{w.numbers[1]}", {obs}),
            ("/Observation?subject:Patient.name=smith", {obs}),
            ("/Observation?subject:Patient.name=smith&value-quantity=80", {obs}),
            ("/Observation?subject:Patient.name=smith&value-quantity=60", set()),
        ],
    )


def test_chain_does_not_reach_deleted_targets(client: FlaskClient) -> None:
    w = World(client)
    assert found(client, "/Condition?patient.name=smith") == {w.c_smith}
    assert send(client, "DELETE", f"/Patient/{w.smith}").status_code in (200, 204)
    assert found(client, "/Condition?patient.name=smith") == set()
    assert found(client, f"/Condition?patient=Patient/{w.smith}") == {w.c_smith}  # the reference itself stays


def test_ambiguous_chain_is_400(client: FlaskClient) -> None:
    response = send(client, "GET", "/Condition?subject.name=smith")
    assert response.status_code == 400
    assert "subject:" in response.get_json()["issue"][0]["diagnostics"]


def test_type_modifier_must_be_a_target_and_agree(client: FlaskClient) -> None:
    assert send(client, "GET", "/Condition?subject:Observation=1").status_code == 400
    assert send(client, "GET", "/Condition?subject:Patient=Group/1").status_code == 400
    assert send(client, "GET", "/Condition?subject:Observation.code=1").status_code == 400


def test_chain_on_a_token_param_is_400(client: FlaskClient) -> None:
    assert send(client, "GET", "/Condition?code.name=x").status_code == 400
