"""Reading what stratification needs from the store in a few set-based scans, not a search per person.

One streamed query per resource type (Patient, Condition, Encounter, MedicationStatement, EpisodeOfCare,
Observation, RelatedPerson) returns the current, undeleted resources; each is reduced at once to the
small fact records of `stratify.features`, so memory grows with the facts, not with the JSON. Observations
are narrowed in SQL to home care hours through the token index. For rescoring a few people (deterioration
between runs) the same scans are narrowed to them through the reference index.

What counts (also in FEATURES.md): entries marked entered-in-error (or refuted, cancelled, not-taken)
are left out; a Patient replaced by another (HL7 A40 merge) is left out, its survivor is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from datetime import date
from typing import Any

import orjson
from sqlalchemy import Select, and_, exists, false, select
from sqlalchemy.engine import Connection, Engine

from adapters.encounter_codes import ELECTIVE_ADMISSION, EMERGENCY_ADMISSION, EMERGENCY_ATTENDANCE
from adapters.gp.codes import MEDICATION_COURSE_SYSTEM
from adapters.hospital.icd10 import ICD10_SYSTEM
from adapters.snomed import SNOMED_SYSTEM
from adapters.social_care import codes as sc
from closer.store.schema import idx_reference, idx_token, resources
from stratify.features import CarePackage, Coded, Course, PersonFacts, Stay

JSON = dict[str, Any]
STREAM_ROWS = 5000
KINDS = {
    EMERGENCY_ADMISSION["code"]: "emergency",
    ELECTIVE_ADMISSION["code"]: "elective",
    EMERGENCY_ATTENDANCE["code"]: "ae",
}
NOT_RECORDS = {"entered-in-error", "refuted", "cancelled", "not-taken"}
INACTIVE_CLINICAL = {"inactive", "resolved", "remission"}
CARER_CODES = {(sc.CARER_SYSTEM, sc.UNPAID_CARER), (SNOMED_SYSTEM, sc.SNOMED_INFORMAL_CARER)}


def load_facts(
    engine: Engine, practices: Collection[str], patient_ids: Collection[str] | None = None
) -> dict[str, PersonFacts]:
    """Facts of every person registered with one of `practices` (or of just `patient_ids`), by Patient id."""
    people: dict[str, PersonFacts] = {}
    scope = set(practices)
    with engine.connect() as conn:
        for patient in _scan(conn, "Patient", patient_ids, subject_param=None):
            facts = _person(patient)
            if facts is not None and facts.practice in scope:
                people[facts.patient_id] = facts
        readers: list[tuple[str, str, Callable[[JSON, PersonFacts], None]]] = [
            ("Condition", "subject", _condition),
            ("Encounter", "subject", _encounter),
            ("MedicationStatement", "subject", _medication),
            ("RelatedPerson", "patient", _carer),
        ]
        for resource_type, param, read in readers:
            for resource in _scan(conn, resource_type, patient_ids, subject_param=param):
                owner = people.get(_patient_of(resource.get(param)))
                if owner is not None and resource.get("status") not in NOT_RECORDS:
                    read(resource, owner)
        hours = _home_care_hours(conn, patient_ids)
        for episode in _scan(conn, "EpisodeOfCare", patient_ids, subject_param="patient"):
            owner = people.get(_patient_of(episode.get("patient")))
            if owner is not None and episode.get("status") not in NOT_RECORDS:
                _package(episode, owner, hours)
    return people


def _scan(
    conn: Connection, resource_type: str, patient_ids: Collection[str] | None, *, subject_param: str | None
) -> Iterator[JSON]:
    """The current resources of one type, streamed; narrowed to `patient_ids` when given."""
    r = resources.c
    query = select(r.content).where(r.res_type == resource_type, r.deleted == false())
    if patient_ids is not None:
        if subject_param is None:
            query = query.where(r.res_id.in_(list(patient_ids)))
        else:
            ref = idx_reference.c
            query = query.where(
                exists().where(
                    and_(
                        ref.res_type == resource_type,
                        ref.res_id == r.res_id,
                        ref.param == subject_param,
                        ref.target_type == "Patient",
                        ref.target_id.in_(list(patient_ids)),
                    )
                )
            )
    result = conn.execution_options(stream_results=True, yield_per=STREAM_ROWS).execute(query)
    for (content,) in result:
        yield orjson.loads(content)


def current_with_code(resource_type: str, system: str, code: str) -> Select[Any]:
    """The content of the current resources of a type carrying one code: the token index finds their ids
    (its (type, param, code, system) index), then each is read by its key."""
    r, t = resources.c, idx_token.c
    coded = select(t.res_id).where(t.res_type == resource_type, t.param == "code", t.code == code, t.system == system)
    return select(r.content).where(r.res_type == resource_type, r.deleted == false(), r.res_id.in_(coded))


def _home_care_hours(conn: Connection, patient_ids: Collection[str] | None) -> dict[str, float]:
    """Weekly hours by EpisodeOfCare id, from the final home-care-hours Observations (their `focus`)."""
    query = current_with_code("Observation", sc.OBSERVATION_SYSTEM, sc.HOME_CARE_HOURS)
    hours: dict[str, float] = {}
    wanted = None if patient_ids is None else set(patient_ids)
    for (content,) in conn.execution_options(stream_results=True, yield_per=STREAM_ROWS).execute(query):
        observation = orjson.loads(content)
        if observation.get("status") != "final":
            continue
        if wanted is not None and _patient_of(observation.get("subject")) not in wanted:
            continue
        value = (observation.get("valueQuantity") or {}).get("value")
        for focus in observation.get("focus", []):
            kind, _, episode_id = str(focus.get("reference", "")).partition("/")
            if kind == "EpisodeOfCare" and isinstance(value, int | float):
                hours[episode_id] = hours.get(episode_id, 0.0) + float(value)
    return hours


def _patient_of(reference: object) -> str:
    if not isinstance(reference, dict):
        return ""
    kind, _, ident = str(reference.get("reference", "")).partition("/")
    return ident if kind == "Patient" else ""


def _day(value: object) -> date | None:
    """The calendar day of a FHIR date or dateTime as written (its own offset's day)."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _person(patient: JSON) -> PersonFacts | None:
    if any(link.get("type") == "replaced-by" for link in patient.get("link", [])):
        return None
    born = _day(patient.get("birthDate"))
    registered = practice_of(patient)
    practice = registered[0] if registered else ""
    if born is None or not practice:
        return None
    died = _day(patient.get("deceasedDateTime"))
    if died is None and patient.get("deceasedBoolean") is True:
        died = date.min  # dead, day unknown: out of every cohort
    return PersonFacts(str(patient["id"]), born, str(patient.get("gender", "unknown")), practice, died)


def practice_of(patient: JSON) -> tuple[str, str] | None:
    """(ODS code, reference) of the person's registered practice: the first generalPractitioner that is an
    Organization, its identifier's value or else its id, upper case. Stratification and case management
    both read a person's practice here, so they cannot disagree about it."""
    for gp in patient.get("generalPractitioner", []):
        kind, _, ident = str(gp.get("reference", "")).partition("/")
        if kind == "Organization":
            return str((gp.get("identifier") or {}).get("value") or ident).upper(), str(gp["reference"])
    return None


def _codes(concept: object) -> Iterator[tuple[str, str]]:
    if isinstance(concept, dict):
        for coding in concept.get("coding", []):
            if coding.get("code"):
                yield str(coding.get("system", "")), str(coding["code"])


def _status_code(concept: object) -> str:
    return next((code for _, code in _codes(concept)), "")


def _condition(condition: JSON, owner: PersonFacts) -> None:
    if _status_code(condition.get("verificationStatus")) in NOT_RECORDS:
        return
    day = _day(condition.get("onsetDateTime")) or _day(condition.get("recordedDate"))
    if day is None:
        return
    active = _status_code(condition.get("clinicalStatus")) not in INACTIVE_CLINICAL
    ref = f"Condition/{condition['id']}"
    for system, code in _codes(condition.get("code")):
        if system == SNOMED_SYSTEM:
            owner.coded.append(Coded(ref, "snomed", code, day, active))
        elif system == ICD10_SYSTEM:
            owner.coded.append(Coded(ref, "icd10", code, day, active))


def _encounter(encounter: JSON, owner: PersonFacts) -> None:
    period = encounter.get("period") or {}
    start = _day(period.get("start"))
    if start is None:
        return
    for concept in encounter.get("type", []):
        for system, code in _codes(concept):
            if system == SNOMED_SYSTEM and code in KINDS:
                owner.stays.append(Stay(f"Encounter/{encounter['id']}", KINDS[code], start, _day(period.get("end"))))
                return


def _medication(statement: JSON, owner: PersonFacts) -> None:
    period = statement.get("effectivePeriod") or {}
    start = _day(period.get("start")) or _day(statement.get("effectiveDateTime"))
    concept = statement.get("medicationCodeableConcept") or {}
    code = next((c for _, c in _codes(concept)), "") or str(concept.get("text", ""))
    if start is None or not code:
        return
    repeat = (MEDICATION_COURSE_SYSTEM, "repeat") in set(_codes(statement.get("category")))
    owner.courses.append(Course(code, start, _day(period.get("end")), repeat))


def _carer(person: JSON, owner: PersonFacts) -> None:
    if person.get("active") is False:
        return
    if any(pair in CARER_CODES for concept in person.get("relationship", []) for pair in _codes(concept)):
        owner.carers.append(_day((person.get("period") or {}).get("start")))


def _package(episode: JSON, owner: PersonFacts, hours: dict[str, float]) -> None:
    period = episode.get("period") or {}
    start = _day(period.get("start"))
    if start is None:
        return
    for concept in episode.get("type", []):
        for system, code in _codes(concept):
            if system == sc.SERVICE_SYSTEM:
                owner.packages.append(CarePackage(code, start, _day(period.get("end")), hours.get(episode["id"], 0.0)))
                return
