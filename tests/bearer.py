"""Real credentials for tests: the API has no switch that turns authentication off, in tests either.

`authenticated(app)` is a Flask test client that sends a `system/*.*` bearer token on every request: the
first call on an app registers the internal client TEST_CLIENT (through the auth API, with a generated
key) and asks the app's real token endpoint for a token with a signed private_key_jwt assertion. One
client and one token per app; one key pair per test run.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from closer.auth.assertion import ASSERTION_TYPE, make_assertion
from closer.auth.clients import INTERNAL, SYSTEM, add_client, check_registration
from closer.auth.keys import ES384, generate_key_pair, load_private_key

TEST_CLIENT = "closer-tests"  # the internal client the `client` fixture authenticates as
TEST_TOKEN_URL = "http://localhost/auth/token"  # the token endpoint as the Flask test client addresses it
ALL_SCOPES = "system/*.*"

_test_key: dict[str, Any] = {}


def _key_pair() -> tuple[Any, Any, str]:
    """One ES384 key pair per test run (generating one per app would cost every API test): the pair, and
    its private key loaded with the algorithm it signs with."""
    if "pair" not in _test_key:
        pair = generate_key_pair(ES384)
        _test_key["pair"] = (pair, *load_private_key(pair.private_pem))
    found: tuple[Any, Any, str] = _test_key["pair"]
    return found


def bearer_token(app: Flask) -> str:
    """A `system/*.*` access token for `app`: the first call registers the internal client TEST_CLIENT with
    a generated key (through the auth API) and asks the real token endpoint for a token, with a signed
    private_key_jwt assertion; later calls on the same app return the same token."""
    token: str | None = app.extensions.get("tests.token")
    if token is None:
        token = registered_token(app, TEST_CLIENT, (ALL_SCOPES,), kind=INTERNAL, ods="CLOSER")
        app.extensions["tests.token"] = token
    return token


def registered_token(
    app: Flask, name: str, scopes: tuple[str, ...], *, kind: str = SYSTEM, ods: str, purpose: str = "TREAT"
) -> str:
    """Register client `name` (through the auth API, with the run's key) and return a token for all its
    scopes from the app's real token endpoint, asked with a signed private_key_jwt assertion."""
    pair, private_key, alg = _key_pair()
    new = check_registration(
        name, kind=kind, organization=ods, scopes=scopes, public_key=json.dumps(pair.jwks), purpose=purpose
    )
    registered = add_client(app.extensions["closer.engine"], new)
    assertion = make_assertion(private_key, alg, client_id=registered.client_id, token_url=TEST_TOKEN_URL, kid=pair.kid)
    form = {
        "grant_type": "client_credentials",
        "scope": " ".join(scopes),
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
    }
    response = app.test_client().post("/auth/token", data=form)
    assert response.status_code == 200, response.get_data(as_text=True)
    return str(response.get_json()["access_token"])


def consumer(app: Flask, name: str, scopes: tuple[str, ...], *, ods: str, purpose: str) -> FlaskClient:
    """A test client for a newly registered consumer system (kind `system`) with a token for `scopes`."""
    http = app.test_client()
    token = registered_token(app, name, scopes, ods=ods, purpose=purpose)
    http.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return http


def authenticated(app: Flask) -> FlaskClient:
    """A test client that sends the app's `system/*.*` bearer token on every request (a request's own
    Authorization header, when given, wins)."""
    http = app.test_client()
    http.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {bearer_token(app)}"
    return http
