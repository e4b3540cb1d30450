"""Learning from the store's own history (pure): the cohort's features as of a past day, and whether each
person then had an emergency admission in the 12 months that followed. `closer stratify fit` trains on
one such day and tests on a later one, so the model is judged on a period it never saw."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from stratify.codelists import CodeLists
from stratify.features import Features, PersonFacts, compute, in_cohort
from stratify.resources import add_months


@dataclass(frozen=True)
class Sample:
    as_of: date
    features: list[Features]
    outcomes: list[int]  # 1: an emergency admission began in the 12 months after as_of


def admitted_within_year(facts: PersonFacts, day: date) -> int:
    end = add_months(day, 12)
    return int(any(s.kind == "emergency" and day < s.start <= end for s in facts.stays))


def sample(
    people: Iterable[PersonFacts], day: date, min_age: int, practices: Iterable[str], lists: CodeLists
) -> Sample:
    """Everyone in the cohort on `day`, with their features then and their outcome after (sorted by id,
    so the same store always gives the same sample)."""
    scope = set(practices)
    cohort = sorted((p for p in people if in_cohort(p, day, min_age, scope)), key=lambda p: p.patient_id)
    return Sample(
        day,
        [compute(p, day, lists).features for p in cohort],
        [admitted_within_year(p, day) for p in cohort],
    )
