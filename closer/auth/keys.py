"""Client key material: the public keys a client registers (a JWKS document or one PEM public key), and
the key pairs generated for internal clients.

Only keys for the two algorithms SMART Backend Services names are accepted: RSA (2048 bits or more) for
RS384 and EC P-384 for ES384. A JWKS that carries private key members is refused: a client registers its
public half only.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

RS384 = "RS384"
ES384 = "ES384"
ALGORITHMS = (RS384, ES384)
MIN_RSA_BITS = 2048
GENERATED_RSA_BITS = 3072
JWKS = "jwks"
PEM = "pem"
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})

PublicKeyObject = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
PrivateKeyObject = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class KeyMaterialError(ValueError):
    """Key material that cannot be used to verify a client's assertions."""


@dataclass(frozen=True)
class PublicKey:
    kid: str | None
    alg: str  # the one algorithm this key verifies: RS384 (RSA) or ES384 (EC P-384)
    key: PublicKeyObject


@dataclass(frozen=True)
class KeySet:
    kind: str  # "jwks" or "pem"
    text: str  # the material as stored
    keys: tuple[PublicKey, ...]


def load_key_set(text: str) -> KeySet:
    """Parse registered key material: a JWKS JSON document (or a single JWK), or a PEM public key."""
    stripped = text.strip()
    if stripped.startswith("-----BEGIN"):
        return KeySet(PEM, stripped + "\n", (_pem_key(stripped),))
    if stripped.startswith("{"):
        try:
            document = json.loads(stripped)
        except ValueError as exc:
            raise KeyMaterialError(f"the JWKS is not valid JSON: {exc}") from None
        return _jwks(document)
    raise KeyMaterialError("key material must be a JWKS JSON document or a PEM public key")


def _pem_key(text: str) -> PublicKey:
    if "PRIVATE KEY" in text.split("\n", 1)[0]:
        raise KeyMaterialError("that is a private key: register the public key only")
    try:
        key = serialization.load_pem_public_key(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise KeyMaterialError(f"not a PEM public key: {exc}") from None
    return PublicKey(None, _check_key(key), key)  # type: ignore[arg-type]


def _jwks(document: Any) -> KeySet:
    if isinstance(document, dict) and "keys" not in document and "kty" in document:
        document = {"keys": [document]}
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeyMaterialError("a JWKS is a JSON object with a 'keys' array")
    keys: list[PublicKey] = []
    skipped: list[str] = []
    for n, jwk in enumerate(document["keys"]):
        if not isinstance(jwk, dict):
            raise KeyMaterialError(f"key {n} of the JWKS is not a JSON object")
        label = f"key {jwk.get('kid', n)!s}"
        private = sorted(_PRIVATE_MEMBERS & set(jwk))
        if private:
            raise KeyMaterialError(
                f"{label} of the JWKS holds private members ({', '.join(private)}): register public keys only"
            )
        if jwk.get("use", "sig") != "sig":
            skipped.append(f"{label} is for use '{jwk['use']}', not 'sig'")
            continue
        try:
            key = _jwk_key(jwk)
            alg = _check_key(key)
        except KeyMaterialError as exc:
            skipped.append(f"{label}: {exc}")
            continue
        if jwk.get("alg", alg) != alg:
            skipped.append(f"{label} is for {jwk['alg']}, not {alg}")
            continue
        kid = jwk.get("kid")
        keys.append(PublicKey(kid if isinstance(kid, str) and kid else None, alg, key))
    if not keys:
        why = "; ".join(skipped) or "the JWKS has no keys"
        raise KeyMaterialError(f"the JWKS has no RS384 or ES384 signing key ({why})")
    kids = [k.kid for k in keys if k.kid]
    if len(kids) != len(set(kids)):
        raise KeyMaterialError("two keys in the JWKS share a 'kid'")
    return KeySet(JWKS, json.dumps(document, sort_keys=True), tuple(keys))


def _jwk_key(jwk: dict[str, Any]) -> PublicKeyObject:
    kty = jwk.get("kty")
    try:
        if kty == "RSA":
            key: Any = RSAAlgorithm.from_jwk(jwk)
        elif kty == "EC":
            key = ECAlgorithm.from_jwk(jwk)
        else:
            raise KeyMaterialError(f"key type {kty!r} is not RSA or EC")
    except KeyMaterialError:
        raise
    except Exception as exc:  # PyJWT raises InvalidKeyError and others for malformed members
        raise KeyMaterialError(f"not a usable {kty} key: {exc}") from None
    return key


def _check_key(key: object) -> str:
    """The algorithm `key` verifies, or KeyMaterialError when it is not strong enough or not allowed."""
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise KeyMaterialError(f"an RSA key of {key.key_size} bits is too short (at least {MIN_RSA_BITS})")
        return RS384
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP384R1):
            raise KeyMaterialError(f"an EC key on {key.curve.name} cannot verify ES384 (P-384 is needed)")
        return ES384
    raise KeyMaterialError(f"a {type(key).__name__} cannot verify RS384 or ES384")


def public_jwk(key: PublicKeyObject | PrivateKeyObject, *, kid: str | None = None) -> dict[str, Any]:
    """The public JWK for a key (given its private or public half), with `kid` (default its thumbprint)."""
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) else key
    if isinstance(public, rsa.RSAPublicKey):
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(public, as_dict=True)
        alg = RS384
    else:
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        alg = ES384
    jwk = {k: v for k, v in jwk.items() if k not in ("key_ops", "alg", "use", "kid")}
    jwk.update({"kid": kid or thumbprint(jwk), "alg": alg, "use": "sig"})
    return jwk


def thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url): a stable `kid`."""
    members = ("e", "kty", "n") if jwk["kty"] == "RSA" else ("crv", "kty", "x", "y")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


@dataclass(frozen=True)
class KeyPair:
    alg: str
    kid: str
    private_pem: str
    jwks: dict[str, Any]  # the public half, as a JWKS document


def generate_key_pair(alg: str = ES384) -> KeyPair:
    """A new signing key pair: EC P-384 for ES384, RSA 3072 bits for RS384."""
    private: PrivateKeyObject
    if alg == ES384:
        private = ec.generate_private_key(ec.SECP384R1())
    elif alg == RS384:
        private = rsa.generate_private_key(public_exponent=65537, key_size=GENERATED_RSA_BITS)
    else:
        raise ValueError(f"cannot generate a key for {alg}: use ES384 or RS384")
    jwk = public_jwk(private)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    return KeyPair(alg, jwk["kid"], pem, {"keys": [jwk]})


def load_private_key(pem: str) -> tuple[PrivateKeyObject, str]:
    """A private key from PEM and the algorithm it signs with."""
    try:
        key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise KeyMaterialError(f"not a usable unencrypted PEM private key: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise KeyMaterialError(f"a {type(key).__name__} cannot sign RS384 or ES384")
    return key, _check_key(key.public_key())
