"""How auth says no, in the two shapes its callers need.

At the token endpoint: RFC 6749 section 5.2 JSON (`{"error": ..., "error_description": ...}`), as
`OAuthError`. Every failure to authenticate the client (bad signature, expired or replayed assertion,
wrong audience, unknown or revoked client) is `invalid_client` with 401, as RFC 7523 section 3.2 asks.

At the FHIR API: an OperationOutcome, as `AuthFailure` (a FhirError, so the app's one error path renders
it), with the RFC 6750 `WWW-Authenticate` challenge: 401 for a missing, unknown, expired or revoked
token, 403 for a scope the token was not granted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from closer.errors import FhirError

INVALID_REQUEST = "invalid_request"
INVALID_CLIENT = "invalid_client"
INVALID_GRANT = "invalid_grant"  # not produced by client_credentials; kept for other grants
INVALID_SCOPE = "invalid_scope"
UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
REALM = "closer"


@dataclass
class OAuthError(Exception):
    error: str
    description: str
    status: int = 400

    def __post_init__(self) -> None:
        super().__init__(f"{self.error}: {self.description}")

    def as_json(self) -> dict[str, Any]:
        return {"error": self.error, "error_description": self.description}


def invalid_client(description: str) -> OAuthError:
    return OAuthError(INVALID_CLIENT, description, 401)


def invalid_request(description: str) -> OAuthError:
    return OAuthError(INVALID_REQUEST, description, 400)


def invalid_scope(description: str) -> OAuthError:
    return OAuthError(INVALID_SCOPE, description, 400)


def unsupported_grant_type(description: str) -> OAuthError:
    return OAuthError(UNSUPPORTED_GRANT_TYPE, description, 400)


@dataclass
class AuthFailure(FhirError):
    """A FHIR request refused for who is asking; `challenge` is the WWW-Authenticate header value."""

    challenge: str = ""


def _challenge(error: str | None = None, description: str | None = None, scope: str | None = None) -> str:
    parts = [f'realm="{REALM}"']
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append('error_description="{}"'.format(description.replace("\\", "\\\\").replace('"', "'")))
    if scope:
        parts.append(f'scope="{scope}"')
    return "Bearer " + ", ".join(parts)


def missing_token() -> AuthFailure:
    return AuthFailure(
        "This request needs an access token (Authorization: Bearer ...); get one from the token endpoint "
        "described at /.well-known/smart-configuration",
        401,
        "login",
        challenge=_challenge(),
    )


def invalid_token(why: str) -> AuthFailure:
    return AuthFailure(why, 401, "unknown", challenge=_challenge("invalid_token", why))


def expired_token() -> AuthFailure:
    why = "The access token has expired; get a new one from the token endpoint"
    return AuthFailure(why, 401, "expired", challenge=_challenge("invalid_token", why))


def insufficient_scope(needed: str, resource_type: str, mode: str) -> AuthFailure:
    why = f"The access token does not grant {mode} access to {resource_type} (needs {needed})"
    return AuthFailure(why, 403, "forbidden", challenge=_challenge("insufficient_scope", why, needed))
