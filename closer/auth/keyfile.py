"""The key file of an internal client: its private key, client_id and token URL, readable by its owner only.

`closer clients add NAME --internal` writes it (mode 0600, in a 0700 directory); `closer token --client
NAME` reads it to sign assertions. It is JSON so scripts in other languages can use it too.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_DIR = Path("closer-data") / "clients"
FILE_MODE = 0o600


class KeyFileError(ValueError):
    """A key file that cannot be written or read."""


@dataclass(frozen=True)
class KeyFile:
    name: str
    client_id: str
    organization: str
    scopes: list[str]
    alg: str
    kid: str
    token_url: str
    private_key: str  # PEM (PKCS#8, unencrypted: protect the file)


def default_path(name: str) -> Path:
    return DEFAULT_DIR / f"{name}.json"


def reserve(path: Path) -> None:
    """Create `path` empty with mode 0600 (refusing to overwrite), before the client is registered, so a
    registration never ends with a key nobody can use."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        raise KeyFileError(f"{path} exists already; remove it or choose another --key-file") from None
    except OSError as exc:
        raise KeyFileError(f"cannot create {path}: {exc.strerror or exc}") from None
    os.fchmod(fd, FILE_MODE)  # whatever the umask
    os.close(fd)


def write(path: Path, key_file: KeyFile) -> None:
    """Fill a reserved file (keeping its 0600 mode)."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.fchmod(fd, FILE_MODE)
        os.write(fd, (json.dumps(asdict(key_file), indent=2) + "\n").encode("utf-8"))
    finally:
        os.close(fd)


def read(path: Path) -> KeyFile:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeyFileError(
            f"no key file at {path}: `closer clients add NAME --internal` writes one, or pass --key-file"
        ) from None
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"cannot read the key file {path}: {exc}") from None
    if mode & 0o077:
        raise KeyFileError(f"{path} is readable by others (mode {mode:04o}); chmod 600 it first")
    try:
        return KeyFile(**{k: document[k] for k in KeyFile.__dataclass_fields__})
    except (KeyError, TypeError) as exc:
        raise KeyFileError(f"{path} is not a Closer client key file (missing {exc})") from None
