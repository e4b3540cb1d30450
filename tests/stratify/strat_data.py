"""Small hand-made stores for stratification tests: Patients with the emergency admissions, conditions
and frailty codes that put them in known tiers, written as the feed adapters write them."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from adapters.encounter_codes import EMERGENCY_ADMISSION
from adapters.snomed import SNOMED_SYSTEM
from closer.store.sql import SqlRepository
from stratify.settings import StratifySettings, parse_settings

AS_OF = date(2026, 10, 1)
PRACTICE_NORTH, PRACTICE_SOUTH = "Z91001", "Z93001"
# eFI deficits (SNOMED CT, from codelists/efi.csv): fall, hearing loss, incontinence, memory impairment,
# housebound, dizziness, dyspnoea, visual impairment, lives alone, hypertension, heart failure, AF, diabetes.
FRAIL_CODES = [
    "1912002", "15188001", "165232002", "386807006", "160689007", "404640003", "267036007",
    "397540003", "105529008", "38341003", "84114007", "49436004", "44054006",
]  # fmt: skip

# NHS numbers in the 999 test range with valid check digits.
SEVERE, MILD, WELL, YOUNG = "9990000018", "9990000026", "9990000034", "9990000042"


def settings(**tiering: Any) -> StratifySettings:
    raw: dict[str, Any] = {
        "practices": {PRACTICE_NORTH: "North", PRACTICE_SOUTH: "South"},
        "tiering": {
            "severe": {"min_probability": 0.45, "min_frailty": "severe"},
            "moderate": {"min_probability": 0.25, "min_frailty": "moderate"},
            "mild": {"min_probability": 0.12, "min_frailty": "mild"},
            **tiering,
        },
    }
    return parse_settings(raw, "tests")


def patient(nhs: str, born: date, practice: str, died: date | None = None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": nhs,
        "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs}],
        "name": [{"family": "Test", "given": ["Pat"]}],
        "gender": "female",
        "birthDate": born.isoformat(),
        "generalPractitioner": [{"reference": f"Organization/{practice}"}],
    }
    if died:
        resource["deceasedDateTime"] = died.isoformat()
    return resource


def emergency_admission(nhs: str, n: int, start: date, days: int = 5) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": f"enc-{nhs}-{n}",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "type": [{"coding": [dict(EMERGENCY_ADMISSION)]}],
        "subject": {"reference": f"Patient/{nhs}"},
        "period": {"start": start.isoformat(), "end": (start + timedelta(days=days)).isoformat()},
    }


def gp_condition(nhs: str, code: str, onset: date) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": f"gp-{nhs}-{code}",
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
        },
        "code": {"coding": [{"system": SNOMED_SYSTEM, "code": code}]},
        "subject": {"reference": f"Patient/{nhs}"},
        "onsetDateTime": onset.isoformat(),
    }


def severe_history(nhs: str, before: date = AS_OF) -> list[dict[str, Any]]:
    """Four emergency admissions in the last year and 13 frailty deficits: the severe tier."""
    stays = [emergency_admission(nhs, n, before - timedelta(days=30 + 60 * n)) for n in range(4)]
    return stays + [gp_condition(nhs, code, date(2020, 1, 1)) for code in FRAIL_CODES]


def populate(repo: SqlRepository) -> None:
    """One severe, one mild (5 deficits: mild frailty), one well person, and one too young for the cohort."""
    batch = [
        {"resourceType": "Organization", "id": PRACTICE_NORTH, "name": "North practice"},
        {"resourceType": "Organization", "id": PRACTICE_SOUTH, "name": "South practice"},
        patient(SEVERE, date(1936, 5, 1), PRACTICE_NORTH),
        patient(MILD, date(1950, 5, 1), PRACTICE_NORTH),
        patient(WELL, date(1958, 5, 1), PRACTICE_SOUTH),
        patient(YOUNG, date(1970, 5, 1), PRACTICE_SOUTH),
        *severe_history(SEVERE),
        *(gp_condition(MILD, code, date(2021, 3, 1)) for code in FRAIL_CODES[:5]),
    ]
    with repo.transaction() as tx:
        tx.put_many(batch)
