"""`private_key_jwt` client assertions (SMART Backend Services, RFC 7523): checking one, and making one.

Pure code: the caller looks the client up, supplies its keys, the token endpoint URL and the time, and
records the `jti` afterwards. Only RS384 and ES384 are accepted, so `none`, the HMAC algorithms and
key-confusion tricks never reach a verifier.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from closer.auth.keys import ALGORITHMS, PrivateKeyObject, PublicKey

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_LIFETIME = 300  # seconds: an assertion may expire at most this far ahead (SMART: five minutes)
LEEWAY = 30  # seconds of clock skew allowed on exp, nbf and iat
MAX_JTI = 255


class AssertionRejected(ValueError):
    """The assertion cannot authenticate the client; the message says why (safe to show the client)."""


@dataclass(frozen=True)
class Header:
    alg: str
    kid: str | None
    client_id: str  # iss, which equals sub


@dataclass(frozen=True)
class Claims:
    client_id: str
    jti: str
    exp: int  # seconds since the epoch


def read_header(assertion: str) -> Header:
    """The algorithm, key id and client named by an assertion, before its signature is checked (to find
    the client's keys). Refuses any algorithm but RS384 and ES384, and an iss that differs from sub."""
    try:
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise AssertionRejected(f"client_assertion is not a signed JWT: {exc}") from None
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise AssertionRejected(f"client_assertion is signed with {alg!r}; only RS384 and ES384 are accepted")
    kid = header.get("kid")
    iss, sub = claims.get("iss"), claims.get("sub")
    if not isinstance(iss, str) or not iss:
        raise AssertionRejected("client_assertion has no 'iss' claim (the client_id)")
    if sub != iss:
        raise AssertionRejected("client_assertion 'sub' must equal 'iss' (both the client_id)")
    return Header(alg, kid if isinstance(kid, str) and kid else None, iss)


def usable_keys(keys: Sequence[PublicKey], alg: str, kid: str | None) -> list[PublicKey]:
    """The registered keys that may have signed an assertion with this `alg` and `kid`: the key with that
    kid when the keys have ids (SMART requires a kid), else every key for the algorithm."""
    matching = [k for k in keys if k.alg == alg]
    if kid is not None and any(k.kid for k in matching):
        matching = [k for k in matching if k.kid == kid]
        if not matching:
            raise AssertionRejected(f"the client has no {alg} key with kid '{kid}'")
    if not matching:
        raise AssertionRejected(f"the client has no key registered for {alg}")
    return matching


def verify_assertion(
    assertion: str,
    keys: Sequence[PublicKey],
    *,
    client_id: str,
    audience: str,
    now: float,
    max_lifetime: int = MAX_LIFETIME,
    leeway: int = LEEWAY,
) -> Claims:
    """Check the signature (against one of `keys`) and the claims: iss == sub == client_id, aud is the
    token endpoint URL, exp present, not past and at most `max_lifetime` ahead, nbf/iat not in the
    future, and a jti. Raises AssertionRejected saying what is wrong."""
    header = read_header(assertion)
    if header.client_id != client_id:
        raise AssertionRejected(f"client_assertion is issued by '{header.client_id}', not '{client_id}'")
    claims: dict[str, Any] | None = None
    for key in usable_keys(keys, header.alg, header.kid):
        try:
            claims = jwt.decode(
                assertion,
                key.key,
                algorithms=[header.alg],
                audience=audience,
                issuer=client_id,
                options={
                    "require": ["iss", "sub", "aud", "exp", "jti"],
                    "verify_exp": False,  # the times are checked below, against `now`
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
            break
        except jwt.InvalidSignatureError:
            continue
        except jwt.InvalidAudienceError:
            raise AssertionRejected(f"client_assertion 'aud' must be the token endpoint URL {audience}") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AssertionRejected(f"client_assertion has no '{exc.claim}' claim") from None
        except jwt.PyJWTError as exc:
            raise AssertionRejected(f"client_assertion is not valid: {exc}") from None
    if claims is None:
        raise AssertionRejected("client_assertion signature does not verify with the client's registered keys")
    return Claims(client_id, _jti(claims), _check_times(claims, now, max_lifetime, leeway))


def _jti(claims: dict[str, Any]) -> str:
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI:
        raise AssertionRejected(f"client_assertion 'jti' must be a string of 1 to {MAX_JTI} characters")
    return jti


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AssertionRejected(f"client_assertion '{name}' must be a number (seconds since the epoch)")
    return float(value)


def _check_times(claims: dict[str, Any], now: float, max_lifetime: int, leeway: int) -> int:
    exp = _number(claims, "exp")
    assert exp is not None  # required above
    if exp + leeway <= now:
        raise AssertionRejected(f"client_assertion expired {int(now - exp)} seconds ago")
    if exp - now > max_lifetime + leeway:
        raise AssertionRejected(
            f"client_assertion 'exp' is {int(exp - now)} seconds ahead; at most {max_lifetime} is accepted"
        )
    nbf = _number(claims, "nbf")
    if nbf is not None and nbf - leeway > now:
        raise AssertionRejected("client_assertion is not valid yet ('nbf' is in the future)")
    iat = _number(claims, "iat")
    if iat is not None and iat - leeway > now:
        raise AssertionRejected("client_assertion 'iat' is in the future")
    return int(exp)


def make_assertion(
    private_key: PrivateKeyObject,
    alg: str,
    *,
    client_id: str,
    token_url: str,
    kid: str | None = None,
    now: float | None = None,
    lifetime: int = 240,
    jti: str | None = None,
    extra_claims: dict[str, Any] | None = None,
) -> str:
    """A client assertion for the token endpoint at `token_url`, as a SMART backend client builds one."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "exp": issued + lifetime,
        "iat": issued,
        "jti": jti or uuid.uuid4().hex,
    }
    claims.update(extra_claims or {})
    headers = {"typ": "JWT", **({"kid": kid} if kid else {})}
    return jwt.encode(claims, private_key, algorithm=alg, headers=headers)
