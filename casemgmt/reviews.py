"""Reviews (pure): a review that falls due becomes a Task `review-<careplan>-<date>` for the case manager;
the MDT's decision completes it (Appendix B: "continue with the current Care Plan, adjust the Care Plan,
transfer the patient to another setting or discharge"). Also the check of the discharge criteria for
marked improvement, and the wording of the letter that tells the GP."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from casemgmt import codes
from casemgmt.errors import unprocessable
from casemgmt.settings import Improvement
from stratify.resources import add_months
from stratify.tiering import ORDER

JSON = dict[str, Any]


def review_task_id(focus_id: str, due: date) -> str:
    return f"review-{focus_id}-{due.strftime('%Y%m%d')}"


def is_due(next_review: date, today: date, notice_days: int) -> bool:
    """A review becomes a Task `notice_days` before it is due, and stays one while overdue."""
    return next_review - timedelta(days=notice_days) <= today


def review_task(focus: JSON, patient: str, due: date, owner: str | None, at: datetime) -> JSON:
    """The open Task asking the case manager to review the care plan (or, with none yet, the episode) by
    `due`, after which it is overdue."""
    task: JSON = {
        "resourceType": "Task",
        "id": review_task_id(str(focus["id"]), due),
        "status": "requested",
        "intent": "order",
        "code": {
            "coding": [
                {"system": codes.ACTIVITY_SYSTEM, "code": codes.REVIEW, "display": codes.ACTIVITY_DISPLAY[codes.REVIEW]}
            ]
        },
        "description": f"Review the care plan by {due.isoformat()}",
        "focus": {"reference": f"{focus['resourceType']}/{focus['id']}"},
        "for": {"reference": patient},
        "authoredOn": at.isoformat(timespec="seconds"),
        "executionPeriod": {"start": due.isoformat()},
        "restriction": {"period": {"end": due.isoformat()}},
    }
    if owner:
        task["owner"] = {"reference": owner}
    return task


def due_date_of(task: JSON) -> date | None:
    end = ((task.get("restriction") or {}).get("period") or {}).get("end")
    return date.fromisoformat(str(end)[:10]) if end else None


def review_state(task: JSON, today: date) -> str:
    """overdue | due, for an open review Task."""
    due = due_date_of(task)
    return "overdue" if due is not None and due < today else "due"


def is_open(task: JSON) -> bool:
    return task.get("status") in ("draft", "requested", "received", "accepted", "ready", "in-progress", "on-hold")


def check_decision(
    decision: str,
    reason: str,
    next_review: date | None,
    plan: str | None,
    setting: str | None,
    discharge_reason: str | None,
    today: date,
) -> None:
    """What each decision needs: a reason always; a next review after today for continue and adjust; the
    new plan text for adjust; the setting for transfer; the reason for a discharge."""
    if decision not in codes.DECISIONS:
        raise unprocessable(f"decision must be one of {', '.join(codes.DECISIONS)}, not '{decision}'", "decision")
    if not reason.strip():
        raise unprocessable("a review decision needs a reason", "reason")
    if decision in ("continue", "adjust"):
        if next_review is None:
            raise unprocessable(f"'{decision}' needs the next review date", "next_review")
        if next_review <= today:
            raise unprocessable(f"the next review {next_review} must be after today ({today})", "next_review")
    if decision == "adjust" and not (plan or "").strip():
        raise unprocessable("'adjust' needs the adjusted care plan", "plan")
    if decision == "transfer" and not (setting or "").strip():
        raise unprocessable("'transfer' needs the setting the person moves to", "setting")
    if decision == "discharge" and discharge_reason not in codes.DISCHARGE_REASONS:
        raise unprocessable(
            f"'discharge' needs dischargeReason, one of {', '.join(codes.DISCHARGE_REASONS)}", "discharge_reason"
        )


def improvement_failures(
    criteria: Improvement, tier: str | None, last_emergency: date | None, today: date
) -> list[str]:
    """Which discharge criteria for marked improvement are not met (empty: all are)."""
    failures = []
    since = add_months(today, -criteria.months_without_emergency_admission)
    if last_emergency is not None and last_emergency >= since:
        failures.append(
            f"months_without_emergency_admission: an emergency admission on {last_emergency} is within the "
            f"last {criteria.months_without_emergency_admission} months"
        )
    if tier is None or tier not in ORDER or ORDER.index(tier) > ORDER.index(criteria.max_tier):
        failures.append(f"max_tier: the latest tier is {tier or 'unknown'}, above {criteria.max_tier}")
    return failures


def completed(task: JSON, decision: str, reason: str, next_review: date | None, at: datetime) -> JSON:
    """The review Task done: businessStatus the decision, the reason, and the next review as output."""
    resource = {k: v for k, v in task.items() if k != "meta"}
    resource["status"] = "completed"
    resource["businessStatus"] = {
        "coding": [
            {
                "system": codes.REVIEW_DECISION_SYSTEM,
                "code": decision,
                "display": codes.REVIEW_DECISION_DISPLAY[decision],
            }
        ]
    }
    resource["reasonCode"] = {"text": reason.strip()}
    resource["lastModified"] = at.isoformat(timespec="seconds")
    if next_review is not None:
        resource["output"] = [
            {
                "type": {"coding": [{"system": codes.NEXT_REVIEW_OUTPUT_SYSTEM, "code": codes.NEXT_REVIEW_OUTPUT}]},
                "valueDate": next_review.isoformat(),
            }
        ]
    return resource


def cancelled(task: JSON, reason: str, at: datetime) -> JSON:
    resource = {k: v for k, v in task.items() if k != "meta"}
    resource["status"] = "cancelled"
    resource["statusReason"] = {"text": reason}
    resource["lastModified"] = at.isoformat(timespec="seconds")
    return resource


def discharge_letter(
    resource_id: str, episode: JSON, practice: str, sender: str | None, text: str, at: datetime
) -> JSON:
    """The Communication telling the GP practice the person left case management, and why."""
    letter: JSON = {
        "resourceType": "Communication",
        "id": resource_id,
        "status": "completed",
        "category": [
            {
                "coding": [
                    {
                        "system": codes.COMMUNICATION_CATEGORY_SYSTEM,
                        "code": codes.DISCHARGE_LETTER,
                        "display": codes.COMMUNICATION_DISPLAY[codes.DISCHARGE_LETTER],
                    }
                ]
            }
        ],
        "subject": dict(episode["patient"]),
        "about": [{"reference": f"EpisodeOfCare/{episode['id']}"}],
        "sent": at.isoformat(timespec="seconds"),
        "recipient": [{"reference": practice}],
        "payload": [{"contentString": text}],
    }
    if sender:
        letter["sender"] = {"reference": sender}
    return letter
