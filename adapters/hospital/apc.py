"""An admitted patient care (SUS APC-style) row -> Encounter, Conditions and, on death, a Patient change.

One row is one hospital provider spell. The Encounter's id comes from the provider and spell number and
each diagnosis's Condition id from the spell and the normalised ICD-10 code, so a re-sent spell lands on
the same resources: unchanged rows write nothing, corrected rows update in place, and diagnoses the
provider has since removed are marked entered-in-error instead of lingering as if still true.
"""

from __future__ import annotations

from collections.abc import Callable

from adapters.encounter_codes import (
    ADMISSION_METHODS,
    DESTINATION_DIED,
    DIED,
    DISCHARGE_METHODS,
    INPATIENT,
    admission_coding,
    discharge_destination,
    discharge_method_extension,
)
from adapters.hospital.icd10 import ICD10_SYSTEM, BadIcd10, normalise_icd10
from adapters.identity import local_system, spell_condition_id, spell_encounter_id
from adapters.rows import (
    JSON,
    Amend,
    Feed,
    Row,
    RowError,
    RowPlan,
    Supersede,
    check_order,
    nhs_number,
    ods_code,
    reference,
    required,
    value,
    when,
)
from adapters.writing import organization_stub, patient_stub

COLUMNS = (
    "nhs_number",
    "spell_id",
    "provider_ods",
    "admission_date",
    "admission_method",
    "discharge_date",
    "discharge_destination",
    "discharge_method",
    "primary_diagnosis",
    "secondary_diagnoses",
)

CONDITION_CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_VERIFICATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ENCOUNTER_DIAGNOSIS = {
    "coding": [{"system": CONDITION_CATEGORY_SYSTEM, "code": "encounter-diagnosis", "display": "Encounter Diagnosis"}]
}
ENTERED_IN_ERROR = {
    "coding": [{"system": CONDITION_VERIFICATION_SYSTEM, "code": "entered-in-error", "display": "Entered in Error"}]
}


def map_row(row: Row) -> RowPlan:
    """Check and map one APC row; raises RowError naming the first column at fault."""
    nhs = nhs_number(row)
    spell_id = required(row, "spell_id")
    provider = ods_code(row, "provider_ods")
    admitted = when(row, "admission_date", needed=True)
    assert admitted is not None
    method = required(row, "admission_method").upper()
    if method not in ADMISSION_METHODS:
        raise RowError(
            f"admission_method '{value(row, 'admission_method')}' is not an NHS Data Dictionary admission method "
            "code (11-13 elective, 21-2D emergency, 31-32 maternity, 81-83 other, 98, 99)"
        )
    discharged = when(row, "discharge_date")
    check_order("admission_date", admitted, "discharge_date", discharged)
    discharge_method = value(row, "discharge_method")
    if discharge_method and discharge_method not in DISCHARGE_METHODS:
        raise RowError(f"discharge_method '{discharge_method}' is not an NHS Data Dictionary discharge method (1-9)")
    if discharge_method == DIED and discharged is None:
        raise RowError("discharge_method 4 (patient died) needs a discharge_date, the date of death")
    destination = value(row, "discharge_destination")
    disposition = discharge_destination(destination) if destination else None
    if destination and disposition is None:
        raise RowError(f"discharge_destination '{destination}' is not an NHS Data Dictionary discharge destination")
    primary, secondary = _diagnoses(row)

    encounter_id = spell_encounter_id(provider, spell_id)
    codes = ([primary] if primary else []) + secondary
    condition_ids = {code: spell_condition_id(provider, spell_id, code) for code in codes}
    conditions = [_condition(condition_ids[code], code, nhs, encounter_id, admitted) for code in codes]
    encounter = _encounter(encounter_id, nhs, provider, spell_id, method, admitted, discharged)
    if disposition:
        encounter.setdefault("hospitalization", {})["dischargeDisposition"] = disposition
    discharge_extension = discharge_method_extension(discharge_method) if discharge_method else None
    if discharge_extension:
        encounter["extension"] = [discharge_extension]
    if codes:
        encounter["diagnosis"] = [
            {"condition": reference("Condition", condition_ids[code]), "rank": rank}
            for rank, code in enumerate(codes, start=1 if primary else 2)
        ]

    plan = RowPlan(
        key=f"spell {spell_id} of {provider}",
        stubs=[patient_stub(nhs), organization_stub(provider)],
        resources=[*conditions, encounter],
        supersessions=[
            Supersede(
                "Condition",
                # Searched by the spell alone (selective and indexed); entered_in_error leaves alone any
                # Condition this feed did not make (another source may link its own to the spell).
                (("encounter", f"Encounter/{encounter_id}"),),
                frozenset(condition_ids.values()),
                entered_in_error,
                anchor=("Encounter", encounter_id),
            )
        ],
    )
    if discharge_method == DIED and discharged is not None:
        plan.amendments.append(Amend("Patient", nhs, died_on(discharged)))
    elif destination == DESTINATION_DIED:
        plan.warnings.append(
            f"discharge_destination 79 (patient died) but discharge_method is '{discharge_method}', not 4: "
            "the Patient was not marked deceased"
        )
    return plan


def _diagnoses(row: Row) -> tuple[str | None, list[str]]:
    """The primary diagnosis and the distinct secondary ones (minus the primary), all normalised."""
    primary_text = value(row, "primary_diagnosis")
    primary = _icd10("primary_diagnosis", primary_text) if primary_text else None
    secondary: list[str] = []
    for part in value(row, "secondary_diagnoses").split(";"):
        if part.strip():
            code = _icd10("secondary_diagnoses", part)
            if code != primary and code not in secondary:
                secondary.append(code)
    return primary, secondary


def _icd10(column: str, text: str) -> str:
    try:
        return normalise_icd10(text)
    except BadIcd10 as exc:
        raise RowError(f"{column}: {exc}") from None


def _encounter(
    encounter_id: str,
    nhs: str,
    provider: str,
    spell_id: str,
    method: str,
    admitted: str,
    discharged: str | None,
) -> JSON:
    types, priority, admission_extension = admission_coding(method)
    period = {"start": admitted, "end": discharged} if discharged else {"start": admitted}
    encounter: JSON = {
        "resourceType": "Encounter",
        "id": encounter_id,
        "identifier": [{"system": local_system("spell", provider), "value": spell_id}],
        "status": "finished" if discharged else "in-progress",
        "class": dict(INPATIENT),
        "subject": reference("Patient", nhs),
        "period": period,
        "serviceProvider": reference("Organization", provider),
    }
    if types:
        encounter["type"] = [{"coding": [dict(coding) for coding in types]}]
    if priority:
        encounter["priority"] = priority
    if admission_extension:
        encounter["hospitalization"] = {"extension": [admission_extension]}
    return encounter


def _condition(condition_id: str, code: str, nhs: str, encounter_id: str, admitted: str) -> JSON:
    return {
        "resourceType": "Condition",
        "id": condition_id,
        "category": [ENCOUNTER_DIAGNOSIS],
        "code": {"coding": [{"system": ICD10_SYSTEM, "code": code}]},
        "subject": reference("Patient", nhs),
        "encounter": reference("Encounter", encounter_id),
        "recordedDate": admitted,
    }


def entered_in_error(condition: JSON) -> JSON:
    """A diagnosis the provider no longer lists: kept for the record, marked as wrong. R4 forbids a
    clinicalStatus on an entered-in-error Condition (con-5), so any is dropped. Only this feed's own
    diagnoses (ICD-10 encounter-diagnosis) are touched; any other Condition comes back unchanged."""
    if not _made_by_this_feed(condition):
        return condition
    changed = {key: item for key, item in condition.items() if key != "clinicalStatus"}
    changed["verificationStatus"] = ENTERED_IN_ERROR
    return changed


def _made_by_this_feed(condition: JSON) -> bool:
    categories = {
        (c.get("system"), c.get("code")) for cc in condition.get("category", []) for c in cc.get("coding", [])
    }
    systems = {c.get("system") for c in condition.get("code", {}).get("coding", [])}
    return (CONDITION_CATEGORY_SYSTEM, "encounter-diagnosis") in categories and ICD10_SYSTEM in systems


def died_on(date_of_death: str) -> Callable[[JSON], JSON]:
    """The change that records a death on the Patient and leaves everything else as it was. A death
    already recorded more precisely on the same day (a time as well as the date) is kept."""

    def change(patient: JSON) -> JSON:
        recorded = patient.get("deceasedDateTime")
        if isinstance(recorded, str) and recorded.startswith(date_of_death):
            return patient
        changed = {key: item for key, item in patient.items() if key != "deceasedBoolean"}
        changed["deceasedDateTime"] = date_of_death
        return changed

    return change


FEED = Feed("APC", COLUMNS, map_row)
