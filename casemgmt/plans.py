"""Plans (pure): the care plan, emergency care plan and end-of-life plan the MDT agrees (Appendix B:
"a Care Plan is collectively agreed ... set the baseline against which to monitor, agree suitable review
dates"). Each is a CarePlan `careplan-<patient>-<kind>-<n>`; the baseline is a contained Goal (Goal is not a
type the store serves on its own); the next review date is the `next-review` extension. A new plan of a
kind supersedes the previous one, which is revoked, and the new one `replaces` it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from adapters.localtime import LONDON
from casemgmt import codes
from casemgmt.errors import unprocessable

JSON = dict[str, Any]
KIND_OF_CODE = {code: kind for kind, code in codes.PLAN_KINDS.items()}


@dataclass(frozen=True)
class PlanInput:
    """What the MDT agreed for one plan: its text, the baseline to monitor against, the next review."""

    description: str
    next_review: date | None = None
    baseline: str | None = None


def plan_id(patient_id: str, kind: str, n: int) -> str:
    return f"careplan-{patient_id}-{kind}-{n}"


def care_plan(
    patient_id: str,
    kind: str,
    n: int,
    plan: PlanInput,
    author: str,
    care_team: str | None,
    at: datetime,
    replaces: str | None = None,
) -> JSON:
    """One agreed plan of `kind` (care | emergency | end-of-life)."""
    field = {"care": "care_plan", "emergency": "emergency", "end-of-life": "end_of_life"}[kind]
    today = at.astimezone(LONDON).date()
    if not plan.description.strip():
        raise unprocessable(f"the {kind} plan needs a description", field)
    if plan.next_review is not None and plan.next_review <= today:
        raise unprocessable(f"the next review {plan.next_review} must be after today ({today})", field)
    code = codes.PLAN_KINDS[kind]
    resource: JSON = {
        "resourceType": "CarePlan",
        "id": plan_id(patient_id, kind, n),
        "status": "active",
        "intent": "plan",
        "category": [{"coding": [{"system": codes.SNOMED, "code": code, "display": codes.PLAN_DISPLAY[code]}]}],
        "title": codes.PLAN_DISPLAY[code],
        "description": plan.description.strip(),
        "subject": {"reference": f"Patient/{patient_id}"},
        "period": {"start": today.isoformat()},
        "created": at.isoformat(timespec="seconds"),
        "author": {"reference": author},
    }
    if plan.next_review is not None:
        resource["extension"] = [{"url": codes.NEXT_REVIEW_EXTENSION, "valueDate": plan.next_review.isoformat()}]
    if care_team:
        resource["careTeam"] = [{"reference": care_team}]
    if replaces:
        resource["replaces"] = [{"reference": replaces}]
    if plan.baseline and plan.baseline.strip():
        resource["contained"] = [
            {
                "resourceType": "Goal",
                "id": "baseline",
                "lifecycleStatus": "active",
                "description": {"text": plan.baseline.strip()},
                "subject": {"reference": f"Patient/{patient_id}"},
                "startDate": today.isoformat(),
            }
        ]
        resource["goal"] = [{"reference": "#baseline"}]
    return resource


def kind_of(plan: JSON) -> str | None:
    """care | emergency | end-of-life for a CarePlan we write, else None."""
    for concept in plan.get("category", []):
        for coding in concept.get("coding", []):
            if coding.get("system") == codes.SNOMED and coding.get("code") in KIND_OF_CODE:
                return KIND_OF_CODE[str(coding["code"])]
    return None


def number_of(plan: JSON) -> int:
    """n of `careplan-<patient>-<kind>-<n>`."""
    tail = str(plan.get("id", "")).rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def next_review_of(plan: JSON) -> date | None:
    for ext in plan.get("extension", []):
        if ext.get("url") == codes.NEXT_REVIEW_EXTENSION and ext.get("valueDate"):
            return date.fromisoformat(str(ext["valueDate"]))
    return None


def baseline_of(plan: JSON) -> str | None:
    for contained in plan.get("contained", []):
        if contained.get("resourceType") == "Goal":
            return str((contained.get("description") or {}).get("text") or "") or None
    return None


def with_next_review(plan: JSON, next_review: date) -> JSON:
    """The same plan with its review moved (a review decided to continue)."""
    resource = _content(plan)
    others = [e for e in resource.get("extension", []) if e.get("url") != codes.NEXT_REVIEW_EXTENSION]
    resource["extension"] = [*others, {"url": codes.NEXT_REVIEW_EXTENSION, "valueDate": next_review.isoformat()}]
    return resource


def ended(plan: JSON, status: str, on: date) -> JSON:
    """A plan no longer in force: `revoked` when superseded, `completed` when the episode ends."""
    resource = _content(plan)
    resource["status"] = status
    start = resource.get("period", {}).get("start", on.isoformat())
    resource["period"] = {"start": min(str(start), on.isoformat()), "end": on.isoformat()}
    return resource


def _content(stored: JSON) -> JSON:
    return {k: v for k, v in stored.items() if k != "meta"}
