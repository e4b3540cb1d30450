"""Identifier systems and resource ids for feed data.

Ids of resources built from feeds are derived from their source identifiers, so ingesting the same
record again updates it and never duplicates it. A Patient with an NHS number has that number as its
id, as NHS England's PDS FHIR API does, so every feed that knows the number lands on one record.
Anything else gets `<kind>-<hash of its source key>`: stable, short enough for a FHIR id (64) and free
of characters an id may not hold.
"""

from __future__ import annotations

import hashlib

from fhir_profiles.canonical import CANONICAL_BASE, NHS_NUMBER_SYSTEM, ODS_ORGANIZATION_SYSTEM

__all__ = ["NHS_NUMBER_SYSTEM", "ODS_ORGANIZATION_SYSTEM"]

ODS_SITE_SYSTEM = "https://fhir.nhs.uk/Id/ods-site-code"
GMC_SYSTEM = "https://fhir.hl7.org.uk/Id/gmc-number"
GMP_SYSTEM = "https://fhir.hl7.org.uk/Id/gmp-number"
LOCAL_ID_BASE = f"{CANONICAL_BASE}/Id"


def local_system(kind: str, authority: str) -> str:
    """The identifier system for a local number (hospital number, visit number) issued by `authority`."""
    return f"{LOCAL_ID_BASE}/{kind}/{(authority or 'unknown').strip().lower().replace(' ', '-')}"


def spell_encounter_id(provider: str, spell: str) -> str:
    """The Encounter of a hospital provider spell. The APC extract's spell id and the ADT feed's visit
    number (PV1-19) are both the provider's spell number, so the two feeds update one Encounter."""
    return derived_id("spell", provider, spell)


def spell_condition_id(provider: str, spell: str, code: str) -> str:
    """A diagnosis (normalised ICD-10 code) of a spell, the same from APC and from ADT DG1."""
    return derived_id("condition", provider, spell, code)


def derived_id(kind: str, *key: str) -> str:
    """A stable FHIR id for the record with this source key."""
    digest = hashlib.sha256("\x1f".join(key).encode()).hexdigest()[:32]
    return f"{kind}-{digest}"
