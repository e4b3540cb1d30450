"""Settings, read from CLOSER_* environment variables so deployments need no code or file edits."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

DEFAULT_DATABASE_URL = "sqlite:///closer-data/closer.db"


@dataclass(frozen=True)
class Settings:
    """Everything the host can be configured with. Each field maps to CLOSER_<FIELD NAME IN CAPS>."""

    database_url: str = DEFAULT_DATABASE_URL
    base_url: str = ""  # public base URL for links; empty means "derive from the request"
    max_body_bytes: int = 10 * 1024 * 1024
    default_page_size: int = 20
    max_page_size: int = 1000
    consumer_scan_limit: int = 2000  # matches one consumer search may put to the consent engine
    sqlite_synchronous: str = "FULL"  # FULL: a commit is on disk before we acknowledge it
    log_format: str = "text"  # "json" for one JSON object per log line
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from the environment; explicit overrides win (used by tests and the CLI)."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f"CLOSER_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = int(raw) if f.type == "int" else raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
