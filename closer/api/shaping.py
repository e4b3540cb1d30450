"""_summary and _elements: trim a resource to what the client asked for (pure)."""

from __future__ import annotations

from typing import Any

from closer.fhir.model import summary_elements

MANDATORY = ("resourceType", "id", "meta")
SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}


def shape(resource: dict[str, Any], summary: str | None, elements: list[str]) -> dict[str, Any]:
    if elements:
        wanted = set(elements) | set(MANDATORY)
        return _subsetted({k: v for k, v in resource.items() if k in wanted})
    if summary in (None, "false"):
        return resource
    if summary == "data":
        return _subsetted({k: v for k, v in resource.items() if k != "text"})
    if summary == "text":
        return _subsetted({k: v for k, v in resource.items() if k in (*MANDATORY, "text")})
    if summary == "true":
        keep = summary_elements(resource["resourceType"])
        return _subsetted({k: v for k, v in resource.items() if k in keep})
    return resource


def _subsetted(resource: dict[str, Any]) -> dict[str, Any]:
    meta = dict(resource.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    return {**resource, "meta": meta}
