"""Builders for hand-made Consents, consumers and governed resources.

Every Consent and resource built here is checked with `validate_resource` as it is built (unless a test
asks for a deliberately broken one), so the fixtures are real FHIR R4 and not shapes only our parser likes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from closer.fhir.validate import validate_resource
from consent.engine import ConsentEngine, ConsentRequest, Consumer, PatientConsentService, Verdict
from consent.model import (
    ACCESS,
    ACT_REASON_SYSTEM,
    CONSENT_ACTION_SYSTEM,
    CONSENT_SCOPE_SYSTEM,
    ETREAT,
    PARTICIPATION_TYPE_SYSTEM,
    RESOURCE_TYPES_SYSTEM,
    Code,
)
from fhir_profiles.canonical import ODS_ORGANIZATION_SYSTEM

JSON = dict[str, Any]
SCT = "http://snomed.info/sct"

MOMENT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

PARAMEDIC = Code(SCT, "397897005")  # Paramedic (occupation)
AE_DOCTOR = Code(SCT, "309294001")  # Accident and Emergency doctor
END_OF_LIFE = Code(SCT, "736373009")  # End of life care plan (record artifact)
CARE_PLAN = Code(SCT, "734163000")  # Care plan (record artifact)
DNACPR = Code(SCT, "304253006")  # Not for resuscitation
PENICILLIN = Code(SCT, "91936005")  # Allergy to penicillin
RESTRICTED = Code("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "R")

AMBULANCE = Consumer("Organization/RYA", "RYA", frozenset({PARAMEDIC}), name="West Midlands Ambulance Service")
AE = Consumer("Organization/RXW", "RXW", frozenset({AE_DOCTOR}), name="Royal Shrewsbury Hospital A&E")
GP = Consumer("Organization/M82001", "M82001", name="a GP practice")


def request(
    consumer: Consumer = AMBULANCE,
    purpose: Code | None = ETREAT,
    *,
    moment: datetime = MOMENT,
    action: Code = ACCESS,
    patient: str | None = "p1",
) -> ConsentRequest:
    return ConsentRequest(consumer, purpose, moment, action, patient)


def coding(code: Code) -> JSON:
    return {"system": code.system, "code": code.code}


def concept(*codes: Code) -> JSON:
    return {"coding": [coding(c) for c in codes]}


IRCP = concept(Code(PARTICIPATION_TYPE_SYSTEM, "IRCP"))


def actor_ref(reference: str, role: JSON = IRCP) -> JSON:
    return {"role": role, "reference": {"reference": reference}}


def actor_ods(ods: str, role: JSON = IRCP) -> JSON:
    return {"role": role, "reference": {"identifier": {"system": ODS_ORGANIZATION_SYSTEM, "value": ods}}}


def actor_role(role: Code, display: str = "anyone in this role") -> JSON:
    return {"role": concept(role), "reference": {"display": display}}


def action(code: str) -> JSON:
    return concept(Code(CONSENT_ACTION_SYSTEM, code))


def purpose(code: str) -> JSON:
    return {"system": ACT_REASON_SYSTEM, "code": code}


def klass(resource_type: str) -> JSON:
    return {"system": RESOURCE_TYPES_SYSTEM, "code": resource_type}


def data(reference: str, meaning: str = "instance") -> JSON:
    return {"meaning": meaning, "reference": {"reference": reference}}


def period(start: str | None = None, end: str | None = None) -> JSON:
    return {k: v for k, v in (("start", start), ("end", end)) if v is not None}


def provision(
    type: str | None = "permit",
    *,
    actors: Iterable[JSON] = (),
    actions: Iterable[str] = (),
    purposes: Iterable[str] = (),
    classes: Iterable[str] = (),
    codes: Iterable[Code] = (),
    labels: Iterable[Code] = (),
    data_refs: Iterable[JSON] = (),
    during: JSON | None = None,
    data_period: JSON | None = None,
    provisions: Iterable[JSON] = (),
) -> JSON:
    """A provision; leave a criterion empty for "any"."""
    p: JSON = {} if type is None else {"type": type}
    if during is not None:
        p["period"] = during
    fields: list[tuple[str, list[Any]]] = [
        ("actor", list(actors)),
        ("action", [action(a) for a in actions]),
        ("securityLabel", [coding(c) for c in labels]),
        ("purpose", [purpose(x) for x in purposes]),
        ("class", [klass(c) for c in classes]),
        ("code", [concept(c) for c in codes]),
        ("data", list(data_refs)),
        ("provision", list(provisions)),
    ]
    for key, values in fields:
        if values:
            p[key] = values
    if data_period is not None:
        p["dataPeriod"] = data_period
    return p


def consent(
    consent_id: str,
    root: JSON | None,
    *,
    status: str = "active",
    patient: str = "p1",
    date_time: str | None = "2024-01-01",
    scope: str = "patient-privacy",
    policy: str | None = None,
    check: bool = True,
) -> JSON:
    """A Consent resource, validated as R4 unless check=False (for deliberately broken ones)."""
    resource: JSON = {
        "resourceType": "Consent",
        "id": consent_id,
        "status": status,
        "scope": {"coding": [{"system": CONSENT_SCOPE_SYSTEM, "code": scope}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}]}],
        "patient": {"reference": f"Patient/{patient}"},
    }
    if date_time is not None:
        resource["dateTime"] = date_time
    if policy is not None:
        resource["policyRule"] = concept(Code("http://terminology.hl7.org/CodeSystem/v3-ActCode", policy))
    if root is not None:
        resource["provision"] = root
    return validated(resource) if check else resource


def validated(resource: JSON) -> JSON:
    """The resource itself, after checking it is valid R4 (raises FhirError if not)."""
    validate_resource(resource)
    return resource


# --- governed resources -------------------------------------------------------------------------------


def flag(flag_id: str = "f1", patient: str = "p1", code: Code = DNACPR) -> JSON:
    return validated(
        {
            "resourceType": "Flag",
            "id": flag_id,
            "status": "active",
            "code": concept(code),
            "subject": {"reference": f"Patient/{patient}"},
        }
    )


def allergy(allergy_id: str = "a1", patient: str = "p1", label: Code | None = None) -> JSON:
    resource: JSON = {
        "resourceType": "AllergyIntolerance",
        "id": allergy_id,
        "code": concept(PENICILLIN),
        "patient": {"reference": f"Patient/{patient}"},
    }
    if label is not None:
        resource["meta"] = {"security": [coding(label)]}
    return validated(resource)


def care_plan(plan_id: str = "cp1", patient: str = "p1", category: Code = CARE_PLAN, **extra: Any) -> JSON:
    return validated(
        {
            "resourceType": "CarePlan",
            "id": plan_id,
            "status": "active",
            "intent": "plan",
            "category": [concept(category)],
            "subject": {"reference": f"Patient/{patient}"},
            **extra,
        }
    )


def condition(condition_id: str = "c1", patient: str = "p1") -> JSON:
    return validated(
        {
            "resourceType": "Condition",
            "id": condition_id,
            "code": concept(Code(SCT, "13645005")),  # COPD
            "subject": {"reference": f"Patient/{patient}"},
        }
    )


def organization(ods: str = "RYA") -> JSON:
    return validated(
        {
            "resourceType": "Organization",
            "id": ods,
            "identifier": [{"system": ODS_ORGANIZATION_SYSTEM, "value": ods}],
            "name": "An organization",
        }
    )


# --- the example from CONSENT.md ---------------------------------------------------------------------


def emergency_sharing(consent_id: str = "share", **options: Any) -> JSON:
    """The patient lets the ambulance trust and A&E see Flags, allergies and care plans for emergency
    treatment during 2024-2025, except that A&E may not see the end-of-life plan."""
    return consent(
        consent_id,
        provision(
            "permit",
            during=period("2024-01-01", "2025-12-31"),
            actors=[actor_ods("RYA"), actor_ref("Organization/RXW")],
            purposes=["ETREAT"],
            classes=["Flag", "AllergyIntolerance", "CarePlan"],
            provisions=[
                provision(
                    "deny",
                    actors=[actor_ref("Organization/RXW")],
                    classes=["CarePlan"],
                    codes=[END_OF_LIFE],
                )
            ],
        ),
        **options,
    )


def decide(consents: Iterable[Mapping[str, Any]], req: ConsentRequest, resource: Mapping[str, Any]) -> Verdict:
    """The verdict of the default chain (the patient's Consents, then deny)."""
    return ConsentEngine([PatientConsentService.of(consents)]).can_see(req, resource)
