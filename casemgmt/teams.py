"""Teams as FHIR Organizations (pure): case management teams `cmt-<key>` and out-of-hours teams
`ooh-<locality>`, written by `closer casemgmt teams load` with PUT by id, so loading twice changes nothing."""

from __future__ import annotations

from typing import Any

from casemgmt import codes
from casemgmt.settings import CaseManagementSettings, OutOfHours, Team
from fhir_profiles.canonical import ODS_ORGANIZATION_SYSTEM
from stratify.codes import LOCALITY_EXTENSION

JSON = dict[str, Any]


def team_id(key: str) -> str:
    return f"cmt-{key}"


def out_of_hours_id(locality: str) -> str:
    return f"ooh-{locality.lower()}"


def team_reference(key: str) -> str:
    return f"Organization/{team_id(key)}"


def team_organization(team: Team) -> JSON:
    resource = _organization(team_id(team.key), codes.CASE_MANAGEMENT_TEAM, team.name, team.code, team.phone)
    resource["identifier"].insert(0, {"system": codes.TEAM_IDENTIFIER_SYSTEM, "value": team.key})
    resource["extension"] = [{"url": LOCALITY_EXTENSION, "valueString": team.locality}]
    return resource


def out_of_hours_organization(team: OutOfHours) -> JSON:
    resource = _organization(out_of_hours_id(team.locality), codes.OUT_OF_HOURS_TEAM, team.name, team.code, team.phone)
    resource["extension"] = [{"url": LOCALITY_EXTENSION, "valueString": team.locality}]
    return resource


def all_organizations(settings: CaseManagementSettings) -> list[JSON]:
    """Every team the settings describe, case management teams first."""
    return [
        *(team_organization(t) for t in settings.teams.values()),
        *(out_of_hours_organization(t) for t in settings.out_of_hours.values()),
    ]


def _organization(resource_id: str, kind: str, name: str, code: str, phone: str) -> JSON:
    return {
        "resourceType": "Organization",
        "id": resource_id,
        "identifier": [{"system": ODS_ORGANIZATION_SYSTEM, "value": code}],
        "active": True,
        "type": [
            {"coding": [{"system": codes.TEAM_TYPE_SYSTEM, "code": kind, "display": codes.TEAM_TYPE_DISPLAY[kind]}]}
        ],
        "name": name,
        "telecom": [{"system": "phone", "value": phone, "use": "work"}],
    }
