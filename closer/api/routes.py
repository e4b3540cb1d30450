"""The FHIR REST routes: parse the HTTP request, call an interaction, render the reply."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, g, request

from closer.api import interactions as ix
from closer.api import transaction
from closer.api.capability import capability_statement
from closer.api.negotiation import JSON, parse_body, render, response_format
from closer.api.operations import Operations, Params, invoke, parse_parameters, query_parameters
from closer.audit import record
from closer.audit.event import ACTIONS as AUDIT_ACTIONS
from closer.auth.clients import SYSTEM
from closer.auth.errors import missing_token
from closer.auth.principal import Principal, require_scope
from closer.auth.scopes import ANY, READ, WRITE, parse_scope
from closer.errors import FhirError, Issue, internal_error
from closer.fhir.outcome import information, operation_outcome
from closer.settings import Settings
from closer.store.repository import Repository
from consent.access import disclosures, guard_for
from consent.guard import GuardedRepository

log = logging.getLogger("closer.http")
fhir = Blueprint("fhir", __name__)
check_type = ix.check_type
FORMAT_PARAMS = frozenset({"_format", "_pretty"})
# Operation routes take every method, so `PUT /Patient/$x` is a 405 from the operation, never an update
# of a Patient with the id "$x" by the generic routes.
OPERATION_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def repository(*, audited: bool = False) -> Repository:
    """The store as the caller may see it: a consumer system's reads go through the consent-guarded
    repository (consent.guard), made once per request; an internal client gets the store itself, or, for
    an `audited` operation, a view that allows everything but records it for the audit."""
    repo: Repository = current_app.extensions["closer.repository"]
    who = principal()
    if who.kind != SYSTEM and not audited:
        return repo
    guard: GuardedRepository | None = g.get("guard")
    if guard is None:
        guard = guard_for(
            repo,
            who,
            datetime.now(UTC),
            audit_only=who.kind != SYSTEM,
            scan_limit=settings().consumer_scan_limit,
        )
        g.guard = guard
    return guard


def settings() -> Settings:
    s: Settings = current_app.extensions["closer.settings"]
    return s


def base_url() -> str:
    return settings().base_url.rstrip("/") or request.url_root.rstrip("/")


def paging() -> ix.Paging:
    s = settings()
    return ix.Paging(base_url(), s.default_page_size, s.max_page_size)


def prefer(name: str) -> str | None:
    """One token of the Prefer header, e.g. prefer("return") -> "minimal"."""
    for part in request.headers.get("Prefer", "").split(";"):
        for item in part.split(","):
            key, _, value = item.strip().partition("=")
            if key.strip() == name:
                return value.strip().strip('"')
    return None


def query_items() -> list[tuple[str, str]]:
    return list(request.args.items(multi=True))


def body() -> Any:
    return parse_body(request.get_data(cache=True), request.headers.get("Content-Type"))


def respond(reply: ix.Reply, *, write: bool = False) -> Response:
    fmt = response_format(request.args.get("_format"), request.headers.get("Accept"))
    resource = reply.resource
    if write and resource is not None:
        wanted = prefer("return")
        if wanted == "minimal":
            resource = None
        elif wanted == "OperationOutcome":
            resource = information(f"{request.method} succeeded with status {reply.status}")
    status = reply.status
    if resource is None:
        status = 204 if status == 200 and not write else status
        response = Response(b"", status=status)
        del response.headers["Content-Type"]
    else:
        response = Response(render(resource, fmt), status=status, content_type=f"{fmt}; charset=utf-8")
    for key, value in reply.headers.items():
        response.headers[key] = value
    return response


def principal() -> Principal:
    """Who is asking: the enforcer (closer.auth.web) authenticated the request and stored it before the view
    ran. Fail closed if it did not."""
    found: Principal | None = g.get("principal")
    if found is None:
        raise missing_token()
    return found


def authorize(resource_type: str, mode: str) -> None:
    """403 unless the caller's token grants `mode` ("read" or "write") on `resource_type` ("*": every type)."""
    require_scope(principal(), resource_type, mode)


def readable(resource_type: str) -> bool:
    """Whether the caller's token grants read on `resource_type` (what a search may include)."""
    return principal().permits(resource_type, READ)


def authorize_scope(scope: str) -> None:
    """403 unless the caller's token covers a SMART scope such as system/Task.write (`.*`: read and write)."""
    wanted = parse_scope(scope)
    for mode in (READ, WRITE) if wanted.mode == ANY else (wanted.mode,):
        authorize(wanted.resource_type, mode)


def strict() -> bool:
    return prefer("handling") == "strict"


def operations() -> Operations:
    registry: Operations = current_app.extensions["closer.operations"]
    return registry


@fhir.after_request
def audit_disclosures(response: Response) -> Response:
    """Write what a consumer (or an audited operation) was shown, or refused, to the audit chain before the
    response leaves. If the audit cannot be written, nothing is disclosed: the reply becomes a 500."""
    guard: GuardedRepository | None = g.get("guard")
    if guard is None:
        return response
    try:
        found = disclosures(
            guard.decisions,
            guard.shown,
            principal(),
            action=_audit_action(),
            query=request.full_path.rstrip("?"),
            request_id=g.get("request_id"),
            failed=response.status_code >= 500,
        )
        record(current_app.extensions["closer.engine"], found)
    except Exception:
        log.exception("audit write failed; the response is withheld", extra={"request_id": g.get("request_id")})
        outcome = operation_outcome([internal_error(g.get("request_id", ""))])
        return Response(render(outcome, JSON), status=500, content_type=f"{JSON}; charset=utf-8")
    return response


# What each route does, as the audit names it; operations are named for themselves.
_ROUTE_ACTIONS = {
    "fhir.read": "read",
    "fhir.vread": "vread",
    "fhir.search": "search",
    "fhir.search_post": "search",
    "fhir.instance_history": "history",
    "fhir.type_history": "history",
    "fhir.system_history": "history",
    "fhir.batch_or_transaction": "batch",
}


def _audit_action() -> str:
    name = (request.view_args or {}).get("name")
    if name:
        return str(name) if name in AUDIT_ACTIONS else "operation"
    return _ROUTE_ACTIONS.get(request.endpoint or "", "read")


@fhir.get("/metadata")
def metadata() -> Response:
    statement = capability_statement(base_url(), current_app.extensions["closer.started"], operations().all())
    return respond(ix.Reply(200, statement))


# Operations come before the generic /<type>/<id> routes: `$name` is never read as an id.
@fhir.route("/$<name>", methods=OPERATION_METHODS)
def system_operation(name: str) -> Response:
    return operation(None, None, name)


@fhir.route("/<resource_type>/$<name>", methods=OPERATION_METHODS)
def type_operation(resource_type: str, name: str) -> Response:
    check_type(resource_type)
    return operation(resource_type, None, name)


@fhir.route("/<resource_type>/<resource_id>/$<name>", methods=OPERATION_METHODS)
def instance_operation(resource_type: str, resource_id: str, name: str) -> Response:
    check_type(resource_type)
    return operation(resource_type, resource_id, name)


def operation(resource_type: str | None, resource_id: str | None, name: str) -> Response:
    found = operations().find(name, resource_type, resource_id is not None)
    method = "GET" if request.method == "HEAD" else request.method
    if method not in found.methods:
        allowed = ", ".join(found.methods)
        outcome = operation_outcome([Issue("not-supported", f"${name} is invoked with {allowed}, not {method}")])
        return respond(ix.Reply(405, outcome, {"Allow": allowed}))
    for scope in found.required_scopes(method):
        authorize_scope(scope)
    params = query_parameters(query_items())
    if method == "POST" and request.get_data(cache=True).strip():
        params = Params(parse_parameters(body()).items + params.items)
    reply = invoke(
        found,
        method,
        repository=repository(audited=found.audited),
        settings=settings(),
        base=base_url(),
        resource_type=resource_type,
        resource_id=resource_id,
        params=params,
        readable=readable,
    )
    return respond(reply, write=reply.status == 201)


@fhir.post("/")
def batch_or_transaction() -> Response:
    reply = transaction.process(
        repository(), paging(), body(), minimal=prefer("return") == "minimal", authorize=authorize
    )
    return respond(reply)


@fhir.get("/_history")
def system_history() -> Response:
    return respond(ix.history(repository(), paging(), None, None, query_items()))


@fhir.get("/<resource_type>")
def search(resource_type: str) -> Response:
    check_type(resource_type)
    return respond(ix.search(repository(), paging(), resource_type, query_items(), strict=strict(), readable=readable))


@fhir.post("/<resource_type>/_search")
def search_post(resource_type: str) -> Response:
    check_type(resource_type)
    content_type = (request.content_type or "").split(";")[0].strip()
    if request.get_data() and content_type != "application/x-www-form-urlencoded":
        raise FhirError("POST _search takes application/x-www-form-urlencoded parameters", 415, "not-supported")
    items = query_items() + list(request.form.items(multi=True))
    return respond(ix.search(repository(), paging(), resource_type, items, strict=strict(), readable=readable))


@fhir.post("/<resource_type>")
def create(resource_type: str) -> Response:
    check_type(resource_type, writing=True)
    criteria = [k for k in request.args if k not in FORMAT_PARAMS]
    if criteria:
        # Some clients send conditional-create criteria as a query string; silently ignoring it would
        # create duplicates, so say how FHIR R4 expresses it instead.
        raise FhirError(
            f"POST create takes no search parameters ({', '.join(criteria)}); for a conditional "
            "create send them in the If-None-Exist header",
            400,
            "invalid",
        )
    reply = ix.create(repository(), base_url(), resource_type, body(), request.headers.get("If-None-Exist"))
    return respond(reply, write=True)


@fhir.put("/<resource_type>")
def conditional_update(resource_type: str) -> Response:
    check_type(resource_type, writing=True)
    if not request.args:
        raise FhirError("PUT to a type needs search criteria (conditional update) or an id", 400, "invalid")
    reply = ix.conditional_update(
        repository(), base_url(), resource_type, query_items(), body(), request.headers.get("If-Match")
    )
    return respond(reply, write=True)


@fhir.delete("/<resource_type>")
def conditional_delete(resource_type: str) -> Response:
    check_type(resource_type, writing=True)
    return respond(ix.conditional_delete(repository(), resource_type, query_items()), write=True)


@fhir.get("/<resource_type>/_history")
def type_history(resource_type: str) -> Response:
    check_type(resource_type)
    return respond(ix.history(repository(), paging(), resource_type, None, query_items()))


@fhir.get("/<resource_type>/<resource_id>")
def read(resource_type: str, resource_id: str) -> Response:
    check_type(resource_type)
    return respond(ix.read(repository(), base_url(), resource_type, resource_id))


@fhir.put("/<resource_type>/<resource_id>")
def update(resource_type: str, resource_id: str) -> Response:
    check_type(resource_type, writing=True)
    reply = ix.update(repository(), base_url(), resource_type, resource_id, body(), request.headers.get("If-Match"))
    return respond(reply, write=True)


@fhir.delete("/<resource_type>/<resource_id>")
def delete(resource_type: str, resource_id: str) -> Response:
    check_type(resource_type, writing=True)
    return respond(ix.delete(repository(), resource_type, resource_id), write=True)


@fhir.get("/<resource_type>/<resource_id>/_history")
def instance_history(resource_type: str, resource_id: str) -> Response:
    check_type(resource_type)
    return respond(ix.history(repository(), paging(), resource_type, resource_id, query_items()))


@fhir.get("/<resource_type>/<resource_id>/_history/<version>")
def vread(resource_type: str, resource_id: str, version: str) -> Response:
    check_type(resource_type)
    return respond(ix.vread(repository(), base_url(), resource_type, resource_id, version))
