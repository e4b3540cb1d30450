"""Canonical URLs shared by the profile JSON, the validator and the rest of Closer.

The JSON definitions cannot import these constants, so a test checks that every shipped definition's
url sits under CANONICAL_BASE and that the well known URLs below match what the JSON uses.
"""

from __future__ import annotations

CANONICAL_BASE = "https://closer.example.nhs.uk/fhir"
"""Root of every canonical URL we publish (StructureDefinition, ValueSet, CodeSystem)."""

STRUCTURE_DEFINITION_BASE = f"{CANONICAL_BASE}/StructureDefinition"
VALUE_SET_BASE = f"{CANONICAL_BASE}/ValueSet"

CLOSER_PATIENT_PROFILE = f"{STRUCTURE_DEFINITION_BASE}/closer-patient"
NHS_NUMBER_VERIFICATION_STATUS_VALUE_SET = f"{VALUE_SET_BASE}/closer-nhs-number-verification-status"

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
"""Identifier.system for NHS numbers (England and Wales), as used by UK Core and PDS."""

ODS_ORGANIZATION_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"
"""Identifier.system for ODS codes of organisations (GP practices, trusts, local authorities)."""

HL7_STRUCTURE_DEFINITION_BASE = "http://hl7.org/fhir/StructureDefinition/"
"""Prefix of the R4 core resource definitions; the last path segment is the resource type."""
