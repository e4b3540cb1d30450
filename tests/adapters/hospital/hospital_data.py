"""Synthetic APC and ECDS rows (test-range NHS numbers, no real patients) for the hospital extract tests."""

from __future__ import annotations

from fhirdata import NHS_NUMBERS

from adapters.hospital import apc, ecds


def apc_row(**overrides: str) -> dict[str, str]:
    """An emergency admission (method 21), discharged home, with three diagnoses written SUS-style."""
    row = {
        "nhs_number": NHS_NUMBERS[0],
        "spell_id": "S1001",
        "provider_ods": "RXW",
        "admission_date": "2024-01-10T09:15",
        "admission_method": "21",
        "discharge_date": "2024-01-15",
        "discharge_destination": "19",
        "discharge_method": "1",
        "primary_diagnosis": "J441",
        "secondary_diagnoses": "I10X;E11.9",
    }
    row.update(overrides)
    return row


def ecds_row(**overrides: str) -> dict[str, str]:
    """A finished attendance for chest pain (29857009), discharged home (306689006)."""
    row = {
        "attendance_id": "A5001",
        "arrival_time": "2024-07-01T22:40",
        "nhs_number": NHS_NUMBERS[1],
        "site_ods": "RXW01",
        "chief_complaint_snomed": "29857009",
        "chief_complaint_term": "Chest pain",
        "discharge_status_snomed": "306689006",
        "discharge_status_term": "Discharge to home",
        "departure_time": "2024-07-02T02:05",
    }
    row.update(overrides)
    return row


APC_COLUMNS = apc.COLUMNS
ECDS_COLUMNS = ecds.COLUMNS
