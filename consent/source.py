"""Where the consent engine's facts come from when it runs inside the server: the patient's Consents and
the asking system's Organization, read from the store, and the chain the server decides with.

The engine (consent/engine.py) stays pure; this module is the IO at its edge. The guarded repository,
`$alerts`, `$consent-check` and the publisher all build their engine here, so they decide alike.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from closer.store.query import parse_search
from closer.store.repository import Repository
from consent.engine import (
    ConsentEngine,
    ConsentRequest,
    ConsentSource,
    Consumer,
    Decision,
    PatientConsentService,
    Verdict,
)
from consent.model import ACCESS, ACT_REASON_SYSTEM, DISCLOSE, Code, ParsedConsent, ResourceView, parse_consent
from fhir_profiles.canonical import ODS_ORGANIZATION_SYSTEM

ORGANIZATION_TTL_SECONDS = 60.0
_ORGANIZATIONS: WeakKeyDictionary[Repository, dict[str, tuple[float, str | None]]] = WeakKeyDictionary()

# Directory and definitional resources: no patient's record, needed to act on one (who to call, what a
# code means). Consumers may read them without a patient's consent.
DIRECTORY_TYPES = frozenset(
    {
        "Organization",
        "Practitioner",
        "PractitionerRole",
        "Location",
        "HealthcareService",
        "Endpoint",
        "CodeSystem",
        "ValueSet",
        "StructureDefinition",
    }
)


class StoreConsents:
    """`consents_for(patient)` over a repository: every Consent naming the patient, parsed once and kept
    for the life of this object (one request, or one publisher batch)."""

    def __init__(self, repo: Repository) -> None:
        self._repo = repo
        self._cache: dict[str, tuple[ParsedConsent, ...]] = {}

    def __call__(self, patient: str) -> tuple[ParsedConsent, ...]:
        if patient not in self._cache:
            self._cache[patient] = tuple(parse_consent(c) for c in self.raw(patient))
        return self._cache[patient]

    def raw(self, patient: str) -> list[dict[str, Any]]:
        """The patient's (`Patient/<id>`) Consent resources as stored, every status (the engine decides
        which count), all of them: a withdrawal left out would share what it withdrew."""
        target_type, _, target_id = patient.partition("/")
        return self._repo.referring(["Consent"], "patient", target_type, [target_id])

    def forget(self, patient: str) -> None:
        """Drop a patient's cached Consents (a long-running worker saw one change)."""
        self._cache.pop(patient, None)


class DirectoryService:
    """Authorizes directory and definitional resources (DIRECTORY_TYPES) that are no patient's record:
    an ambulance crew must see who the case manager is. Anything else it leaves to the next service."""

    name = "directory"

    def can_see(self, request: ConsentRequest, resource: Mapping[str, Any]) -> Verdict:
        view = ResourceView(resource)
        if view.type in DIRECTORY_TYPES and not view.patients and not view.names_unknown_patient:
            return Verdict(Decision.AUTHORIZED, f"{view.type} is directory information, no patient's record")
        return Verdict(Decision.PROCEED, f"{view.type or 'the resource'} is not directory information")


def consent_engine(consents: ConsentSource) -> ConsentEngine:
    """The server's chain: directory information, then the patient's own Consents, then deny."""
    return ConsentEngine([DirectoryService(), PatientConsentService(consents)])


def organization_reference(repo: Repository, ods_code: str) -> str | None:
    """`Organization/<id>` of the stored Organization with this ODS code, so a Consent naming the consumer
    by reference is understood as well as one naming it by ODS identifier. Remembered for a minute per
    store: every consumer request asks, and organisations are not renamed by the second."""
    remembered = _ORGANIZATIONS.setdefault(repo, {})
    now = time.monotonic()
    hit = remembered.get(ods_code)
    if hit is not None and hit[0] > now:
        return hit[1]
    query = parse_search("Organization", [("identifier", f"{ODS_ORGANIZATION_SYSTEM}|{ods_code}")], strict=True)
    query.count, query.total = 1, "none"
    matches = repo.search(query).matches
    found = f"Organization/{matches[0]['id']}" if matches else None
    remembered[ods_code] = (now + ORGANIZATION_TTL_SECONDS, found)
    return found


def consumer(repo: Repository, name: str, ods_code: str) -> Consumer:
    """The consent engine's view of a registered system: its name, ODS code and Organization."""
    return Consumer(organization=organization_reference(repo, ods_code), ods_code=ods_code, name=name)


def consent_request(
    who: Consumer, purpose: str, moment: datetime, *, patient: str | None = None, disclose: bool = False
) -> ConsentRequest:
    """A read (`access`) or a push (`disclose`) by `who` for a v3-ActReason `purpose` at `moment`."""
    action = DISCLOSE if disclose else ACCESS
    return ConsentRequest(who, Code(ACT_REASON_SYSTEM, purpose), moment, action=action, patient=patient)
