"""Helpers for the auth tests: keys, registered clients and signed assertions."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from closer.auth.assertion import ASSERTION_TYPE, make_assertion
from closer.auth.clients import Client, add_client, check_registration
from closer.auth.keys import ES384, RS384, public_jwk

TOKEN_URL = "http://localhost/auth/token"  # what the Flask test client's requests make of the base URL

_keys: dict[str, Any] = {}


def key(name: str) -> Any:
    """Private keys made once per test run: 'ec', 'ec-other', 'rsa', 'rsa-other', 'p256', 'rsa1024'."""
    if name not in _keys:
        if name.startswith("ec"):
            _keys[name] = ec.generate_private_key(ec.SECP384R1())
        elif name == "p256":
            _keys[name] = ec.generate_private_key(ec.SECP256R1())
        elif name == "rsa1024":
            _keys[name] = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        else:
            _keys[name] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _keys[name]


def alg_of(private: Any) -> str:
    return ES384 if isinstance(private, ec.EllipticCurvePrivateKey) else RS384


def jwks_of(*privates: Any) -> str:
    return json.dumps({"keys": [public_jwk(p) for p in privates]})


def pem_of(private: Any) -> str:
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@dataclass
class Registered:
    client: Client
    private: Any
    kid: str | None

    @property
    def client_id(self) -> str:
        return self.client.client_id

    def assertion(self, **kwargs: Any) -> str:
        kwargs.setdefault("token_url", TOKEN_URL)
        kwargs.setdefault("kid", self.kid)
        return make_assertion(self.private, alg_of(self.private), client_id=self.client_id, **kwargs)


def register(
    app: Flask,
    name: str,
    scopes: tuple[str, ...] = ("system/Flag.read", "system/CarePlan.read"),
    *,
    key_name: str = "ec",
    pem: bool = False,
    kind: str = "system",
    ods: str = "RX6",
    purpose: str = "TREAT",
) -> Registered:
    private = key(key_name)
    material = pem_of(private) if pem else jwks_of(private)
    new = check_registration(name, kind=kind, organization=ods, scopes=scopes, public_key=material, purpose=purpose)
    client = add_client(app.extensions["closer.engine"], new)
    return Registered(client, private, None if pem else public_jwk(private)["kid"])


def form(assertion: str, scope: str = "system/Flag.read", **overrides: str) -> dict[str, str]:
    fields = {
        "grant_type": "client_credentials",
        "scope": scope,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
    }
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


def ask(http: FlaskClient, fields: dict[str, str]) -> TestResponse:
    return http.post("/auth/token", data=fields)


def now() -> float:
    return time.time()
