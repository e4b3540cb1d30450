"""`$consent-check`, pure: the engine's verdict for one request as a FHIR Parameters resource.

`POST [base]/$consent-check` (and its CLI twin) shows a person why a consumer may or may not see a
resource: the decision, the Consent and provision that decided it, the reason in words, and what else
was considered. The API layer fetches the patient's Consents and the resource, builds a ConsentRequest,
and returns what `explain` (or `verdict_parameters`, for an engine of its own) gives back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from consent.engine import ConsentEngine, ConsentRequest, ConsentService, PatientConsentService, Resource, Verdict
from consent.model import Code, ResourceView
from fhir_profiles.canonical import ODS_ORGANIZATION_SYSTEM

JSON = dict[str, Any]


def explain(
    consents: Iterable[Any],
    request: ConsentRequest,
    resource: Resource,
    *,
    before: Iterable[ConsentService] = (),
    **options: Any,
) -> JSON:
    """Decide with the default chain (`before` services, then the patient's Consents, then deny) and
    return the Parameters. `options` go to PatientConsentService (`related`, `strict`)."""
    engine = ConsentEngine([*before, PatientConsentService.of(consents, **options)])
    return verdict_parameters(engine.can_see(request, resource), request, resource)


def verdict_parameters(verdict: Verdict, request: ConsentRequest, resource: Resource) -> JSON:
    """The Parameters for a verdict: decision, permitted, reason, consent, provision, service, one `note`
    per trace line, and the `request` echoed back as parts so the answer can be read on its own."""
    parameters: list[JSON] = [
        {"name": "decision", "valueCode": verdict.decision.value},
        {"name": "permitted", "valueBoolean": verdict.permitted},
        {"name": "reason", "valueString": verdict.reason},
    ]
    if verdict.consent:
        parameters.append({"name": "consent", "valueReference": {"reference": verdict.consent}})
    if verdict.provision:
        parameters.append({"name": "provision", "valueString": verdict.provision})
    if verdict.service:
        parameters.append({"name": "service", "valueString": verdict.service})
    parameters.extend({"name": "note", "valueString": line} for line in verdict.trace)
    parameters.append({"name": "request", "part": _request_parts(request, resource)})
    return {"resourceType": "Parameters", "parameter": parameters}


def _coding(code: Code) -> JSON:
    coding: JSON = {"code": code.code}
    if code.system:
        coding = {"system": code.system, **coding}
    return coding


def _request_parts(request: ConsentRequest, resource: Resource) -> list[JSON]:
    consumer = request.consumer
    parts: list[JSON] = []
    if request.patient:
        parts.append({"name": "patient", "valueReference": {"reference": request.patient}})
    if consumer.organization:
        parts.append({"name": "consumer", "valueReference": {"reference": consumer.organization}})
    if consumer.ods_code:
        parts.append(
            {"name": "consumer", "valueIdentifier": {"system": ODS_ORGANIZATION_SYSTEM, "value": consumer.ods_code}}
        )
    parts.extend({"name": "role", "valueCoding": _coding(role)} for role in sorted(consumer.roles))
    if request.purpose is not None:
        parts.append({"name": "purpose", "valueCoding": _coding(request.purpose)})
    parts.append({"name": "action", "valueCoding": _coding(request.action)})
    parts.append({"name": "moment", "valueDateTime": request.moment.isoformat()})
    view = ResourceView(resource) if isinstance(resource, dict) else None
    if view is not None and view.type and view.id:
        parts.append({"name": "resource", "valueReference": {"reference": view.reference}})
    return parts
