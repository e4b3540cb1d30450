"""The CapabilityStatement, generated from the same tables the store and router use."""

from __future__ import annotations

from typing import Any

from closer import __version__
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


def capability_statement(base: str, published: str) -> dict[str, Any]:
    profiles_by_type: dict[str, list[str]] = {}
    for url, definition in load_profiles().items():
        profiles_by_type.setdefault(definition["type"], []).append(url)
    resources = [
        _resource(name, params, profiles_by_type.get(name, [])) for name, params in sorted(SEARCH_PARAMS.items())
    ]
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
        "rest": [
            {
                "mode": "server",
                "resource": resources,
                "interaction": [{"code": "transaction"}, {"code": "batch"}, {"code": "history-system"}],
            }
        ],
    }


def _resource(name: str, params: dict[str, Any], profiles: list[str]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "type": name,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{name}",
    }
    if profiles:
        entry["supportedProfile"] = sorted(profiles)
    interactions = INTERACTIONS if name != "StructureDefinition" else ["read", "search-type"]
    entry.update(
        {
            "interaction": [{"code": code} for code in interactions],
            "versioning": "versioned-update",
            "readHistory": True,
            "updateCreate": name != "StructureDefinition",
            "conditionalCreate": name != "StructureDefinition",
            "conditionalUpdate": name != "StructureDefinition",
            "conditionalDelete": "single" if name != "StructureDefinition" else "not-supported",
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
