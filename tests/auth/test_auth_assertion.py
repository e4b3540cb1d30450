"""Client assertion checks and key material, without a database or Flask (pure)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from authutil import TOKEN_URL, alg_of, jwks_of, key, pem_of

from closer.auth.assertion import AssertionRejected, make_assertion, read_header, verify_assertion
from closer.auth.keys import (
    ES384,
    RS384,
    KeyMaterialError,
    generate_key_pair,
    load_key_set,
    load_private_key,
    public_jwk,
)

CLIENT = "client-1"
NOW = 1_800_000_000.0


def sign(private: Any, **kwargs: Any) -> str:
    kwargs.setdefault("now", NOW)
    kwargs.setdefault("kid", public_jwk(private)["kid"])
    kwargs.setdefault("token_url", TOKEN_URL)
    return make_assertion(private, alg_of(private), client_id=CLIENT, **kwargs)


def verify(token: str, material: str, **kwargs: Any) -> Any:
    kwargs.setdefault("now", NOW)
    kwargs.setdefault("audience", TOKEN_URL)
    kwargs.setdefault("client_id", CLIENT)
    return verify_assertion(token, load_key_set(material).keys, **kwargs)


@pytest.mark.parametrize("key_name", ["ec", "rsa"])
def test_good_assertion(key_name: str) -> None:
    private = key(key_name)
    claims = verify(sign(private, jti="abc"), jwks_of(private))
    assert (claims.client_id, claims.jti, claims.exp) == (CLIENT, "abc", int(NOW) + 240)


@pytest.mark.parametrize("key_name", ["ec", "rsa"])
def test_good_assertion_against_a_pem_key_ignores_the_kid(key_name: str) -> None:
    private = key(key_name)
    assert verify(sign(private, kid="whatever"), pem_of(private)).client_id == CLIENT


def test_the_kid_picks_the_key_from_a_jwks_with_several() -> None:
    material = jwks_of(key("ec-other"), key("ec"), key("rsa"))
    assert verify(sign(key("ec")), material).client_id == CLIENT
    assert verify(sign(key("rsa")), material).client_id == CLIENT
    with pytest.raises(AssertionRejected, match="no ES384 key with kid 'nope'"):
        verify(sign(key("ec"), kid="nope"), material)


def test_without_a_kid_every_key_for_the_algorithm_is_tried() -> None:
    material = jwks_of(key("ec-other"), key("ec"))
    token = make_assertion(key("ec"), ES384, client_id=CLIENT, token_url=TOKEN_URL, now=NOW)
    assert verify(token, material).client_id == CLIENT


def test_wrong_signature() -> None:
    forged = sign(key("ec-other"), kid=public_jwk(key("ec"))["kid"])
    with pytest.raises(AssertionRejected, match="signature"):
        verify(forged, jwks_of(key("ec")))


def test_tampered_claims() -> None:
    header, payload, signature = sign(key("rsa")).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["exp"] += 10
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(AssertionRejected, match="signature"):
        verify(f"{header}.{forged}.{signature}", jwks_of(key("rsa")))


@pytest.mark.parametrize("alg", ["HS256", "HS384", "RS256", "ES256", "PS384"])
def test_other_algorithms_refused(alg: str) -> None:
    if alg.startswith("HS"):
        secret: Any = "a-shared-secret-that-is-long-enough-for-hmac-sha"
    elif alg.startswith("ES"):
        secret = key("p256")
    else:
        secret = key("rsa")
    claims = {"iss": CLIENT, "sub": CLIENT, "aud": TOKEN_URL, "exp": int(NOW) + 60, "jti": "x"}
    token = jwt.encode(claims, secret, algorithm=alg)
    with pytest.raises(AssertionRejected, match=f"'{alg}'; only RS384 and ES384"):
        verify(token, jwks_of(key("rsa"), key("ec")))


def test_alg_none_refused() -> None:
    claims = {"iss": CLIENT, "sub": CLIENT, "aud": TOKEN_URL, "exp": int(NOW) + 60, "jti": "x"}
    token = jwt.encode(claims, "", algorithm="none")
    with pytest.raises(AssertionRejected, match="'none'"):
        verify(token, jwks_of(key("ec")))


def test_hmac_with_the_public_key_as_secret_is_refused() -> None:
    """The classic key-confusion forgery: HS384 keyed with the client's public PEM."""
    header = base64.urlsafe_b64encode(b'{"alg":"HS384","typ":"JWT"}').rstrip(b"=")
    claims = {"iss": CLIENT, "sub": CLIENT, "aud": TOKEN_URL, "exp": int(NOW) + 60, "jti": "x"}
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    mac = hmac.new(pem_of(key("rsa")).encode(), header + b"." + body, hashlib.sha384).digest()
    token = b".".join([header, body, base64.urlsafe_b64encode(mac).rstrip(b"=")]).decode()
    with pytest.raises(AssertionRejected, match="'HS384'"):
        verify(token, pem_of(key("rsa")))


def test_expired() -> None:
    token = sign(key("ec"), now=NOW - 600, lifetime=240)
    with pytest.raises(AssertionRejected, match="expired"):
        verify(token, jwks_of(key("ec")))


def test_clock_skew_is_tolerated() -> None:
    token = sign(key("ec"), now=NOW - 250, lifetime=240)  # expired 10 s ago: within the 30 s leeway
    assert verify(token, jwks_of(key("ec"))).client_id == CLIENT


def test_exp_more_than_five_minutes_ahead() -> None:
    token = sign(key("ec"), lifetime=3600)
    with pytest.raises(AssertionRejected, match="at most 300"):
        verify(token, jwks_of(key("ec")))
    assert verify(sign(key("ec"), lifetime=300), jwks_of(key("ec")))


@pytest.mark.parametrize("claim", ["exp", "jti", "aud"])
def test_required_claims(claim: str) -> None:
    claims = {"iss": CLIENT, "sub": CLIENT, "aud": TOKEN_URL, "exp": int(NOW) + 60, "jti": "x"}
    del claims[claim]
    token = jwt.encode(claims, key("ec"), algorithm="ES384")
    with pytest.raises(AssertionRejected, match=f"'{claim}'"):
        verify(token, jwks_of(key("ec")))


def test_iat_and_nbf_in_the_future() -> None:
    with pytest.raises(AssertionRejected, match="iat"):
        verify(sign(key("ec"), now=NOW + 120, lifetime=60), jwks_of(key("ec")))
    with pytest.raises(AssertionRejected, match="nbf"):
        verify(sign(key("ec"), extra_claims={"nbf": int(NOW) + 120}), jwks_of(key("ec")))


def test_wrong_audience() -> None:
    token = sign(key("ec"), token_url="https://elsewhere.example/token")
    with pytest.raises(AssertionRejected, match="aud"):
        verify(token, jwks_of(key("ec")))


def test_iss_must_equal_sub_and_the_client() -> None:
    token = sign(key("ec"), extra_claims={"sub": "someone-else"})
    with pytest.raises(AssertionRejected, match="'sub' must equal 'iss'"):
        read_header(token)
    with pytest.raises(AssertionRejected, match="not 'other'"):
        verify(sign(key("ec")), jwks_of(key("ec")), client_id="other")


def test_not_a_jwt() -> None:
    with pytest.raises(AssertionRejected, match="not a signed JWT"):
        read_header("not.a.jwt")


# -- key material ---------------------------------------------------------------------------------------


def test_jwks_with_private_members_is_refused() -> None:
    private_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key("ec")))
    with pytest.raises(KeyMaterialError, match="private members"):
        load_key_set(json.dumps({"keys": [private_jwk]}))


def test_private_pem_is_refused() -> None:
    with pytest.raises(KeyMaterialError, match="private key"):
        load_key_set(generate_key_pair(ES384).private_pem)


@pytest.mark.parametrize(("key_name", "why"), [("p256", "P-384"), ("rsa1024", "too short")])
def test_weak_or_wrong_keys_are_refused(key_name: str, why: str) -> None:
    with pytest.raises(KeyMaterialError, match=why):
        load_key_set(pem_of(key(key_name)))
    with pytest.raises(KeyMaterialError, match=why):
        load_key_set(jwks_of(key(key_name)))


def test_jwks_keys_for_other_uses_are_skipped() -> None:
    enc = {**public_jwk(key("rsa")), "use": "enc", "kid": "enc"}
    with pytest.raises(KeyMaterialError, match="no RS384 or ES384 signing key"):
        load_key_set(json.dumps({"keys": [enc]}))
    both = load_key_set(json.dumps({"keys": [enc, public_jwk(key("ec"))]}))
    assert [k.alg for k in both.keys] == [ES384]


def test_single_jwk_and_garbage() -> None:
    assert load_key_set(json.dumps(public_jwk(key("rsa")))).keys[0].alg == RS384
    for bad in ("", "hello", "{not json", '{"keys": "x"}'):
        with pytest.raises(KeyMaterialError):
            load_key_set(bad)


@pytest.mark.parametrize("alg", [ES384, RS384])
def test_generated_pairs_sign_and_verify(alg: str) -> None:
    pair = generate_key_pair(alg)
    private, found_alg = load_private_key(pair.private_pem)
    assert found_alg == alg
    token = make_assertion(private, alg, client_id=CLIENT, token_url=TOKEN_URL, kid=pair.kid, now=time.time())
    claims = verify_assertion(
        token, load_key_set(json.dumps(pair.jwks)).keys, client_id=CLIENT, audience=TOKEN_URL, now=time.time()
    )
    assert claims.client_id == CLIENT
