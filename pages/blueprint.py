"""The web pages' blueprint and its setup on the host app: session cookie settings, CSRF protection and
the users table. Routes are added by pages.auth (sign in and out) and pages.routes (the pages).

CSRF is checked here, for the pages only (WTF_CSRF_CHECK_DEFAULT off): the FHIR API's POSTs carry bearer
tokens, not cookies, so they need no CSRF token and must not be refused for lacking one.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint
from flask.blueprints import BlueprintSetupState
from flask.sansio.app import App
from flask_wtf.csrf import CSRFProtect

from casemgmt.settings import load_settings as load_casemgmt_settings
from pages.settings import PagesSettings
from pages.users import ensure_tables

SESSION_HOURS = 8  # a working day; after that, sign in again

blueprint = Blueprint(
    "pages",
    __name__,
    url_prefix="/app",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
csrf = CSRFProtect()


@blueprint.record_once
def _setup(state: BlueprintSetupState) -> None:
    configure(state.app, PagesSettings.from_env())


def configure(app: App, settings: PagesSettings) -> None:
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME="closer_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_PATH="/app",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_SSL_STRICT=settings.secure_cookies,
        WTF_CSRF_TIME_LIMIT=SESSION_HOURS * 3600,  # a form stays usable while its session lasts
    )
    app.extensions["pages.settings"] = settings
    app.extensions["pages.casemgmt"] = load_casemgmt_settings()  # teams and their practices: who sees what
    csrf.init_app(app)
    ensure_tables(app.extensions["closer.engine"])
