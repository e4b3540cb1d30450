"""The Consent a case manager records when a patient agrees to share their alerts and plans.

The demo and the sharing benchmark record patients' decisions with it, so what they store is the shape the
consent engine reads (consent/CONSENT.md): scope patient-privacy, one permit provision naming the
recipient organisations by ODS code, the purpose and the resource types shared.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from consent.model import ACT_REASON_SYSTEM, CONSENT_SCOPE_SYSTEM, PARTICIPATION_TYPE_SYSTEM, RESOURCE_TYPES_SYSTEM
from fhir_profiles.canonical import ODS_ORGANIZATION_SYSTEM

PATIENT_CONSENT = {"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}


def sharing_consent(
    consent_id: str,
    patient_id: str,
    recipients: Iterable[str],
    resource_types: Iterable[str],
    *,
    given: str,
    purpose: str = "ETREAT",
) -> dict[str, Any]:
    """An active Consent, given on `given` (a FHIR date), permitting the `recipients` (ODS codes) to see
    and be sent the patient's resources of `resource_types` for `purpose` (v3-ActReason)."""
    return {
        "resourceType": "Consent",
        "id": consent_id,
        "status": "active",
        "scope": {"coding": [{"system": CONSENT_SCOPE_SYSTEM, "code": "patient-privacy"}]},
        "category": [{"coding": [PATIENT_CONSENT]}],
        "patient": {"reference": f"Patient/{patient_id}"},
        "dateTime": given,
        "provision": {
            "type": "permit",
            "actor": [
                {
                    "role": {"coding": [{"system": PARTICIPATION_TYPE_SYSTEM, "code": "IRCP"}]},
                    "reference": {"identifier": {"system": ODS_ORGANIZATION_SYSTEM, "value": ods}},
                }
                for ods in recipients
            ],
            "purpose": [{"system": ACT_REASON_SYSTEM, "code": purpose}],
            "class": [{"system": RESOURCE_TYPES_SYSTEM, "code": t} for t in resource_types],
        },
    }
