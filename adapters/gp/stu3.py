"""Checks against the FHIR STU3 models (fhir.resources.STU3), for the GP Connect translator.

The host imports fhir.resources only in closer/fhir/, for R4; STU3 is a GP Connect matter, so its models are
imported here and nowhere else. A resource is checked on its own, so one malformed entry is reported and
the rest of the record still translates.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.STU3 import get_fhir_model_class
from fhir.resources.STU3.bundle import Bundle
from pydantic import ValidationError

from closer.fhir.model import fhirpath_of

MAX_LISTED = 3  # validation errors named per resource


def bundle_problem(bundle: dict[str, Any]) -> str | None:
    """Why the Bundle itself (without its entries' resources) is not a valid STU3 Bundle, or None."""
    entries = bundle.get("entry", [])
    shell = {key: item for key, item in bundle.items() if key != "entry"}
    if isinstance(entries, list):
        shell["entry"] = [
            {key: item for key, item in entry.items() if key != "resource"} if isinstance(entry, dict) else entry
            for entry in entries
        ]
    else:
        shell["entry"] = entries
    return _problem(Bundle, shell, "Bundle")


def resource_problem(resource: dict[str, Any]) -> str | None:
    """Why `resource` is not a valid STU3 resource of its type, or None."""
    resource_type = str(resource.get("resourceType"))
    try:
        model = get_fhir_model_class(resource_type)
    except (ValueError, KeyError, TypeError):
        return f"{resource_type} is not a FHIR STU3 resource type"
    return _problem(model, resource, resource_type)


def _problem(model: Any, data: dict[str, Any], resource_type: str) -> str | None:
    try:
        model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        listed = [f"{fhirpath_of(resource_type, error.get('loc', ()))}: {error.get('msg')}" for error in errors]
        more = f" (and {len(listed) - MAX_LISTED} more)" if len(listed) > MAX_LISTED else ""
        return "; ".join(listed[:MAX_LISTED]) + more
    except (TypeError, ValueError) as exc:
        return str(exc)
    return None
