"""The Flask application factory: settings in, a ready FHIR server out."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from importlib.metadata import entry_points

from flask import Blueprint, Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from closer.api.negotiation import JSON, render, response_format
from closer.api.operations import Operation, Operations, load_operations
from closer.api.routes import fhir
from closer.auth import auth, enforcer
from closer.auth.web import ANONYMOUS_ENDPOINTS
from closer.errors import FhirError, Issue, internal_error
from closer.fhir.outcome import operation_outcome
from closer.logs import configure
from closer.settings import Settings
from closer.store.dates import format_instant, instant_now
from closer.store.engine import make_engine
from closer.store.profiles import publish_profiles
from closer.store.sql import SqlRepository
from consent.publisher.web import ENDPOINT as PUBLISHER_JWKS_ENDPOINT
from consent.publisher.web import publisher_keys

log = logging.getLogger("closer.http")
BLUEPRINT_GROUP = "closer.blueprints"


def create_app(settings: Settings | None = None, *, operations: Iterable[Operation] | None = None) -> Flask:
    """The app; `operations` replaces the ones registered in the closer.operations entry points (tests)."""
    settings = settings or Settings.from_env()
    configure(settings.log_format, settings.log_level)
    # Before the engine: loading the operation plugins imports their tables, which the engine then creates.
    registry = load_operations() if operations is None else Operations.of(operations)
    blueprints = load_blueprints()
    app = Flask("closer")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    engine = make_engine(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    repository = SqlRepository(engine)
    publish_profiles(repository)
    app.extensions["closer.settings"] = settings
    app.extensions["closer.engine"] = engine
    app.extensions["closer.repository"] = repository
    app.extensions["closer.started"] = format_instant(instant_now())
    app.extensions["closer.operations"] = registry
    app.register_blueprint(fhir)
    app.register_blueprint(auth)  # token endpoint and SMART discovery; needs closer.engine, set above
    app.register_blueprint(publisher_keys)  # the public key receivers check pushed deliveries with
    app.add_url_rule("/healthz", "healthz", healthz)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    app.before_request(_start_request)
    # Who is asking, on every request but /metadata, /healthz, discovery and the token endpoint. Always on:
    # there is no setting that turns it off (tests authenticate with real clients and tokens). The plugin
    # blueprints' endpoints are left to the blueprints' own sign-in hooks (load_blueprints checks they have one).
    public = ANONYMOUS_ENDPOINTS | {PUBLISHER_JWKS_ENDPOINT}
    app.before_request(enforcer(public | _endpoints_of(app, blueprints)))
    app.after_request(_log_request)
    app.register_error_handler(FhirError, _fhir_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    return app


def load_blueprints() -> list[Blueprint]:
    """The Flask blueprints registered in the closer.blueprints entry point group (the web pages). Each
    authenticates its own users (e.g. a session sign-in) instead of bearer tokens, so each must have a
    before-request hook of its own: one without is refused at start-up rather than served open."""
    found: list[Blueprint] = []
    for entry in entry_points(group=BLUEPRINT_GROUP):
        blueprint = entry.load()
        if not isinstance(blueprint, Blueprint):
            raise RuntimeError(f"{entry.value} in {BLUEPRINT_GROUP} is not a Flask Blueprint")
        if not blueprint.before_request_funcs.get(None):
            raise RuntimeError(
                f"Blueprint {blueprint.name} ({entry.value}) has no before-request hook to sign in users"
            )
        found.append(blueprint)
    return found


def _endpoints_of(app: Flask, blueprints: Iterable[Blueprint]) -> frozenset[str]:
    names = {blueprint.name for blueprint in blueprints}
    return frozenset(rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint.split(".")[0] in names)


def healthz() -> Response:
    return Response(b'{"status":"ok"}', content_type="application/json")


def _start_request() -> None:
    g.request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
    g.started = time.perf_counter()


def _log_request(response: Response) -> Response:
    response.headers["X-Request-ID"] = g.get("request_id", "")
    elapsed = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
    log.info(
        "request",
        extra={
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "ms": round(elapsed, 2),
            "request_id": g.get("request_id", ""),
        },
    )
    return response


def _outcome_response(status: int, issues: list[Issue]) -> Response:
    try:
        fmt = response_format(request.args.get("_format"), request.headers.get("Accept"))
    except FhirError:
        fmt = JSON
    return Response(render(operation_outcome(issues), fmt), status=status, content_type=f"{fmt}; charset=utf-8")


def _fhir_error(exc: FhirError) -> Response:
    return _outcome_response(exc.status, exc.all_issues())


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    code = {404: "not-found", 405: "not-supported", 413: "too-long", 415: "not-supported"}.get(status, "invalid")
    message = exc.description or exc.name
    if status == 413:
        message = f"Request body is larger than the limit of {request.max_content_length} bytes"
    response = _outcome_response(status, [Issue(code, message)])
    if status == 405 and exc.get_response().headers.get("Allow"):
        response.headers["Allow"] = exc.get_response().headers["Allow"]
    return response


def _unexpected_error(exc: Exception) -> Response:
    request_id = g.get("request_id", uuid.uuid4().hex)
    log.exception("unhandled error", extra={"request_id": request_id})
    return _outcome_response(500, [internal_error(request_id)])
