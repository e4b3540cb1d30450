"""Closer's FHIR profiles (StructureDefinition JSON) and the validator that enforces them."""

from __future__ import annotations

from fhir_profiles.canonical import CANONICAL_BASE
from fhir_profiles.nhs_number import is_valid_nhs_number
from fhir_profiles.validator import ProfileIssue, load_code_systems, load_profiles, load_value_sets, validate

__all__ = [
    "CANONICAL_BASE",
    "ProfileIssue",
    "is_valid_nhs_number",
    "load_code_systems",
    "load_profiles",
    "load_value_sets",
    "validate",
]
