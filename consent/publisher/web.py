"""`GET /.well-known/closer-publisher-jwks.json`: the public key receivers verify our signatures with.

The key is the one the publisher workers sign with (the settings' `signing_key`, made when missing), so the
server and the workers must share the settings file and the key path. The document is public: register the
blueprint's endpoint among the anonymous ones.
"""

from __future__ import annotations

from functools import cache

import orjson
from flask import Blueprint, Response

from consent.publisher.settings import signing_key_path
from consent.publisher.signing import Signer, load_signer

JWKS_PATH = "/.well-known/closer-publisher-jwks.json"
ENDPOINT = "publisher_keys.jwks"

publisher_keys = Blueprint("publisher_keys", __name__)


@cache
def _signer() -> Signer:
    return load_signer(signing_key_path())


@publisher_keys.get(JWKS_PATH)
def jwks() -> Response:
    body = orjson.dumps(_signer().jwks())
    return Response(body, content_type="application/jwk-set+json", headers={"Cache-Control": "max-age=300"})
