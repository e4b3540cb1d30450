"""Keep our StructureDefinitions in the store so they are read and searched like any resource."""

from __future__ import annotations

from closer.store.repository import Repository
from fhir_profiles import load_profiles


def publish_profiles(repository: Repository) -> None:
    """Write each profile shipped in fhir_profiles/ (unchanged ones are a no-op, so restarts are cheap)."""
    with repository.transaction() as tx:
        for definition in load_profiles().values():
            tx.update(definition)
