"""The programme figures, the MeasureReport ($programme-report) and the CSV, and the `closer casemgmt`
commands, on SQLite and PostgreSQL. Two people: one in the North enrolled from a referral 100 days ago
(one emergency admission since, two in the same period a year earlier), one in the South from
stratification."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner
from cm_data import (
    ANN,
    BOB,
    MANAGER,
    SOUTH_PRACTICE,
    emergency_admission,
    include,
    ok,
    person,
    put,
    refer,
    repository,
    send,
    setting_up,
    settings,
    today,
)
from fhir.resources.R4B.measurereport import MeasureReport
from flask import Flask
from flask.testing import FlaskClient

from casemgmt import service
from casemgmt.figures import figures_csv, measure_report
from closer.cli import main

ENROLLED = today() - timedelta(days=100)


def two_people(client: FlaskClient, app: Flask) -> None:
    setting_up(client, app, ANN)
    put(client, person(BOB, SOUTH_PRACTICE))
    referral = refer(client, ANN)
    include(client, ANN, f"ServiceRequest/{referral['id']}")
    include(client, BOB)
    at = datetime.combine(ENROLLED, datetime.min.time(), UTC).replace(hour=12)
    repo, cm = repository(app), settings()
    service.enrol(repo, cm, ANN, MANAGER, tier="severe", at=at)
    service.enrol(repo, cm, BOB, MANAGER, tier="moderate", at=at)
    for n, days in enumerate((50, 400, 420)):
        put(client, emergency_admission(ANN, n, today() - timedelta(days=days)))


def test_figures_by_locality_tier_and_source_with_admissions_avoided(client: FlaskClient, app: Flask) -> None:
    two_people(client, app)
    figures = service.programme_figures(repository(app), settings(), today())
    rows = {row.locality: row for row in figures.localities}
    north, south, total = rows["North"], rows["South"], rows["Total"]
    assert north.active_by_tier == {"mild": 0, "moderate": 0, "severe": 1} and north.planned == 2782
    assert north.by_source == {"stratification": 0, "referral": 1}
    assert (north.admissions_since, north.admissions_year_before, north.reduction) == (1, 2, 0.5)
    assert south.active_by_tier["moderate"] == 1 and south.by_source["stratification"] == 1
    assert (total.active, total.enrolled, total.referral_share) == (2, 2, 0.5)
    assert figures.since == ENROLLED

    report = measure_report(figures)
    MeasureReport.model_validate(report)
    assert [g["code"]["text"] for g in report["group"]] == ["North", "Central", "South", "Total"]
    assert report["group"][0]["measureScore"]["value"] == 0.5

    lines = figures_csv(figures).splitlines()
    assert lines[0].startswith("locality,planned,active,active_mild")
    assert lines[1].startswith("North,2782,1,0,0,1,1,0,1,1.000,1,2,0.500")


def test_programme_report_operation(client: FlaskClient, app: Flask) -> None:
    two_people(client, app)
    report = ok(send(client, "GET", "/$programme-report"))
    assert report["resourceType"] == "MeasureReport" and report["type"] == "summary"
    total = report["group"][-1]
    assert {p["code"]["coding"][0]["code"]: p["count"] for p in total["population"]}["initial-population"] == 2
    assert send(client, "POST", "/$programme-report").status_code == 405


def test_commands_load_teams_raise_reviews_and_report(client: FlaskClient, app: Flask, database_url: str) -> None:
    runner = CliRunner()
    loaded = runner.invoke(main, ["casemgmt", "teams", "load", "--database-url", database_url])
    assert loaded.exit_code == 0, loaded.output
    assert "15 teams loaded" in loaded.output
    two_people(client, app)
    due = today() + timedelta(days=3)
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "carePlan",
                "part": [
                    {"name": "description", "valueString": "Weekly calls"},
                    {"name": "nextReview", "valueDate": due.isoformat()},
                ],
            },
            {"name": "emergency", "part": [{"name": "description", "valueString": "Call 999"}]},
        ],
    }
    ok(send(client, "POST", f"/Patient/{ANN}/$agree-plan", body))
    reviews = runner.invoke(main, ["casemgmt", "reviews", "--database-url", database_url])
    assert reviews.exit_code == 0, reviews.output
    assert "1 reviews due" in reviews.output and f"for Patient/{ANN}" in reviews.output
    as_csv = runner.invoke(main, ["casemgmt", "report", "--csv", "--database-url", database_url])
    assert as_csv.exit_code == 0 and as_csv.output.splitlines()[-1].startswith("Total,8793,2,")
    as_json = runner.invoke(main, ["casemgmt", "report", "--database-url", database_url])
    assert json.loads(as_json.output)["resourceType"] == "MeasureReport"
    watched = runner.invoke(main, ["casemgmt", "watch", "--once", "--database-url", database_url])
    assert watched.exit_code == 0, watched.output
