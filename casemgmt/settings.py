"""Case management settings: the teams and the practices each serves, out-of-hours cover per locality,
how early a review becomes a Task, and the criteria for discharge on marked improvement. Read from a TOML
file (the packaged `settings.toml` describes the synthetic county) so a care board configures it without
code. Practices' localities and the planned numbers are stratification's (stratify/settings.toml), so the
two never disagree about which practice is where."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from closer.settingsfile import read_settings
from stratify.settings import LOCALITIES, TIERS, SettingsError, StratifySettings
from stratify.settings import load_settings as load_stratify_settings

ENV_VAR = "CLOSER_CASEMGMT_SETTINGS"

__all__ = ["CaseManagementSettings", "Improvement", "OutOfHours", "SettingsError", "Team", "load_settings"]


@dataclass(frozen=True)
class Team:
    """A case management team: one large practice or a cluster of small ones (Appendix B)."""

    key: str
    name: str
    code: str  # ODS-like organisation code
    phone: str
    practices: tuple[str, ...]
    locality: str


@dataclass(frozen=True)
class OutOfHours:
    locality: str
    name: str
    code: str
    phone: str


@dataclass(frozen=True)
class Improvement:
    """Discharge for marked improvement needs both: no emergency admission for this many months, and the
    latest tier at or below max_tier."""

    months_without_emergency_admission: int = 6
    max_tier: str = "mild"


@dataclass(frozen=True)
class CaseManagementSettings:
    teams: dict[str, Team]
    out_of_hours: dict[str, OutOfHours]  # locality -> team
    stratify: StratifySettings  # practices -> locality, planned numbers
    review_notice_days: int = 7
    improvement: Improvement = field(default_factory=Improvement)
    source: str = ""

    def team_of_practice(self, practice: str) -> Team | None:
        """The team serving a practice (ODS code), if any."""
        return next((t for t in self.teams.values() if practice.upper() in t.practices), None)

    def locality_of(self, practice: str) -> str | None:
        return self.stratify.practices.get(practice.upper())

    @property
    def planned(self) -> dict[str, int]:
        """Planned case management numbers per locality (the programme report's)."""
        return dict(self.stratify.plan_case_management)


def load_settings(path: Path | str | None = None, stratify: StratifySettings | None = None) -> CaseManagementSettings:
    """Settings from `path`, else $CLOSER_CASEMGMT_SETTINGS, else the packaged default; localities from
    `stratify` (default: stratification's own settings, with their own override)."""
    raw, source = read_settings(path, ENV_VAR, "case management settings", SettingsError, package="casemgmt")
    return parse_settings(raw, stratify or load_stratify_settings(), source)


def parse_settings(raw: dict[str, Any], stratify: StratifySettings, source: str = "") -> CaseManagementSettings:
    """Check and convert the TOML; every problem names its key. A practice may belong to one team only,
    and a team's practices must all be in one locality (out-of-hours cover is per locality)."""
    teams: dict[str, Team] = {}
    owner: dict[str, str] = {}
    for key, table in _table(raw, "teams", source).items():
        where = f"{source}: teams.{key}"
        if not isinstance(table, dict):
            raise SettingsError(f"{where} must be a table")
        practices = tuple(str(p).strip().upper() for p in table.get("practices", []))
        if not practices:
            raise SettingsError(f"{where}.practices is empty")
        localities = {stratify.practices.get(p) for p in practices}
        unknown = [p for p in practices if p not in stratify.practices]
        if unknown:
            raise SettingsError(f"{where}.practices: {', '.join(unknown)} not in the stratification practices")
        if len(localities) != 1:
            raise SettingsError(f"{where}.practices span localities {sorted(str(x) for x in localities)}")
        for practice in practices:
            if practice in owner:
                raise SettingsError(f"{where}: practice {practice} is already served by team {owner[practice]}")
            owner[practice] = key
        teams[key] = Team(
            key,
            _text(table, "name", where),
            _text(table, "code", where).upper(),
            _text(table, "phone", where),
            practices,
            str(localities.pop()),
        )
    out_of_hours = {}
    for locality, table in _table(raw, "out_of_hours", source).items():
        where = f"{source}: out_of_hours.{locality}"
        if locality not in LOCALITIES or not isinstance(table, dict):
            raise SettingsError(f"{where}: '{locality}' is not a locality ({', '.join(LOCALITIES)})")
        out_of_hours[locality] = OutOfHours(
            locality, _text(table, "name", where), _text(table, "code", where).upper(), _text(table, "phone", where)
        )
    improvement = _table(_table(raw, "discharge", source), "improvement", source)
    months = improvement.get("months_without_emergency_admission", 6)
    max_tier = improvement.get("max_tier", "mild")
    notice = raw.get("review_notice_days", 7)
    if not _count(months) or not _count(notice):
        raise SettingsError(f"{source}: review_notice_days and months_without_emergency_admission are whole numbers")
    if max_tier not in TIERS:
        raise SettingsError(f"{source}: discharge.improvement.max_tier '{max_tier}' is not one of {', '.join(TIERS)}")
    return CaseManagementSettings(teams, out_of_hours, stratify, notice, Improvement(months, max_tier), source)


def _table(raw: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise SettingsError(f"{source}: '{key}' must be a table")
    return value


def _text(table: dict[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise SettingsError(f"{where}.{key}: expected some text")
    return value.strip()


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
