"""The pieces enforcement is made of: `authenticate`, `require_scope`, the OperationOutcome responses and
the before-request hook `create_app` registers (tests/auth/test_enforcement.py covers the API as a whole)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from authutil import ask, form, register
from bearer import authenticated
from flask import Flask, Response, request
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from closer.auth import AuthFailure, Principal, auth_failure_response, authenticate, enforcer, require_scope
from closer.auth.clients import revoke_client
from closer.auth.scopes import parse_scopes
from closer.auth.tokens import TokenService

FHIR_JSON = "application/fhir+json"


def token_for(app: Flask, client: FlaskClient, scope: str = "system/Flag.read", name: str = "ambulance") -> str:
    consumer = register(app, name)
    response = ask(client, form(consumer.assertion(), scope))
    assert response.status_code == 200, response.get_json()
    token: str = response.get_json()["access_token"]
    return token


def refused(app: Flask, headers: dict[str, str], *, path: str = "/Flag") -> tuple[AuthFailure, Response]:
    with app.test_request_context(path, headers=headers):
        with pytest.raises(AuthFailure) as caught:
            authenticate(request)
        return caught.value, auth_failure_response(caught.value)


def outcome(response: Response | TestResponse) -> dict[str, str]:
    body = response.get_json(force=True)
    assert body["resourceType"] == "OperationOutcome"
    issue: dict[str, str] = body["issue"][0]
    assert issue["severity"] == "error"
    return issue


def test_authenticate_a_good_token(app: Flask, client: FlaskClient) -> None:
    token = token_for(app, client)
    with app.test_request_context("/Flag", headers={"Authorization": f"Bearer {token}"}):
        principal = authenticate(request)
    assert (principal.name, principal.organization, principal.kind) == ("ambulance", "RX6", "system")
    assert [str(s) for s in principal.scopes] == ["system/Flag.read"]


def test_scheme_is_case_insensitive(app: Flask, client: FlaskClient) -> None:
    token = token_for(app, client)
    with app.test_request_context("/Flag", headers={"Authorization": f"bearer  {token} "}):
        assert authenticate(request).name == "ambulance"


def test_missing_token_is_401_login(app: Flask) -> None:
    failure, response = refused(app, {})
    assert response.status_code == 401
    assert outcome(response)["code"] == "login"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="closer"'
    assert response.content_type.startswith(FHIR_JSON)
    assert failure.status == 401


@pytest.mark.parametrize(
    "header", ["Bearer not-a-token", "Basic dXNlcjpwYXNz", "Bearer", "Bearer " + "x" * 600, "token-without-scheme"]
)
def test_bad_token_is_401_unknown(app: Flask, header: str) -> None:
    _, response = refused(app, {"Authorization": header})
    assert response.status_code == 401
    assert outcome(response)["code"] == "unknown"
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="closer", error="invalid_token"')


def test_expired_token_is_401_expired(app: Flask, client: FlaskClient) -> None:
    token = token_for(app, client)
    service: TokenService = app.extensions["closer.auth"]
    later = service.clock() + 301
    service.clock = lambda: later
    _, response = refused(app, {"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert outcome(response)["code"] == "expired"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_token_of_a_revoked_client_is_401(app: Flask, client: FlaskClient) -> None:
    token = token_for(app, client)
    revoke_client(app.extensions["closer.engine"], "ambulance")
    _, response = refused(app, {"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert outcome(response)["code"] == "unknown"


def test_outcome_follows_the_requested_format(app: Flask) -> None:
    with app.test_request_context("/Flag", headers={"Accept": "application/fhir+xml"}):
        with pytest.raises(AuthFailure) as caught:
            authenticate(request)
        response = auth_failure_response(caught.value)
    assert response.content_type.startswith("application/fhir+xml")
    assert b"OperationOutcome" in response.get_data()


def principal(scopes: str) -> Principal:
    return Principal("id", "ambulance", "system", "RX6", parse_scopes(scopes), datetime.now(UTC))


def test_require_scope() -> None:
    require_scope(principal("system/Flag.read"), "Flag", "read")
    require_scope(principal("system/*.read"), "CarePlan", "read")
    require_scope(principal("system/CarePlan.*"), "CarePlan", "write")
    with pytest.raises(ValueError):
        require_scope(principal("system/*.*"), "Flag", "*")


def test_missing_scope_is_403_forbidden(app: Flask) -> None:
    with app.test_request_context("/Flag", method="POST"):
        with pytest.raises(AuthFailure) as caught:
            require_scope(principal("system/Flag.read"), "Flag", "write")
        response = auth_failure_response(caught.value)
    assert response.status_code == 403
    issue = outcome(response)
    assert issue["code"] == "forbidden"
    assert "system/Flag.write" in issue["diagnostics"]
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert 'scope="system/Flag.write"' in response.headers["WWW-Authenticate"]


def test_auth_failure_raised_in_a_view_gets_the_challenge(app: Flask) -> None:
    """The blueprint registers an app-wide handler, so AuthFailure raised anywhere is rendered with it."""

    def guarded() -> Response:
        require_scope(principal("system/Flag.read"), "Patient", "read")
        return Response(b"reached")

    app.add_url_rule("/_test/guarded", "test_guarded", guarded)
    response = authenticated(app).get("/_test/guarded")  # past the enforcer, refused in the view
    assert response.status_code == 403
    assert outcome(response)["code"] == "forbidden"
    assert "insufficient_scope" in response.headers["WWW-Authenticate"]


def test_enforcer_hook(app: Flask, anonymous: FlaskClient) -> None:
    """create_app registers it; registering it again (as a plugin might) changes nothing."""
    app.before_request(enforcer())
    client = anonymous
    token = token_for(app, client, "system/Flag.read")  # the token endpoint is anonymous
    bearer = {"Authorization": f"Bearer {token}"}

    # anonymous: the CapabilityStatement, health check, discovery and token endpoint
    assert client.get("/metadata").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/.well-known/smart-configuration").status_code == 200
    assert client.post("/auth/token", data={}).status_code == 400

    # everything else needs a token, unknown URLs included
    for path in ("/Flag", "/Patient/1", "/_history", "/no/such/thing/here"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="closer"'
    assert client.get("/Flag", headers={"Authorization": "Bearer nope"}).status_code == 401

    # scopes of the plain interactions follow from the route
    assert client.get("/Flag?patient=Patient/p1", headers=bearer).status_code == 200
    assert client.post("/Flag/_search?patient=Patient/p1", headers=bearer).status_code == 200
    assert client.get("/Flag/x", headers=bearer).status_code == 404  # allowed, and not there
    assert client.get("/CarePlan", headers=bearer).status_code == 403
    flag = {
        "resourceType": "Flag",
        "status": "active",
        "code": {"text": "DNACPR"},
        "subject": {"reference": "Patient/p"},
    }
    response = client.post("/Flag", json=flag, headers={**bearer, "Content-Type": FHIR_JSON})
    assert response.status_code == 403
    assert outcome(response)["code"] == "forbidden"
