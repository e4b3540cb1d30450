"""The programme page (pure): case-managed people per locality and tier against the planned numbers, the
latest run's candidates, where enrolments came from (the model expects about 80% from stratification and
20% from direct referrals), and case-managed people's emergency admissions since enrolment against the
same period a year earlier. Charts are stratify.report's inline SVG bar charts (title, description and a
<title> per bar for assistive technology); every chart's numbers are also in a table on the page."""

from __future__ import annotations

from dataclasses import dataclass

from casemgmt.figures import TOTAL, ProgrammeFigures
from stratify.report import CANDIDATE_COLOUR, PLAN_COLOUR, TIER_COLOURS, ReportData, bar_chart
from stratify.settings import TIERS

ENROLLED_COLOUR = "#00703C"  # 5.9:1 on white, apart from the candidate blue and the plan grey by lightness
REFERRAL_COLOUR = "#8A4B00"
EXPECTED_REFERRAL_SHARE = 0.2  # Appendix B: about 80% from stratification, 20% from direct referrals


@dataclass(frozen=True)
class PlanRow:
    locality: str
    candidates: int | None  # in the latest run (None: no run)
    case_managed: int
    planned: int

    @property
    def percent_of_plan(self) -> float | None:
        return self.case_managed / self.planned if self.planned else None


@dataclass(frozen=True)
class ProgrammePage:
    figures: ProgrammeFigures
    plan_rows: list[PlanRow]  # localities, then the total
    charts: dict[str, str]  # name -> inline SVG

    @property
    def total(self) -> PlanRow:
        return self.plan_rows[-1]


def programme_page(figures: ProgrammeFigures, report: ReportData | None) -> ProgrammePage:
    """The page from case management's figures and the latest run's report (None: no run yet)."""
    rows = [
        PlanRow(row.locality, _candidates(report, row.locality), row.active, row.planned) for row in figures.localities
    ]
    return ProgrammePage(figures, rows, charts(figures, rows))


def _candidates(report: ReportData | None, locality: str) -> int | None:
    if report is None:
        return None
    return report.total_candidates if locality == TOTAL else report.candidates.get(locality, 0)


def charts(figures: ProgrammeFigures, rows: list[PlanRow]) -> dict[str, str]:
    localities = [row for row in figures.localities if row.locality != TOTAL]
    names = [row.locality for row in localities]
    plan_series = [("Case managed", ENROLLED_COLOUR), ("Planned", PLAN_COLOUR)]
    plan_values = [[row.case_managed, row.planned] for row in rows if row.locality != TOTAL]
    if all(row.candidates is not None for row in rows):
        plan_series.insert(0, ("Candidates in the latest run", CANDIDATE_COLOUR))
        plan_values = [[row.candidates or 0, *values] for row, values in zip(rows, plan_values, strict=False)]
    return {
        "plan": bar_chart(
            "chart-plan",
            "People case managed against the planned numbers, by locality",
            "Grouped bar chart, for each locality, of "
            + ", ".join(name.lower() for name, _ in plan_series)
            + ". The same numbers are in the table below.",
            names,
            plan_series,
            plan_values,
            x_title="Locality",
        ),
        "tiers": bar_chart(
            "chart-tiers",
            "People case managed now by tier, by locality",
            "Grouped bar chart of the people case managed now in each tier (severe, moderate, mild) for each "
            "locality. The same numbers are in the table below.",
            names,
            [(tier.capitalize(), TIER_COLOURS[tier]) for tier in TIERS],
            [[row.active_by_tier.get(tier, 0) for tier in TIERS] for row in localities],
            x_title="Locality",
        ),
        "sources": bar_chart(
            "chart-sources",
            "Enrolments by source, by locality",
            "Grouped bar chart of the people enrolled from risk stratification and from direct referrals, for "
            "each locality. The same numbers are in the table below.",
            names,
            [("Stratification", CANDIDATE_COLOUR), ("Referral", REFERRAL_COLOUR)],
            [[row.by_source.get("stratification", 0), row.by_source.get("referral", 0)] for row in localities],
            x_title="Locality",
        ),
        "admissions": bar_chart(
            "chart-admissions",
            "Emergency admissions of case-managed people: since enrolment and a year earlier",
            "Grouped bar chart, for each locality, of the emergency admissions of case-managed people since "
            "their enrolment and in the same period a year earlier. The same numbers are in the table below.",
            names,
            [("Year earlier", PLAN_COLOUR), ("Since enrolment", ENROLLED_COLOUR)],
            [[row.admissions_year_before, row.admissions_since] for row in localities],
            x_title="Locality",
            y_title="Admissions",
        ),
    }
