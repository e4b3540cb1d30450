"""Canonical URLs and codes stratification writes, in one place for the resource builders, the
profiles in fhir_profiles/definitions and the API operations."""

from __future__ import annotations

from fhir_profiles.canonical import CANONICAL_BASE, STRUCTURE_DEFINITION_BASE

RISK_ASSESSMENT_PROFILE = f"{STRUCTURE_DEFINITION_BASE}/closer-risk-assessment"
CANDIDATE_FLAG_PROFILE = f"{STRUCTURE_DEFINITION_BASE}/closer-case-management-flag"
TRIAGE_TASK_PROFILE = f"{STRUCTURE_DEFINITION_BASE}/closer-triage-decision"

TIER_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/risk-tier"
TIER_DISPLAY = {
    "severe": "Severe",
    "moderate": "Moderate",
    "mild": "Mild",
    "below-threshold": "Below threshold",
}
MODEL_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/risk-model"
FLAG_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/case-management-flag"
CANDIDATE = "candidate"
TIER_RISE = "tier-rise"
FLAG_DISPLAY = {CANDIDATE: "Candidate for case management", TIER_RISE: "Risk tier rose since the last review"}
FLAG_CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/flag-category"
TRIAGE_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/triage-decision"
TRIAGE_DISPLAY = {"include": "Include in case management", "exclude": "Exclude from case management"}
TASK_CODE_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/case-management-task"
TRIAGE_TASK = "triage"
NEXT_REVIEW_OUTPUT = "next-review"

RUN_EXTENSION = f"{STRUCTURE_DEFINITION_BASE}/risk-stratification-run"
LOCALITY_EXTENSION = f"{STRUCTURE_DEFINITION_BASE}/locality"
PRACTICE_EXTENSION = f"{STRUCTURE_DEFINITION_BASE}/registered-practice"
ASSESSMENT_EXTENSION = f"{STRUCTURE_DEFINITION_BASE}/risk-assessment"  # the flag's RiskAssessment
NEXT_REVIEW_EXTENSION = f"{STRUCTURE_DEFINITION_BASE}/next-review"
RUN_IDENTIFIER_SYSTEM = f"{CANONICAL_BASE}/Id/risk-stratification"

SNOMED = "http://snomed.info/sct"
RISK_ASSESSMENT_CODE = {"system": SNOMED, "code": "225338004", "display": "Risk assessment"}

# Case management enrolment (the case management workflow writes these EpisodeOfCare resources).
EPISODE_TYPE_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/episode-type"
CASE_MANAGEMENT_EPISODE = "case-management"
