"""Triage decisions: the MDT includes a proposed person in case management or excludes them with a
reason and a next review date, before which no run proposes them again (Appendix B: this "prevents
unnecessary repeat reviews of the same patient every month").

A decision is a completed Task (profile closer-triage-decision): code triage, businessStatus include or
exclude, `for` the Patient, `focus` the RiskAssessment or ServiceRequest it decides on, reasonCode the
reason, and for an exclusion an output `next-review` with the date. Tasks keep every decision, so the
history of who decided what stays readable; the latest decision for a person is the one that counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy.engine import Engine

from stratify import codes
from stratify.facts import current_with_code

JSON = dict[str, Any]
DECISIONS = ("include", "exclude")


class TriageError(ValueError):
    """A decision that cannot be recorded as asked; the message says which part is wrong."""


def triage_task(
    task_id: str,
    patient_id: str,
    decision: str,
    reason: str,
    decided_at: datetime,
    decided_by: str,
    focus: str | None,
    next_review: date | None,
    today: date,
) -> JSON:
    """The Task recording one decision, after checking it: a reason is always needed, and an exclusion
    needs a next review date after today (an inclusion must not have one)."""
    if decided_at.tzinfo is None:
        raise ValueError("decided_at must carry its UTC offset (FHIR dateTimes with a time need one)")
    if decision not in DECISIONS:
        raise TriageError(f"decision must be 'include' or 'exclude', not '{decision}'")
    if not reason.strip():
        raise TriageError("a triage decision needs a reason")
    if decision == "exclude" and next_review is None:
        raise TriageError("an exclusion needs a next review date (nextReview)")
    if decision == "exclude" and next_review is not None and next_review <= today:
        raise TriageError(f"the next review date {next_review.isoformat()} must be after today ({today.isoformat()})")
    if decision == "include" and next_review is not None:
        raise TriageError("nextReview is only for an exclusion")
    task: JSON = {
        "resourceType": "Task",
        "id": task_id,
        "meta": {"profile": [codes.TRIAGE_TASK_PROFILE]},
        "status": "completed",
        "intent": "order",
        "code": {
            "coding": [{"system": codes.TASK_CODE_SYSTEM, "code": codes.TRIAGE_TASK, "display": "Triage decision"}]
        },
        "businessStatus": {
            "coding": [{"system": codes.TRIAGE_SYSTEM, "code": decision, "display": codes.TRIAGE_DISPLAY[decision]}]
        },
        "for": {"reference": f"Patient/{patient_id}"},
        "authoredOn": decided_at.isoformat(timespec="seconds"),
        "lastModified": decided_at.isoformat(timespec="seconds"),
        "requester": {"display": decided_by},
        "reasonCode": {"text": reason.strip()},
    }
    if focus:
        task["focus"] = {"reference": focus}
    if next_review is not None:
        task["output"] = [
            {
                "type": {"coding": [{"system": codes.TASK_CODE_SYSTEM, "code": codes.NEXT_REVIEW_OUTPUT}]},
                "valueDate": next_review.isoformat(),
            }
        ]
    return task


def decision_of(task: JSON) -> tuple[str, str, date | None] | None:
    """(patient id, decision, next review) of a triage Task, or None if it is not one we can read."""
    if task.get("status") != "completed":
        return None
    kind, _, patient = str((task.get("for") or {}).get("reference", "")).partition("/")
    decision = next(
        (
            c.get("code")
            for c in (task.get("businessStatus") or {}).get("coding", [])
            if c.get("system") == codes.TRIAGE_SYSTEM
        ),
        None,
    )
    if kind != "Patient" or decision not in DECISIONS:
        return None
    review = None
    for output in task.get("output", []):
        if any(c.get("code") == codes.NEXT_REVIEW_OUTPUT for c in output.get("type", {}).get("coding", [])):
            review = date.fromisoformat(str(output.get("valueDate")))
    return patient, str(decision), review


@dataclass(frozen=True)
class LatestDecision:
    """A person's most recent triage decision: the one that counts."""

    decision: str  # include | exclude
    next_review: date | None
    task_id: str
    authored: str  # the Task's authoredOn, as written
    focus: str | None  # the RiskAssessment or ServiceRequest decided on


def latest_of(tasks: Iterable[JSON]) -> dict[str, LatestDecision]:
    """patient -> their most recent decision among `tasks` (the latest authoredOn, ties to the greater Task
    id). The one rule for "latest": the triage queue and enrolment both use it, so they agree."""
    latest: dict[str, LatestDecision] = {}
    for task in tasks:
        read = decision_of(task)
        if read is None:
            continue
        patient, decision, review = read
        found = LatestDecision(
            decision,
            review,
            str(task["id"]),
            str(task.get("authoredOn", "")),
            (task.get("focus") or {}).get("reference"),
        )
        current = latest.get(patient)
        if current is None or (found.authored, found.task_id) > (current.authored, current.task_id):
            latest[patient] = found
    return latest


def latest_decisions(engine: Engine) -> dict[str, LatestDecision]:
    """patient -> their most recent triage decision, in one scan of the current triage Tasks."""
    query = current_with_code("Task", codes.TASK_CODE_SYSTEM, codes.TRIAGE_TASK)
    with engine.connect() as conn:
        return latest_of(orjson.loads(content) for (content,) in conn.execute(query))


def excluded_until(engine: Engine, day: date) -> dict[str, date]:
    """People whose latest decision excludes them with a next review after `day`, and that date."""
    return {
        patient: latest.next_review
        for patient, latest in latest_decisions(engine).items()
        if latest.decision == "exclude" and latest.next_review is not None and latest.next_review > day
    }
