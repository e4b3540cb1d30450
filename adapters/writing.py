"""How adapters write: through the Repository, inside one transaction per source record.

`put` stores a resource under its derived id (create or update; an unchanged record is a no-op, so
re-ingesting changes nothing). `ensure` creates a resource only when its id is not taken, for the
thin records a feed needs to point at (a Patient known only by NHS number, a practice known only
by ODS code) and must never overwrite a richer record another feed made.
"""

from __future__ import annotations

from typing import Any

from adapters.identity import NHS_NUMBER_SYSTEM, ODS_ORGANIZATION_SYSTEM
from closer.errors import FhirError
from closer.settings import Settings
from closer.store.engine import make_engine
from closer.store.repository import Repository, WriteResult
from closer.store.sql import SqlRepository

JSON = dict[str, Any]


def open_repository(settings: Settings) -> SqlRepository:
    engine = make_engine(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    return SqlRepository(engine)


def put(tx: Repository, resource: JSON) -> WriteResult:
    return tx.update(resource)


def exists(tx: Repository, resource_type: str, resource_id: str) -> bool:
    """True when the id is taken, including by a deleted resource (which `ensure` must not revive)."""
    try:
        tx.read(resource_type, resource_id)
    except FhirError as exc:
        if exc.status == 404:
            return False
        if exc.status == 410:
            return True
        raise
    return True


def current(tx: Repository, resource_type: str, resource_id: str) -> JSON | None:
    """The resource as stored now, or None when there is none or it was deleted."""
    try:
        return tx.read(resource_type, resource_id)
    except FhirError as exc:
        if exc.status in (404, 410):
            return None
        raise


def ensure(tx: Repository, resource: JSON) -> WriteResult | None:
    """Create `resource` unless a resource with its id exists (or existed: a deleted one stays deleted)."""
    if exists(tx, resource["resourceType"], resource["id"]):
        return None
    return tx.update(resource)


def patient_stub(nhs_number: str) -> JSON:
    """The least Patient a feed can point at when it knows only the NHS number (already validated)."""
    return {
        "resourceType": "Patient",
        "id": nhs_number,
        "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": nhs_number}],
    }


def organization_stub(ods_code: str, name: str = "") -> JSON:
    organization: JSON = {
        "resourceType": "Organization",
        "id": ods_code,
        "identifier": [{"system": ODS_ORGANIZATION_SYSTEM, "value": ods_code}],
        "active": True,
    }
    if name:
        organization["name"] = name
    return organization
