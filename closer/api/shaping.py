"""_summary and _elements: trim a resource to what the client asked for (pure)."""

from __future__ import annotations

from functools import cache
from typing import Any

from closer.fhir.model import model_class, summary_elements

MANDATORY = ("resourceType", "id", "meta")
SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}


def shape(resource: dict[str, Any], summary: str | None, elements: list[str]) -> dict[str, Any]:
    if elements:
        wanted = set(elements) | mandatory_elements(resource["resourceType"])
        return _subsetted({k: v for k, v in resource.items() if k in wanted})
    if summary in (None, "false"):
        return resource
    if summary == "data":
        return _subsetted({k: v for k, v in resource.items() if k != "text"})
    if summary == "text":
        keep = mandatory_elements(resource["resourceType"]) | {"text"}
        return _subsetted({k: v for k, v in resource.items() if k in keep})
    if summary == "true":
        keep = summary_elements(resource["resourceType"])
        return _subsetted({k: v for k, v in resource.items() if k in keep})
    return resource


@cache
def mandatory_elements(resource_type: str) -> frozenset[str]:
    """Top-level elements with a minimum cardinality of 1 (or a required choice), plus MANDATORY.

    _elements and _summary=text keep these so the subset is still a valid resource (R4 search: servers
    SHOULD always return mandatory elements).
    """
    names = set(MANDATORY)
    for name, field in model_class(resource_type).model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if field.is_required() or extra.get("element_required") or extra.get("one_of_many_required"):
            names.add(field.alias or name)
    return frozenset(names)


def _subsetted(resource: dict[str, Any]) -> dict[str, Any]:
    meta = dict(resource.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    return {**resource, "meta": meta}
