"""The HTTP side of auth: the token endpoint, the SMART discovery document, and the pieces the FHIR API
uses to know who is asking (`authenticate`, `require_scope`, the before-request hook).

`create_app` registers `enforcer()` as a before-request hook, always: there is no setting that turns it
off. Only /metadata, /healthz, the discovery document and the token endpoint are anonymous; every other
request (unknown URLs included) needs a bearer token, and the plain interactions and system history have
their scope checked here. Batch/transaction entries and operations are checked by their routes
(closer.api.routes), which know what each entry or operation touches.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import orjson
from flask import Blueprint, Request, Response, current_app, g, request
from flask.blueprints import BlueprintSetupState

from closer.api import routes  # the module, not its names: routes imports closer.auth too
from closer.api.negotiation import JSON, render, response_format
from closer.auth.errors import AuthFailure, OAuthError, invalid_token, missing_token
from closer.auth.keys import ALGORITHMS
from closer.auth.principal import Principal, require_scope
from closer.auth.scopes import READ, WRITE
from closer.auth.tokens import TokenService
from closer.errors import FhirError
from closer.fhir.outcome import operation_outcome
from closer.store.searchparams import SEARCH_PARAMS

TOKEN_PATH = "/auth/token"
DISCOVERY_PATH = "/.well-known/smart-configuration"
SCOPES_SUPPORTED = ("system/*.read", "system/*.write", "system/*.*")
# Endpoints anyone may call: the CapabilityStatement, the health check, discovery and the token endpoint.
ANONYMOUS_ENDPOINTS = frozenset({"fhir.metadata", "healthz", "auth.token", "auth.smart_configuration"})
# The plain interactions, whose scope follows from the route: the resource type in the URL and this mode.
# System history needs read on every type (`system/*.read`). Batch/transaction and operations authenticate
# in the hook; their routes check the scope of each entry, or the scopes the operation declares.
ENDPOINT_MODES = {
    "fhir.search": READ,
    "fhir.search_post": READ,
    "fhir.read": READ,
    "fhir.vread": READ,
    "fhir.type_history": READ,
    "fhir.instance_history": READ,
    "fhir.create": WRITE,
    "fhir.update": WRITE,
    "fhir.delete": WRITE,
    "fhir.conditional_update": WRITE,
    "fhir.conditional_delete": WRITE,
}
# Endpoints whose scope does not depend on a resource type in the URL: (resource type or "*", mode).
ENDPOINT_SCOPES = {"fhir.system_history": ("*", READ)}
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

auth = Blueprint("auth", __name__)


@auth.record_once
def _setup(state: BlueprintSetupState) -> None:
    """One token service per app, on the app's engine (its tables are created here if missing)."""
    app = state.app
    app.extensions["closer.auth"] = TokenService(app.extensions["closer.engine"], known_types=SEARCH_PARAMS)


def token_service() -> TokenService:
    service: TokenService = current_app.extensions["closer.auth"]
    return service


def token_endpoint(base: str) -> str:
    """The token endpoint's URL for a server whose base URL is `base`: the audience of assertions."""
    return base.rstrip("/") + TOKEN_PATH


def _json(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status=status, content_type="application/json", headers=headers)


def oauth_error_response(exc: OAuthError) -> Response:
    return _json(exc.as_json(), exc.status, NO_STORE)


@auth.route(TOKEN_PATH, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def token() -> Response:
    """POST /auth/token: client_credentials with a private_key_jwt client assertion (form-encoded)."""
    if request.method != "POST":
        response = _json({"error": "invalid_request", "error_description": "the token endpoint takes POST"}, 405)
        response.headers["Allow"] = "POST"
        return response
    try:
        grant = token_service().issue(request.form, token_endpoint(routes.base_url()))
    except OAuthError as exc:
        return oauth_error_response(exc)
    return _json(grant.as_json(), 200, NO_STORE)


def smart_configuration_document(base: str) -> dict[str, Any]:
    return {
        "token_endpoint": token_endpoint(base),
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": list(SCOPES_SUPPORTED),
        "capabilities": ["client-confidential-asymmetric"],
    }


@auth.get(DISCOVERY_PATH)
def smart_configuration() -> Response:
    """GET /.well-known/smart-configuration: how to get a token (anonymous)."""
    return _json(smart_configuration_document(routes.base_url()))


# -- who is asking, for the FHIR API ------------------------------------------------------------------


def authenticate(req: Request) -> Principal:
    """The client behind the request's bearer token; raises a 401 AuthFailure when the token is missing,
    malformed, unknown, expired or its client revoked."""
    header = req.headers.get("Authorization", "").strip()
    if not header:
        raise missing_token()
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise invalid_token("The Authorization header must be 'Bearer <access token>'")
    return token_service().principal(value.strip())


def auth_failure_response(exc: AuthFailure) -> Response:
    """The OperationOutcome for a refused FHIR request, with its status and WWW-Authenticate challenge."""
    try:
        fmt = response_format(request.args.get("_format"), request.headers.get("Accept"))
    except FhirError:
        fmt = JSON
    response = Response(
        render(operation_outcome(exc.all_issues()), fmt), status=exc.status, content_type=f"{fmt}; charset=utf-8"
    )
    if exc.challenge:
        response.headers["WWW-Authenticate"] = exc.challenge
    return response


# Registered app-wide with the blueprint: an AuthFailure raised anywhere (the hook, a handler) gets its
# challenge header; the app's FhirError handler would render the same outcome without it.
auth.app_errorhandler(AuthFailure)(auth_failure_response)


def current_principal() -> Principal | None:
    """The principal the enforcer stored for this request (None on the anonymous endpoints)."""
    principal: Principal | None = g.get("principal")
    return principal


def enforcer(anonymous: Collection[str] = ANONYMOUS_ENDPOINTS) -> Callable[[], None]:
    """A before-request hook: authenticate every request to an endpoint not in `anonymous` (unknown URLs
    included, so a 404 never answers an anonymous caller), store the Principal as `g.principal`, and
    check the scope of the plain interactions (ENDPOINT_MODES) and of system history (ENDPOINT_SCOPES).
    `create_app` registers it with `app.before_request(enforcer())`."""
    allowed = frozenset(anonymous)

    def enforce() -> None:
        if request.endpoint in allowed:
            return
        principal = authenticate(request)
        g.principal = principal
        mode = ENDPOINT_MODES.get(request.endpoint or "")
        resource_type = (request.view_args or {}).get("resource_type")
        if mode is not None and isinstance(resource_type, str):
            require_scope(principal, resource_type, mode)
        fixed = ENDPOINT_SCOPES.get(request.endpoint or "")
        if fixed is not None:
            require_scope(principal, *fixed)

    return enforce
