"""The case management operations on the FHIR API; each reads its Parameters and calls casemgmt.service.

- `POST Patient/[id]/$refer` (source, reason, requester): a direct referral -> 201 ServiceRequest.
- `POST Patient/[id]/$enrol` (careManager, team, tier, provider*): -> 201 EpisodeOfCare (409 if enrolled).
- `POST Patient/[id]/$agree-plan` (carePlan, emergency, endOfLife; each with parts description,
  nextReview, baseline): -> 200 Parameters with a `plan` resource per new CarePlan.
- `POST Patient/[id]/$review` (decision, reason, nextReview, plan, setting, dischargeReason): -> 200 the
  completed review Task.
- `GET [base]/$programme-report`: -> 200 MeasureReport (one group per locality).

A missing or malformed parameter is a 400 naming it; a rule of the workflow broken is a 422 naming it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from casemgmt import service
from casemgmt.figures import measure_report
from casemgmt.plans import PlanInput
from closer.api.interactions import Reply, version_headers
from closer.api.operations import Operation, OperationCall, Params, param_expression
from closer.errors import FhirError, invalid
from stratify.operations import today_in_england


def _patient_id(call: OperationCall) -> str:
    return str(call.target()["id"])


def refer(call: OperationCall) -> Reply:
    p = call.params
    source, reason = p.text("source", required=True), p.text("reason", required=True)
    assert source is not None and reason is not None
    stored = service.refer(
        call.repository,
        _patient_id(call),
        source,
        reason,
        p.reference("requester"),
        settings=service.current_settings(),
    )
    return Reply(201, stored, version_headers(call.base, stored))


def enrol(call: OperationCall) -> Reply:
    p = call.params
    manager = p.reference("careManager", required=True)
    assert manager is not None
    providers = [_reference_value(v) for v in p.all("provider")]
    episode, _ = service.enrol(
        call.repository,
        service.current_settings(),
        _patient_id(call),
        manager,
        team=p.reference("team"),
        tier=p.text("tier"),
        providers=providers,
    )
    return Reply(201, episode, version_headers(call.base, episode))


def _reference_value(value: object) -> str:
    return str(Params((("provider", value),)).reference("provider"))


def plan_input(params: Params, name: str) -> PlanInput | None:
    """A plan parameter: parts description (required), nextReview, baseline."""
    value = params.one(name)
    if value is None:
        return None
    if not isinstance(value, Params):
        raise invalid(f"Parameter '{name}' must have parts description, nextReview, baseline", param_expression(name))
    unknown = sorted(value.names() - {"description", "nextReview", "baseline"})
    if unknown:
        raise invalid(f"Parameter '{name}' has an unknown part '{unknown[0]}'", param_expression(name))
    try:
        description = value.text("description", required=True)
        next_review = value.day("nextReview")
        baseline = value.text("baseline")
    except FhirError as exc:
        raise invalid(f"Parameter '{name}': {exc.diagnostics}", param_expression(name)) from None
    assert description is not None
    return PlanInput(description, next_review, baseline)


def agree_plan(call: OperationCall) -> Reply:
    p = call.params
    made = service.agree_plan(
        call.repository,
        service.current_settings(),
        _patient_id(call),
        plan_input(p, "carePlan"),
        plan_input(p, "emergency"),
        plan_input(p, "endOfLife"),
    )
    return Reply(200, {"resourceType": "Parameters", "parameter": [{"name": "plan", "resource": r} for r in made]})


def review(call: OperationCall) -> Reply:
    p = call.params
    decision, reason = p.text("decision", required=True), p.text("reason", required=True)
    assert decision is not None and reason is not None
    task = service.review(
        call.repository,
        service.current_settings(),
        _patient_id(call),
        decision,
        reason,
        next_review=p.day("nextReview"),
        plan=p.text("plan"),
        setting=p.text("setting"),
        discharge_reason=p.text("dischargeReason"),
    )
    return Reply(200, task)


def programme_report(call: OperationCall) -> Reply:
    today = call.params.day("date") or today_in_england(datetime.now(UTC))
    figures = service.programme_figures(call.repository, service.current_settings(), today)
    return Reply(200, measure_report(figures, f"case-management-{today.isoformat()}"))


REFER = Operation(
    name="refer",
    resource_type="Patient",
    instance=True,
    handler=refer,
    inputs=("source", "reason", "requester"),
    scopes=("system/ServiceRequest.write",),
    documentation="A direct referral to case management (source gp | ae | clinician | self, reason, optional "
    "requester): a ServiceRequest to the team of the patient's practice, which joins its triage queue.",
)

ENROL = Operation(
    name="enrol",
    resource_type="Patient",
    instance=True,
    handler=enrol,
    inputs=("careManager", "team", "tier", "provider"),
    scopes=("system/EpisodeOfCare.write", "system/CareTeam.write", "system/ServiceRequest.write"),
    documentation="Enrol a person whose latest triage decision is include: an EpisodeOfCare with the case "
    "manager (careManager), team (default the practice's), tier (default the latest RiskAssessment's) and a "
    "CareTeam with the practice and each provider. 409 if already enrolled.",
)

AGREE_PLAN = Operation(
    name="agree-plan",
    resource_type="Patient",
    instance=True,
    handler=agree_plan,
    inputs=("carePlan", "emergency", "endOfLife"),
    scopes=("system/CarePlan.write",),
    documentation="Record the plans the MDT agreed (carePlan, emergency, endOfLife; each with parts "
    "description, nextReview, baseline), superseding earlier ones of the same kind. The care plan needs a "
    "next review; a severe-tier person needs an emergency care plan.",
)

REVIEW = Operation(
    name="review",
    resource_type="Patient",
    instance=True,
    handler=review,
    inputs=("decision", "reason", "nextReview", "plan", "setting", "dischargeReason"),
    scopes=(
        "system/Task.write",
        "system/CarePlan.write",
        "system/EpisodeOfCare.write",
        "system/CareTeam.write",
        "system/Communication.write",
        "system/Flag.write",
    ),
    documentation="Record an MDT review: continue | adjust | transfer | discharge (dischargeReason "
    "improvement | choice | death). Completes the review Task; a discharge ends the episode, cancels open "
    "Tasks and tells the GP practice (Communication).",
)

PROGRAMME_REPORT = Operation(
    name="programme-report",
    handler=programme_report,
    methods=("GET",),
    inputs=("date",),
    scopes=("system/EpisodeOfCare.read", "system/Encounter.read"),
    documentation="The case management programme's figures as a MeasureReport: people case managed per "
    "locality and tier against the planned numbers, enrolments by source, and emergency admissions since "
    "enrolment against the same period a year earlier. Input: date (default today).",
)
