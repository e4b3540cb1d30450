"""Value set membership without a terminology server.

Required bindings in our profiles must be checkable offline, so every value set they use either ships
as JSON with its codes enumerated in ``compose.include[].concept[]`` or is one of the small built-in
R4 value sets below.

Decision on administrative gender: ``Patient.gender`` binds to the HL7 canonical
``http://hl7.org/fhir/ValueSet/administrative-gender|4.0.1`` (what UK Core and every other R4 system
recognise) rather than to a copy under our own canonical; the four codes are built in here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ADMINISTRATIVE_GENDER_VALUE_SET = "http://hl7.org/fhir/ValueSet/administrative-gender"
ADMINISTRATIVE_GENDER_SYSTEM = "http://hl7.org/fhir/administrative-gender"

BUILTIN_VALUE_SETS: Mapping[str, dict[str, Any]] = {
    ADMINISTRATIVE_GENDER_VALUE_SET: {
        "resourceType": "ValueSet",
        "id": "administrative-gender",
        "url": ADMINISTRATIVE_GENDER_VALUE_SET,
        "version": "4.0.1",
        "name": "AdministrativeGender",
        "status": "active",
        "compose": {
            "include": [
                {
                    "system": ADMINISTRATIVE_GENDER_SYSTEM,
                    "concept": [
                        {"code": "male", "display": "Male"},
                        {"code": "female", "display": "Female"},
                        {"code": "other", "display": "Other"},
                        {"code": "unknown", "display": "Unknown"},
                    ],
                }
            ]
        },
    },
}
"""Base R4 value sets our profiles bind to, keyed by canonical URL (without version)."""


def strip_version(canonical: str) -> str:
    """Drop a ``|version`` suffix: we hold one version of each definition, so lookups ignore it."""
    return canonical.split("|", 1)[0]


@dataclass(frozen=True)
class ValueSetCodes:
    """The codes a value set allows, flattened from its compose for quick membership tests."""

    codes: frozenset[tuple[str, str]]
    """(system, code) pairs enumerated by include.concept, minus any excluded."""
    whole_systems: frozenset[str]
    """Systems included without a concept list; any code from them is accepted, as we cannot expand."""

    @classmethod
    def from_value_set(cls, value_set: Mapping[str, Any]) -> ValueSetCodes:
        """Flatten ``compose``; filters and value set imports are refused as we could not honour them."""
        compose = value_set.get("compose") or {}
        codes: set[tuple[str, str]] = set()
        whole: set[str] = set()
        for include in compose.get("include", []):
            if include.get("filter") or include.get("valueSet"):
                raise ValueError(f"ValueSet {value_set.get('url')}: filters and imports are not supported")
            system = include.get("system")
            if not system:
                raise ValueError(f"ValueSet {value_set.get('url')}: include without a system")
            concepts = include.get("concept")
            if concepts:
                codes.update((system, concept["code"]) for concept in concepts)
            else:
                whole.add(system)
        for exclude in compose.get("exclude", []):
            system = exclude.get("system")
            codes.difference_update((system, concept["code"]) for concept in exclude.get("concept", []))
        return cls(frozenset(codes), frozenset(whole))

    def contains_code(self, code: str) -> bool:
        """Membership for the ``code`` datatype, whose system is implied by the binding."""
        return any(known == code for _, known in self.codes) or bool(self.whole_systems)

    def contains_coding(self, system: Any, code: Any) -> bool:
        """Membership for a Coding: both system and code must be present and allowed."""
        if not isinstance(system, str) or not isinstance(code, str):
            return False
        return (system, code) in self.codes or system in self.whole_systems
