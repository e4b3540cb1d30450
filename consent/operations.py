"""The consent package's FHIR operations: `Patient/$alerts` for consumers, `$consent-check` for operators.

Both are registered in the `closer.operations` entry point group. `$alerts` reads through the repository
the host gives the caller, which for a consumer system is the consent-guarded one (and for an internal
client one that records what it was shown), so its answers are those of the equivalent searches.
"""

from __future__ import annotations

from datetime import UTC, datetime

from closer.api.interactions import Reply
from closer.api.operations import Operation, OperationCall, Params, param_expression
from closer.errors import FhirError, invalid
from consent.alerts import alerts_bundle, gather
from consent.check import verdict_parameters
from consent.guard import GuardedRepository, forbidden
from consent.source import StoreConsents, consent_engine, consent_request, consumer
from fhir_profiles.canonical import NHS_NUMBER_SYSTEM, ODS_ORGANIZATION_SYSTEM
from fhir_profiles.nhs_number import is_valid_nhs_number


def alerts(call: OperationCall) -> Reply:
    """One Bundle of the patient's alerts, plans and contacts, each entry filtered by consent."""
    number = nhs_number(call.params)
    repo = call.repository
    if not isinstance(repo, GuardedRepository):  # the host always audits $alerts (Operation.audited)
        raise TypeError("$alerts needs the consent-guarded repository the host gives audited operations")
    chosen, contacts = gather(repo, number, call.readable)
    return Reply(200, alerts_bundle(call.base, chosen, contacts))


def nhs_number(params: Params) -> str:
    """The `identifier` input: an NHS number (system https://fhir.nhs.uk/Id/nhs-number) with a valid check
    digit. A wrong one is the caller's mistake, said the same whether or not such a patient exists."""
    given = params.identifier("identifier", required=True)
    assert given is not None
    system, value = given
    if system not in (None, NHS_NUMBER_SYSTEM):
        raise invalid(
            f"identifier must be an NHS number ({NHS_NUMBER_SYSTEM}|NNNNNNNNNN), not a {system} identifier",
            param_expression("identifier"),
        )
    number = value.replace(" ", "")
    if not is_valid_nhs_number(number):
        raise invalid(f"'{value}' is not a valid NHS number (10 digits, modulus 11 check digit)", "identifier")
    return number


def consent_check(call: OperationCall) -> Reply:
    """Why a consumer (ODS code) may or may not see a resource for a purpose: the verdict as Parameters."""
    if isinstance(call.repository, GuardedRepository):
        raise forbidden("$consent-check is for operators (internal clients), not consumer systems")
    p = call.params
    ods = _ods(p)
    reference = p.reference("resource", required=True)
    assert reference is not None
    resource_type, _, resource_id = reference.partition("/")
    resource = call.repository.read(resource_type, resource_id)
    purpose = (p.text("purpose") or "TREAT").upper()
    action = p.text("action") or "access"
    if action not in ("access", "disclose"):
        raise invalid(f"action must be access or disclose, not '{action}'", param_expression("action"))
    moment = _moment(p)
    who = consumer(call.repository, p.text("name") or ods, ods)
    request = consent_request(who, purpose, moment, patient=p.reference("patient"), disclose=action == "disclose")
    engine = consent_engine(StoreConsents(call.repository))
    verdict = engine.can_see(request, resource)
    return Reply(200, verdict_parameters(verdict, request, resource))


def _ods(params: Params) -> str:
    given = params.identifier("consumer", required=True)
    assert given is not None
    system, code = given
    if system not in (None, ODS_ORGANIZATION_SYSTEM):
        raise invalid(
            f"consumer must be an ODS code (system {ODS_ORGANIZATION_SYSTEM}), not a {system} identifier",
            param_expression("consumer"),
        )
    return code.upper()


def _moment(params: Params) -> datetime:
    text = params.text("moment")
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f"moment '{text}' is not a dateTime", param_expression("moment")) from None
    if moment.tzinfo is None:
        raise FhirError(f"moment '{text}' needs a time zone offset", 400, "invalid")
    return moment


ALERTS = Operation(
    name="alerts",
    resource_type="Patient",
    handler=alerts,
    methods=("GET", "POST"),
    inputs=("identifier",),
    scopes=("system/Flag.read",),
    audited=True,
    documentation="What an ambulance crew or A&E needs on the way to a patient: active Flags (DNAR first), "
    "AllergyIntolerances, the current emergency care plan and end-of-life plan, the active episode and care "
    "teams, and the case manager and teams to contact. Input: identifier (an NHS number). Every entry is "
    "filtered by the patient's consent for the caller; no consent and no such patient give the same empty Bundle.",
)

CONSENT_CHECK = Operation(
    name="consent-check",
    handler=consent_check,
    methods=("GET", "POST"),
    inputs=("consumer", "name", "purpose", "action", "resource", "patient", "moment"),
    scopes=("system/Consent.read",),
    documentation="Explain the consent decision for a consumer (ODS code) reading or being sent a resource: "
    "the decision, the Consent and provision that decided it, and why. Inputs: consumer (ODS code), resource "
    "(Type/id), purpose (v3-ActReason, default TREAT), action (access | disclose), patient, moment, name.",
)
