"""An A&E attendance (ECDS-style) row -> an emergency Encounter.

The Encounter's id comes from the site and attendance number, so a re-sent attendance (typically first
sent while the patient was still in the department, then again after departure) updates the same record.
Every attendance is typed 4525004 so `Encounter?type=http://snomed.info/sct|4525004` finds them all.
"""

from __future__ import annotations

from adapters.encounter_codes import EMERGENCY, EMERGENCY_ATTENDANCE
from adapters.identity import ODS_SITE_SYSTEM, derived_id, local_system
from adapters.rows import (
    JSON,
    Feed,
    Row,
    RowError,
    RowPlan,
    check_order,
    nhs_number,
    ods_code,
    reference,
    required,
    value,
    when,
)
from adapters.snomed import SNOMED_SYSTEM, is_sctid
from adapters.writing import organization_stub, patient_stub

COLUMNS = (
    "attendance_id",
    "arrival_time",
    "nhs_number",
    "site_ods",
    "chief_complaint_snomed",
    "chief_complaint_term",
    "discharge_status_snomed",
    "discharge_status_term",
    "departure_time",
)


def map_row(row: Row) -> RowPlan:
    """Check and map one ECDS row; raises RowError naming the first column at fault."""
    attendance_id = required(row, "attendance_id")
    arrived = when(row, "arrival_time", needed=True)
    assert arrived is not None
    nhs = nhs_number(row)
    site = ods_code(row, "site_ods")
    departed = when(row, "departure_time")
    check_order("arrival_time", arrived, "departure_time", departed)
    complaint = _concept(row, "chief_complaint_snomed", "chief_complaint_term")
    discharge_status = _concept(row, "discharge_status_snomed", "discharge_status_term")

    encounter: JSON = {
        "resourceType": "Encounter",
        "id": derived_id("attendance", site, attendance_id),
        "identifier": [{"system": local_system("attendance", site), "value": attendance_id}],
        "status": "finished" if departed else "in-progress",
        "class": dict(EMERGENCY),
        "type": [{"coding": [dict(EMERGENCY_ATTENDANCE)]}],
        "subject": reference("Patient", nhs),
        "period": {"start": arrived, "end": departed} if departed else {"start": arrived},
        "serviceProvider": reference("Organization", site),
        "location": [{"location": {"identifier": {"system": ODS_SITE_SYSTEM, "value": site}}}],
    }
    if complaint:
        encounter["reasonCode"] = [complaint]
    if discharge_status:
        encounter["hospitalization"] = {"dischargeDisposition": discharge_status}
    return RowPlan(
        key=f"attendance {attendance_id} at {site}",
        stubs=[patient_stub(nhs), organization_stub(site)],
        resources=[encounter],
    )


def _concept(row: Row, code_column: str, term_column: str) -> JSON | None:
    """A SNOMED CT CodeableConcept from a code and its term; a term alone is kept as text."""
    code, term = value(row, code_column), value(row, term_column)
    if not code:
        return {"text": term} if term else None
    if not is_sctid(code):
        raise RowError(f"{code_column} '{code}' is not a SNOMED CT identifier (6-18 digits with a valid check digit)")
    coding: JSON = {"system": SNOMED_SYSTEM, "code": code}
    if term:
        coding["display"] = term
    return {"coding": [coding]}


FEED = Feed("ECDS", COLUMNS, map_row)
