"""What the publisher is configured with: the downstream systems registered in the settings file, and how it
retries, signs and leases. One TOML file (path from `--endpoints` or $CLOSER_PUBLISH_ENDPOINTS) holds both;
without one, only the Endpoint resources in the store are registered and the defaults below apply.

```toml
[publisher]
signing_key = "closer-data/keys/publisher-key.pem"   # made (mode 0600) when missing
backoff_base = 1.0       # seconds; the n-th retry waits up to base * 2**n (full jitter) ...
backoff_cap = 300.0      # ... but never more than this
max_age = 86400.0        # an undelivered change older than this goes to the dead letters
lease = 120.0            # how long a worker may hold a claimed delivery before another may take it over
gap_timeout = 60.0       # how long an outbox gap (PostgreSQL) may hold planning back before it is skipped
sweep_interval = 3600.0  # how often Consent periods that started or ended are looked for

[[endpoint]]
name = "wmas-epr"
url = "https://epr.wmas.example.nhs.uk/fhir"
ods = "RYA"                                   # the recipient organisation: the Consent actor
purpose = "ETREAT"                            # v3-ActReason purpose of use
resources = ["CarePlan", "Flag", "AllergyIntolerance"]
careplan_categories = ["887701000000100", "736373009"]  # SNOMED CT; default: consent.alertcodes' shared plans
mode = "put"                                  # put | transaction | rest-hook
timeout = 10.0
client_cert = "/etc/closer/tls/wmas-client.pem"   # mutual TLS (optional); key, and the CA to trust
client_key = "/etc/closer/tls/wmas-client.key"
ca_bundle = "/etc/closer/tls/wmas-ca.pem"

[tls."Endpoint/amb-1"]        # mutual TLS for an endpoint registered as an Endpoint resource
client_cert = "..."
client_key = "..."
```
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from closer.settingsfile import read_settings
from consent.alertcodes import SHARED_PLAN_CATEGORIES

ENV_VAR = "CLOSER_PUBLISH_ENDPOINTS"
KEY_ENV_VAR = "CLOSER_PUBLISH_KEY"
DEFAULT_KEY_PATH = Path("closer-data") / "keys" / "publisher-key.pem"
MODES = ("put", "transaction", "rest-hook")
SHAREABLE = ("CarePlan", "Flag", "AllergyIntolerance")
_DURATIONS = ("backoff_base", "backoff_cap", "max_age", "lease", "gap_timeout", "sweep_interval")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$")
_PURPOSE = re.compile(r"^[A-Z]{2,16}$")


class SettingsError(ValueError):
    """The settings file, or a registration, cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Tls:
    """Mutual TLS through requests: our client certificate and key, and the CA bundle to trust (None: the
    system's)."""

    client_cert: str | None = None
    client_key: str | None = None
    ca_bundle: str | None = None

    @property
    def mutual(self) -> bool:
        return self.client_cert is not None


@dataclass(frozen=True)
class Registration:
    """A downstream system: where it is, who it is (ODS code, the Consent actor), why it receives (purpose
    of use), what it receives (types; CarePlan categories; Flags are DNAR alerts only) and how (mode)."""

    name: str
    url: str
    ods: str
    purpose: str = "ETREAT"
    resources: tuple[str, ...] = SHAREABLE
    careplan_categories: frozenset[str] = SHARED_PLAN_CATEGORIES
    mode: str = "put"
    timeout: float = 10.0
    tls: Tls = field(default_factory=Tls)
    source: str = "settings"  # "settings" or "Endpoint/<id>"

    def __post_init__(self) -> None:
        where = f"endpoint '{self.name}'"
        if not _NAME.match(self.name):
            raise SettingsError(f"{where}: a name is letters, digits and . _ / - (at most 128)")
        if not self.url.startswith(("http://", "https://")):
            raise SettingsError(f"{where}: url must be http:// or https://, not '{self.url}'")
        if not self.ods.strip():
            raise SettingsError(f"{where}: ods (the recipient's ODS code) is required")
        object.__setattr__(self, "ods", self.ods.strip().upper())
        object.__setattr__(self, "url", self.url.rstrip("/"))
        if not _PURPOSE.match(self.purpose):
            raise SettingsError(f"{where}: purpose must be a v3-ActReason code such as ETREAT, not '{self.purpose}'")
        if self.mode not in MODES:
            raise SettingsError(f"{where}: mode must be one of {', '.join(MODES)}, not '{self.mode}'")
        unknown = sorted(set(self.resources) - set(SHAREABLE))
        if unknown or not self.resources:
            raise SettingsError(f"{where}: resources must be some of {', '.join(SHAREABLE)} (got {unknown or 'none'})")
        if self.timeout <= 0:
            raise SettingsError(f"{where}: timeout must be positive")
        if (self.tls.client_cert is None) != (self.tls.client_key is None):
            raise SettingsError(f"{where}: client_cert and client_key go together")


@dataclass(frozen=True)
class PublishSettings:
    """How the publisher retries, signs and leases (see the module docstring for the file)."""

    signing_key: Path = DEFAULT_KEY_PATH
    backoff_base: float = 1.0
    backoff_cap: float = 300.0
    max_age: float = 86400.0
    lease: float = 120.0
    gap_timeout: float = 60.0
    sweep_interval: float = 3600.0
    registrations: tuple[Registration, ...] = ()
    tls: Mapping[str, Tls] = field(default_factory=dict)  # mTLS for store-registered endpoints, by name
    source: str = "defaults"

    def __post_init__(self) -> None:
        for name in _DURATIONS:
            if getattr(self, name) <= 0:
                raise SettingsError(f"[publisher] {name} must be positive")
        names = [r.name for r in self.registrations]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise SettingsError(f"endpoint names must be unique: {', '.join(twice)} appear more than once")


def load_settings(path: Path | str | None = None) -> PublishSettings:
    """Settings from `path`, else from $CLOSER_PUBLISH_ENDPOINTS, else the defaults with no endpoints.
    $CLOSER_PUBLISH_KEY, when set, names the signing key whatever the file says."""
    document, source = read_settings(path, ENV_VAR, "the publisher settings", SettingsError)
    return parse_settings(document, source)


def signing_key_path(path: Path | str | None = None) -> Path:
    """Only where the signing key is: what the server's public-key document needs, so neither an endpoint
    it does not use nor a worker's missing client certificate can take that document down."""
    document, source = read_settings(path, ENV_VAR, "the publisher settings", SettingsError)
    return _signing_key(dict(_table(document, "publisher", source)))


def _signing_key(publisher: Mapping[str, Any]) -> Path:
    """$CLOSER_PUBLISH_KEY, else [publisher] signing_key, else the default path."""
    key = os.environ.get(KEY_ENV_VAR) or publisher.get("signing_key")
    return Path(str(key)) if key is not None else DEFAULT_KEY_PATH


def parse_settings(document: Mapping[str, Any], source: str = "settings") -> PublishSettings:
    """Settings from a parsed TOML document."""
    unknown = sorted(set(document) - {"publisher", "endpoint", "tls"})
    if unknown:
        raise SettingsError(f"{source}: unknown table(s) {', '.join(unknown)}")
    publisher = dict(_table(document, "publisher", source))
    values: dict[str, Any] = {}
    for name in _DURATIONS:
        if name in publisher:
            values[name] = _number(publisher.pop(name), f"[publisher] {name}")
    values["signing_key"] = _signing_key(publisher)
    publisher.pop("signing_key", None)
    if publisher:
        raise SettingsError(f"{source}: unknown [publisher] setting(s) {', '.join(sorted(publisher))}")
    entries = document.get("endpoint", [])
    if not isinstance(entries, list):
        raise SettingsError(f"{source}: endpoints are [[endpoint]] tables")
    registrations = tuple(_registration(entry, n) for n, entry in enumerate(entries))
    tls = {name: _tls(entry, f'[tls."{name}"]') for name, entry in _table(document, "tls", source).items()}
    return PublishSettings(**values, registrations=registrations, tls=tls, source=source)


_ENDPOINT_KEYS = frozenset(
    {
        "name",
        "url",
        "ods",
        "purpose",
        "resources",
        "careplan_categories",
        "mode",
        "timeout",
        "client_cert",
        "client_key",
        "ca_bundle",
    }
)


def _registration(entry: Any, n: int) -> Registration:
    where = f"[[endpoint]] {n + 1}"
    if not isinstance(entry, Mapping):
        raise SettingsError(f"{where} is not a table")
    unknown = sorted(set(entry) - _ENDPOINT_KEYS)
    if unknown:
        raise SettingsError(f"{where}: unknown setting(s) {', '.join(unknown)}")
    for required in ("name", "url", "ods"):
        if not isinstance(entry.get(required), str):
            raise SettingsError(f"{where}: '{required}' is required (a string)")
    values: dict[str, Any] = {k: entry[k] for k in ("name", "url", "ods", "purpose", "mode") if k in entry}
    if "resources" in entry:
        values["resources"] = tuple(_strings(entry["resources"], f"{where} resources"))
    if "careplan_categories" in entry:
        values["careplan_categories"] = frozenset(
            _strings(entry["careplan_categories"], f"{where} careplan_categories")
        )
    if "timeout" in entry:
        values["timeout"] = _number(entry["timeout"], f"{where} timeout")
    return Registration(**values, tls=_tls(entry, where))


def _tls(entry: Any, where: str) -> Tls:
    if not isinstance(entry, Mapping):
        raise SettingsError(f"{where} is not a table")
    found: dict[str, str] = {}
    for key in ("client_cert", "client_key", "ca_bundle"):
        value = entry.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not Path(value).is_file():
            raise SettingsError(f"{where}: {key} '{value}' is not a readable file")
        found[key] = value
    return Tls(**found)


def _table(document: Mapping[str, Any], name: str, source: str) -> Mapping[str, Any]:
    value = document.get(name, {})
    if not isinstance(value, Mapping):
        raise SettingsError(f"{source}: [{name}] must be a table")
    return value


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SettingsError(f"{where} must be a list of strings")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SettingsError(f"{where} must be a number")
    return float(value)
