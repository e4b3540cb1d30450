"""Enrolment and its end (pure): the EpisodeOfCare `eoc-<patient>-<n>` with the case manager, the team
and the tier, and the CareTeam `ct-<patient>-<n>` of everyone involved (Appendix B: "a dedicated Case
Manager ... the interface between the various providers"). The n-th enrolment of a person gets the n-th
ids, so a repeated request cannot make a second episode."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from casemgmt import codes

JSON = dict[str, Any]


def episode_id(patient_id: str, n: int) -> str:
    return f"eoc-{patient_id}-{n}"


def care_team_id(patient_id: str, n: int) -> str:
    return f"ct-{patient_id}-{n}"


def episode(
    patient_id: str,
    n: int,
    team: str,
    care_manager: str,
    tier: str,
    at: datetime,
    referral: str | None = None,
) -> JSON:
    """The active episode; `referral` is the ServiceRequest it came from, when it came from one. `tier` is
    one of codes.TIERS (service.enrol checks it, saying where a wrong one came from)."""
    resource: JSON = {
        "resourceType": "EpisodeOfCare",
        "id": episode_id(patient_id, n),
        "extension": [
            {
                "url": codes.TIER_EXTENSION,
                "valueCoding": {"system": codes.TIER_SYSTEM, "code": tier, "display": codes.TIER_DISPLAY[tier]},
            }
        ],
        "status": "active",
        "type": [
            {
                "coding": [
                    {
                        "system": codes.EPISODE_TYPE_SYSTEM,
                        "code": codes.CASE_MANAGEMENT_EPISODE,
                        "display": codes.EPISODE_TYPE_DISPLAY[codes.CASE_MANAGEMENT_EPISODE],
                    }
                ]
            }
        ],
        "patient": {"reference": f"Patient/{patient_id}"},
        "managingOrganization": {"reference": team},
        "period": {"start": at.isoformat(timespec="seconds")},
        "careManager": {"reference": care_manager},
        "team": [{"reference": f"CareTeam/{care_team_id(patient_id, n)}"}],
    }
    if referral:
        resource["referralRequest"] = [{"reference": referral}]
    return resource


def care_team(
    patient_id: str,
    n: int,
    team: str,
    care_manager: str,
    practice: str | None,
    providers: tuple[str, ...],
    at: datetime,
    out_of_hours: str | None = None,
) -> JSON:
    """Who is involved: the case manager, the GP practice, each provider, and the locality's out-of-hours
    team (whom an ambulance crew calls when the case management team is closed)."""
    members = [(care_manager, "case-manager")]
    if practice:
        members.append((practice, "gp-practice"))
    members.extend((p, "provider") for p in providers)
    if out_of_hours:
        members.append((out_of_hours, "out-of-hours"))
    return {
        "resourceType": "CareTeam",
        "id": care_team_id(patient_id, n),
        "status": "active",
        "name": "Case management",
        "subject": {"reference": f"Patient/{patient_id}"},
        "period": {"start": at.isoformat(timespec="seconds")},
        "participant": [
            {
                "role": [
                    {
                        "coding": [
                            {
                                "system": codes.CARE_TEAM_ROLE_SYSTEM,
                                "code": role,
                                "display": codes.CARE_TEAM_ROLE_DISPLAY[role],
                            }
                        ]
                    }
                ],
                "member": {"reference": member},
            }
            for member, role in members
        ],
        "managingOrganization": [{"reference": team}],
    }


def tier_of(episode: JSON) -> str | None:
    for ext in episode.get("extension", []):
        if ext.get("url") == codes.TIER_EXTENSION:
            return str((ext.get("valueCoding") or {}).get("code") or "") or None
    return None


def finished(episode: JSON, at: datetime, outcome: str, text: str) -> JSON:
    """The episode ended: status finished, period closed, the active spell kept in statusHistory, and the
    outcome (transfer or a discharge reason) with its text in the episode-outcome extension."""
    end = at.isoformat(timespec="seconds")
    resource = _content(episode)
    period = {**resource.get("period", {}), "end": end}
    resource["status"] = "finished"
    resource["period"] = period
    resource["statusHistory"] = [*resource.get("statusHistory", []), {"status": "active", "period": period}]
    resource["extension"] = [
        *(e for e in resource.get("extension", []) if e.get("url") != codes.OUTCOME_EXTENSION),
        {
            "url": codes.OUTCOME_EXTENSION,
            "valueCodeableConcept": {
                "coding": [
                    {"system": codes.OUTCOME_SYSTEM, "code": outcome, "display": codes.OUTCOME_DISPLAY[outcome]}
                ],
                "text": text,
            },
        },
    ]
    return resource


def outcome_of(episode: JSON) -> str | None:
    for ext in episode.get("extension", []):
        if ext.get("url") == codes.OUTCOME_EXTENSION:
            coding = (ext.get("valueCodeableConcept") or {}).get("coding") or [{}]
            return str(coding[0].get("code") or "") or None
    return None


def inactive_team(team: JSON, at: datetime) -> JSON:
    resource = _content(team)
    resource["status"] = "inactive"
    resource["period"] = {**resource.get("period", {}), "end": at.isoformat(timespec="seconds")}
    return resource


def _content(stored: JSON) -> JSON:
    """A stored resource about to be rewritten: the store sets meta again."""
    return {k: v for k, v in stored.items() if k != "meta"}
