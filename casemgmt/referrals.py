"""Direct referrals (pure): a GP, A&E, another clinician or the person themself refers someone to case
management, beside stratification (Appendix B expects about 20% of people to come this way). A referral is
an active ServiceRequest to the team; `$triage` decides on it like on a stratification candidate, and the
watcher then completes (include) or revokes (exclude) it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from casemgmt import codes
from casemgmt.errors import unprocessable

JSON = dict[str, Any]
SOURCES = tuple(codes.REFERRAL_SOURCE_DISPLAY)


def referral(
    resource_id: str,
    patient_id: str,
    source: str,
    reason: str,
    team_reference: str,
    at: datetime,
    requester: str | None = None,
) -> JSON:
    """The ServiceRequest, after checking the source and that there is a reason."""
    if source not in SOURCES:
        raise unprocessable(f"source must be one of {', '.join(SOURCES)}, not '{source}'", "source")
    if not reason.strip():
        raise unprocessable("a referral needs a reason", "reason")
    resource: JSON = {
        "resourceType": "ServiceRequest",
        "id": resource_id,
        "extension": [
            {
                "url": codes.REFERRAL_SOURCE_EXTENSION,
                "valueCoding": {
                    "system": codes.REFERRAL_SOURCE_SYSTEM,
                    "code": source,
                    "display": codes.REFERRAL_SOURCE_DISPLAY[source],
                },
            }
        ],
        "status": "active",
        "intent": "order",
        "category": [{"coding": [dict(codes.REFERRAL_CATEGORY)]}],
        "code": {
            "coding": [
                {
                    "system": codes.REFERRAL_SYSTEM,
                    "code": codes.REFERRAL_CODE,
                    "display": codes.REFERRAL_DISPLAY[codes.REFERRAL_CODE],
                }
            ]
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "authoredOn": at.isoformat(timespec="seconds"),
        "performer": [{"reference": team_reference}],
        "note": [{"text": reason.strip()}],
    }
    if requester:
        resource["requester"] = {"reference": requester}
    return resource


def source_of(request: JSON) -> str | None:
    """The referral source code of a referral ServiceRequest."""
    for ext in request.get("extension", []):
        if ext.get("url") == codes.REFERRAL_SOURCE_EXTENSION:
            return str((ext.get("valueCoding") or {}).get("code") or "") or None
    return None


def reason_of(request: JSON) -> str:
    return " ".join(str(n.get("text", "")) for n in request.get("note", [])).strip()


def settled(request: JSON, decision: str) -> JSON:
    """The referral once triage has decided: included -> completed, excluded -> revoked."""
    resource = {k: v for k, v in request.items() if k != "meta"}
    resource["status"] = "completed" if decision == "include" else "revoked"
    return resource
