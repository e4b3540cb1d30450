"""Registrations kept as FHIR Endpoint resources in the store, read into the same `Registration` as the
settings file's.

An Endpoint registers a downstream system when it is `active`, its connectionType is `hl7-fhir-rest`, its
`address` is an http(s) base URL, its `managingOrganization` is an Organization carrying an ODS code, and
it carries the extension REGISTRATION_EXTENSION saying what it receives and how:

```json
{"url": "https://closer.example.nhs.uk/fhir/StructureDefinition/closer-publish-registration",
 "extension": [
   {"url": "resource", "valueCode": "Flag"},
   {"url": "resource", "valueCode": "CarePlan"},
   {"url": "careplanCategory", "valueCoding": {"system": "http://snomed.info/sct", "code": "736373009"}},
   {"url": "mode", "valueCode": "put"},
   {"url": "purpose", "valueCoding": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                                      "code": "ETREAT"}},
   {"url": "timeout", "valueDecimal": 10}]}
```

Every part is optional and defaults as in the settings file. The registration's name is `Endpoint/<id>`;
mutual TLS for it comes from the settings file's `[tls."Endpoint/<id>"]`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from closer.errors import FhirError
from closer.store.repository import Repository
from closer.store.searching import search_all
from consent.alertcodes import SNOMED
from consent.publisher.settings import PublishSettings, Registration, SettingsError, Tls
from fhir_profiles.canonical import ODS_ORGANIZATION_SYSTEM, STRUCTURE_DEFINITION_BASE

REGISTRATION_EXTENSION = f"{STRUCTURE_DEFINITION_BASE}/closer-publish-registration"
CONNECTION_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/endpoint-connection-type"
FHIR_REST = "hl7-fhir-rest"


@dataclass(frozen=True)
class Registrations:
    """Every registration in force, and the Endpoints that look like registrations but cannot be used."""

    active: tuple[Registration, ...]
    problems: tuple[str, ...] = ()

    def by_name(self) -> dict[str, Registration]:
        return {r.name: r for r in self.active}


def load_registrations(repo: Repository, settings: PublishSettings) -> Registrations:
    """The settings file's registrations, then the store's Endpoints (a name in both: the file's wins)."""
    found = {r.name: r for r in settings.registrations}
    problems: list[str] = []
    for endpoint in _active_endpoints(repo):
        try:
            registration = from_endpoint(endpoint, _ods_of(repo, endpoint), settings.tls)
        except SettingsError as exc:
            problems.append(str(exc))
            continue
        if registration is None:
            continue
        if registration.name in found:
            problems.append(f"{registration.name} is also in the settings file; the settings file's is used")
            continue
        found[registration.name] = registration
    return Registrations(tuple(found.values()), tuple(problems))


def from_endpoint(endpoint: Mapping[str, Any], ods: str | None, tls: Mapping[str, Tls]) -> Registration | None:
    """The Registration an Endpoint makes, None when it is not one (no registration extension, inactive or
    not FHIR REST); SettingsError when it means to be one and cannot be used."""
    extension = next(
        (e for e in endpoint.get("extension") or [] if e.get("url") == REGISTRATION_EXTENSION),
        None,
    )
    if extension is None or endpoint.get("status") != "active":
        return None
    connection = endpoint.get("connectionType") or {}
    if connection.get("system") != CONNECTION_TYPE_SYSTEM or connection.get("code") != FHIR_REST:
        return None
    name = f"Endpoint/{endpoint.get('id')}"
    if ods is None:
        raise SettingsError(f"{name}: its managingOrganization must be an Organization with an ODS code")
    parts = extension.get("extension") or []
    values: dict[str, Any] = {"name": name, "url": str(endpoint.get("address") or ""), "ods": ods, "source": name}
    resources = [p["valueCode"] for p in parts if p.get("url") == "resource" and "valueCode" in p]
    if resources:
        values["resources"] = tuple(resources)
    categories = [
        p["valueCoding"].get("code")
        for p in parts
        if p.get("url") == "careplanCategory" and p.get("valueCoding", {}).get("system") == SNOMED
    ]
    if categories:
        values["careplan_categories"] = frozenset(categories)
    for part in parts:
        if part.get("url") == "mode":
            values["mode"] = part.get("valueCode")
        elif part.get("url") == "purpose":
            values["purpose"] = (part.get("valueCoding") or {}).get("code")
        elif part.get("url") == "timeout":
            values["timeout"] = float(part.get("valueDecimal") or 0)
    return Registration(**values, tls=tls.get(name, Tls()))


def _active_endpoints(repo: Repository) -> list[dict[str, Any]]:
    return list(search_all(repo, "Endpoint", [("status", "active")]))


def _ods_of(repo: Repository, endpoint: Mapping[str, Any]) -> str | None:
    """The ODS code of the Endpoint's managing Organization (read from the store)."""
    reference = str((endpoint.get("managingOrganization") or {}).get("reference") or "")
    kind, _, org_id = reference.partition("/")
    if kind != "Organization" or not org_id:
        return None
    try:
        organization = repo.read("Organization", org_id)
    except FhirError:  # not found or deleted: the registration cannot name its recipient
        return None
    return next(
        (
            str(i["value"])
            for i in organization.get("identifier") or []
            if i.get("system") == ODS_ORGANIZATION_SYSTEM and i.get("value")
        ),
        None,
    )
