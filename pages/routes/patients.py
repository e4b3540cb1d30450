"""The patient page, and enrolling someone and agreeing their plans from it."""

from __future__ import annotations

from datetime import date

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from casemgmt.service import PlanInput, display_name, nhs_number
from closer.errors import FhirError
from pages import reads, workflow
from pages.auth import current_user, require_role
from pages.blueprint import blueprint
from pages.routes.common import (
    casemgmt_settings,
    engine,
    patient_or_404,
    repo,
    teams,
    today,
)
from pages.scope import practices_of, registered_practice
from pages.users import CASE_MANAGER, MDT_ADMIN, User, list_users
from stratify.settings import TIERS


def _names(users: list[User]) -> dict[str, str]:
    """Practitioner reference -> name, for the case managers among the pages' users."""
    return {u.practitioner: u.display_name for u in users if u.practitioner}


def _care_managers(users: list[User], practice: str) -> list[tuple[str, str]]:
    """(Practitioner reference, name) of the case managers serving `practice`, for the enrol form."""
    return [
        (u.practitioner, u.display_name)
        for u in users
        if u.practitioner and not u.disabled and practice in practices_of(u, teams())
    ]


@blueprint.get("/patient/<patient_id>")
def patient(patient_id: str) -> ResponseReturnValue:
    record = patient_or_404(patient_id)
    users = list_users(engine())
    page = reads.patient_page(repo(), engine(), patient_id, _names(users))
    practice = registered_practice(record)
    team = casemgmt_settings().team_of_practice(practice)
    return render_template(
        "pages/patient.html",
        title=display_name(record),
        patient=record,
        name=display_name(record),
        nhs=nhs_number(record),
        practice=practice,
        team=team,
        page=page,
        may_enrol=current_user().role in (CASE_MANAGER, MDT_ADMIN),
        care_managers=_care_managers(users, practice),
        me=current_user().practitioner,
        tiers=TIERS,
        today=today(),
    )


@blueprint.post("/patient/<patient_id>/enrol")
def enrol(patient_id: str) -> ResponseReturnValue:
    practice = registered_practice(patient_or_404(patient_id))
    require_role(CASE_MANAGER, MDT_ADMIN)
    manager = request.form.get("care_manager", "")
    if manager not in {ref for ref, _ in _care_managers(list_users(engine()), practice)}:
        flash("Choose a case manager who serves this person's practice.", "error")
        return redirect(url_for("pages.patient", patient_id=patient_id))
    providers = tuple(p.strip() for p in request.form.get("providers", "").split(",") if p.strip())
    try:
        workflow.enrol(
            repo(),
            casemgmt_settings(),
            patient_id,
            care_manager=manager,
            tier=request.form.get("tier") or None,
            providers=providers,
        )
    except FhirError as exc:
        flash(f"Not enrolled: {exc.diagnostics}", "error")
    else:
        flash("Enrolled in case management.")
    return redirect(url_for("pages.patient", patient_id=patient_id))


@blueprint.post("/patient/<patient_id>/plan")
def agree_plan(patient_id: str) -> ResponseReturnValue:
    patient_or_404(patient_id)
    require_role(CASE_MANAGER, MDT_ADMIN)
    form = request.form
    try:
        plans = {kind: _plan_input(kind) for kind in ("care", "emergency", "end_of_life")}
        workflow.agree_plan(repo(), casemgmt_settings(), patient_id, **plans)
    except ValueError as exc:
        flash(f"Not saved: {exc}", "error")
    except FhirError as exc:
        flash(f"Not saved: {exc.diagnostics}", "error")
    else:
        flash("Plans agreed and saved." if form.get("care_description") else "Plans saved.")
    return redirect(url_for("pages.patient", patient_id=patient_id))


def _plan_input(kind: str) -> PlanInput | None:
    """One plan from the form (None when its description is left empty)."""
    form = request.form
    description = form.get(f"{kind}_description", "").strip()
    if not description:
        return None
    review = form.get(f"{kind}_review", "").strip()
    try:
        next_review = date.fromisoformat(review) if review else None
    except ValueError:
        raise ValueError(f"'{review}' is not a date (YYYY-MM-DD)") from None
    return PlanInput(description, next_review, form.get(f"{kind}_baseline", "").strip() or None)
