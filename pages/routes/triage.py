"""The triage worklist: the team's or practice's queue, include/exclude decisions and the GP's sign-off."""

from __future__ import annotations

from datetime import date

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from casemgmt.codes import REFERRAL_SOURCE_DISPLAY
from casemgmt.service import QueueItem
from closer.errors import FhirError
from pages import workflow
from pages.auth import current_user, require_role
from pages.blueprint import blueprint
from pages.routes.common import (
    casemgmt_settings,
    engine,
    host_settings,
    patient_or_404,
    repo,
    signer,
    today,
    unit_or_404,
    worklist_url,
)
from pages.scope import Unit
from pages.users import GP
from pages.worklist import SORTS, SOURCES, TIER_RANK, Query, counts, select
from stratify.runstore import latest_run, signed_off


@blueprint.get("/triage/<key>")
def worklist(key: str) -> ResponseReturnValue:
    unit = unit_or_404(key)
    query = Query.from_args(request.args)
    queue = _team_queue(unit)
    practices = None if unit.kind == "team" else frozenset(unit.practices)  # a practice's: narrowed to it
    everyone = select(queue, Query(), practices)  # the whole worklist, before the query's filters
    run = latest_run(engine())
    signoffs = signed_off(engine(), run.period) if run else {}
    return render_template(
        "pages/triage.html",
        title=f"Triage worklist: {unit.name}",
        unit=unit,
        run=run,
        items=select(queue, query, practices),
        total=len(everyone),
        counts=counts(everyone),
        query=query,
        sorts=SORTS,
        tiers=list(TIER_RANK),
        sources=SOURCES,
        signoffs={p: signoffs.get(p) for p in unit.practices},
        referral_sources=REFERRAL_SOURCE_DISPLAY,
        may_sign=current_user().role == GP,
        today=today(),
    )


def _team_queue(unit: Unit) -> list[QueueItem]:
    """The queue of the unit's team (a team's own, or the team of a practice): the people awaiting triage."""
    settings = casemgmt_settings()
    if unit.kind == "team":
        return workflow.queue(repo(), settings, unit.key)
    team = settings.team_of_practice(unit.key)
    return workflow.queue(repo(), settings, team.key) if team is not None else []


@blueprint.post("/triage/<key>/decide")
def decide(key: str) -> ResponseReturnValue:
    unit = unit_or_404(key)
    patient_id = request.form.get("patient", "")
    patient_or_404(patient_id)
    review = request.form.get("next_review", "").strip()
    try:
        next_review = date.fromisoformat(review) if review and request.form.get("decision") == "exclude" else None
    except ValueError:
        flash(f"'{review}' is not a date: use the date picker or YYYY-MM-DD.", "error")
        return redirect(worklist_url(unit.key))
    try:
        workflow.triage(
            repo(),
            host_settings(),
            patient_id,
            decision=request.form.get("decision", ""),
            reason=request.form.get("reason", ""),
            next_review=next_review,
            decided_by=signer(),
            focus=request.form.get("focus") or None,
        )
    except FhirError as exc:
        flash(f"Not recorded: {exc.diagnostics}", "error")
    else:
        verb = "included in" if request.form.get("decision") == "include" else "excluded from"
        flash(f"{request.form.get('name') or patient_id} {verb} case management.")
    return redirect(worklist_url(unit.key))


@blueprint.post("/triage/<key>/sign-off")
def sign_off(key: str) -> ResponseReturnValue:
    unit = unit_or_404(key)
    require_role(GP)
    practice = request.form.get("practice", "")
    if practice not in unit.practices:
        abort(404)
    try:
        result = workflow.sign_off(repo(), host_settings(), practice, signer())
    except FhirError as exc:
        flash(f"Not signed off: {exc.diagnostics}", "error")
    else:
        values = {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in result["parameter"]}
        period, count = values["period"], values["assessments"]
        flash(f"Signed off the {period} result for practice {practice} ({count} assessments).")
    return redirect(url_for("pages.worklist", key=unit.key))
