"""One person of a social care extract -> what the store must do (a RowPlan). Pure: no IO.

Which Patient the person is has already been decided (matching.py); this module only says what to write
for them. Resource ids are derived from the local authority, the person's LA id and the record's LA id,
so the same extract sent again writes nothing, a corrected record updates in place, and records of two
people never collide. The rules are documented in MAPPING.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from adapters.identity import derived_id, local_system
from adapters.rows import JSON, Amend, RowError, RowPlan, Supersede, nhs_number, reference
from adapters.social_care import codes
from adapters.social_care.model import Assessment, Carer, ExtractHeader, Person, Service
from adapters.writing import organization_stub, patient_stub


@dataclass(frozen=True)
class Source:
    """The authority that sent the records and the day they describe."""

    local_authority: str
    extract_date: date
    local_authority_name: str = ""

    @classmethod
    def from_header(cls, header: ExtractHeader) -> Source:
        return cls(header.local_authority, header.extract_date, header.local_authority_name)

    @property
    def person_system(self) -> str:
        return la_person_system(self.local_authority)


@dataclass(frozen=True)
class Link:
    """The Patient a person's records belong to. `nhs_number` is set when the Patient's id is the person's
    NHS number: a stub is created when it is absent and its missing demographics are filled in."""

    patient_id: str
    how: str  # "nhs-number", "la-person-id", "demographics" or "review" (a person resolved by hand)
    nhs_number: str = ""


def la_person_system(local_authority: str) -> str:
    return local_system("la-person", local_authority)


def check_person(person: Person, source: Source) -> str:
    """What the schema cannot say; returns the NHS number without spaces ("" when there is none)."""
    number = nhs_number({"nhsNumber": person.nhs_number}, "nhsNumber") if person.nhs_number else ""
    if person.birth_date > source.extract_date:
        raise RowError(f"birthDate {person.birth_date} is after the extract date {source.extract_date}")
    for service in person.services:
        if service.end is not None and service.end < service.start:
            raise RowError(f"service {service.id}: endDate {service.end} is before startDate {service.start}")
    return number


def plan_person(person: Person, link: Link, source: Source) -> RowPlan:
    """Everything one person writes: Patient link, LA Organization, EpisodeOfCare per service (plus an
    hours Observation for home care), an Observation per assessment and a RelatedPerson per carer; and
    the retraction rules for records the authority no longer sends."""
    la = source.local_authority
    patient = reference("Patient", link.patient_id)
    plan = RowPlan(key=f"LA person {person.la_person_id}")
    if link.nhs_number:
        plan.stubs.append(patient_stub(link.nhs_number))
    plan.stubs.append(organization_stub(la, source.local_authority_name))
    plan.amendments.append(
        Amend("Patient", link.patient_id, link_patient(source.person_system, person, fill=bool(link.nhs_number)))
    )
    if link.how == "demographics":
        plan.warnings.append(
            f"no NHS number: linked to Patient/{link.patient_id}, the one Patient with this family name, date of "
            "birth and postcode"
        )

    hours_ids: set[str] = set()
    for service in person.services:
        episode = _episode(person, service, patient, source)
        plan.resources.append(episode)
        provider = organization_stub(service.provider_ods, service.provider_name) if service.provider_ods else None
        if provider is not None and provider["id"] not in {stub["id"] for stub in plan.stubs}:
            plan.stubs.append(provider)
        if service.type == "home-care" and service.hours_per_week is not None:
            hours = _hours(person, service, patient, episode["id"], source)
            hours_ids.add(hours["id"])
            plan.resources.append(hours)
        elif service.type == "home-care":
            plan.warnings.append(f"home care service {service.id} has no hoursPerWeek: no hours Observation")
        elif service.hours_per_week is not None:
            plan.warnings.append(
                f"hoursPerWeek of {service.type} service {service.id} ignored: read for home care only"
            )
    plan.resources.extend(_assessment(person, item, patient, source) for item in person.assessments)
    plan.resources.extend(_carer(person, carer, patient, source) for carer in person.carers)

    patient_search = f"Patient/{link.patient_id}"
    anchor = ("Patient", link.patient_id)  # a Patient new to the store has nothing to retract
    plan.supersessions += [
        Supersede(
            "EpisodeOfCare",
            (("patient", patient_search), ("identifier", f"{local_system('la-service', la)}|")),
            frozenset(_package_id(source, person, service) for service in person.services),
            retract_package(source.extract_date),
            anchor,
        ),
        Supersede(
            "Observation",
            (
                ("subject", patient_search),
                ("code", f"{codes.OBSERVATION_SYSTEM}|{codes.HOME_CARE_HOURS}"),
                ("performer", f"Organization/{la}"),
            ),
            frozenset(hours_ids),
            retract_hours(source.extract_date),
            anchor,
        ),
        Supersede(
            "RelatedPerson",
            (("patient", patient_search), ("identifier", f"{local_system('la-carer', la)}|")),
            frozenset(_carer_id(source, person, carer) for carer in person.carers),
            no_longer_carer,
            anchor,
        ),
    ]
    return plan


# -- resources -------------------------------------------------------------------------------------------
def _package_id(source: Source, person: Person, service: Service) -> str:
    return derived_id("sc-package", source.local_authority, person.la_person_id, service.id)


def _carer_id(source: Source, person: Person, carer: Carer) -> str:
    return derived_id("sc-carer", source.local_authority, person.la_person_id, carer.id)


def package_status(service: Service, on: date) -> str:
    """planned before it starts, finished once its end date has passed, active in between (both ends count)."""
    if service.start > on:
        return "planned"
    if service.end is not None and service.end < on:
        return "finished"
    return "active"


def _period(start: date, end: date | None) -> JSON:
    period = {"start": start.isoformat()}
    if end is not None:
        period["end"] = end.isoformat()
    return period


def _episode(person: Person, service: Service, patient: JSON, source: Source) -> JSON:
    episode: JSON = {
        "resourceType": "EpisodeOfCare",
        "id": _package_id(source, person, service),
        "identifier": [{"system": local_system("la-service", source.local_authority), "value": service.id}],
        "status": package_status(service, source.extract_date),
        "type": [{"coding": [_coding(codes.SERVICE_SYSTEM, service.type, codes.SERVICES)]}],
        "patient": patient,
        "managingOrganization": reference("Organization", source.local_authority),
        "period": _period(service.start, service.end),
    }
    if service.provider_name or service.provider_ods:
        provider: JSON = reference("Organization", service.provider_ods) if service.provider_ods else {}
        if service.provider_name:
            provider["display"] = service.provider_name
        episode["extension"] = [{"url": codes.PROVIDER_EXTENSION, "valueReference": provider}]
    return episode


def _hours(person: Person, service: Service, patient: JSON, episode_id: str, source: Source) -> JSON:
    assert service.hours_per_week is not None
    hours = service.hours_per_week
    return {
        "resourceType": "Observation",
        "id": derived_id("sc-hours", source.local_authority, person.la_person_id, service.id),
        "status": "final",
        "category": [codes.SOCIAL_HISTORY],
        "code": {"coding": [_coding(codes.OBSERVATION_SYSTEM, codes.HOME_CARE_HOURS, codes.OBSERVATIONS)]},
        "subject": patient,
        # R4 allows an EpisodeOfCare in neither partOf nor derivedFrom; focus takes any resource.
        "focus": [reference("EpisodeOfCare", episode_id)],
        "effectivePeriod": _period(service.start, service.end),
        "performer": [reference("Organization", source.local_authority)],
        "valueQuantity": {
            "value": int(hours) if hours == hours.to_integral_value() else float(hours),
            "unit": codes.HOURS_PER_WEEK_UNIT,
            "system": codes.UCUM,
            "code": codes.HOURS_PER_WEEK_UNIT,
        },
    }


def _assessment(person: Person, assessment: Assessment, patient: JSON, source: Source) -> JSON:
    outcome: JSON = {"coding": [_coding(codes.OUTCOME_SYSTEM, assessment.outcome, codes.OUTCOMES)]}
    if assessment.outcome_text:
        outcome["text"] = assessment.outcome_text
    return {
        "resourceType": "Observation",
        "id": derived_id("sc-assessment", source.local_authority, person.la_person_id, assessment.id),
        "identifier": [{"system": local_system("la-assessment", source.local_authority), "value": assessment.id}],
        "status": "final",
        "category": [codes.SOCIAL_HISTORY],
        "code": {"coding": [_coding(codes.OBSERVATION_SYSTEM, assessment.type, codes.OBSERVATIONS)]},
        "subject": patient,
        "effectiveDateTime": assessment.date.isoformat(),
        "performer": [reference("Organization", source.local_authority)],
        "valueCodeableConcept": outcome,
    }


def _carer(person: Person, carer: Carer, patient: JSON, source: Source) -> JSON:
    relationship = [codes.UNPAID_CARER_ROLE]
    if carer.main_carer:
        relationship.append(codes.MAIN_CARER_ROLE)
    role = codes.RELATIONSHIPS[carer.relationship]
    family: JSON = {"text": carer.relationship}
    if role is not None:
        family["coding"] = [{"system": codes.V3_ROLE_CODE, "code": role[0], "display": role[1]}]
    relationship.append(family)
    related: JSON = {
        "resourceType": "RelatedPerson",
        "id": _carer_id(source, person, carer),
        "identifier": [{"system": local_system("la-carer", source.local_authority), "value": carer.id}],
        "active": True,
        "patient": patient,
        "relationship": relationship,
        "name": [_name(carer.family_name, carer.given_name)],
    }
    if carer.start is not None:
        related["period"] = {"start": carer.start.isoformat()}
    return related


def _coding(system: str, code: str, displays: dict[str, str]) -> JSON:
    return {"system": system, "code": code, "display": displays[code]}


def _name(family: str, given: str) -> JSON:
    name: JSON = {"family": family}
    if given:
        name["given"] = given.split()
    return name


def normalise_postcode(postcode: str) -> str:
    """Upper case with one space before the inward code (SY11AA -> SY1 1AA)."""
    compact = "".join(postcode.upper().split())
    return f"{compact[:-3]} {compact[-3:]}" if len(compact) > 3 else compact


# -- changes to stored resources (closures, so the mapping stays pure) ----------------------------------
def link_patient(system: str, person: Person, *, fill: bool) -> Callable[[JSON], JSON]:
    """Add the LA person id to the Patient's identifiers (keeping every other one); with `fill`, also give
    a Patient that has no name, birth date or address the extract's, never replacing what it has."""

    def change(patient: JSON) -> JSON:
        updated = dict(patient)
        identifiers = list(patient.get("identifier", []))
        if not any(item.get("system") == system and item.get("value") == person.la_person_id for item in identifiers):
            updated["identifier"] = [*identifiers, {"system": system, "value": person.la_person_id}]
        if fill:
            if not patient.get("name"):
                updated["name"] = [_name(person.family_name, person.given_name)]
            if not patient.get("birthDate"):
                updated["birthDate"] = person.birth_date.isoformat()
            if not patient.get("address") and person.postcode:
                updated["address"] = [{"postalCode": normalise_postcode(person.postcode)}]
        return updated

    return change


def _ended_before(end: str | None, on: date) -> bool:
    return end is not None and date.fromisoformat(end[:10]) < on


def retract_package(extract_date: date) -> Callable[[JSON], JSON]:
    """A package a re-sent person no longer lists: one whose end date has passed is history and is kept
    (marked finished); any other is no longer asserted by the authority and is marked entered-in-error."""

    def change(episode: JSON) -> JSON:
        if episode.get("status") in ("finished", "entered-in-error"):
            return episode
        if _ended_before(episode.get("period", {}).get("end"), extract_date):
            return {**episode, "status": "finished"}
        return {**episode, "status": "entered-in-error"}

    return change


def retract_hours(extract_date: date) -> Callable[[JSON], JSON]:
    """The hours Observation of a package that is no longer listed (or no longer home care with hours)
    follows the package rule: kept once its period has ended, otherwise entered-in-error."""

    def change(observation: JSON) -> JSON:
        if observation.get("status") == "entered-in-error":
            return observation
        if _ended_before(observation.get("effectivePeriod", {}).get("end"), extract_date):
            return observation
        return {**observation, "status": "entered-in-error"}

    return change


def no_longer_carer(related: JSON) -> JSON:
    """A carer the authority no longer lists is kept for the record but is no longer active."""
    return {**related, "active": False}
