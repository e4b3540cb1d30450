"""A case manager's caseload page (pure): their people by tier, the reviews due and overdue, and who has
been admitted in an emergency lately, from case management's caseload items."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from casemgmt.service import CaseloadItem
from pages.worklist import TIER_RANK

REVIEW_STATES = {"overdue": "Overdue", "due": "Due", "no-plan": "No care plan yet", "scheduled": "Scheduled"}


@dataclass(frozen=True)
class CaseloadPage:
    by_tier: list[tuple[str, list[CaseloadItem]]]  # most severe first; tiers with nobody left out
    reviews: list[CaseloadItem]  # overdue, then due, then people with no care plan yet
    admitted: list[CaseloadItem]  # an emergency admission in the recent window, most first
    total: int

    def count(self, state: str) -> int:
        return sum(1 for item in self.reviews if item.review == state)


def caseload_page(items: Sequence[CaseloadItem]) -> CaseloadPage:
    tiers = sorted({item.tier or "" for item in items}, key=lambda t: TIER_RANK.get(t, len(TIER_RANK)))
    by_tier = [(tier, sorted((i for i in items if (i.tier or "") == tier), key=_by_name)) for tier in tiers]
    order = list(REVIEW_STATES)
    reviews = sorted((i for i in items if i.review != "scheduled"), key=lambda i: (order.index(i.review), _by_name(i)))
    admitted = sorted(
        (i for i in items if i.recent_emergency_admissions), key=lambda i: (-i.recent_emergency_admissions, _by_name(i))
    )
    return CaseloadPage(by_tier, reviews, admitted, len(items))


def _by_name(item: CaseloadItem) -> tuple[str, str]:
    return (item.name.lower(), item.patient_id)
