"""The programme page and its downloads (FHIR MeasureReport, CSV): county-wide counts, no one named."""

from __future__ import annotations

import json

from flask import Response, render_template
from flask.typing import ResponseReturnValue

from casemgmt.figures import ProgrammeFigures, figures_csv, measure_report
from pages import workflow
from pages.blueprint import blueprint
from pages.programme import EXPECTED_REFERRAL_SHARE, programme_page
from pages.routes.common import (
    casemgmt_settings,
    engine,
    repo,
)
from stratify.report import read_report
from stratify.runstore import latest_run
from stratify.settings import TIERS


def _figures() -> ProgrammeFigures:
    return workflow.programme(repo(), casemgmt_settings())


@blueprint.get("/programme")
def programme() -> ResponseReturnValue:
    """County-wide counts (no one is named): every signed-in user may see them."""
    run = latest_run(engine())
    report = read_report(engine(), run, casemgmt_settings().stratify) if run else None
    return render_template(
        "pages/programme.html",
        title="Programme: case management against plan",
        run=run,
        page=programme_page(_figures(), report),
        tiers=TIERS,
        expected_referral_share=EXPECTED_REFERRAL_SHARE,
    )


@blueprint.get("/programme/figures.csv")
def programme_csv() -> ResponseReturnValue:
    return Response(
        figures_csv(_figures()),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="case-management-figures.csv"'},
    )


@blueprint.get("/programme/measure-report.json")
def programme_measure_report() -> ResponseReturnValue:
    report = measure_report(_figures())
    return Response(
        json.dumps(report, indent=2),
        content_type="application/fhir+json; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="case-management-measure-report.json"'},
    )
