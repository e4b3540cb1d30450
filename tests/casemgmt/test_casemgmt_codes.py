"""The CodeSystems shipped in fhir_profiles/definitions define every code the case management workflow
writes, with the displays it writes."""

from __future__ import annotations

from casemgmt import codes
from fhir_profiles import load_code_systems
from fhir_profiles.canonical import CANONICAL_BASE


def _concepts(system: str) -> dict[str, str]:
    return {concept["code"]: concept["display"] for concept in load_code_systems()[system]["concept"]}


def test_code_systems_define_every_code_casemgmt_writes() -> None:
    assert _concepts(codes.TEAM_TYPE_SYSTEM) == codes.TEAM_TYPE_DISPLAY
    assert _concepts(codes.REFERRAL_SYSTEM) == codes.REFERRAL_DISPLAY
    assert _concepts(codes.REFERRAL_SOURCE_SYSTEM) == codes.REFERRAL_SOURCE_DISPLAY
    assert _concepts(codes.EPISODE_TYPE_SYSTEM) == codes.EPISODE_TYPE_DISPLAY
    assert _concepts(codes.CARE_TEAM_ROLE_SYSTEM) == codes.CARE_TEAM_ROLE_DISPLAY
    assert _concepts(codes.OUTCOME_SYSTEM) == codes.OUTCOME_DISPLAY
    assert tuple(_concepts(codes.OUTCOME_SYSTEM))[1:] == codes.DISCHARGE_REASONS
    assert _concepts(codes.ACTIVITY_SYSTEM) == codes.ACTIVITY_DISPLAY
    assert _concepts(codes.REVIEW_DECISION_SYSTEM) == codes.REVIEW_DECISION_DISPLAY
    assert tuple(_concepts(codes.REVIEW_DECISION_SYSTEM)) == codes.DECISIONS
    assert _concepts(codes.COMMUNICATION_CATEGORY_SYSTEM) == codes.COMMUNICATION_DISPLAY
    assert _concepts(codes.MEASURE_SYSTEM) == codes.MEASURE_DISPLAY


def test_the_shared_plans_are_the_kinds_consent_shares() -> None:
    from consent.alertcodes import plan_kind

    kinds = {
        kind: plan_kind(
            {"resourceType": "CarePlan", "category": [{"coding": [{"system": codes.SNOMED, "code": code}]}]}
        )
        for kind, code in codes.PLAN_KINDS.items()
    }
    assert kinds == {"care": None, "emergency": "emergency", "end-of-life": "end-of-life"}
    assert all(url.startswith(f"{CANONICAL_BASE}/") for url in (codes.TIER_EXTENSION, codes.OUTCOME_EXTENSION))
