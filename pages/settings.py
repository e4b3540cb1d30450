"""The web pages' own settings, from CLOSER_* environment variables like the host's.

- CLOSER_SECRET_KEY signs the session cookie. Without it a random key is generated once into
  `<CLOSER_DATA_DIR>/secret-key` (mode 0600) and reused, so sessions survive a restart and every gunicorn
  worker agrees; it is never in the repository.
- CLOSER_INSECURE_COOKIES=1 drops the cookie's Secure flag, for plain-HTTP development and tests only:
  in production the pages are served over HTTPS and the session cookie must never travel without it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SECRET_FILE = "secret-key"


@dataclass(frozen=True)
class PagesSettings:
    secret_key: str
    secure_cookies: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PagesSettings:
        env = os.environ if environ is None else environ
        key = env.get("CLOSER_SECRET_KEY") or secret_key_file(Path(env.get("CLOSER_DATA_DIR") or "closer-data"))
        insecure = env.get("CLOSER_INSECURE_COOKIES", "").strip().lower() in ("1", "true", "yes")
        return cls(secret_key=key, secure_cookies=not insecure)


def secret_key_file(data_dir: Path) -> str:
    """The key kept in data_dir/secret-key, generated (mode 0600) when there is none. The new key is
    written to a private temporary file and then linked into place, which fails if another process got
    there first: two workers starting together end up with the same key, never half of one."""
    path = data_dir / SECRET_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        temporary = data_dir / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_hex(32))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_text(encoding="ascii").strip()
