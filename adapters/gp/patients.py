"""A patients.csv row of a GP practice extract -> the practice (a stub) and the Patient, merged over any
Patient another feed already wrote.

The Patient's id is the NHS number, as every feed's is, so the GP extract lands on the record HL7 ADT or a
hospital extract may have started. The row is written as a stub (created only if the id is free) and then
merged (`merge.merge_patient`): a new patient costs one version, a known one keeps what the extract does not
carry, and an unchanged row writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

from adapters.gp.codes import REGISTRATION_EXTENSION
from adapters.gp.merge import merge_patient
from adapters.identity import NHS_NUMBER_SYSTEM, ODS_ORGANIZATION_SYSTEM
from adapters.rows import (
    JSON,
    Amend,
    Feed,
    Row,
    RowError,
    RowPlan,
    check_order,
    nhs_number,
    ods_code,
    required,
    value,
    when,
)
from adapters.writing import organization_stub

COLUMNS = (
    "nhs_number",
    "family_name",
    "given_name",
    "date_of_birth",
    "sex",
    "postcode",
    "practice_ods",
    "registration_date",
    "date_of_death",
)

# The sex column as GP systems export it: a letter or the word.
GENDER = {
    "M": "male",
    "MALE": "male",
    "F": "female",
    "FEMALE": "female",
    "U": "unknown",
    "UNKNOWN": "unknown",
    "I": "other",
    "INDETERMINATE": "other",
    "O": "other",
    "OTHER": "other",
}
_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})$")


def map_row(row: Row) -> RowPlan:
    """Check and map one patients.csv row; raises RowError naming the first column at fault."""
    nhs = nhs_number(row)
    practice = ods_code(row, "practice_ods")
    patient = gp_patient(row, nhs, practice)
    return RowPlan(
        key=f"patient {nhs}",
        stubs=[organization_stub(practice), patient],
        amendments=[Amend("Patient", nhs, merged_with(patient))],
    )


def gp_patient(row: Row, nhs: str, practice: str) -> JSON:
    """The Patient as the practice records it."""
    family = required(row, "family_name")
    born = day(row, "date_of_birth", needed=True)
    assert born is not None
    if date.fromisoformat(born) > date.today():
        raise RowError(f"date_of_birth {born} is in the future")
    sex = required(row, "sex")
    gender = GENDER.get(sex.upper())
    if gender is None:
        raise RowError(f"sex '{sex}' is not one of M, F, U, I (or male, female, unknown, indeterminate)")
    registered = day(row, "registration_date")
    if registered is not None:
        check_order("date_of_birth", born, "registration_date", registered)
    died = when(row, "date_of_death")
    if died is not None:
        check_order("date_of_birth", born, "date_of_death", died)

    name: JSON = {"use": "official", "family": family}
    if given := value(row, "given_name"):
        name["given"] = [given]
    patient: JSON = {"resourceType": "Patient", "id": nhs}
    if registered is not None:
        patient["extension"] = [{"url": REGISTRATION_EXTENSION, "valuePeriod": {"start": registered}}]
    patient.update(
        {
            "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": nhs}],
            "name": [name],
            "gender": gender,
            "birthDate": born,
        }
    )
    if died is not None:
        patient["deceasedDateTime"] = died
    if postcode := value(row, "postcode"):
        patient["address"] = [{"use": "home", "postalCode": normal_postcode(postcode)}]
    patient["generalPractitioner"] = [
        {"reference": f"Organization/{practice}", "identifier": {"system": ODS_ORGANIZATION_SYSTEM, "value": practice}}
    ]
    return patient


def merged_with(patient: JSON) -> Callable[[JSON], JSON]:
    def change(current: JSON) -> JSON:
        return merge_patient(current, patient)

    return change


def day(row: Row, column: str, *, needed: bool = False) -> str | None:
    """A date without a time (a birth or registration date is a day, and FHIR `date` holds no time)."""
    found = when(row, column, needed=needed)
    if found is not None and len(found) != 10:
        raise RowError(f"{column} '{value(row, column)}' is not a date (YYYY-MM-DD)")
    return found


def normal_postcode(text: str) -> str:
    """A UK postcode, upper case with its single space (SY11AA -> SY1 1AA)."""
    found = _POSTCODE.match(" ".join(text.upper().split()))
    if found is None:
        raise RowError(f"postcode '{text}' is not a UK postcode")
    return f"{found[1]} {found[2]}"


FEED = Feed("GP patients", COLUMNS, map_row)
