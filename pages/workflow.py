"""The one place the pages call the workflow: stratification's `$triage` and `$sign-off` handlers and the
case management service functions, as Python calls (not over HTTP), so a click on a page and a call to
the FHIR operation do exactly the same thing. The signed-in user is who signs and decides: the pages
pass their name, never a name typed into a form. Errors are the workflow's own FhirErrors (a 409 or a
422 whose message says what is wrong), which the views show to the user."""

from __future__ import annotations

from datetime import date
from typing import Any

from casemgmt import service
from casemgmt.figures import ProgrammeFigures
from casemgmt.service import CaseloadItem, PlanInput, QueueItem
from casemgmt.settings import CaseManagementSettings
from closer.api.operations import Operation, Params, invoke
from closer.settings import Settings
from closer.store.repository import Repository
from stratify.operations import SIGN_OFF, TRIAGE


def triage(
    repo: Repository,
    settings: Settings,
    patient_id: str,
    *,
    decision: str,
    reason: str,
    next_review: date | None,
    decided_by: str,
    focus: str | None = None,
) -> dict[str, Any]:
    """Record the MDT's include or exclude decision (stratify's $triage); returns the Task."""
    items: list[tuple[str, Any]] = [("decision", decision), ("reason", reason), ("decidedBy", decided_by)]
    if next_review is not None:
        items.append(("nextReview", next_review))
    if focus:
        items.append(("focus", focus))
    return _post(TRIAGE, repo, settings, patient_id, items)


def sign_off(repo: Repository, settings: Settings, practice: str, signed_by: str) -> dict[str, Any]:
    """The GP's sign-off of the practice's latest run (stratify's $sign-off); returns its Parameters."""
    return _post(SIGN_OFF, repo, settings, None, [("practice", practice), ("signedBy", signed_by)])


def queue(repo: Repository, settings: CaseManagementSettings, team: str) -> list[QueueItem]:
    """The team's triage queue (case management's): stratification candidates and referrals undecided."""
    return service.triage_queue(repo, team, settings)


def enrol(
    repo: Repository,
    settings: CaseManagementSettings,
    patient_id: str,
    *,
    care_manager: str,
    tier: str | None = None,
    providers: tuple[str, ...] = (),
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Enrol someone whose latest triage decision includes them; returns (EpisodeOfCare, CareTeam)."""
    return service.enrol(repo, settings, patient_id, care_manager, tier=tier, providers=providers)


def agree_plan(
    repo: Repository,
    settings: CaseManagementSettings,
    patient_id: str,
    *,
    care: PlanInput | None,
    emergency: PlanInput | None,
    end_of_life: PlanInput | None,
) -> list[dict[str, Any]]:
    """Save the plans the MDT agreed (a kind left None stays as it is); returns the new CarePlans."""
    return service.agree_plan(repo, settings, patient_id, care, emergency, end_of_life)


def caseload(repo: Repository, settings: CaseManagementSettings, practitioner: str) -> list[CaseloadItem]:
    """The people a case manager holds, overdue reviews first."""
    return service.caseload(repo, practitioner, settings)


def programme(repo: Repository, settings: CaseManagementSettings) -> ProgrammeFigures:
    """Numbers per locality and tier against plan, sources, and admissions against a year earlier."""
    return service.programme_figures(repo, settings)


def _post(
    operation: Operation, repo: Repository, settings: Settings, resource_id: str | None, items: list[tuple[str, Any]]
) -> dict[str, Any]:
    """POST the operation as the FHIR API does (closer.api.operations.invoke, inputs checked); its result."""
    reply = invoke(
        operation,
        "POST",
        repository=repo,
        settings=settings,
        base=settings.base_url,
        resource_type=operation.resource_type,
        resource_id=resource_id,
        params=Params(tuple(items)),
    )
    assert reply.resource is not None
    return reply.resource
