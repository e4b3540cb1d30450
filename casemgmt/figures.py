"""Programme figures (pure): how many people are case managed per locality and tier against the planned
numbers (Appendix A), the share enrolled from stratification and from direct referrals (the model expects
about 80/20), and the admission-avoidance measure: case-managed people's emergency (non-elective)
admissions since their enrolment against the same period a year earlier. Exported as a FHIR
MeasureReport (one group per locality) and as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from casemgmt import codes
from stratify.resources import add_months
from stratify.settings import LOCALITIES

JSON = dict[str, Any]
TOTAL = "Total"


@dataclass(frozen=True)
class Enrolment:
    """One case management episode, reduced to what the figures count."""

    patient_id: str
    locality: str
    tier: str
    source: str  # stratification | referral
    start: date
    end: date | None  # None while active

    @property
    def active(self) -> bool:
        return self.end is None


@dataclass
class LocalityFigures:
    locality: str
    planned: int = 0
    active_by_tier: dict[str, int] = field(default_factory=lambda: dict.fromkeys(codes.TIERS, 0))
    enrolled: int = 0  # every enrolment, active or ended
    by_source: dict[str, int] = field(default_factory=lambda: {"stratification": 0, "referral": 0})
    admissions_since: int = 0
    admissions_year_before: int = 0

    @property
    def active(self) -> int:
        return sum(self.active_by_tier.values())

    @property
    def referral_share(self) -> float | None:
        return self.by_source["referral"] / self.enrolled if self.enrolled else None

    @property
    def reduction(self) -> float | None:
        """The fall in emergency admissions against a year earlier (0.2 = 20% fewer), the programme's target."""
        if not self.admissions_year_before:
            return None
        return 1 - self.admissions_since / self.admissions_year_before


@dataclass(frozen=True)
class ProgrammeFigures:
    as_of: date
    localities: list[LocalityFigures]  # North, Central, South, then Total
    since: date | None  # the earliest enrolment counted


def compute(
    enrolments: Iterable[Enrolment], admissions: dict[str, list[date]], planned: dict[str, int], as_of: date
) -> ProgrammeFigures:
    """The figures from the enrolments and each person's emergency admission days."""
    rows = {loc: LocalityFigures(loc, planned.get(loc, 0)) for loc in LOCALITIES}
    total = LocalityFigures(TOTAL, sum(planned.values()))
    earliest: date | None = None
    for item in enrolments:
        row = rows.setdefault(item.locality, LocalityFigures(item.locality))
        end = item.end or as_of
        since = _count(admissions.get(item.patient_id, []), item.start, end)
        before = _count(admissions.get(item.patient_id, []), add_months(item.start, -12), add_months(end, -12))
        for target in (row, total):
            target.enrolled += 1
            target.by_source[item.source] = target.by_source.get(item.source, 0) + 1
            target.admissions_since += since
            target.admissions_year_before += before
            if item.active and item.tier in target.active_by_tier:
                target.active_by_tier[item.tier] += 1
        earliest = item.start if earliest is None else min(earliest, item.start)
    return ProgrammeFigures(as_of, [*rows.values(), total], earliest)


def _count(days: list[date], start: date, end: date) -> int:
    """Admissions that began in [start, end)."""
    return sum(1 for day in days if start <= day < end)


def measure_report(figures: ProgrammeFigures, report_id: str | None = None) -> JSON:
    """A summary MeasureReport: one group per locality (and the total), with the population case managed,
    the planned number, enrolments by source and the admissions since enrolment and a year earlier; the
    measure score is the fall in admissions; active people are stratified by tier."""
    start = (figures.since or figures.as_of).isoformat()
    report: JSON = {
        "resourceType": "MeasureReport",
        "status": "complete",
        "type": "summary",
        "measure": codes.MEASURE,
        "date": figures.as_of.isoformat(),
        "period": {"start": start, "end": figures.as_of.isoformat()},
        "group": [_group(row) for row in figures.localities],
    }
    if report_id:
        report["id"] = report_id
    return report


def _group(row: LocalityFigures) -> JSON:
    populations = [
        _population(codes.MEASURE_POPULATION_SYSTEM, "initial-population", "People case managed now", row.active),
        _population(codes.MEASURE_SYSTEM, "planned", codes.MEASURE_DISPLAY["planned"], row.planned),
        *(
            _population(codes.MEASURE_SYSTEM, source, codes.MEASURE_DISPLAY[source], row.by_source.get(source, 0))
            for source in ("stratification", "referral")
        ),
        *(
            _population(codes.MEASURE_SYSTEM, key, codes.MEASURE_DISPLAY[key], value)
            for key, value in (
                ("admissions-since-enrolment", row.admissions_since),
                ("admissions-year-before", row.admissions_year_before),
            )
        ),
    ]
    group: JSON = {
        "code": {"text": row.locality},
        "population": populations,
        "stratifier": [
            {
                "code": [{"text": "tier"}],
                "stratum": [
                    {
                        "value": {"coding": [{"system": codes.TIER_SYSTEM, "code": tier}], "text": tier},
                        "population": [
                            _population(
                                codes.MEASURE_POPULATION_SYSTEM,
                                "initial-population",
                                "People case managed now",
                                row.active_by_tier[tier],
                            )
                        ],
                    }
                    for tier in codes.TIERS
                ],
            }
        ],
    }
    if row.reduction is not None:
        group["measureScore"] = {"value": round(row.reduction, 4), "unit": "1"}
    return group


def _population(system: str, code: str, display: str, count: int) -> JSON:
    return {"code": {"coding": [{"system": system, "code": code, "display": display}]}, "count": count}


CSV_COLUMNS = (
    "locality",
    "planned",
    "active",
    *(f"active_{tier}" for tier in codes.TIERS),
    "enrolled",
    "from_stratification",
    "from_referral",
    "referral_share",
    "admissions_since_enrolment",
    "admissions_year_before",
    "reduction",
)


def figures_csv(figures: ProgrammeFigures) -> str:
    """The figures as CSV, one row per locality and the total."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in figures.localities:
        writer.writerow(
            (
                row.locality,
                row.planned,
                row.active,
                *(row.active_by_tier[tier] for tier in codes.TIERS),
                row.enrolled,
                row.by_source.get("stratification", 0),
                row.by_source.get("referral", 0),
                "" if row.referral_share is None else f"{row.referral_share:.3f}",
                row.admissions_since,
                row.admissions_year_before,
                "" if row.reduction is None else f"{row.reduction:.3f}",
            )
        )
    return out.getvalue()
