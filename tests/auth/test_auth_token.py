"""POST /auth/token and the SMART discovery document, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import jwt
import pytest
from authutil import TOKEN_URL, Registered, ask, form, jwks_of, key, register
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from closer.auth.clients import add_client, check_registration, revoke_client
from closer.auth.keys import public_jwk
from closer.auth.tables import auth_jti, auth_tokens
from closer.auth.tokens import TokenService
from closer.errors import FhirError


def error(response: Any) -> tuple[int, str]:
    body = response.get_json()
    assert set(body) == {"error", "error_description"}, body
    assert body["error_description"]
    assert response.headers["Cache-Control"] == "no-store"
    return response.status_code, body["error"]


def service(app: Flask) -> TokenService:
    found: TokenService = app.extensions["closer.auth"]
    return found


@pytest.mark.parametrize(("key_name", "pem"), [("ec", False), ("rsa", False), ("ec", True), ("rsa", True)])
def test_good_assertion_gets_a_token(app: Flask, client: FlaskClient, key_name: str, pem: bool) -> None:
    consumer = register(app, "ambulance", key_name=key_name, pem=pem)
    response = ask(client, form(consumer.assertion(), "system/Flag.read system/CarePlan.read"))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 300
    assert body["scope"] == "system/Flag.read system/CarePlan.read"
    assert response.headers["Cache-Control"] == "no-store"
    principal = service(app).principal(body["access_token"])
    assert (principal.client_id, principal.name, principal.organization) == (consumer.client_id, "ambulance", "RX6")
    assert principal.permits("Flag", "read") and not principal.permits("Flag", "write")


def test_token_lifetime_and_expiry(app: Flask, client: FlaskClient) -> None:
    consumer = register(app, "ambulance")
    svc = service(app)
    start = 1_900_000_000.0
    svc.clock = lambda: start
    body = ask(client, form(consumer.assertion(now=start))).get_json()
    principal = svc.principal(body["access_token"])
    assert principal.expires.timestamp() == start + 300
    svc.clock = lambda: start + 299
    assert svc.principal(body["access_token"]).client_id == consumer.client_id
    svc.clock = lambda: start + 300
    with pytest.raises(FhirError) as caught:
        svc.principal(body["access_token"])
    assert (caught.value.status, caught.value.code) == (401, "expired")


def test_a_narrower_scope_than_allowed_is_granted(app: Flask, client: FlaskClient) -> None:
    writer = register(app, "stratify", ("system/*.read", "system/Flag.*"), kind="internal", ods="RXW")
    body = ask(client, form(writer.assertion(), "system/Patient.read system/Flag.write")).get_json()
    assert body["scope"] == "system/Patient.read system/Flag.write"
    principal = service(app).principal(body["access_token"])
    assert principal.kind == "internal"
    assert principal.permits("Flag", "write") and not principal.permits("Patient", "write")


def test_wrong_signature(app: Flask, client: FlaskClient) -> None:
    consumer = register(app, "ambulance")
    forged = Registered(consumer.client, key("ec-other"), consumer.kid)
    assert error(ask(client, form(forged.assertion()))) == (401, "invalid_client")


def test_expired_assertion(app: Flask, client: FlaskClient) -> None:
    consumer = register(app, "ambulance")
    stale = consumer.assertion(now=service(app).clock() - 600)
    assert error(ask(client, form(stale))) == (401, "invalid_client")


def test_assertion_living_too_long(app: Flask, client: FlaskClient) -> None:
    consumer = register(app, "ambulance")
    assert error(ask(client, form(consumer.assertion(lifetime=3600)))) == (401, "invalid_client")


def test_replayed_jti(app: Flask, client: FlaskClient) -> None:
    consumer = register(app, "ambulance")
    assertion = consumer.assertion()
    assert ask(client, form(assertion)).status_code == 200
    response = ask(client, form(assertion))
    assert error(response) == (401, "invalid_client")
    assert "replayed" in response.get_json()["error_description"]
    # the same jti in a new assertion is a replay too, while the first one could still be used
    assert ask(client, form(consumer.assertion(jti="once"))).status_code == 200
    assert error(ask(client, form(consumer.assertion(jti="once")))) == (401, "invalid_client")


def test_concurrent_replays_get_one_token(app: Flask) -> None:
    consumer = register(app, "ambulance")
    assertion = consumer.assertion()
    svc = service(app)
    outcomes: list[str] = []

    def attempt() -> None:
        try:
            svc.issue(form(assertion), TOKEN_URL)
            outcomes.append("token")
        except Exception as exc:  # OAuthError
            outcomes.append(getattr(exc, "error", repr(exc)))

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["invalid_client"] * 5 + ["token"]


def test_wrong_audience(app: Flask, client: FlaskClient) -> None:
    consumer = register(app, "ambulance")
    for aud in ("https://closer.example/auth/token", "http://localhost/", "http://localhost/auth/token/"):
        assert error(ask(client, form(consumer.assertion(token_url=aud)))) == (401, "invalid_client")


def test_audience_follows_the_configured_base_url(app: Flask, client: FlaskClient) -> None:
    app.extensions["closer.settings"] = replace(app.extensions["closer.settings"], base_url="https://fhir.example/r4/")
    consumer = register(app, "ambulance")
    assert error(ask(client, form(consumer.assertion()))) == (401, "invalid_client")
    good = consumer.assertion(token_url="https://fhir.example/r4/auth/token")
    assert ask(client, form(good)).status_code == 200


def test_unknown_client(app: Flask, client: FlaskClient) -> None:
    consumer = register(app, "ambulance")
    stranger = Registered(replace(consumer.client, client_id="nobody"), key("ec"), None)
    response = ask(client, form(stranger.assertion()))
    assert error(response) == (401, "invalid_client")
    assert "nobody" in response.get_json()["error_description"]


def test_client_id_parameter_must_match(app: Flask, client: FlaskClient) -> None:
    consumer = register(app, "ambulance")
    assert error(ask(client, form(consumer.assertion(), client_id="other"))) == (401, "invalid_client")
    assert ask(client, form(consumer.assertion(), client_id=consumer.client_id)).status_code == 200


@pytest.mark.parametrize(
    "scope",
    ["system/Flag.write", "system/Patient.read", "system/*.read", "system/Flag.*", "system/Flag.read system/Task.read"],
)
def test_scope_not_granted(app: Flask, client: FlaskClient, scope: str) -> None:
    consumer = register(app, "ambulance")
    assert error(ask(client, form(consumer.assertion(), scope))) == (400, "invalid_scope")


@pytest.mark.parametrize("scope", ["patient/Flag.read", "openid", "system/Widget.read"])
def test_scope_malformed_or_unknown_type(app: Flask, client: FlaskClient, scope: str) -> None:
    consumer = register(app, "everything", ("system/*.*",))
    assert error(ask(client, form(consumer.assertion(), scope))) == (400, "invalid_scope")


def test_scope_is_checked_only_after_the_client_is_authenticated(app: Flask, client: FlaskClient) -> None:
    consumer = register(app, "ambulance")
    forged = Registered(consumer.client, key("ec-other"), consumer.kid)
    assert error(ask(client, form(forged.assertion(), "system/Patient.write"))) == (401, "invalid_client")


def test_revoked_client(app: Flask, client: FlaskClient) -> None:
    consumer = register(app, "ambulance")
    token = ask(client, form(consumer.assertion())).get_json()["access_token"]
    revoke_client(app.extensions["closer.engine"], "ambulance")
    response = ask(client, form(consumer.assertion()))
    assert error(response) == (401, "invalid_client")
    assert "revoked" in response.get_json()["error_description"]
    with pytest.raises(FhirError) as caught:
        service(app).principal(token)
    assert caught.value.status == 401


def test_hmac_and_none_refused(app: Flask, client: FlaskClient) -> None:
    consumer = register(app, "ambulance")
    now = int(service(app).clock())
    claims = {"iss": consumer.client_id, "sub": consumer.client_id, "aud": TOKEN_URL, "exp": now + 60, "jti": "j"}
    for token in (
        jwt.encode(claims, "a-shared-secret-that-is-long-enough-for-hmac-sha", algorithm="HS256"),
        jwt.encode(claims, "", algorithm="none"),
    ):
        response = ask(client, form(token))
        assert error(response) == (401, "invalid_client")
        assert "only RS384 and ES384" in response.get_json()["error_description"]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"grant_type": "authorization_code"}, (400, "unsupported_grant_type")),
        ({"grant_type": "password"}, (400, "unsupported_grant_type")),
        ({"grant_type": None}, (400, "invalid_request")),
        ({"client_assertion_type": "urn:something:else"}, (400, "invalid_request")),
        ({"client_assertion_type": None}, (400, "invalid_request")),
        ({"client_assertion": None}, (400, "invalid_request")),
        ({"scope": None}, (400, "invalid_request")),
        ({"client_assertion": "garbage"}, (401, "invalid_client")),
    ],
)
def test_malformed_requests(
    app: Flask, client: FlaskClient, overrides: dict[str, Any], expected: tuple[int, str]
) -> None:
    consumer = register(app, "ambulance")
    fields = form(consumer.assertion(), **{k: v for k, v in overrides.items() if v is not None})
    for name, value in overrides.items():
        if value is None:
            del fields[name]
    assert error(ask(client, fields)) == expected


def test_token_endpoint_takes_post_only(client: FlaskClient) -> None:
    response = client.get("/auth/token")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


def test_json_body_is_not_a_token_request(app: Flask, client: FlaskClient) -> None:
    consumer = register(app, "ambulance")
    response = client.post("/auth/token", json=form(consumer.assertion()))
    assert error(response) == (400, "invalid_request")


def test_expired_rows_are_cleaned(app: Flask, client: FlaskClient) -> None:
    consumer = register(app, "ambulance")
    svc = service(app)
    start = svc.clock()
    svc.clock = lambda: start
    for _ in range(3):
        assert ask(client, form(consumer.assertion(now=start))).status_code == 200
    later = start + 2 * 3600
    svc.clock = lambda: later
    assert ask(client, form(consumer.assertion(now=later))).status_code == 200
    engine = app.extensions["closer.engine"]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(auth_jti)).scalar() == 1
        assert conn.execute(select(func.count()).select_from(auth_tokens)).scalar() == 1


def test_discovery_document(client: FlaskClient) -> None:
    response = client.get("/.well-known/smart-configuration")
    assert response.status_code == 200
    assert response.content_type == "application/json"
    assert response.get_json() == {
        "token_endpoint": "http://localhost/auth/token",
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": ["system/*.read", "system/*.write", "system/*.*"],
        "capabilities": ["client-confidential-asymmetric"],
    }


def test_discovery_uses_the_configured_base_url(app: Flask, client: FlaskClient) -> None:
    app.extensions["closer.settings"] = replace(app.extensions["closer.settings"], base_url="https://fhir.example/r4")
    assert client.get("/.well-known/smart-configuration").get_json()["token_endpoint"] == (
        "https://fhir.example/r4/auth/token"
    )


def test_several_keys_in_a_jwks_by_kid(app: Flask, client: FlaskClient) -> None:
    new = check_registration(
        "ae-dept",
        kind="system",
        organization="RXW",
        scopes=["system/Flag.read"],
        public_key=jwks_of(key("ec-other"), key("rsa")),
    )
    registered = add_client(app.extensions["closer.engine"], new)
    rsa_client = Registered(registered, key("rsa"), public_jwk(key("rsa"))["kid"])
    assert ask(client, form(rsa_client.assertion())).status_code == 200
