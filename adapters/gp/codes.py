"""The codes and marks the GP feeds write, kept in one place so stratification, tests and FEEDS.md name the
same things.

Every resource built from a practice's CSV extract carries an identifier in that practice's `gp-extract`
system, so `identifier=<system>|` finds what the extract made. That is how a re-ingest finds what the
practice no longer sends while leaving alone what other feeds wrote about the same patient. An identifier
rather than a meta.tag, because the store indexes `identifier` on every clinical type and has no `_tag`.
"""

from __future__ import annotations

from adapters.identity import local_system
from adapters.rows import JSON
from adapters.snomed import SNOMED_SYSTEM, is_sctid
from fhir_profiles.canonical import CANONICAL_BASE, STRUCTURE_DEFINITION_BASE

__all__ = ["SNOMED_SYSTEM"]

DMD_SYSTEM = "https://dmd.nhs.uk"
UCUM_SYSTEM = "http://unitsofmeasure.org"
CONDITION_CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ALLERGY_CLINICAL_SYSTEM = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"

# Whether a medication is a repeat or an acute (one-off) course. R4 has no element for it; MedicationStatement
# `category` is searchable, so the course goes there under this local code system.
MEDICATION_COURSE_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/medication-course"
REPEAT = "repeat"
ACUTE = "acute"
COURSE_DISPLAY = {REPEAT: "Repeat medication", ACUTE: "Acute medication"}

# The date the patient registered with the practice (R4 Patient has no element for it).
REGISTRATION_EXTENSION = f"{STRUCTURE_DEFINITION_BASE}/gp-registration-period"

EXTRACT_KIND = "gp-extract"


def concept(system: str, code: str, display: str = "") -> JSON:
    coding: JSON = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


PROBLEM_LIST_ITEM = concept(CONDITION_CATEGORY_SYSTEM, "problem-list-item", "Problem List Item")
CONDITION_ACTIVE = concept(CONDITION_CLINICAL_SYSTEM, "active", "Active")
CONDITION_ENTERED_IN_ERROR = concept(CONDITION_VERIFICATION_SYSTEM, "entered-in-error", "Entered in Error")
ALLERGY_ACTIVE = concept(ALLERGY_CLINICAL_SYSTEM, "active", "Active")
ALLERGY_INACTIVE = concept(ALLERGY_CLINICAL_SYSTEM, "inactive", "Inactive")


def course(code: str) -> JSON:
    """The MedicationStatement category for a repeat or an acute course."""
    return concept(MEDICATION_COURSE_SYSTEM, code, COURSE_DISPLAY[code])


def extract_system(practice: str) -> str:
    """The identifier system of everything the practice's CSV extract made."""
    return local_system(EXTRACT_KIND, practice)


def extract_identifier(practice: str, *key: str) -> JSON:
    """The source key of a record (e.g. event/<nhs>/<date>/<code>), readable in the stored resource."""
    return {"system": extract_system(practice), "value": "/".join(key)}


def from_extract(resource: JSON, practice: str) -> bool:
    """Whether the practice's extract made this resource (re-ingest touches nothing else)."""
    system = extract_system(practice)
    return any(identifier.get("system") == system for identifier in resource.get("identifier", []))


def snomed_concept(column: str, code: str, term: str) -> tuple[JSON, list[str]]:
    """A SNOMED CT CodeableConcept, or the code kept as sent with a warning when it is not an SCTID.

    A code that fails the format or the Verhoeff check digit is stored without a system: claiming
    `http://snomed.info/sct` for it would let a SNOMED search match a code that names nothing (or another
    concept). `code=<code>` still finds it, and the report says which row to correct."""
    if is_sctid(code):
        return concept(SNOMED_SYSTEM, code, term), []
    coding: JSON = {"code": code}
    if term:
        coding["display"] = term
    warning = (
        f"{column} '{code}' is not a valid SNOMED CT identifier (6-18 digits ending in a Verhoeff check digit): "
        "stored as sent, without a code system; please check the code"
    )
    return {"coding": [coding]}, [warning]
