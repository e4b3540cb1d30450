"""What a signed-in user may see (pure): the practices they serve, directly or through their team.

A page about a patient, a practice or a team outside this scope answers 404, not 403, so that editing
the URL does not even tell a user whether the person or practice exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pages.users import User
from stratify.facts import practice_of


@dataclass(frozen=True)
class Unit:
    """One triage worklist: a practice (kind "practice", key its ODS code) or a team (key the team key)."""

    kind: str
    key: str
    name: str
    practices: tuple[str, ...]


def practices_of(user: User, teams: Mapping[str, tuple[str, ...]]) -> frozenset[str]:
    """The ODS codes of every practice the user serves: their own, or their team's."""
    return frozenset(user.practices) | frozenset(teams.get(user.team, ()))


def units_of(user: User, teams: Mapping[str, tuple[str, ...]], team_names: Mapping[str, str]) -> list[Unit]:
    """The worklists the user may open: their team's (covering its practices), then each practice."""
    units = []
    if user.team and user.team in teams:
        units.append(Unit("team", user.team, team_names.get(user.team, user.team), tuple(teams[user.team])))
    for practice in sorted(practices_of(user, teams)):
        units.append(Unit("practice", practice, f"Practice {practice}", (practice,)))
    return units


def unit_for(user: User, key: str, teams: Mapping[str, tuple[str, ...]], team_names: Mapping[str, str]) -> Unit | None:
    """The worklist `key` names, if the user may open it (None: answer 404)."""
    return next((unit for unit in units_of(user, teams, team_names) if unit.key == key), None)


def may_see_patient(user: User, patient: Mapping[str, object], teams: Mapping[str, tuple[str, ...]]) -> bool:
    """Whether the patient's registered practice is one the user serves."""
    return registered_practice(patient) in practices_of(user, teams)


def registered_practice(patient: Mapping[str, object]) -> str:
    """The ODS code of the patient's GP practice ("" if none)."""
    found = practice_of(dict(patient))
    return found[0] if found else ""
