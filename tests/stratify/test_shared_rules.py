"""The rules stratification and case management share (pure): whose practice a person is registered with,
and which of their triage decisions is the latest, so the triage queue and enrolment agree."""

from __future__ import annotations

from datetime import date
from typing import Any

from stratify import codes
from stratify.facts import practice_of
from stratify.triage import latest_of


def _decision(task_id: str, patient: str, decision: str, authored: str, **extra: Any) -> dict[str, Any]:
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": task_id,
        "status": "completed",
        "businessStatus": {"coding": [{"system": codes.TRIAGE_SYSTEM, "code": decision}]},
        "for": {"reference": f"Patient/{patient}"},
        "authoredOn": authored,
    }
    return {**task, **extra}


def test_the_latest_decision_is_the_latest_authored_and_ties_go_to_the_greater_task_id() -> None:
    review = {"type": {"coding": [{"code": codes.NEXT_REVIEW_OUTPUT}]}, "valueDate": "2027-01-01"}
    tasks = [
        _decision("t-2", "ann", "include", "2026-10-02T09:00:00+00:00", focus={"reference": "ServiceRequest/sr1"}),
        _decision("t-1", "ann", "exclude", "2026-10-01T09:00:00+00:00"),
        _decision("t-4", "bob", "exclude", "2026-10-03T09:00:00+00:00", output=[review]),
        _decision("t-3", "bob", "include", "2026-10-03T09:00:00+00:00"),
        _decision("t-9", "bob", "include", "2026-12-01T09:00:00+00:00", status="cancelled"),  # not a decision
    ]
    latest = latest_of(tasks)
    ann = latest["ann"]
    assert (ann.decision, ann.task_id, ann.focus) == ("include", "t-2", "ServiceRequest/sr1")
    assert ann.authored == "2026-10-02T09:00:00+00:00"
    assert (latest["bob"].decision, latest["bob"].task_id, latest["bob"].next_review) == (
        "exclude",
        "t-4",
        date(2027, 1, 1),
    )
    assert latest_of(reversed(tasks)) == latest  # the order read in does not matter


def test_the_practice_is_the_first_organization_among_the_general_practitioners() -> None:
    patient = {
        "generalPractitioner": [
            {"reference": "Practitioner/dr-who"},
            {"reference": "Organization/org-1", "identifier": {"value": "z91001"}},
            {"reference": "Organization/org-2"},
        ]
    }
    assert practice_of(patient) == ("Z91001", "Organization/org-1")
    assert practice_of({"generalPractitioner": [{"reference": "Organization/z93001"}]}) == (
        "Z93001",
        "Organization/z93001",
    )
    assert practice_of({"generalPractitioner": [{"reference": "Practitioner/dr-who"}]}) is None
    assert practice_of({}) is None
