"""What changed between two stratification runs (pure: no IO), so the case management teams see who is
newly proposed, who dropped off their list, and whose risk tier moved, without re-reading every person.

Definitions, over the people each run scored (its cohort):

- **entered**: a case-management candidate in the later run but not in the earlier one (either new to
  the cohort, or in it before without being a candidate).
- **left**: a candidate in the earlier run but not in the later one (either still in the cohort but no
  longer a candidate, or no longer in the cohort at all: died, moved practice, deregistered).
- **changed**: in both cohorts with a different tier; "up" means towards severe. A person can be both
  changed and entered (or left) when the tier move also crossed the candidate line.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from stratify.runstore import Result
from stratify.settings import BELOW_THRESHOLD, LOCALITIES, TIERS

SEVERITY = {tier: rank for rank, tier in enumerate((BELOW_THRESHOLD, *reversed(TIERS)))}
"""Tier -> rank, least to most severe; an unknown tier ranks below them all."""

NEW_TO_COHORT = "new to the cohort"
NOW_CANDIDATE = "now a candidate"
LEFT_COHORT = "left the cohort"
NO_LONGER_CANDIDATE = "no longer a candidate"


@dataclass(frozen=True)
class Movement:
    """Someone who entered or left the candidate list; tier and locality are from the run they were a
    candidate in, so a person who left the cohort still shows where they were case managed."""

    patient_id: str
    locality: str
    tier: str
    probability: float
    reason: str  # NEW_TO_COHORT | NOW_CANDIDATE (entered); LEFT_COHORT | NO_LONGER_CANDIDATE (left)
    now: str = ""  # for someone still in the cohort: their tier in the later run


@dataclass(frozen=True)
class TierChange:
    patient_id: str
    locality: str  # in the later run
    before: str
    after: str
    direction: str  # "up" (more severe) | "down"
    probability_before: float
    probability_after: float


@dataclass(frozen=True)
class RunDiff:
    entered: tuple[Movement, ...]
    left: tuple[Movement, ...]
    changed: tuple[TierChange, ...]
    cohort_before: int
    cohort_after: int
    candidates_before: int
    candidates_after: int

    @property
    def counts(self) -> dict[str, int]:
        up = sum(c.direction == "up" for c in self.changed)
        return {
            "cohort_before": self.cohort_before,
            "cohort_after": self.cohort_after,
            "candidates_before": self.candidates_before,
            "candidates_after": self.candidates_after,
            "entered": len(self.entered),
            "entered_new_to_cohort": sum(m.reason == NEW_TO_COHORT for m in self.entered),
            "left": len(self.left),
            "left_the_cohort": sum(m.reason == LEFT_COHORT for m in self.left),
            "changed": len(self.changed),
            "up": up,
            "down": len(self.changed) - up,
        }

    def by_locality(self) -> dict[str, dict[str, int]]:
        """locality -> entered, left, up, down: what each locality's team gains and loses."""
        counts: dict[str, Counter[str]] = {}
        for key, locality in (
            *(("entered", m.locality) for m in self.entered),
            *(("left", m.locality) for m in self.left),
            *((c.direction, c.locality) for c in self.changed),
        ):
            counts.setdefault(locality, Counter())[key] += 1
        order = [*(loc for loc in LOCALITIES if loc in counts), *sorted(set(counts) - set(LOCALITIES))]
        return {loc: {k: counts[loc][k] for k in ("entered", "left", "up", "down")} for loc in order}

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "by_locality": self.by_locality(),
            "entered": [asdict(m) for m in self.entered],
            "left": [asdict(m) for m in self.left],
            "changed": [asdict(c) for c in self.changed],
        }


def diff(before: Iterable[Result], after: Iterable[Result]) -> RunDiff:
    """Compare two runs' results (earlier first); every list is sorted by patient id."""
    old, new = _by_id(before, "before"), _by_id(after, "after")
    entered = [
        Movement(
            pid,
            r.locality,
            r.tier,
            r.probability,
            NEW_TO_COHORT if pid not in old else NOW_CANDIDATE,
        )
        for pid, r in sorted(new.items())
        if r.candidate and not (pid in old and old[pid].candidate)
    ]
    left = [
        Movement(
            pid,
            r.locality,
            r.tier,
            r.probability,
            LEFT_COHORT if pid not in new else NO_LONGER_CANDIDATE,
            new[pid].tier if pid in new else "",
        )
        for pid, r in sorted(old.items())
        if r.candidate and not (pid in new and new[pid].candidate)
    ]
    changed = [
        TierChange(
            pid,
            new[pid].locality,
            r.tier,
            new[pid].tier,
            "up" if _rank(new[pid].tier) > _rank(r.tier) else "down",
            r.probability,
            new[pid].probability,
        )
        for pid, r in sorted(old.items())
        if pid in new and new[pid].tier != r.tier
    ]
    return RunDiff(
        tuple(entered),
        tuple(left),
        tuple(changed),
        cohort_before=len(old),
        cohort_after=len(new),
        candidates_before=sum(r.candidate for r in old.values()),
        candidates_after=sum(r.candidate for r in new.values()),
    )


def render_diff(d: RunDiff) -> str:
    """A plain-text summary, the per-locality counts, then the people in each list."""
    c = d.counts
    lines = [
        f"Cohort {c['cohort_before']:,} -> {c['cohort_after']:,} ({_signed(c['cohort_after'] - c['cohort_before'])}); "
        f"candidates {c['candidates_before']:,} -> {c['candidates_after']:,} "
        f"({_signed(c['candidates_after'] - c['candidates_before'])})",
        f"Entered: {c['entered']:,} ({c['entered_new_to_cohort']:,} new to the cohort); "
        f"left: {c['left']:,} ({c['left_the_cohort']:,} left the cohort); "
        f"tier changed: {c['changed']:,} ({c['up']:,} up, {c['down']:,} down)",
    ]
    localities = d.by_locality()
    if localities:
        header = ["locality", "entered", "left", "up", "down"]
        lines += ["", *text_table(header, [[loc, *v.values()] for loc, v in localities.items()])]
    sections: list[tuple[str, list[str], list[list[object]]]] = [
        (
            "Entered",
            ["patient", "locality", "tier", "risk", "why"],
            [[m.patient_id, m.locality, m.tier, f"{m.probability:.1%}", m.reason] for m in d.entered],
        ),
        (
            "Left",
            ["patient", "locality", "tier", "risk", "why", "now"],
            [[m.patient_id, m.locality, m.tier, f"{m.probability:.1%}", m.reason, m.now or "-"] for m in d.left],
        ),
        (
            "Tier changed",
            ["patient", "locality", "before", "after", "direction", "risk before", "risk after"],
            [
                [
                    ch.patient_id,
                    ch.locality,
                    ch.before,
                    ch.after,
                    ch.direction,
                    f"{ch.probability_before:.1%}",
                    f"{ch.probability_after:.1%}",
                ]
                for ch in d.changed
            ],
        ),
    ]
    for title, header, rows in sections:
        lines += ["", f"{title} ({len(rows):,})"]
        lines += text_table(header, rows) if rows else ["  (nobody)"]
    return "\n".join(lines)


def _by_id(results: Iterable[Result], which: str) -> dict[str, Result]:
    found: dict[str, Result] = {}
    for r in results:
        if r.patient_id in found:
            raise ValueError(f"patient {r.patient_id} appears twice in the {which} run's results")
        found[r.patient_id] = r
    return found


def _rank(tier: str) -> int:
    return SEVERITY.get(tier, -1)


def _signed(n: int) -> str:
    return f"{n:+,}"


def text_table(header: list[str], rows: list[list[object]]) -> list[str]:
    """Fixed-width columns for a terminal; numbers (and percentages) right-aligned, whole numbers with
    thousands separators."""
    cells = [
        header,
        *[[f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v) for v in row] for row in rows],
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return [
        "  " + "  ".join(_align(v, w, header_row=n == 0) for v, w in zip(row, widths, strict=True)).rstrip()
        for n, row in enumerate(cells)
    ]


_NUMBER = re.compile(r"^[+-]?[\d,]+(\.\d+)?%?$")


def _align(value: str, width: int, *, header_row: bool) -> str:
    return value.rjust(width) if not header_row and _NUMBER.match(value) else value.ljust(width)
