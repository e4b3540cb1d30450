"""The quarterly stratification report: how many people each locality has in each tier, how many long-term
conditions they have (the programme targets 1-3), how risk is spread, and the case-management candidates
next to the numbers the programme planned for, so a care board sees at once whether the model proposes
about the caseload the teams were sized for.

Aggregation (`aggregate` -> `ReportData`) and rendering (text, CSV rows, a self-contained HTML page with
inline SVG charts) are pure; only `read_report` and `write_report` touch the database and the disk. The
HTML loads nothing from elsewhere (it is mailed around and opened on locked-down NHS desktops) and every
chart's numbers are also in a table, for screen readers and for anyone who prints it in black and white.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

from sqlalchemy.engine import Engine

from stratify.diff import text_table
from stratify.features import LTC_BANDS, ltc_band
from stratify.runstore import Result, RunRecord, results_of
from stratify.settings import BELOW_THRESHOLD, LOCALITIES, TIERS, StratifySettings

TIER_ORDER = (*TIERS, BELOW_THRESHOLD)  # most severe first, as the tables read
TARGET_BANDS = ("1", "2", "3")  # the programme's target group: people with 1-3 long-term conditions
RISK_BINS = 20
BIN_WIDTH = 1 / RISK_BINS
ALL = "All"
CSV_FIELDS = ("section", "locality", "group", "count", "planned")

# Colours: each at least 3:1 against the white background (WCAG 1.4.11) and told apart by lightness as
# well as hue (Okabe-Ito based), so the charts survive colour-blindness and greyscale printing.
TIER_COLOURS = {"severe": "#A50026", "moderate": "#D55E00", "mild": "#0072B2", BELOW_THRESHOLD: "#767676"}
OTHER_COLOUR = "#4D4D4D"
CANDIDATE_COLOUR = "#0072B2"
PLAN_COLOUR = "#595959"
TEXT_COLOUR = "#1A1A1A"
GRID_COLOUR = "#D9D9D9"


@dataclass(frozen=True)
class PlanRow:
    """A count next to the programme's planned number (None where there is no plan for it)."""

    locality: str
    count: int
    planned: int | None

    @property
    def difference(self) -> int | None:
        return None if self.planned is None else self.count - self.planned

    @property
    def percent(self) -> float | None:
        return None if not self.planned else 100 * self.count / self.planned


@dataclass(frozen=True)
class ReportData:
    run: RunRecord | None
    localities: tuple[str, ...]
    tiers: tuple[str, ...]
    tier_counts: dict[str, dict[str, int]]  # locality -> tier -> people
    ltc_counts: dict[str, dict[str, int]]  # locality -> LTC band -> people in the cohort
    ltc_candidates: dict[str, dict[str, int]]  # locality -> LTC band -> candidates
    cohort: dict[str, int]  # locality -> people
    candidates: dict[str, int]  # locality -> case-management candidates
    plan_case_management: dict[str, int]
    plan_population: dict[str, int]
    risk_bins: tuple[int, ...]  # people per probability band of 0.05, [0, 0.05) ... [0.95, 1]

    @property
    def total_cohort(self) -> int:
        return sum(self.cohort.values())

    @property
    def total_candidates(self) -> int:
        return sum(self.candidates.values())

    def candidate_rows(self) -> list[PlanRow]:
        """Candidates per locality against plan_case_management, then the total."""
        return _plan_rows(self.localities, self.candidates, self.plan_case_management)

    def cohort_rows(self) -> list[PlanRow]:
        """The cohort per locality against plan_population, then the total."""
        return _plan_rows(self.localities, self.cohort, self.plan_population)

    def target_candidates(self) -> int:
        """Candidates with 1-3 long-term conditions: the group the programme was planned around."""
        return sum(counts[band] for counts in self.ltc_candidates.values() for band in TARGET_BANDS)


def aggregate(results: Iterable[Result], settings: StratifySettings, run: RunRecord | None = None) -> ReportData:
    """Count one run's results. Localities and tiers come in the settings' order, then any others the
    results hold (so nothing is silently dropped), and every locality x tier cell exists, zero or not."""
    results = list(results)
    localities = (
        *LOCALITIES,
        *sorted({r.locality for r in results} - set(LOCALITIES)),
    )
    tiers = (*TIER_ORDER, *sorted({r.tier for r in results} - set(TIER_ORDER)))
    tier_counts = {loc: dict.fromkeys(tiers, 0) for loc in localities}
    ltc_counts = {loc: dict.fromkeys(LTC_BANDS, 0) for loc in localities}
    ltc_candidates = {loc: dict.fromkeys(LTC_BANDS, 0) for loc in localities}
    bins = [0] * RISK_BINS
    for r in results:
        band = ltc_band(r.ltc_count)
        tier_counts[r.locality][r.tier] += 1
        ltc_counts[r.locality][band] += 1
        if r.candidate:
            ltc_candidates[r.locality][band] += 1
        bins[risk_bin(r.probability)] += 1
    return ReportData(
        run=run,
        localities=localities,
        tiers=tiers,
        tier_counts=tier_counts,
        ltc_counts=ltc_counts,
        ltc_candidates=ltc_candidates,
        cohort={loc: sum(tier_counts[loc].values()) for loc in localities},
        candidates={loc: sum(ltc_candidates[loc].values()) for loc in localities},
        plan_case_management=dict(settings.plan_case_management),
        plan_population=dict(settings.plan_population),
        risk_bins=tuple(bins),
    )


def risk_bin(probability: float) -> int:
    """The band of 0.05 a probability falls in; 1.0 goes in the top band (the tiny epsilon keeps 0.15,
    stored as 0.1499999..., in the band it reads as)."""
    return max(0, min(RISK_BINS - 1, int(probability * RISK_BINS + 1e-9)))


def bin_label(index: int) -> str:
    return f"{index * BIN_WIDTH:.2f}-{(index + 1) * BIN_WIDTH:.2f}"


# -- text --------------------------------------------------------------------------------------------------
def render_text(data: ReportData) -> str:
    lines = [_headline(data), ""]
    lines += ["People per tier", *text_table(*_tier_table(data)), ""]
    lines += ["People per number of long-term conditions (the programme targets 1-3)"]
    lines += [*text_table(*_ltc_table(data, data.ltc_counts)), ""]
    lines += ["Candidates per number of long-term conditions", *text_table(*_ltc_table(data, data.ltc_candidates))]
    lines += [f"  {_target_sentence(data)}", ""]
    lines += ["Candidates for case management against plan", *text_table(*_plan_table(data.candidate_rows())), ""]
    lines += ["Cohort against planned 65+ population", *text_table(*_plan_table(data.cohort_rows()))]
    return "\n".join(lines)


def _headline(data: ReportData) -> str:
    run = data.run
    about = (
        f"Run {run.run_id}, period {run.period}, as of {run.as_of}, model {run.model} v{run.model_version}"
        if run
        else "Stratification report"
    )
    return f"{about}: cohort {data.total_cohort:,}, candidates for case management {data.total_candidates:,}"


def _tier_table(data: ReportData) -> tuple[list[str], list[list[object]]]:
    header = ["Locality", *(_tier_label(t) for t in data.tiers), "Total"]
    rows: list[list[object]] = [
        [loc, *data.tier_counts[loc].values(), data.cohort[loc]] for loc in _shown(data, data.cohort)
    ]
    totals = [sum(data.tier_counts[loc][t] for loc in data.localities) for t in data.tiers]
    return header, [*rows, ["Total", *totals, data.total_cohort]]


def _ltc_table(data: ReportData, counts: dict[str, dict[str, int]]) -> tuple[list[str], list[list[object]]]:
    header = ["Locality", *LTC_BANDS, "1-3 (target)", "Total"]
    shown = _shown(data, {loc: sum(c.values()) for loc, c in counts.items()})
    rows: list[list[object]] = [[loc, *_ltc_cells(counts[loc])] for loc in shown]
    total = {band: sum(counts[loc][band] for loc in data.localities) for band in LTC_BANDS}
    return header, [*rows, ["Total", *_ltc_cells(total)]]


def _ltc_cells(counts: dict[str, int]) -> list[object]:
    return [*(counts[b] for b in LTC_BANDS), sum(counts[b] for b in TARGET_BANDS), sum(counts.values())]


def _plan_table(rows: list[PlanRow]) -> tuple[list[str], list[list[object]]]:
    header = ["Locality", "Count", "Planned", "Difference", "% of plan"]
    return header, [
        [
            "Total" if row.locality == ALL else row.locality,
            row.count,
            "-" if row.planned is None else row.planned,
            "-" if row.difference is None else f"{row.difference:+,}",
            _percent(row.percent),
        ]
        for row in rows
    ]


def _target_sentence(data: ReportData) -> str:
    target, total = data.target_candidates(), data.total_candidates
    share = f" ({100 * target / total:.1f}%)" if total else ""
    return f"{target:,} of {total:,} candidates{share} have 1-3 long-term conditions, the programme's target group."


def _shown(data: ReportData, counts: dict[str, int]) -> list[str]:
    """The configured localities always (a zero is news), others only when someone is in them."""
    return [loc for loc in data.localities if loc in LOCALITIES or counts.get(loc)]


def _plan_rows(localities: Sequence[str], counts: dict[str, int], plan: dict[str, int]) -> list[PlanRow]:
    rows = [PlanRow(loc, counts.get(loc, 0), plan.get(loc)) for loc in localities if loc in plan or counts.get(loc)]
    total_plan = sum(plan.values()) if plan else None
    return [*rows, PlanRow(ALL, sum(counts.values()), total_plan)]


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def _tier_label(tier: str) -> str:
    return tier.replace("-", " ").capitalize()


# -- CSV ---------------------------------------------------------------------------------------------------
def csv_rows(data: ReportData) -> list[dict[str, str | int]]:
    """Tidy rows (section, locality, group, count, planned); `planned` is empty where there is no plan.
    Sections: tier, ltc_band, ltc_band_candidates (per locality), candidates and cohort (per locality and
    All, against plan), risk (All, per probability band)."""
    rows: list[dict[str, str | int]] = []

    def add(section: str, locality: str, group: str, count: int, planned: int | None = None) -> None:
        rows.append(
            {
                "section": section,
                "locality": locality,
                "group": group,
                "count": count,
                "planned": "" if planned is None else planned,
            }
        )

    for loc in data.localities:
        for tier, n in data.tier_counts[loc].items():
            add("tier", loc, tier, n)
    for section, counts in (("ltc_band", data.ltc_counts), ("ltc_band_candidates", data.ltc_candidates)):
        for loc in data.localities:
            for band, n in counts[loc].items():
                add(section, loc, band, n)
    for row in data.candidate_rows():
        add("candidates", row.locality, "case_management", row.count, row.planned)
    for row in data.cohort_rows():
        add("cohort", row.locality, "population", row.count, row.planned)
    for index, n in enumerate(data.risk_bins):
        add("risk", ALL, bin_label(index), n)
    return rows


def render_csv(data: ReportData) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_rows(data))
    return out.getvalue()


# -- HTML --------------------------------------------------------------------------------------------------
STYLE = f"""
body {{ font-family: system-ui, -apple-system, "Segoe UI", Arial, sans-serif; color: {TEXT_COLOUR};
  background: #FFFFFF; margin: 0; line-height: 1.5; }}
main {{ max-width: 60rem; margin: 0 auto; padding: 1rem 1.5rem 3rem; }}
h1 {{ font-size: 1.75rem; margin-bottom: 0.25rem; }}
h2 {{ font-size: 1.35rem; margin-top: 2.5rem; border-bottom: 2px solid {TEXT_COLOUR}; }}
table {{ border-collapse: collapse; margin: 1rem 0; font-variant-numeric: tabular-nums; }}
caption {{ text-align: left; font-weight: 600; padding-bottom: 0.35rem; }}
th, td {{ border: 1px solid #8C8C8C; padding: 0.3rem 0.6rem; }}
th {{ background: #F0F0F0; text-align: left; }}
td {{ text-align: right; }}
tr.total th, tr.total td {{ font-weight: 700; }}
figure {{ margin: 1rem 0; }}
svg {{ max-width: 100%; height: auto; }}
""".strip()


def render_html(data: ReportData) -> str:
    """The whole page as one string: inline CSS, inline SVG, no scripts, nothing fetched."""
    run = data.run
    title = f"Risk stratification report, run {run.run_id} ({run.period})" if run else "Risk stratification report"
    meta = (
        f"Run {run.run_id}, period {run.period}, as of {run.as_of}; model {run.model} version {run.model_version}; "
        f"finished {run.finished}."
        if run
        else ""
    )
    plan_total = data.candidate_rows()[-1]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f"<style>\n{STYLE}\n</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{escape(title)}</h1>",
        f"<p>{escape(meta)}</p>" if meta else "",
        "<p>"
        + escape(
            f"The cohort is {data.total_cohort:,} people; {data.total_candidates:,} are proposed as candidates for "
            f"case management, against a plan of "
            + (
                f"{plan_total.planned:,} ({_percent(plan_total.percent)} of plan)."
                if plan_total.planned is not None
                else "no planned number."
            )
        )
        + "</p>",
        '<h2 id="tiers">Risk tiers by locality</h2>',
        _tier_chart(data),
        _html_table("People in each risk tier, by locality", *_tier_table(data)),
        '<h2 id="ltc">Long-term conditions</h2>',
        f"<p>{escape(_target_sentence(data))}</p>",
        _html_table(
            "People in the cohort by number of long-term conditions (the programme targets 1-3)",
            *_ltc_table(data, data.ltc_counts),
        ),
        _html_table("Candidates by number of long-term conditions", *_ltc_table(data, data.ltc_candidates)),
        '<h2 id="risk">Predicted risk of emergency admission</h2>',
        _risk_chart(data),
        _html_table(
            "People in each band of predicted probability",
            ["Probability", "People"],
            [[bin_label(i), n] for i, n in enumerate(data.risk_bins)],
            total=False,
        ),
        '<h2 id="plan">Against the programme plan</h2>',
        _plan_chart(data),
        _html_table("Candidates for case management against plan", *_plan_table(data.candidate_rows())),
        _html_table("Cohort against the planned 65+ population", *_plan_table(data.cohort_rows())),
        "</main>",
        "</body>",
        "</html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def _html_table(caption: str, header: list[str], rows: list[list[object]], *, total: bool = True) -> str:
    """Column headers scoped to columns, the first cell of each row a row header; the last row (the
    totals) in bold when `total`."""
    out = ["<table>", f"<caption>{escape(caption)}</caption>", "<thead>", "<tr>"]
    out += [f'<th scope="col">{escape(h)}</th>' for h in header]
    out += ["</tr>", "</thead>", "<tbody>"]
    for n, row in enumerate(rows):
        cls = ' class="total"' if total and n == len(rows) - 1 else ""
        cells = [f'<th scope="row">{escape(str(row[0]))}</th>']
        cells += [f"<td>{escape(_cell(v))}</td>" for v in row[1:]]
        out.append(f"<tr{cls}>{''.join(cells)}</tr>")
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


def _cell(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _tier_chart(data: ReportData) -> str:
    localities = _shown(data, data.cohort)
    series = [(_tier_label(t), TIER_COLOURS.get(t, OTHER_COLOUR)) for t in data.tiers]
    return bar_chart(
        "chart-tiers",
        "Risk tiers by locality",
        "Grouped bar chart of the number of people in each risk tier ("
        + ", ".join(label for label, _ in series)
        + ") for each locality. The same numbers are in the table below.",
        localities,
        series,
        [[data.tier_counts[loc][t] for t in data.tiers] for loc in localities],
        x_title="Locality",
    )


def _risk_chart(data: ReportData) -> str:
    edges = [f"{i * BIN_WIDTH:.2f}" if i % 4 == 0 else "" for i in range(RISK_BINS + 1)]
    return bar_chart(
        "chart-risk",
        "Histogram of predicted probability of emergency admission",
        f"Histogram of the {data.total_cohort:,} people in the cohort by predicted probability, in "
        f"{RISK_BINS} bands of {BIN_WIDTH:.2f} from 0 to 1. The same numbers are in the table below.",
        [bin_label(i) for i in range(RISK_BINS)],
        [("People", CANDIDATE_COLOUR)],
        [[n] for n in data.risk_bins],
        edge_labels=edges,
        value_labels=False,
        gap=0.04,
        x_title="Predicted probability of an emergency admission",
    )


def _plan_chart(data: ReportData) -> str:
    rows = [row for row in data.candidate_rows() if row.locality != ALL]
    return bar_chart(
        "chart-plan",
        "Candidates for case management against plan, by locality",
        "Paired bar chart of the number of candidates and the planned case management number for each "
        "locality. The same numbers are in the table below.",
        [row.locality for row in rows],
        [("Candidates", CANDIDATE_COLOUR), ("Planned", PLAN_COLOUR)],
        [[row.count, row.planned or 0] for row in rows],
        x_title="Locality",
    )


def bar_chart(
    chart_id: str,
    title: str,
    description: str,
    groups: Sequence[str],
    series: Sequence[tuple[str, str]],
    values: Sequence[Sequence[int]],
    *,
    edge_labels: Sequence[str] | None = None,
    value_labels: bool = True,
    gap: float = 0.12,
    x_title: str = "",
    y_title: str = "People",
    width: int = 720,
    height: int = 360,
) -> str:
    """A grouped bar chart as inline SVG: values[g][s] is series s in group g. Groups are labelled at
    their centres, or, with `edge_labels` (one per boundary, blanks skipped), at their edges, as a
    histogram's axis is. Each bar carries a <title> with its number for pointer users."""
    left, right, top, bottom = 72, 16, 44 if len(series) > 1 else 16, 64
    plot_w, plot_h = width - left - right, height - top - bottom
    ticks = nice_ticks(max((v for row in values for v in row), default=0))
    y_max = ticks[-1]
    group_w = plot_w / max(len(groups), 1)
    bar_w = group_w * (1 - 2 * gap) / max(len(series), 1)

    def y(value: float) -> float:
        return top + plot_h - plot_h * value / y_max

    ids = f"{chart_id}-title {chart_id}-desc"
    out = [
        f'<figure><svg role="img" aria-labelledby="{escape(ids)}" id="{escape(chart_id)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'font-family="system-ui, Arial, sans-serif" font-size="12" fill="{TEXT_COLOUR}">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(description)}</desc>',
    ]
    for tick in ticks:
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="{GRID_COLOUR}"/>'
        )
        out.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{escape(f"{tick:,}")}</text>')
    for g, (group, row) in enumerate(zip(groups, values, strict=True)):
        x0 = left + g * group_w + group_w * gap
        for s, ((name, colour), value) in enumerate(zip(series, row, strict=True)):
            x = x0 + s * bar_w
            label = f"{group}, {name}: {value:,}" if len(series) > 1 else f"{group}: {value:,}"
            out.append(
                f'<rect x="{x:.1f}" y="{y(value):.1f}" width="{max(bar_w - 1, 1):.1f}" '
                f'height="{y(0) - y(value):.1f}" fill="{colour}"><title>{escape(label)}</title></rect>'
            )
            if value_labels:
                out.append(
                    f'<text x="{x + bar_w / 2:.1f}" y="{y(value) - 4:.1f}" text-anchor="middle" '
                    f'font-size="11">{escape(f"{value:,}")}</text>'
                )
        if edge_labels is None:
            out.append(
                f'<text x="{left + (g + 0.5) * group_w:.1f}" y="{top + plot_h + 18}" '
                f'text-anchor="middle">{escape(group)}</text>'
            )
    for e, label in enumerate(edge_labels or ()):
        if label:
            out.append(
                f'<text x="{left + e * group_w:.1f}" y="{top + plot_h + 18}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    out.append(f'<line x1="{left}" x2="{width - right}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="{TEXT_COLOUR}"/>')
    out.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{y(0):.1f}" stroke="{TEXT_COLOUR}"/>')
    if x_title:
        out.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{height - 16}" text-anchor="middle" '
            f'font-weight="600">{escape(x_title)}</text>'
        )
    out.append(
        f'<text transform="translate(16 {top + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle" '
        f'font-weight="600">{escape(y_title)}</text>'
    )
    if len(series) > 1:
        x = float(left)
        for name, colour in series:
            out.append(f'<rect x="{x:.1f}" y="12" width="14" height="14" fill="{colour}"/>')
            out.append(f'<text x="{x + 20:.1f}" y="24">{escape(name)}</text>')
            x += 34 + 7 * len(name)
    out.append("</svg></figure>")
    return "\n".join(out)


def nice_ticks(top: int, count: int = 5) -> list[int]:
    """Whole-number axis ticks from 0 in steps of 1, 2 or 5 x 10^n, the last at or above `top`."""
    if top <= 0:
        return [0, 1]
    raw = top / count
    magnitude = 10 ** max(0, math.floor(math.log10(raw))) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return list(range(0, math.ceil(top / step) * step + 1, step))


# -- IO ----------------------------------------------------------------------------------------------------
def read_report(engine: Engine, run: RunRecord, settings: StratifySettings) -> ReportData:
    """Aggregate a recorded run's results (from stratify_results, not the RiskAssessments)."""
    return aggregate(results_of(engine, run.run_id), settings, run)


def write_report(data: ReportData, out_dir: Path) -> list[Path]:
    """Write report.csv and report.html into `out_dir` (created if need be); returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (("report.csv", render_csv(data)), ("report.html", render_html(data))):
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
