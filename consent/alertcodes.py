"""Which Flags are resuscitation alerts, and which resources a downstream system may be sent as alerts and
plans. `$alerts` and the publisher read these, so what a crew can ask for and what is pushed agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SNOMED = "http://snomed.info/sct"

# SNOMED CT findings recorded as a "do not attempt resuscitation" decision (DNACPR / DNAR).
DNAR_CODES = frozenset(
    {
        "304253006",  # Not for resuscitation
        "450476008",  # Not for attempted cardiopulmonary resuscitation
        "870373003",  # Do not attempt cardiopulmonary resuscitation (DNACPR) decision
    }
)

# CarePlan.category codes (SNOMED CT, the NHS National Record Locator's record types) of the plans the model
# shares with the ambulance service and A&E. The first of each set is the one Closer writes.
EMERGENCY_CARE_PLAN = "887701000000100"  # Emergency health care plan
END_OF_LIFE_CARE_PLAN = "736373009"  # End of life care plan
EMERGENCY_PLAN_CODES = frozenset(
    {
        EMERGENCY_CARE_PLAN,
        "1382601000000107",  # ReSPECT form (recommended summary plan for emergency care and treatment)
        "735324008",  # Treatment escalation plan
    }
)
END_OF_LIFE_PLAN_CODES = frozenset(
    {
        END_OF_LIFE_CARE_PLAN,
        "861421000000109",  # End of life care coordination summary
    }
)
SHARED_PLAN_CATEGORIES = EMERGENCY_PLAN_CODES | END_OF_LIFE_PLAN_CODES


def codings(resource: Mapping[str, Any], element: str) -> list[tuple[str | None, str | None]]:
    """(system, code) of every coding in a CodeableConcept element, or in a list of them."""
    value = resource.get(element)
    concepts = value if isinstance(value, list) else [value]
    return [
        (coding.get("system"), coding.get("code"))
        for concept in concepts
        if isinstance(concept, Mapping)
        for coding in concept.get("coding") or []
        if isinstance(coding, Mapping)
    ]


def is_dnar_flag(resource: Mapping[str, Any]) -> bool:
    """A Flag whose code is a DNACPR / not-for-resuscitation finding."""
    return resource.get("resourceType") == "Flag" and any(
        system == SNOMED and code in DNAR_CODES for system, code in codings(resource, "code")
    )


def plan_kind(resource: Mapping[str, Any]) -> str | None:
    """ "emergency" or "end-of-life" for a CarePlan in one of the shared categories, else None."""
    if resource.get("resourceType") != "CarePlan":
        return None
    found = {code for system, code in codings(resource, "category") if system == SNOMED}
    if found & EMERGENCY_PLAN_CODES:
        return "emergency"
    if found & END_OF_LIFE_PLAN_CODES:
        return "end-of-life"
    return None
