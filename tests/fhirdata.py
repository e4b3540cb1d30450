"""Synthetic test resources (no real patient data). NHS numbers are valid test-range numbers."""

from __future__ import annotations

from typing import Any

NHS = "https://fhir.nhs.uk/Id/nhs-number"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
SNOMED = "http://snomed.info/sct"
# Valid Modulus 11 numbers from the 999 test range.
NHS_NUMBERS = ["9990000018", "9990000026", "9990000034", "9990000042", "9990000050", "9990000069"]


def patient(
    nhs: str = NHS_NUMBERS[0],
    family: str = "Smith",
    given: str = "Ann",
    birth: str = "1950-03-02",
    gender: str = "female",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": NHS, "value": nhs}],
        "name": [{"family": family, "given": [given]}],
        "birthDate": birth,
        "gender": gender,
        **extra,
    }


def condition(patient_ref: str, code: str = "44054006", onset: str = "2020-05-01", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "subject": {"reference": patient_ref},
        "code": {"coding": [{"system": SNOMED, "code": code}]},
        "onsetDateTime": onset,
        **extra,
    }


def observation(
    patient_ref: str, value: float, unit: str = "kg", code: str = "27113001", when: str = "2024-01-10T10:00:00Z"
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": SNOMED, "code": code}]},
        "subject": {"reference": patient_ref},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }
