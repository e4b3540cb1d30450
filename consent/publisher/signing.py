"""The server's signing key and the detached JWS (RFC 7515 Appendix F) on every delivery.

Each request carries `X-Closer-Signature: <protected header>..<signature>`: an ES384 JWS in compact form
whose payload is the exact body bytes (empty for a DELETE), left out ("detached", RFC 7515 Appendix F).
To verify, put BASE64URL(body) back between the dots and check the JWS as usual. The protected header
also names the request it signs (`htm` method, `htu` URL, `idem` the Idempotency-Key, `iat`), so a
signature cannot be replayed on another resource or as another method. Receivers get the public key from
`/.well-known/closer-publisher-jwks.json` (see consent/publisher/web.py) and check with any JOSE library.

The key is EC P-384 in a PEM file. When the file is missing it is generated once, written with mode 0600,
and published atomically (link into place), so two workers starting together end up with the same key.
"""

from __future__ import annotations

import base64
import contextlib
import os
import stat
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from jwt.algorithms import ECAlgorithm

from closer.auth.keys import ES384, KeyMaterialError, PrivateKeyObject, generate_key_pair, load_private_key, public_jwk

SIGNATURE_HEADER = "X-Closer-Signature"


class SigningKeyError(ValueError):
    """The signing key cannot be read, or is not an EC P-384 key."""


@dataclass(frozen=True)
class Signer:
    key: PrivateKeyObject
    kid: str

    def sign(self, body: bytes, *, method: str, url: str, idempotency_key: str) -> str:
        """The detached JWS over `body` for this request: `<header>..<signature>`."""
        headers = {
            "typ": "JOSE",
            "kid": self.kid,
            "htm": method,
            "htu": url,
            "idem": idempotency_key,
            "iat": int(time.time()),
        }
        header, _, signature = jwt.api_jws.encode(body, self.key, algorithm=ES384, headers=headers).split(".")
        return f"{header}..{signature}"

    def jwks(self) -> dict[str, Any]:
        """The public half as a JWKS document, for receivers to verify with."""
        return {"keys": [public_jwk(self.key, kid=self.kid)]}


def load_signer(path: Path) -> Signer:
    """The signer for the key at `path`, generating the key there first when the file does not exist."""
    if not path.exists():
        _generate(path)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        pem = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise SigningKeyError(f"cannot read the publisher signing key {path}: {exc}") from None
    if mode & 0o077:
        raise SigningKeyError(f"{path} is readable by others (mode {mode:04o}); chmod 600 it first")
    try:
        key, alg = load_private_key(pem)
    except KeyMaterialError as exc:
        raise SigningKeyError(f"{path}: {exc}") from None
    if alg != ES384:
        raise SigningKeyError(f"{path} holds a key for {alg}; the publisher signs with ES384 (EC P-384)")
    return Signer(key, public_jwk(key)["kid"])


def _generate(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pair = generate_key_pair(ES384)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".publisher-key-")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, pair.private_pem.encode("ascii"))
        os.fsync(fd)
        os.close(fd)
        with contextlib.suppress(FileExistsError):  # another worker made it first: keep theirs
            os.link(temp, path)  # atomic, and never replaces a key
    finally:
        os.unlink(temp)


def verify(signature: str, body: bytes, jwks: Mapping[str, Any]) -> dict[str, Any]:
    """Check a detached JWS against a JWKS and return its protected header; raises jwt.InvalidSignatureError
    (or another jwt.PyJWTError) when it does not verify. What a receiver does, in Python."""
    header = jwt.get_unverified_header(signature)
    jwk = next((k for k in jwks.get("keys", []) if k.get("kid") == header.get("kid")), None)
    if jwk is None:
        raise jwt.InvalidKeyError(f"no key '{header.get('kid')}' in the JWKS")
    key: Any = ECAlgorithm.from_jwk(jwk)
    header_part, _, signature_part = signature.split(".")
    payload_part = base64.urlsafe_b64encode(body).rstrip(b"=").decode("ascii")
    jwt.api_jws.decode_complete(f"{header_part}.{payload_part}.{signature_part}", key, algorithms=[ES384])
    return header
