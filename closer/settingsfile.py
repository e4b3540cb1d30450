"""Reading a component's TOML settings file (stratification, case management, the publisher): the file a
command or an environment variable names, else the default its package ships, with errors that say which
file and what is wrong. Checking the values is each component's own parse_settings."""

from __future__ import annotations

import os
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any


def read_settings(
    path: Path | str | None, env_var: str, label: str, error: type[Exception], package: str | None = None
) -> tuple[dict[str, Any], str]:
    """(document, source) from `path`, else $`env_var`, else `package`'s packaged settings.toml (none: an
    empty document, "defaults"). Unreadable or invalid files raise `error` naming the file."""
    chosen = path or os.environ.get(env_var) or None
    if chosen is None:
        if package is None:
            return {}, "defaults"
        text = resources.files(package).joinpath("settings.toml").read_text(encoding="utf-8")
        source = f"{package}/settings.toml (packaged default)"
    else:
        try:
            text = Path(chosen).read_text(encoding="utf-8")
        except OSError as exc:
            raise error(f"cannot read {label} {chosen}: {exc.strerror or exc}") from None
        source = str(chosen)
    try:
        return tomllib.loads(text), source
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{source}: not valid TOML: {exc}") from None
