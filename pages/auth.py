"""Signing in and out, and the hook that keeps every page but the sign-in page behind a session.

The session cookie holds only the username; each request reads the user again, so disabling a user
(`closer users disable`) ends their session at their next click. Every form carries a CSRF token, checked
here before any view runs. Roles are checked by `require_role` in the routes.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Response, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from pages.blueprint import blueprint, csrf
from pages.users import User, authenticate, get_user

log = logging.getLogger("closer.pages")
OPEN_ENDPOINTS = frozenset({"pages.login", "pages.static"})  # everything else needs a signed-in user


def current_user() -> User:
    user: User = g.pages_user
    return user


def require_role(*roles: str) -> None:
    """403 unless the signed-in user has one of `roles`."""
    if current_user().role not in roles:
        abort(403, f"This needs the role {' or '.join(roles)}")


@blueprint.before_request
def _signed_in() -> ResponseReturnValue | None:
    """Deny by default: no user, no page (the sign-in page and its stylesheet aside). POSTs need a CSRF token."""
    if request.method == "POST":
        csrf.protect()
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    username = session.get("user")
    user = get_user(current_app.extensions["closer.engine"], username) if isinstance(username, str) else None
    if user is None or user.disabled:
        session.clear()
        back = (request.full_path if request.query_string else request.path) if request.method == "GET" else None
        return redirect(url_for("pages.login", next=back))
    g.pages_user = user
    return None


@blueprint.after_request
def _no_cache(response: Response) -> Response:
    """Patient data must not linger in shared browsers' caches; the pages must not be framed elsewhere."""
    headers = response.headers
    if request.endpoint != "pages.static":
        headers["Cache-Control"] = "no-store"
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"
    headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"
    )
    return response


@blueprint.errorhandler(HTTPException)
def _error_page(exc: HTTPException) -> ResponseReturnValue:
    """Errors on the pages are pages, not OperationOutcomes; a 404 says no more than 'not found'."""
    status = exc.code or 500
    signed_in = g.get("pages_user") is not None
    page = render_template(
        "pages/error.html", status=status, title=exc.name, message=exc.description, signed_in=signed_in
    )
    return page, status


@blueprint.errorhandler(Exception)
def _failure_page(exc: Exception) -> ResponseReturnValue:
    """An unexpected failure: logged with the request id, and a page (never a stack trace) quoting it."""
    request_id = g.get("request_id", "")
    log.exception("unhandled error on a page", extra={"request_id": request_id})
    page = render_template(
        "pages/error.html",
        status=500,
        title="Something went wrong",
        message=f"The page could not be shown. If this keeps happening, quote reference {request_id} to support.",
        signed_in=g.get("pages_user") is not None,
    )
    return page, 500


def _safe_next(target: str | None) -> str:
    """Only a path on this site under /app, never another host (an open redirect would help phishing)."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/app/") and not target.startswith("//"):
            return target
    return url_for("pages.home")


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if request.method == "GET":
        return render_template("pages/login.html", next=request.args.get("next", ""))
    username = request.form.get("username", "").strip().lower()
    password = request.form.get("password", "")
    outcome = authenticate(current_app.extensions["closer.engine"], username, password)
    if outcome.user is None:
        message = (
            "Too many wrong passwords: this account is locked for a while. Try again later or ask an administrator."
            if outcome.locked
            else "The username or password is not right."
        )
        page = render_template("pages/login.html", next=request.form.get("next", ""), error=message, username=username)
        return page, 401
    session.clear()  # a fresh session for the new user: nothing carried over from before sign-in
    session["user"] = outcome.user.username
    session.permanent = True
    return redirect(_safe_next(request.form.get("next")))


@blueprint.post("/logout")
def logout() -> ResponseReturnValue:
    session.clear()
    flash("You have signed out.")
    return redirect(url_for("pages.login"))


@blueprint.route("/<path:anything>")
def unknown(anything: str) -> ResponseReturnValue:
    """Any other address under /app: signed-in users get a page saying not found (others sign in first)."""
    abort(404)
