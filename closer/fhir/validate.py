"""Validation applied on every write: structure, required bindings, ids, NHS numbers and profiles."""

from __future__ import annotations

import re
from typing import Any

from closer.errors import FhirError, Issue, invalid
from closer.fhir.bindings import check_required_bindings
from closer.fhir.model import validate_structure
from fhir_profiles import validate as validate_profiles

ID_PATTERN = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def check_id(resource_id: str) -> str:
    if not ID_PATTERN.match(resource_id):
        raise invalid(f"'{resource_id}' is not a valid FHIR id (1-64 of A-Z a-z 0-9 - .)", "id")
    return resource_id


class Validated(dict[str, Any]):
    """A resource that has passed validate_resource. The transaction processor validates a Bundle's
    resources before taking the database write lock, and the repository does not check them again."""


def with_id(resource: dict[str, Any], resource_id: str | None) -> dict[str, Any]:
    """The resource with its id replaced (or removed); a new id cannot make it invalid, so the mark stays."""
    changed = {k: v for k, v in resource.items() if k != "id"}
    if resource_id is not None:
        changed["id"] = resource_id
    return Validated(changed) if isinstance(resource, Validated) else changed


def validate_resource(resource: Any) -> dict[str, Any]:
    """Raise a 400 (structure) or 422 (bindings, profiles) OperationOutcome naming each bad element."""
    validate_structure(resource)
    if "id" in resource:
        check_id(str(resource["id"]))
    issues = [
        Issue("code-invalid", f"{expr}: {message}", "error", (expr,))
        for expr, message in check_required_bindings(resource)
    ]
    for problem in validate_profiles(resource):
        if problem.severity == "error":
            issues.append(
                Issue(problem.code, f"{problem.expression}: {problem.message}", "error", (problem.expression,))
            )
    if issues:
        raise FhirError(issues[0].diagnostics, 422, "processing", issues=issues)
    return Validated(resource)
