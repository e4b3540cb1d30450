"""Caseloads: a case manager's own, and a colleague's for an MDT administrator or GP of the same practices."""

from __future__ import annotations

from flask import abort, render_template
from flask.typing import ResponseReturnValue

from pages import workflow
from pages.auth import current_user, require_role
from pages.blueprint import blueprint
from pages.caseload import REVIEW_STATES, caseload_page
from pages.routes.common import (
    casemgmt_settings,
    engine,
    repo,
    teams,
)
from pages.scope import practices_of
from pages.users import GP, MDT_ADMIN, User, get_user


@blueprint.get("/caseload")
def caseload() -> ResponseReturnValue:
    """The signed-in case manager's own caseload."""
    user = current_user()
    if user.practitioner is None:
        abort(404)
    return _caseload_of(user)


@blueprint.get("/caseload/<username>")
def caseload_of(username: str) -> ResponseReturnValue:
    """Another case manager's caseload, for an MDT administrator or GP who serves a practice they serve."""
    found = get_user(engine(), username)
    mine = practices_of(current_user(), teams())
    if found is None or found.practitioner is None or not (practices_of(found, teams()) & mine):
        abort(404)
    if found.username != current_user().username:
        require_role(MDT_ADMIN, GP)
    return _caseload_of(found)


def _caseload_of(user: User) -> ResponseReturnValue:
    assert user.practitioner is not None
    items = workflow.caseload(repo(), casemgmt_settings(), user.practitioner)
    mine = practices_of(current_user(), teams())
    visible = [item for item in items if item.practice in mine]
    return render_template(
        "pages/caseload.html",
        title=f"Caseload: {user.display_name}",
        owner=user,
        page=caseload_page(visible),
        states=REVIEW_STATES,
    )
