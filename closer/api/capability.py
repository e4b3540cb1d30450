"""The CapabilityStatement, generated from the same tables the store and router use."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from closer import __version__
from closer.api.interactions import READ_ONLY_TYPES
from closer.api.operations import Operation
from closer.store.searchparams import SEARCH_PARAMS
from fhir_profiles import load_profiles

INTERACTIONS = [
    "read",
    "vread",
    "update",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
]
COMMON_PARAMS = [
    {"name": "_id", "type": "token", "documentation": "Logical id of the resource"},
    {"name": "_lastUpdated", "type": "date", "documentation": "When the resource version last changed"},
]


def capability_statement(base: str, published: str, operations: Sequence[Operation] = ()) -> dict[str, Any]:
    profiles_by_type: dict[str, list[str]] = {}
    for url, definition in load_profiles().items():
        profiles_by_type.setdefault(definition["type"], []).append(url)
    resources = []
    for name, params in sorted(SEARCH_PARAMS.items()):
        entry = _resource(name, params, profiles_by_type.get(name, []))
        listed = [_operation(op) for op in operations if op.resource_type == name]
        if listed:
            entry["operation"] = listed
        resources.append(entry)
    rest: dict[str, Any] = {
        "mode": "server",
        "resource": resources,
        "interaction": [{"code": "transaction"}, {"code": "batch"}, {"code": "history-system"}],
    }
    system = [_operation(op) for op in operations if op.resource_type is None]
    if system:
        rest["operation"] = system
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": published,
        "publisher": "Closer",
        "kind": "instance",
        "software": {"name": "Closer", "version": __version__},
        "implementation": {"description": "Closer FHIR R4 server", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "application/fhir+xml"],
        "rest": [rest],
    }


def _operation(operation: Operation) -> dict[str, Any]:
    entry = {"name": operation.name, "definition": operation.definition}
    if operation.documentation:
        entry["documentation"] = operation.documentation
    return entry


def _resource(name: str, params: dict[str, Any], profiles: list[str]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "type": name,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{name}",
    }
    if profiles:
        entry["supportedProfile"] = sorted(profiles)
    writable = name not in READ_ONLY_TYPES
    interactions = INTERACTIONS if writable else ["read", "search-type"]
    entry.update(
        {
            "interaction": [{"code": code} for code in interactions],
            "versioning": "versioned-update",
            "readHistory": True,
            "updateCreate": writable,
            "conditionalCreate": writable,
            "conditionalUpdate": writable,
            "conditionalDelete": "single" if writable else "not-supported",
            "searchInclude": sorted(f"{name}:{p.name}" for p in params.values() if p.type == "reference"),
            "searchRevInclude": [],
            "searchParam": COMMON_PARAMS
            + [
                {"name": p.name, "type": p.type, "documentation": p.description or p.name}
                for p in sorted(params.values(), key=lambda p: p.name)
            ],
        }
    )
    return entry
