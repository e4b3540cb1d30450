"""The code systems the social care mapping writes, in one place so MAPPING.md, the mapping and the
stratification queries cannot drift apart. Local code systems live under our canonical base; where a
standard code says the same thing (SNOMED CT for carers, HL7 v3 RoleCode for family relationships) it is
written alongside."""

from __future__ import annotations

from adapters.snomed import SNOMED_SYSTEM
from fhir_profiles.canonical import CANONICAL_BASE

CODE_SYSTEM_BASE = f"{CANONICAL_BASE}/CodeSystem"
SERVICE_SYSTEM = f"{CODE_SYSTEM_BASE}/social-care-service"
OBSERVATION_SYSTEM = f"{CODE_SYSTEM_BASE}/social-care-observation"
OUTCOME_SYSTEM = f"{CODE_SYSTEM_BASE}/social-care-assessment-outcome"
CARER_SYSTEM = f"{CODE_SYSTEM_BASE}/social-care-carer"
PROVIDER_EXTENSION = f"{CANONICAL_BASE}/StructureDefinition/social-care-provider"

V3_ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
OBSERVATION_CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
UCUM = "http://unitsofmeasure.org"

HOME_CARE_HOURS = "home-care-hours"
HOURS_PER_WEEK_UNIT = "h/wk"  # UCUM: hours per week
UNPAID_CARER = "unpaid-carer"
MAIN_CARER = "main-carer"
SNOMED_INFORMAL_CARER = "407542009"  # Informal caregiver (person)
SNOMED_PRIMARY_CARER = "407543004"  # Primary caregiver (person)

SERVICES = {
    "home-care": "Home care (domiciliary care)",
    "reablement": "Reablement",
    "day-care": "Day care",
    "residential": "Residential care home placement",
    "nursing": "Nursing home placement",
    "equipment": "Equipment and adaptations",
}
OBSERVATIONS = {
    HOME_CARE_HOURS: "Home care hours per week",
    "needs-assessment": "Care Act needs assessment",
    "carers-assessment": "Carer's assessment",
    "review": "Care and support plan review",
}
OUTCOMES = {
    "eligible-needs": "Eligible needs: care and support to be arranged",
    "no-eligible-needs": "No eligible needs",
    "information-and-advice": "Information and advice only",
    "support-unchanged": "Support continues unchanged",
    "support-increased": "Support increased",
    "support-reduced": "Support reduced",
    "support-ended": "Support ended",
    "carer-support": "Support for the carer",
    "no-further-action": "No further action",
}
# Extract relationship -> HL7 v3 RoleCode (code, display); "other" has no RoleCode and is kept as text.
RELATIONSHIPS: dict[str, tuple[str, str] | None] = {
    "spouse": ("SPS", "spouse"),
    "partner": ("DOMPART", "domestic partner"),
    "daughter": ("DAUC", "daughter"),
    "son": ("SONC", "son"),
    "daughter-in-law": ("DAUINLAW", "daughter in-law"),
    "son-in-law": ("SONINLAW", "son in-law"),
    "sibling": ("SIB", "sibling"),
    "grandchild": ("GRNDCHILD", "grandchild"),
    "niece-nephew": ("NIENEPH", "niece/nephew"),
    "other-relative": ("FAMMEMB", "family member"),
    "friend": ("FRND", "unrelated friend"),
    "neighbour": ("NBOR", "neighbor"),
    "other": None,
}

SOCIAL_HISTORY = {
    "coding": [{"system": OBSERVATION_CATEGORY_SYSTEM, "code": "social-history", "display": "Social History"}]
}
UNPAID_CARER_ROLE = {
    "coding": [
        {"system": CARER_SYSTEM, "code": UNPAID_CARER, "display": "Unpaid carer"},
        {"system": SNOMED_SYSTEM, "code": SNOMED_INFORMAL_CARER, "display": "Informal caregiver"},
    ]
}
MAIN_CARER_ROLE = {
    "coding": [
        {"system": CARER_SYSTEM, "code": MAIN_CARER, "display": "Main unpaid carer"},
        {"system": SNOMED_SYSTEM, "code": SNOMED_PRIMARY_CARER, "display": "Primary caregiver"},
    ]
}
