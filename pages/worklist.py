"""The triage worklist's filtering and sorting (pure), over case management's triage queue: the people
the latest stratification run or a direct referral proposes, whom the MDT has not decided on since.
The page's query string says what to show; anything it does not understand is ignored."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from casemgmt.service import QueueItem
from stratify.settings import BELOW_THRESHOLD, TIERS

TIER_RANK = {tier: n for n, tier in enumerate((*TIERS, BELOW_THRESHOLD))}  # severe first
SOURCES = ("stratification", "referral")
SORTS = {"risk": "Risk", "tier": "Tier", "admissions": "Recent admissions", "name": "Name", "practice": "Practice"}
SEEN = {"yes": True, "no": False}


@dataclass(frozen=True)
class Query:
    """The worklist's query string: filters, then the sort."""

    tier: str = ""
    source: str = ""
    seen: str = ""  # "yes": triaged before; "no": new to the MDT
    text: str = ""
    sort: str = "risk"
    descending: bool = True

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> Query:
        tier, source, seen, sort = (args.get(k, "") for k in ("tier", "source", "seen", "sort"))
        return cls(
            tier=tier if tier in TIER_RANK else "",
            source=source if source in SOURCES else "",
            seen=seen if seen in SEEN else "",
            text=args.get("q", "").strip()[:100],
            sort=sort if sort in SORTS else "risk",
            descending=args.get("order", "desc") != "asc",
        )

    def args(self, **changes: object) -> dict[str, str]:
        """This query's parameters, with some changed (the sort links), leaving out the defaults."""
        q = replace(self, **changes)  # type: ignore[arg-type]
        found = {"tier": q.tier, "source": q.source, "seen": q.seen, "q": q.text, "sort": q.sort}
        found["order"] = "desc" if q.descending else "asc"
        return {k: v for k, v in found.items() if v and (k, v) not in (("sort", "risk"), ("order", "desc"))}


def select(items: Sequence[QueueItem], query: Query, practices: frozenset[str] | None = None) -> list[QueueItem]:
    """The items the query keeps (registered with `practices`, if given), in its order; ties go by name,
    then id, so the order never shuffles between visits."""
    text = query.text.lower()
    kept = [
        item
        for item in items
        if (practices is None or item.practice in practices)
        and (not query.tier or item.tier == query.tier)
        and (not query.source or item.source == query.source)
        and (not query.seen or item.seen_before == SEEN[query.seen])
        and (not text or text in item.name.lower() or text in (item.nhs_number or "").replace(" ", ""))
    ]
    kept.sort(key=lambda item: (item.name.lower(), item.patient_id))
    kept.sort(key=lambda item: _sort_key(item, query.sort), reverse=query.descending)
    return kept


def _sort_key(item: QueueItem, sort: str) -> tuple[float | str, ...]:
    if sort == "tier":  # descending: most severe first
        return (-TIER_RANK.get(item.tier or "", len(TIER_RANK)),)
    if sort == "admissions":
        return (item.emergency_admissions,)
    if sort == "name":
        return (item.name.lower(),)
    if sort == "practice":
        return (item.practice or "",)
    return (item.probability if item.probability is not None else -1.0,)


def counts(items: Sequence[QueueItem]) -> dict[str, int]:
    """How many came from each source, and how many the MDT has seen before."""
    found = dict.fromkeys(SOURCES, 0)
    for item in items:
        found[item.source] = found.get(item.source, 0) + 1
    found["seen"] = sum(1 for item in items if item.seen_before)
    return found
