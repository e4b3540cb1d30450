"""The FHIR resources a stratification run writes (pure builders; profiles in fhir_profiles/definitions).

- RiskAssessment `ra-<period>-<patient>`: one per person per quarter, so a re-run of the quarter updates
  it. prediction = probability of an emergency admission in the 12 months after the run date, with the
  tier as qualitativeRisk; method = model name and version; basis = the Conditions and Encounters that
  gave the features; note = the top factors, ranked.
- Flag `cm-candidate-<patient>`: one per person, active while their latest run proposes them for case
  management, inactive (period ended) once it does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from adapters.encounter_codes import EMERGENCY_ADMISSION
from fhir_profiles.canonical import ODS_ORGANIZATION_SYSTEM
from stratify import codes
from stratify.models.base import OUTCOME, Prediction
from stratify.tiering import Decision

JSON = dict[str, Any]
TOP_FACTORS = 5


def period_of(day: date) -> str:
    """The run period: the calendar quarter of the run date, e.g. 2026-Q4 (stratification is quarterly)."""
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day when it has no such day (31 Jan + 1 -> 28 Feb)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return day.replace(year=year, month=month, day=min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def risk_assessment_id(period: str, patient_id: str) -> str:
    return f"ra-{period.replace('-', '')}-{patient_id}"


def flag_id(patient_id: str) -> str:
    return f"cm-candidate-{patient_id}"


@dataclass(frozen=True)
class Assessment:
    """Everything one person's RiskAssessment says."""

    patient_id: str
    practice: str
    locality: str
    prediction: Prediction
    decision: Decision
    basis: tuple[str, ...]
    next_review: date | None  # below threshold, or excluded at triage: when to consider them again
    note: str = ""  # anything else the reader must know (e.g. excluded at triage)


def risk_assessment(item: Assessment, period: str, as_of: date, model: tuple[str, str]) -> JSON:
    name, version = model
    tier = item.decision.tier
    extensions: list[JSON] = [
        {"url": codes.RUN_EXTENSION, "valueString": period},
        {"url": codes.PRACTICE_EXTENSION, "valueIdentifier": _ods(item.practice)},
        {"url": codes.LOCALITY_EXTENSION, "valueString": item.locality},
    ]
    if item.next_review is not None:
        extensions.append({"url": codes.NEXT_REVIEW_EXTENSION, "valueDate": item.next_review.isoformat()})
    resource: JSON = {
        "resourceType": "RiskAssessment",
        "id": risk_assessment_id(period, item.patient_id),
        "meta": {"profile": [codes.RISK_ASSESSMENT_PROFILE]},
        "extension": extensions,
        "identifier": [{"system": codes.RUN_IDENTIFIER_SYSTEM, "value": f"{period}/{item.patient_id}"}],
        "status": "preliminary",
        "method": {
            "coding": [{"system": codes.MODEL_SYSTEM, "code": name, "version": version}],
            "text": f"{name} model, version {version}",
        },
        "code": {"coding": [dict(codes.RISK_ASSESSMENT_CODE)], "text": "Risk of emergency admission"},
        "subject": {"reference": f"Patient/{item.patient_id}"},
        "occurrenceDateTime": as_of.isoformat(),
        "prediction": [
            {
                "outcome": {"coding": [dict(EMERGENCY_ADMISSION)], "text": OUTCOME},
                "probabilityDecimal": round(item.prediction.probability, 4),
                "qualitativeRisk": {
                    "coding": [{"system": codes.TIER_SYSTEM, "code": tier, "display": codes.TIER_DISPLAY[tier]}]
                },
                "whenPeriod": {"start": as_of.isoformat(), "end": add_months(as_of, 12).isoformat()},
            }
        ],
        "note": [{"text": explanation(item)}],
    }
    if item.basis:
        resource["basis"] = [{"reference": ref} for ref in item.basis]
    return resource


def explanation(item: Assessment) -> str:
    """The note a GP reads: tier and why, then the top factors ranked by how much each added."""
    lines = [
        f"Tier: {codes.TIER_DISPLAY[item.decision.tier]} ({item.decision.reason}). "
        f"Risk of {OUTCOME}: {item.prediction.probability:.1%}."
    ]
    top = item.prediction.top(TOP_FACTORS)
    if top:
        lines.append("Top factors: " + "; ".join(f"{n}. {c.label}" for n, c in enumerate(top, start=1)) + ".")
    if item.note:
        lines.append(item.note)
    if item.next_review is not None:
        lines.append(f"Next review: {item.next_review.isoformat()}.")
    return " ".join(lines)


def rescore_assessment(item: Assessment, day: date, model: tuple[str, str]) -> JSON:
    """A rescore between runs (deterioration): its own RiskAssessment, so the quarter's signed result stays
    as signed; one per person and day."""
    resource = risk_assessment(item, f"rescore {day.isoformat()}", day, model)
    resource["id"] = f"ra-rescore-{item.patient_id}-{day.strftime('%Y%m%d')}"
    resource["identifier"] = [{"system": codes.RUN_IDENTIFIER_SYSTEM, "value": f"rescore/{day}/{item.patient_id}"}]
    return resource


def tier_rise_flag(patient_id: str, before: str, after: str, day: date, assessment_id: str, case_managed: bool) -> JSON:
    """Tells the case manager (someone already case managed) or the triage queue that a tier rose."""
    audience = "case manager" if case_managed else "triage queue"
    rise = f"{codes.TIER_DISPLAY[before].lower()} to {codes.TIER_DISPLAY[after].lower()}"
    text = f"Risk tier rose from {rise}: for the {audience}"
    resource_id = f"tier-rise-{patient_id}-{day.strftime('%Y%m%d')}"
    return _flag(resource_id, codes.TIER_RISE, after, text, patient_id, day, assessment_id)


def candidate_flag(patient_id: str, tier: str, since: date, assessment_id: str) -> JSON:
    """The active flag proposing the person for case management (triage decides)."""
    text = f"Candidate for case management ({codes.TIER_DISPLAY[tier].lower()} tier)"
    return _flag(flag_id(patient_id), codes.CANDIDATE, tier, text, patient_id, since, assessment_id)


def _flag(resource_id: str, kind: str, tier: str, text: str, patient_id: str, since: date, assessment_id: str) -> JSON:
    return {
        "resourceType": "Flag",
        "id": resource_id,
        "meta": {"profile": [codes.CANDIDATE_FLAG_PROFILE]},
        "extension": [
            {"url": codes.ASSESSMENT_EXTENSION, "valueReference": {"reference": f"RiskAssessment/{assessment_id}"}}
        ],
        "status": "active",
        "category": [
            {"coding": [{"system": codes.FLAG_CATEGORY_SYSTEM, "code": "admin", "display": "Administrative"}]}
        ],
        "code": {
            "coding": [
                {"system": codes.FLAG_SYSTEM, "code": kind, "display": codes.FLAG_DISPLAY[kind]},
                {"system": codes.TIER_SYSTEM, "code": tier, "display": codes.TIER_DISPLAY[tier]},
            ],
            "text": text,
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "period": {"start": since.isoformat()},
    }


def retired_flag(flag: JSON, ended: date) -> JSON:
    """A candidate flag the latest run no longer supports: kept for the record, no longer active."""
    period = {**flag.get("period", {}), "end": ended.isoformat()}
    if period.get("start", "") > period["end"]:
        period["start"] = period["end"]
    return {**_profiles_only(flag), "status": "inactive", "period": period}


def cancelled(assessment: JSON) -> JSON:
    """A quarter's assessment of someone no longer in the cohort: kept, but no longer in force."""
    return {**_profiles_only(assessment), "status": "cancelled"}


def _profiles_only(stored: JSON) -> JSON:
    """A stored resource about to be rewritten: its meta (versionId, lastUpdated) is the store's to set,
    but the profiles it claims stay, so the new version is still checked against them."""
    resource = {k: v for k, v in stored.items() if k != "meta"}
    profiles = (stored.get("meta") or {}).get("profile")
    if profiles:
        resource["meta"] = {"profile": list(profiles)}
    return resource


def _ods(code: str) -> JSON:
    return {"system": ODS_ORGANIZATION_SYSTEM, "value": code}
