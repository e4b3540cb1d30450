"""Canonical URLs and codes the case management workflow writes, in one place for the builders, the
CodeSystems in fhir_profiles/definitions, the operations and the tests. Codes stratification already
defines (tiers, triage, the episode type, next review) are reused from stratify.codes."""

from __future__ import annotations

from consent.alertcodes import EMERGENCY_CARE_PLAN, END_OF_LIFE_CARE_PLAN
from fhir_profiles.canonical import CANONICAL_BASE, STRUCTURE_DEFINITION_BASE
from stratify import codes as strat
from stratify.settings import TIERS as STRATIFY_TIERS

SNOMED = strat.SNOMED

TEAM_IDENTIFIER_SYSTEM = f"{CANONICAL_BASE}/Id/case-management-team"
TEAM_TYPE_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/team-type"
CASE_MANAGEMENT_TEAM = "case-management"
OUT_OF_HOURS_TEAM = "out-of-hours"
TEAM_TYPE_DISPLAY = {CASE_MANAGEMENT_TEAM: "Case management team", OUT_OF_HOURS_TEAM: "Out-of-hours team"}

# Referral (ServiceRequest)
REFERRAL_CATEGORY = {"system": SNOMED, "code": "3457005", "display": "Patient referral"}
REFERRAL_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/case-management-referral"
REFERRAL_CODE = "case-management"
REFERRAL_DISPLAY = {REFERRAL_CODE: "Referral to case management"}
REFERRAL_SOURCE_EXTENSION = f"{STRUCTURE_DEFINITION_BASE}/referral-source"
REFERRAL_SOURCE_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/referral-source"
REFERRAL_SOURCE_DISPLAY = {
    "gp": "GP",
    "ae": "A&E",
    "clinician": "Other clinician",
    "self": "Self-referral",
}

# Enrolment (EpisodeOfCare, CareTeam)
EPISODE_TYPE_SYSTEM = strat.EPISODE_TYPE_SYSTEM
CASE_MANAGEMENT_EPISODE = strat.CASE_MANAGEMENT_EPISODE
EPISODE_TYPE_DISPLAY = {CASE_MANAGEMENT_EPISODE: "Case management"}
TIER_EXTENSION = f"{STRUCTURE_DEFINITION_BASE}/case-management-tier"
TIER_SYSTEM = strat.TIER_SYSTEM
TIER_DISPLAY = strat.TIER_DISPLAY
TIERS = tuple(reversed(STRATIFY_TIERS))  # stratification's tiers, mildest first (the figures' column order)
CARE_TEAM_ROLE_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/care-team-role"
CARE_TEAM_ROLE_DISPLAY = {
    "case-manager": "Case manager",
    "gp-practice": "GP practice",
    "provider": "Provider",
    "out-of-hours": "Out-of-hours team",
}
OUTCOME_EXTENSION = f"{STRUCTURE_DEFINITION_BASE}/episode-outcome"
OUTCOME_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/episode-outcome"
OUTCOME_DISPLAY = {
    "transfer": "Transferred to another setting",
    "improvement": "Discharged: marked improvement",
    "choice": "Discharged: patient choice",
    "death": "Discharged: died",
}

# Plans (CarePlan and its contained baseline Goal)
CARE_PLAN = "734163000"  # Care plan; the shared emergency and end-of-life codes are consent's
PLAN_KINDS = {"care": CARE_PLAN, "emergency": EMERGENCY_CARE_PLAN, "end-of-life": END_OF_LIFE_CARE_PLAN}
PLAN_DISPLAY = {
    CARE_PLAN: "Care plan",
    EMERGENCY_CARE_PLAN: "Emergency health care plan",
    END_OF_LIFE_CARE_PLAN: "End of life care plan",
}
NEXT_REVIEW_EXTENSION = strat.NEXT_REVIEW_EXTENSION

# Reviews (Task)
ACTIVITY_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/case-management-activity"
REVIEW = "review"
ACTIVITY_DISPLAY = {REVIEW: "Case management review"}
REVIEW_DECISION_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/review-decision"
REVIEW_DECISION_DISPLAY = {
    "continue": "Continue with the current care plan",
    "adjust": "Adjust the care plan",
    "transfer": "Transfer to another setting",
    "discharge": "Discharge from case management",
}
DECISIONS = tuple(REVIEW_DECISION_DISPLAY)
DISCHARGE_REASONS = ("improvement", "choice", "death")
NEXT_REVIEW_OUTPUT = strat.NEXT_REVIEW_OUTPUT
NEXT_REVIEW_OUTPUT_SYSTEM = strat.TASK_CODE_SYSTEM

# Discharge letter (Communication)
COMMUNICATION_CATEGORY_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/communication-category"
DISCHARGE_LETTER = "case-management-discharge"
COMMUNICATION_DISPLAY = {DISCHARGE_LETTER: "Discharge from case management"}

# Outcome measure (MeasureReport)
MEASURE = f"{CANONICAL_BASE}/Measure/case-management-admission-avoidance"
MEASURE_POPULATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/measure-population"
MEASURE_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/case-management-measure"
MEASURE_DISPLAY = {
    "admissions-since-enrolment": "Emergency admissions since enrolment",
    "admissions-year-before": "Emergency admissions in the same period a year earlier",
    "planned": "Planned case management numbers",
    "referral": "Enrolled from a direct referral",
    "stratification": "Enrolled from risk stratification",
}
