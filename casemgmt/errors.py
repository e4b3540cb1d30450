"""The errors the service functions raise: FhirErrors (so the operations pass them straight on as
OperationOutcomes), each naming the operation parameter at fault. The web pages show `diagnostics`."""

from __future__ import annotations

from closer.api.operations import param_expression
from closer.errors import FhirError

# Python argument names -> the operation parameters that carry them.
PARAMETERS = {
    "care_manager": "careManager",
    "next_review": "nextReview",
    "discharge_reason": "dischargeReason",
    "care_plan": "carePlan",
    "end_of_life": "endOfLife",
}


def _expression(field: str | None) -> tuple[str, ...]:
    return (param_expression(PARAMETERS.get(field, field)),) if field else ()


def unprocessable(message: str, field: str | None = None) -> FhirError:
    """A request that is well formed but breaks a rule of the workflow (422)."""
    return FhirError(message, 422, "processing", _expression(field))


def conflict(message: str, field: str | None = None) -> FhirError:
    """A request that contradicts what is recorded, e.g. enrolling someone already enrolled (409)."""
    return FhirError(message, 409, "conflict", _expression(field))
