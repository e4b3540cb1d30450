"""The stratification report: aggregation, the CSV rows, the self-contained accessible HTML, and the
`diff` and `report` commands against a real (SQLite) run store."""

from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import lxml.html
import pytest
from click.testing import CliRunner

from closer.cli import main
from closer.store.engine import make_engine
from stratify.report import (
    RISK_BINS,
    aggregate,
    bin_label,
    csv_rows,
    nice_ticks,
    render_csv,
    render_html,
    render_text,
    risk_bin,
)
from stratify.runstore import Result, RunRecord, ensure_tables, record_run
from stratify.settings import StratifySettings, load_settings

SETTINGS = load_settings()  # the packaged plan: 2,782 North, 2,656 Central, 3,355 South


def r(
    pid: str,
    locality: str,
    tier: str,
    probability: float,
    ltc: int,
    *,
    candidate: bool | None = None,
) -> Result:
    if candidate is None:
        candidate = tier in ("moderate", "severe")
    return Result(pid, "Z91001", locality, tier, probability, candidate, "mild", ltc)


RESULTS = [
    r("n1", "North", "severe", 0.92, 3),
    r("n2", "North", "moderate", 0.41, 1),
    r("n3", "North", "mild", 0.15, 0),
    r("n4", "North", "below-threshold", 0.03, 6),
    r("c1", "Central", "severe", 1.0, 4),
    r("c2", "Central", "mild", 0.2, 2),
    r("s1", "South", "moderate", 0.35, 2),
    r("s2", "South", "moderate", 0.3, 5),
    r("s3", "South", "below-threshold", 0.0, 0),
]
RUN = RunRecord(7, "2025Q2", "2025-05-01", "2025-05-01T02:00:00", "2025-05-01T02:05:00", "default", "1.0", {}, {})


def test_tiers_and_cohort_per_locality() -> None:
    data = aggregate(RESULTS, SETTINGS, RUN)
    assert data.localities == ("North", "Central", "South")
    assert data.tiers == ("severe", "moderate", "mild", "below-threshold")
    assert data.tier_counts["North"] == {"severe": 1, "moderate": 1, "mild": 1, "below-threshold": 1}
    assert data.tier_counts["Central"] == {"severe": 1, "moderate": 0, "mild": 1, "below-threshold": 0}
    assert data.tier_counts["South"] == {"severe": 0, "moderate": 2, "mild": 0, "below-threshold": 1}
    assert data.cohort == {"North": 4, "Central": 2, "South": 3}
    assert data.candidates == {"North": 2, "Central": 1, "South": 2}
    assert (data.total_cohort, data.total_candidates) == (9, 5)


def test_ltc_bands() -> None:
    data = aggregate(RESULTS, SETTINGS)
    assert data.ltc_counts["North"] == {"0": 1, "1": 1, "2": 0, "3": 1, "4+": 1}
    assert data.ltc_counts["South"] == {"0": 1, "1": 0, "2": 1, "3": 0, "4+": 1}
    assert data.ltc_candidates["Central"] == {"0": 0, "1": 0, "2": 0, "3": 0, "4+": 1}
    assert data.target_candidates() == 3  # n1 (3), n2 (1), s1 (2); c1 and s2 have 4 or more


def test_risk_histogram_bands() -> None:
    assert [risk_bin(p) for p in (0.0, 0.0499, 0.05, 0.15, 0.3, 0.9999, 1.0)] == [0, 0, 1, 3, 6, 19, 19]
    data = aggregate(RESULTS, SETTINGS)
    assert len(data.risk_bins) == RISK_BINS and sum(data.risk_bins) == len(RESULTS)
    assert data.risk_bins[0] == 2 and data.risk_bins[3] == 1 and data.risk_bins[19] == 1
    assert bin_label(0) == "0.00-0.05" and bin_label(19) == "0.95-1.00"


def test_candidates_against_plan() -> None:
    rows = aggregate(RESULTS, SETTINGS).candidate_rows()
    assert [(x.locality, x.count, x.planned, x.difference) for x in rows] == [
        ("North", 2, 2782, -2780),
        ("Central", 1, 2656, -2655),
        ("South", 2, 3355, -3353),
        ("All", 5, 8793, -8788),
    ]
    assert rows[-1].percent == pytest.approx(100 * 5 / 8793)


def test_cohort_against_population_plan() -> None:
    rows = aggregate(RESULTS, SETTINGS).cohort_rows()
    assert [(x.locality, x.count, x.planned) for x in rows] == [
        ("North", 4, 23190),
        ("Central", 2, 22135),
        ("South", 3, 27962),
        ("All", 9, 73287),
    ]


def test_no_plan_gives_no_percentage() -> None:
    rows = aggregate(RESULTS, StratifySettings(practices={"Z91001": "North"})).candidate_rows()
    assert all(x.planned is None and x.difference is None and x.percent is None for x in rows)
    assert "-" in render_text(aggregate(RESULTS, StratifySettings(practices={"Z91001": "North"})))


def test_unknown_locality_and_tier_are_kept() -> None:
    data = aggregate([*RESULTS, r("x1", "West", "extreme", 0.5, 1, candidate=True)], SETTINGS)
    assert data.localities[-1] == "West" and data.tiers[-1] == "extreme"
    assert data.tier_counts["West"]["extreme"] == 1
    assert data.candidate_rows()[-2].locality == "West" and data.candidate_rows()[-2].planned is None


def test_csv_rows() -> None:
    data = aggregate(RESULTS, SETTINGS, RUN)
    rows = list(csv.DictReader(io.StringIO(render_csv(data))))
    assert rows == [{k: str(v) for k, v in row.items()} for row in csv_rows(data)]
    assert list(rows[0]) == ["section", "locality", "group", "count", "planned"]
    by_key = {(x["section"], x["locality"], x["group"]): (x["count"], x["planned"]) for x in rows}
    assert by_key["tier", "South", "moderate"] == ("2", "")
    assert by_key["ltc_band", "North", "4+"] == ("1", "")
    assert by_key["ltc_band_candidates", "North", "3"] == ("1", "")
    assert by_key["candidates", "North", "case_management"] == ("2", "2782")
    assert by_key["candidates", "All", "case_management"] == ("5", "8793")
    assert by_key["cohort", "South", "population"] == ("3", "27962")
    assert by_key["risk", "All", "0.95-1.00"] == ("1", "")
    sections = [x["section"] for x in rows]
    assert sections.count("tier") == 3 * 4 and sections.count("ltc_band") == 3 * 5 and sections.count("risk") == 20


def test_text_report() -> None:
    text = render_text(aggregate(RESULTS, SETTINGS, RUN))
    assert text.startswith("Run 7, period 2025Q2")
    assert "8,793" in text and "2,782" in text and "-2,780" in text
    assert "3 of 5 candidates (60.0%) have 1-3 long-term conditions" in text


class _Collector(HTMLParser):
    """Fails on nothing, but checks every opened element is closed in order (void elements aside)."""

    VOID = {"meta", "br", "hr", "img", "input", "link", "rect", "line"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else ''}>"
        self.stack.pop()


def test_html_is_well_formed_self_contained_and_accessible() -> None:
    page = render_html(aggregate(RESULTS, SETTINGS, RUN))
    parser = _Collector()
    parser.feed(page)
    parser.close()
    assert parser.stack == []
    tags = [tag for tag, _ in parser.tags]
    assert ("html", {"lang": "en"}) in parser.tags
    assert tags.count("title") >= 1 + 3  # the page's and each chart's
    assert "script" not in tags and "link" not in tags and "iframe" not in tags
    assert "http" not in page and "<script src=" not in page
    assert page.count('<svg role="img"') == 3
    assert all(attrs.get("scope") in ("col", "row") for tag, attrs in parser.tags if tag == "th")

    doc = lxml.html.document_fromstring(page)
    assert doc.xpath("string(/html/head/title)") == "Risk stratification report, run 7 (2025Q2)"
    assert doc.xpath("//h1") and len(doc.xpath("//h2")) == 4
    tables = doc.xpath("//table")
    assert tables and all(t.xpath("caption") for t in tables)
    captions = [c.text_content() for c in doc.xpath("//caption")]
    assert "People in each risk tier, by locality" in captions
    assert "Candidates for case management against plan" in captions
    assert "Cohort against the planned 65+ population" in captions
    assert "People in each band of predicted probability" in captions
    for svg in doc.xpath("//svg"):
        assert svg.get("role") == "img"
        labelled = svg.get("aria-labelledby").split()
        assert svg.xpath("title")[0].get("id") == labelled[0]
        assert svg.xpath("title")[0].text_content()
    plan = next(t for t in tables if t.xpath("caption")[0].text_content().startswith("Candidates for case"))
    total = [c.text_content() for c in plan.xpath(".//tr")[-1]]
    assert total == ["Total", "5", "8,793", "-8,788", "0.1%"]
    assert len(doc.xpath('//svg[@id="chart-risk"]//rect')) == RISK_BINS


def test_html_escapes_every_text() -> None:
    data = aggregate([r("x1", "<b>West & Co</b>", "<i>tier</i>", 0.5, 1)], SETTINGS)
    page = render_html(data)
    assert "<b>" not in page and "<i>" not in page
    assert "&lt;b&gt;West &amp; Co&lt;/b&gt;" in page


def test_empty_run_still_renders() -> None:
    data = aggregate([], SETTINGS)
    assert data.total_cohort == 0 and data.target_candidates() == 0
    assert render_html(data).count('<svg role="img"') == 3
    assert "0 of 0 candidates have" in render_text(data)


def test_nice_ticks() -> None:
    assert nice_ticks(0) == [0, 1]
    assert nice_ticks(3) == [0, 1, 2, 3]
    assert nice_ticks(7) == [0, 2, 4, 6, 8]
    assert nice_ticks(3355) == [0, 1000, 2000, 3000, 4000]


# -- the commands ------------------------------------------------------------------------------------------
def _store(tmp_path: Path, runs: list[list[Result]]) -> str:
    url = f"sqlite:///{tmp_path}/c.db"
    engine = make_engine(url)
    ensure_tables(engine)
    for n, results in enumerate(runs, start=1):
        run = RunRecord(
            0, "2025Q2", f"2025-05-0{n}", "2025-05-01T02:00:00", "2025-05-01T02:05:00", "default", "1.0", {}, {}
        )
        with engine.begin() as conn:
            record_run(conn, run, results)
    engine.dispose()
    return url


def test_diff_and_report_commands(tmp_path: Path) -> None:
    later = [*RESULTS[1:], r("n9", "North", "severe", 0.95, 2)]  # n1 leaves, n9 joins
    later = [x if x.patient_id != "c2" else r("c2", "Central", "moderate", 0.4, 2) for x in later]
    url = _store(tmp_path, [RESULTS, later])
    runner = CliRunner()

    result = runner.invoke(main, ["stratify", "diff", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "Run 1 (2025Q2, as of 2025-05-01) -> run 2 (2025Q2, as of 2025-05-02)" in result.output
    assert "Entered (2)" in result.output and "Left (1)" in result.output

    result = runner.invoke(main, ["stratify", "diff", "--json", "--database-url", url])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["before"]["run_id"], data["after"]["run_id"]) == (1, 2)
    assert [m["patient_id"] for m in data["entered"]] == ["c2", "n9"]
    assert [(m["patient_id"], m["reason"]) for m in data["left"]] == [("n1", "left the cohort")]
    assert [(c["patient_id"], c["direction"]) for c in data["changed"]] == [("c2", "up")]

    result = runner.invoke(main, ["stratify", "diff", "--run", "1", "--against", "2", "--json", "--database-url", url])
    assert json.loads(result.stdout)["left"][0]["patient_id"] == "c2"

    result = runner.invoke(main, ["stratify", "diff", "--run", "5", "--database-url", url])
    assert result.exit_code == 1 and "--run 5: no such run (recorded: 1, 2" in result.output
    result = runner.invoke(main, ["stratify", "diff", "--run", "1", "--database-url", url])
    assert result.exit_code == 1 and "first recorded run" in result.output

    out = tmp_path / "out"
    result = runner.invoke(main, ["stratify", "report", "--out", str(out), "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "Run 2, period 2025Q2" in result.stdout and "8,793" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["report.csv", "report.html"]
    rows = list(csv.DictReader(io.StringIO((out / "report.csv").read_text(encoding="utf-8"))))
    assert {
        "section": "candidates",
        "locality": "All",
        "group": "case_management",
        "count": "6",
        "planned": "8793",
    } in rows
    assert '<html lang="en">' in (out / "report.html").read_text(encoding="utf-8")

    result = runner.invoke(main, ["stratify", "report", "--run", "1", "--out", str(out), "--database-url", url])
    assert result.exit_code == 0 and "Run 1, period 2025Q2" in result.stdout


def test_commands_need_runs(tmp_path: Path) -> None:
    runner = CliRunner()
    url = _store(tmp_path, [])
    for args in (["diff"], ["report", "--out", str(tmp_path / "out")]):
        result = runner.invoke(main, ["stratify", *args, "--database-url", url])
        assert result.exit_code == 1 and "no stratification run is recorded yet" in result.output
    url = _store(tmp_path, [RESULTS])
    result = runner.invoke(main, ["stratify", "diff", "--database-url", url])
    assert result.exit_code == 1 and "only one stratification run is recorded: a diff needs two" in result.output
