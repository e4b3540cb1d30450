"""Keep our StructureDefinitions and CodeSystems in the store so they are read and searched like any resource."""

from __future__ import annotations

from closer.store.repository import Repository
from fhir_profiles import load_code_systems, load_profiles


def publish_profiles(repository: Repository) -> None:
    """Write each profile and code system shipped in fhir_profiles/ (unchanged ones are a no-op, so
    restarts are cheap)."""
    with repository.transaction() as tx:
        for definition in [*load_profiles().values(), *load_code_systems().values()]:
            tx.update(definition)
