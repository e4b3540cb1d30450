"""A small synthetic record set for consumer-access tests: patients with and without consent, their
alerts and plans, and the consumer systems that ask for them.

- p1 permits the ambulance trust (RYA) and A&E (RXW), for emergency treatment, to see Flags, allergies,
  care plans, the episode and care teams; a nested deny keeps the end-of-life plan from A&E.
- p2 has no Consent.
- p3's Consent (the same as p1's) was withdrawn (status inactive).
- p4 permits the ambulance trust to see one named Flag only (data, not class).
- p1 also lets A&E see the Patient resource itself (a second Consent), so includes of a visible Patient
  are exercised too.
Every patient has a DNAR Flag, an ordinary Flag, an allergy, a Condition, an emergency care plan (an old
one superseded, and the current one) and an end-of-life plan, an EpisodeOfCare with a case manager and a
CareTeam, all built valid (checked as they are written).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import consent_data as cd
from flask.testing import FlaskClient

from consent.alertcodes import EMERGENCY_CARE_PLAN, END_OF_LIFE_CARE_PLAN
from consent.model import Code
from fhir_profiles.canonical import NHS_NUMBER_SYSTEM, ODS_ORGANIZATION_SYSTEM
from fhir_profiles.nhs_number import generate_nhs_number

JSON = dict[str, Any]
SCT = "http://snomed.info/sct"
PATIENTS = ("p1", "p2", "p3", "p4")
TYPES = ("Patient", "Flag", "AllergyIntolerance", "Condition", "CarePlan", "EpisodeOfCare", "CareTeam")
SHARED_CLASSES = ["Flag", "AllergyIntolerance", "CarePlan", "EpisodeOfCare", "CareTeam"]
CONSUMER_SCOPES = tuple(f"system/{t}.read" for t in (*TYPES, "Organization", "Practitioner"))


@dataclass(frozen=True)
class Consumer:
    name: str
    ods: str
    purpose: str


AMBULANCE = Consumer("ambulance", "RYA", "ETREAT")
AE = Consumer("ae", "RXW", "ETREAT")
STRANGER = Consumer("stranger", "RZZ", "ETREAT")  # no consent names it
CONSUMERS = (AMBULANCE, AE, STRANGER)


def nhs_numbers() -> dict[str, str]:
    rng = random.Random(20261206)
    return {p: generate_nhs_number(rng) for p in PATIENTS}


def plan(plan_id: str, patient: str, code: str, start: str) -> JSON:
    return cd.care_plan(plan_id, patient, Code(SCT, code), period={"start": start})


def record_of(patient: str, nhs_number: str) -> list[JSON]:
    """One patient's resources (see the module docstring)."""
    return [
        {
            "resourceType": "Patient",
            "id": patient,
            "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": nhs_number}],
            "name": [{"family": f"Family-{patient}", "given": ["Test"]}],
            "birthDate": "1940-05-01",
        },
        cd.flag(f"{patient}-dnar", patient),
        cd.flag(f"{patient}-falls", patient, Code(SCT, "129839007")),  # At risk for falls
        cd.allergy(f"{patient}-allergy", patient),
        cd.condition(f"{patient}-copd", patient),
        plan(f"{patient}-ecp-old", patient, EMERGENCY_CARE_PLAN, "2025-01-01"),
        plan(f"{patient}-ecp", patient, EMERGENCY_CARE_PLAN, "2026-06-01"),
        plan(f"{patient}-eol", patient, END_OF_LIFE_CARE_PLAN, "2026-06-01"),
        {
            "resourceType": "EpisodeOfCare",
            "id": f"{patient}-episode",
            "status": "active",
            "patient": {"reference": f"Patient/{patient}"},
            "managingOrganization": {"reference": "Organization/cm-north"},
            "careManager": {"reference": "Practitioner/cm1"},
        },
        {
            "resourceType": "CareTeam",
            "id": f"{patient}-team",
            "status": "active",
            "subject": {"reference": f"Patient/{patient}"},
            "participant": [{"member": {"reference": "Organization/ooh-north"}}],
        },
    ]


def directory() -> list[JSON]:
    def org(org_id: str, ods: str, name: str) -> JSON:
        return {
            "resourceType": "Organization",
            "id": org_id,
            "identifier": [{"system": ODS_ORGANIZATION_SYSTEM, "value": ods}],
            "name": name,
        }

    return [
        org("RYA", "RYA", "West Midlands Ambulance Service"),
        org("RXW", "RXW", "Royal Shrewsbury Hospital A&E"),
        org("cm-north", "M82001", "North case management team"),
        org("ooh-north", "NLO01", "North out-of-hours team"),
        {"resourceType": "Practitioner", "id": "cm1", "name": [{"family": "Manager", "given": ["Casey"]}]},
    ]


def emergency_consent(consent_id: str, patient: str, status: str = "active") -> JSON:
    return cd.consent(
        consent_id,
        cd.provision(
            "permit",
            actors=[cd.actor_ods("RYA"), cd.actor_ref("Organization/RXW")],
            purposes=["ETREAT"],
            classes=SHARED_CLASSES,
            provisions=[
                cd.provision(
                    "deny",
                    actors=[cd.actor_ref("Organization/RXW")],
                    classes=["CarePlan"],
                    codes=[Code(SCT, END_OF_LIFE_CARE_PLAN)],
                )
            ],
        ),
        patient=patient,
        status=status,
    )


def consents() -> list[JSON]:
    one_flag = cd.consent(
        "c-p4",
        cd.provision("permit", actors=[cd.actor_ods("RYA")], purposes=["ETREAT"], data_refs=[cd.data("Flag/p4-dnar")]),
        patient="p4",
    )
    demographics = cd.consent(
        "c-p1-ae",
        cd.provision("permit", actors=[cd.actor_ref("Organization/RXW")], purposes=["ETREAT"], classes=["Patient"]),
        patient="p1",
    )
    return [emergency_consent("c-p1", "p1"), demographics, emergency_consent("c-p3", "p3", status="inactive"), one_flag]


def everything() -> list[JSON]:
    numbers = nhs_numbers()
    return [*directory(), *(r for p in PATIENTS for r in record_of(p, numbers[p])), *consents()]


def load(http: FlaskClient) -> None:
    """Write every resource through the API (as an internal client), as an EPR would."""
    for resource in everything():
        response = http.put(f"/{resource['resourceType']}/{resource['id']}", json=resource)
        assert response.status_code in (200, 201), response.get_data(as_text=True)
