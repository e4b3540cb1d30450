"""Stratification settings: the cohort's age, the practices in scope and their localities, the model,
the tiering policy and the programme's planned numbers. Read from a TOML file (the packaged
`settings.toml` describes the synthetic county), so a care board configures it without code."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from closer.settingsfile import read_settings

TIERS = ("severe", "moderate", "mild")
"""Tiers from the most to the least severe; below them all is BELOW_THRESHOLD."""
BELOW_THRESHOLD = "below-threshold"
FRAILTY_CATEGORIES = ("fit", "mild", "moderate", "severe")
LOCALITIES = ("North", "Central", "South")
ENV_VAR = "CLOSER_STRATIFY_SETTINGS"


class SettingsError(ValueError):
    """The settings file is missing, not TOML, or says something that cannot be used; the message says where."""


@dataclass(frozen=True)
class TierRule:
    """A person meets the rule when their probability reaches min_probability or their eFI category
    reaches min_frailty (either is optional)."""

    min_probability: float | None = None
    min_frailty: str | None = None


@dataclass(frozen=True)
class TierPolicy:
    policy: str = "rules"  # "rules" | "capacity"
    rules: dict[str, TierRule] = field(default_factory=dict)  # tier -> rule
    capacity: dict[str, int] = field(default_factory=dict)  # locality -> candidates
    candidate_tiers: tuple[str, ...] = ("moderate", "severe")


@dataclass(frozen=True)
class StratifySettings:
    practices: dict[str, str]  # practice ODS code -> locality
    min_age: int = 65
    review_months: int = 3
    model_name: str = "default"
    model_version: str = ""
    tiering: TierPolicy = field(default_factory=TierPolicy)
    plan_case_management: dict[str, int] = field(default_factory=dict)
    plan_population: dict[str, int] = field(default_factory=dict)
    source: str = ""  # where the settings came from, recorded with each run

    def as_record(self) -> dict[str, Any]:
        """What a run records about the settings it used."""
        return {
            "source": self.source,
            "min_age": self.min_age,
            "review_months": self.review_months,
            "model": {"name": self.model_name, "version": self.model_version},
            "tiering": {
                "policy": self.tiering.policy,
                "candidate_tiers": list(self.tiering.candidate_tiers),
                "rules": {
                    tier: {"min_probability": rule.min_probability, "min_frailty": rule.min_frailty}
                    for tier, rule in self.tiering.rules.items()
                },
                "capacity": dict(self.tiering.capacity),
            },
            "practices": len(self.practices),
        }


def load_settings(path: Path | str | None = None) -> StratifySettings:
    """Settings from `path`, else from $CLOSER_STRATIFY_SETTINGS, else the packaged default."""
    raw, source = read_settings(path, ENV_VAR, "stratification settings", SettingsError, package="stratify")
    return parse_settings(raw, source)


def parse_settings(raw: dict[str, Any], source: str = "") -> StratifySettings:
    """Check and convert the TOML tables; every problem names its key."""
    cohort = _table(raw, "cohort")
    model = _table(raw, "model")
    tiering = _table(raw, "tiering")
    plan = _table(raw, "plan")
    practices = {str(k).strip().upper(): _locality(v, f"practices.{k}") for k, v in _table(raw, "practices").items()}
    if not practices:
        raise SettingsError(f"{source}: [practices] is empty: no practice is in scope")
    policy = str(tiering.get("policy", "rules"))
    if policy not in ("rules", "capacity"):
        raise SettingsError(f"{source}: tiering.policy must be 'rules' or 'capacity', not '{policy}'")
    rules = {tier: _rule(_table(tiering, tier), f"tiering.{tier}") for tier in TIERS if tier in tiering}
    candidate_tiers = tuple(str(t) for t in tiering.get("candidate_tiers", ("moderate", "severe")))
    for tier in candidate_tiers:
        if tier not in TIERS:
            raise SettingsError(f"{source}: tiering.candidate_tiers: '{tier}' is not one of {', '.join(TIERS)}")
    capacity = {
        _locality(k, "tiering.capacity"): _count(v, f"tiering.capacity.{k}")
        for k, v in _table(tiering, "capacity").items()
    }
    if policy == "capacity" and not capacity:
        raise SettingsError(f"{source}: tiering.policy is 'capacity' but [tiering.capacity] is empty")
    return StratifySettings(
        practices=practices,
        min_age=_count(cohort.get("min_age", 65), "cohort.min_age"),
        review_months=_count(cohort.get("review_months", 3), "cohort.review_months"),
        model_name=str(model.get("name", "default")),
        model_version=str(model.get("version", "")),
        tiering=TierPolicy(policy, rules, capacity, candidate_tiers),
        plan_case_management={
            _locality(k, "plan.case_management"): _count(v, f"plan.case_management.{k}")
            for k, v in _table(plan, "case_management").items()
        },
        plan_population={
            _locality(k, "plan.population"): _count(v, f"plan.population.{k}")
            for k, v in _table(plan, "population").items()
        },
        source=source,
    )


def _table(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise SettingsError(f"'{key}' must be a table")
    return value


def _locality(value: object, where: str) -> str:
    if value not in LOCALITIES:
        raise SettingsError(f"{where}: '{value}' is not a locality ({', '.join(LOCALITIES)})")
    return str(value)


def _count(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SettingsError(f"{where}: expected a whole number of 0 or more, not {value!r}")
    return value


def _rule(raw: dict[str, Any], where: str) -> TierRule:
    probability = raw.get("min_probability")
    if probability is not None and (
        not isinstance(probability, int | float) or isinstance(probability, bool) or not 0 <= probability <= 1
    ):
        raise SettingsError(f"{where}.min_probability: expected a number from 0 to 1, not {probability!r}")
    frailty = raw.get("min_frailty")
    if frailty is not None and frailty not in FRAILTY_CATEGORIES:
        raise SettingsError(f"{where}.min_frailty: '{frailty}' is not one of {', '.join(FRAILTY_CATEGORIES)}")
    return TierRule(None if probability is None else float(probability), frailty)
