"""What every page route needs: the app's store and settings, the signed-in user's scope (a patient,
practice or team outside it is a 404), the layout's navigation, and the home page."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

from flask import abort, current_app, g, redirect, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.engine import Engine

from casemgmt.settings import CaseManagementSettings
from closer.errors import FhirError
from closer.settings import Settings
from closer.store.repository import Repository
from pages.auth import current_user
from pages.blueprint import blueprint
from pages.scope import Unit, may_see_patient, unit_for, units_of
from pages.users import CASE_MANAGER, GP, MDT_ADMIN, ROLES
from pages.worklist import Query
from stratify.operations import today_in_england

ROLE_NAMES = {GP: "GP", CASE_MANAGER: "Case manager", MDT_ADMIN: "MDT administrator"}
assert set(ROLE_NAMES) == set(ROLES)


# -- what every view needs -------------------------------------------------------------------------------


def engine() -> Engine:
    found: Engine = current_app.extensions["closer.engine"]
    return found


def repo() -> Repository:
    found: Repository = current_app.extensions["closer.repository"]
    return found


def host_settings() -> Settings:
    found: Settings = current_app.extensions["closer.settings"]
    return found


def casemgmt_settings() -> CaseManagementSettings:
    found: CaseManagementSettings = current_app.extensions["pages.casemgmt"]
    return found


def teams() -> dict[str, tuple[str, ...]]:
    return {key: team.practices for key, team in casemgmt_settings().teams.items()}


def team_names() -> dict[str, str]:
    return {key: team.name for key, team in casemgmt_settings().teams.items()}


def today() -> date:
    """The day as the MDT in England counts it."""
    return today_in_england(datetime.now(UTC))


def signer() -> str:
    """Who signs and decides: the signed-in user, by name and username (never a name typed in a form)."""
    user = current_user()
    return f"{user.display_name} ({user.username}, {ROLE_NAMES[user.role]})"


@blueprint.context_processor
def _layout() -> dict[str, Any]:
    user = g.get("pages_user")
    nav: list[dict[str, Any]] = []
    if user is not None:
        for unit in units_of(user, teams(), team_names()):
            nav.append(_nav(url_for("pages.worklist", key=unit.key), f"Triage: {unit.name}"))
        if user.role == CASE_MANAGER:
            nav.append(_nav(url_for("pages.caseload"), "My caseload"))
        nav.append(_nav(url_for("pages.programme"), "Programme"))
    return {"user": user, "nav": nav, "role_names": ROLE_NAMES}


def _nav(href: str, label: str) -> dict[str, Any]:
    return {"href": href, "label": label, "current": request.path == href}


def worklist_url(key: str) -> str:
    """The worklist, with the filters and sort it was showing (the decision forms post them along)."""
    kept = Query.from_args(request.args).args()
    return url_for("pages.worklist", key=key) + (f"?{urlencode(kept)}" if kept else "")


def unit_or_404(key: str) -> Unit:
    unit = unit_for(current_user(), key, teams(), team_names())
    if unit is None:
        abort(404)
    return unit


@blueprint.get("/", strict_slashes=False)  # /app too
def home() -> ResponseReturnValue:
    user = current_user()
    if user.role == CASE_MANAGER:
        return redirect(url_for("pages.caseload"))
    units = units_of(user, teams(), team_names())
    return redirect(url_for("pages.worklist", key=units[0].key) if units else url_for("pages.programme"))


def patient_or_404(patient_id: str) -> dict[str, Any]:
    """The patient, if they are registered with a practice the user serves; 404 otherwise (and for an
    unknown or deleted patient alike, so the answer does not say which)."""
    try:
        patient = repo().read("Patient", patient_id)
    except FhirError:
        abort(404)
    if not may_see_patient(current_user(), patient, teams()):
        abort(404)
    return patient
