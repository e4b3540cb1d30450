"""Tiering: mild / moderate / severe (or below threshold), and who is a case-management candidate.

Pure policy over scored people; the policy and its rationale are in settings.toml and FEATURES.md.

- **rules**: a person takes the most severe tier whose rule they meet (probability at least its
  threshold, or eFI category at least its minimum). Candidates are the people in the candidate tiers.
- **capacity**: each locality's case management team takes a fixed number. Tiers come from the rules as
  above; the candidates are the top N of the locality by probability (ties: higher eFI, then id, so the
  result never depends on input order). A candidate is at least in the lowest candidate tier; a person
  beyond capacity is at most in the tier below the candidate tiers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from stratify.settings import BELOW_THRESHOLD, FRAILTY_CATEGORIES, TIERS, TierPolicy

ORDER = (BELOW_THRESHOLD, *reversed(TIERS))  # least to most severe


@dataclass(frozen=True)
class Scored:
    patient_id: str
    locality: str
    probability: float
    frailty: str  # eFI category


@dataclass(frozen=True)
class Decision:
    tier: str
    candidate: bool
    reason: str


def rule_tier(person: Scored, policy: TierPolicy) -> tuple[str, str]:
    """The most severe tier whose rule the person meets, and which part of the rule decided it."""
    for tier in TIERS:
        rule = policy.rules.get(tier)
        if rule is None:
            continue
        if rule.min_probability is not None and person.probability >= rule.min_probability:
            return tier, f"risk {person.probability:.0%} >= {rule.min_probability:.0%} ({tier} threshold)"
        if rule.min_frailty is not None and _rank(person.frailty) >= _rank(rule.min_frailty):
            return tier, f"{person.frailty} frailty (eFI) meets the {tier} rule"
    return BELOW_THRESHOLD, "below every tier's threshold"


def decide(people: Iterable[Scored], policy: TierPolicy) -> dict[str, Decision]:
    people = list(people)
    if policy.policy == "capacity":
        return _by_capacity(people, policy)
    decisions = {}
    for person in people:
        tier, reason = rule_tier(person, policy)
        decisions[person.patient_id] = Decision(tier, tier in policy.candidate_tiers, reason)
    return decisions


def _by_capacity(people: list[Scored], policy: TierPolicy) -> dict[str, Decision]:
    lowest_candidate = min(policy.candidate_tiers, key=ORDER.index)
    ceiling = ORDER[ORDER.index(lowest_candidate) - 1]  # the highest tier a non-candidate can have
    by_locality: dict[str, list[Scored]] = defaultdict(list)
    for person in people:
        by_locality[person.locality].append(person)
    decisions = {}
    for locality, members in by_locality.items():
        members.sort(key=lambda p: (-p.probability, -_rank(p.frailty), p.patient_id))
        places = policy.capacity.get(locality, 0)
        for position, person in enumerate(members):
            tier, reason = rule_tier(person, policy)
            if position < places:
                tier = max(tier, lowest_candidate, key=ORDER.index)
                reason = f"{reason}; within {locality}'s capacity of {places} (rank {position + 1})"
                decisions[person.patient_id] = Decision(tier, True, reason)
            else:
                tier = min(tier, ceiling, key=ORDER.index)
                reason = f"{reason}; beyond {locality}'s capacity of {places}"
                decisions[person.patient_id] = Decision(tier, False, reason)
    return decisions


def _rank(frailty: str) -> int:
    return FRAILTY_CATEGORIES.index(frailty)
