"""The pure rules of the workflow, without a store: when a review falls due, what each review decision
needs, the discharge criteria for marked improvement, and superseding plans."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from casemgmt.lookup import top_factors
from casemgmt.plans import PlanInput, care_plan, ended, kind_of, next_review_of, with_next_review
from casemgmt.reviews import check_decision, improvement_failures, is_due
from casemgmt.settings import Improvement
from closer.errors import FhirError

TODAY = date(2026, 12, 6)
AT = datetime(2026, 12, 6, 10, tzinfo=UTC)


def test_a_review_falls_due_within_the_notice_and_stays_due_when_overdue() -> None:
    assert not is_due(date(2026, 12, 14), TODAY, 7)
    assert is_due(date(2026, 12, 13), TODAY, 7)
    assert is_due(date(2026, 11, 1), TODAY, 7)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("stop", "x", None, None, None, None), "decision"),
        (("continue", " ", date(2027, 1, 1), None, None, None), "reason"),
        (("continue", "x", None, None, None, None), "nextReview"),
        (("adjust", "x", TODAY, "new", None, None), "nextReview"),
        (("adjust", "x", date(2027, 1, 1), None, None, None), "plan"),
        (("transfer", "x", None, None, None, None), "setting"),
        (("discharge", "x", None, None, None, "bored"), "dischargeReason"),
    ],
)
def test_each_decision_needs_its_inputs(args: tuple, named: str) -> None:
    with pytest.raises(FhirError) as raised:
        check_decision(*args, TODAY)
    assert raised.value.status == 422 and named in raised.value.expression[0]


def test_improvement_criteria() -> None:
    rule = Improvement(months_without_emergency_admission=6, max_tier="mild")
    assert improvement_failures(rule, "mild", date(2026, 6, 5), TODAY) == []
    assert improvement_failures(rule, "below-threshold", None, TODAY) == []
    failed = improvement_failures(rule, "moderate", date(2026, 6, 6), TODAY)
    assert [f.split(":")[0] for f in failed] == ["months_without_emergency_admission", "max_tier"]
    assert improvement_failures(rule, None, None, TODAY)[0].startswith("max_tier")


def test_plans_are_numbered_supersede_and_move_their_review() -> None:
    first = care_plan("p1", "emergency", 1, PlanInput("Call 999"), "Practitioner/cm-a", None, AT)
    assert (first["id"], kind_of(first), next_review_of(first)) == ("careplan-p1-emergency-1", "emergency", None)
    second = care_plan(
        "p1", "emergency", 2, PlanInput("Call GP"), "Practitioner/cm-a", None, AT, f"CarePlan/{first['id']}"
    )
    assert second["replaces"] == [{"reference": "CarePlan/careplan-p1-emergency-1"}]
    old = ended({**first, "meta": {"versionId": "1"}}, "revoked", TODAY)
    assert old["status"] == "revoked" and old["period"] == {"start": "2026-12-06", "end": "2026-12-06"}
    assert "meta" not in old
    assert next_review_of(with_next_review(first, date(2027, 2, 1))) == date(2027, 2, 1)
    with pytest.raises(FhirError, match="after today"):
        care_plan("p1", "care", 1, PlanInput("x", TODAY), "Practitioner/cm-a", None, AT)


def test_top_factors_are_read_from_the_note_stratify_writes() -> None:
    note = (
        "Tier: Severe (probability at least 50%). Risk of emergency admission in 12 months: 61.2%. "
        "Top factors: 1. Age 85 or over; 2. Heart failure; 3. Two emergency admissions. Next review: 2027-01-01."
    )
    assert top_factors({"note": [{"text": note}]}) == ("Age 85 or over", "Heart failure", "Two emergency admissions")
    assert top_factors({"note": [{"text": "Tier: Mild."}]}) == ()
