"""The token endpoint's logic (SMART Backend Services client_credentials with a `private_key_jwt`
assertion) and the look-up that turns a bearer token back into a Principal.

Access tokens are opaque: 32 random bytes (base64url), stored only as their SHA-256 hash with the client,
the granted scopes and the expiry. A look-up is one primary-key read joined to the client, so revoking a
client ends its tokens at once, there is no server signing key to keep or rotate, and a copy of the
database does not hold usable tokens. The price is that only this server (or another one on the same
database) can check them, which is all the FHIR API needs.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from closer.auth.assertion import (
    ASSERTION_TYPE,
    LEEWAY,
    AssertionRejected,
    Claims,
    read_header,
    verify_assertion,
)
from closer.auth.clients import Client, find_client
from closer.auth.errors import (
    expired_token,
    invalid_client,
    invalid_request,
    invalid_scope,
    invalid_token,
    unsupported_grant_type,
)
from closer.auth.principal import Principal
from closer.auth.scopes import Scope, ScopeError, format_scopes, not_covered, parse_scopes
from closer.auth.tables import auth_clients, auth_jti, auth_tokens, ensure_tables, to_us
from closer.store.dates import from_us
from closer.store.engine import writing

GRANT_TYPE = "client_credentials"
DEFAULT_LIFETIME = 300  # seconds an access token lives
KEEP_EXPIRED = 3600  # seconds an expired token is kept, so its use is answered "expired", not "unknown"
CLEANUP_EVERY = 60  # seconds between sweeps of expired jti and token rows
MAX_TOKEN_LENGTH = 512


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# The holder of a bearer token, built once: every FHIR request asks it.
_TOKEN_HOLDER = (
    select(
        auth_tokens.c.scopes,
        auth_tokens.c.expires,
        *(auth_clients.c[name] for name in ("client_id", "name", "kind", "organization", "purpose", "revoked_at")),
    )
    .select_from(auth_tokens.join(auth_clients, auth_tokens.c.client_id == auth_clients.c.client_id))
    .where(auth_tokens.c.token_hash == bindparam("token_hash"))
)


@dataclass(frozen=True)
class TokenGrant:
    access_token: str
    expires_in: int
    scopes: tuple[Scope, ...]
    client: Client

    def as_json(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": "bearer",
            "expires_in": self.expires_in,
            "scope": format_scopes(self.scopes),
        }


class TokenService:
    """Issues and checks access tokens against the auth tables of one database."""

    def __init__(
        self,
        engine: Engine,
        *,
        lifetime: int = DEFAULT_LIFETIME,
        clock: Callable[[], float] = time.time,
        known_types: Collection[str] | None = None,
    ) -> None:
        self.engine = engine
        self.lifetime = lifetime
        self.clock = clock
        self.known_types = known_types
        self._last_cleanup = float("-inf")
        ensure_tables(engine)

    # -- the token endpoint ----------------------------------------------------------------------------
    def issue(self, form: Mapping[str, str], token_url: str) -> TokenGrant:
        """Answer a token request (the form fields of `POST /auth/token`) addressed to `token_url`, or
        raise OAuthError with the RFC 6749 error code."""
        grant_type = form.get("grant_type")
        if not grant_type:
            raise invalid_request("grant_type is required (client_credentials)")
        if grant_type != GRANT_TYPE:
            raise unsupported_grant_type(f"grant_type '{grant_type}' is not supported; use client_credentials")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise invalid_request(f"client_assertion_type must be {ASSERTION_TYPE} (private_key_jwt)")
        assertion = form.get("client_assertion")
        if not assertion:
            raise invalid_request("client_assertion is required: a JWT signed with the client's private key")
        requested = form.get("scope", "")
        if not requested.strip():
            raise invalid_request("scope is required, e.g. scope=system/Flag.read")

        now = self.clock()
        client = self._authenticate_client(assertion, form.get("client_id"))
        claims = self._verified(client, assertion, token_url, now)
        scopes = self._grant(client, requested)  # only once the client has proved who it is
        token = secrets.token_urlsafe(32)
        expires = now + self.lifetime
        self._cleanup(now)
        try:
            with writing(self.engine) as conn:
                conn.execute(
                    auth_jti.delete().where(
                        and_(
                            auth_jti.c.client_id == client.client_id,
                            auth_jti.c.jti == claims.jti,
                            auth_jti.c.expires < to_us(now),
                        )
                    )
                )
                conn.execute(
                    auth_jti.insert().values(
                        client_id=client.client_id, jti=claims.jti, expires=to_us(claims.exp + LEEWAY)
                    )
                )
                conn.execute(
                    auth_tokens.insert().values(
                        token_hash=hash_token(token),
                        client_id=client.client_id,
                        scopes=format_scopes(scopes),
                        issued=to_us(now),
                        expires=to_us(expires),
                    )
                )
        except IntegrityError:
            raise invalid_client("client_assertion was used before (its jti is replayed); sign a new one") from None
        return TokenGrant(token, self.lifetime, scopes, client)

    def _authenticate_client(self, assertion: str, form_client_id: str | None) -> Client:
        try:
            header = read_header(assertion)
        except AssertionRejected as exc:
            raise invalid_client(str(exc)) from None
        if form_client_id and form_client_id != header.client_id:
            raise invalid_client("client_id does not match the assertion's iss")
        client = find_client(self.engine, client_id=header.client_id)
        if client is None:
            raise invalid_client(f"no client is registered with client_id '{header.client_id}'")
        if client.revoked:
            raise invalid_client(f"client '{client.name}' has been revoked")
        return client

    def _verified(self, client: Client, assertion: str, token_url: str, now: float) -> Claims:
        try:
            return verify_assertion(
                assertion, client.key_set.keys, client_id=client.client_id, audience=token_url, now=now
            )
        except AssertionRejected as exc:
            raise invalid_client(str(exc)) from None

    def _grant(self, client: Client, requested: str) -> tuple[Scope, ...]:
        try:
            wanted = parse_scopes(requested, self.known_types)
        except ScopeError as exc:
            raise invalid_scope(str(exc)) from None
        refused = not_covered(client.scopes, wanted)
        if refused:
            raise invalid_scope(
                f"client '{client.name}' is not allowed {format_scopes(refused)} "
                f"(allowed: {format_scopes(client.scopes)})"
            )
        return wanted

    def _cleanup(self, now: float) -> None:
        if now - self._last_cleanup < CLEANUP_EVERY:
            return
        self._last_cleanup = now
        with writing(self.engine) as conn:
            conn.execute(auth_jti.delete().where(auth_jti.c.expires < to_us(now)))
            conn.execute(auth_tokens.delete().where(auth_tokens.c.expires < to_us(now - KEEP_EXPIRED)))

    # -- bearer tokens on FHIR requests ----------------------------------------------------------------
    def principal(self, token: str) -> Principal:
        """The client behind an access token, or a 401 AuthFailure (unknown, expired, or client revoked)."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise invalid_token("The access token is not valid")
        with self.engine.connect() as conn:
            row = conn.execute(_TOKEN_HOLDER, {"token_hash": hash_token(token)}).first()
        if row is None:
            raise invalid_token("The access token is not known to this server")
        if row.expires <= to_us(self.clock()):
            raise expired_token()
        if row.revoked_at is not None:
            raise invalid_token("The client this access token was issued to has been revoked")
        return Principal(
            client_id=row.client_id,
            name=row.name,
            kind=row.kind,
            organization=row.organization,
            scopes=parse_scopes(row.scopes),
            expires=from_us(row.expires),
            purpose=row.purpose,
        )
