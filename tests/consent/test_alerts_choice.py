"""What `$alerts` counts as in force: the pure choices, without a store."""

from __future__ import annotations

from datetime import UTC, datetime

from consent.alerts import allergy_is_active, flag_is_active

DECEMBER = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
JANUARY = datetime(2027, 1, 2, 12, 0, tzinfo=UTC)


def flag(**period: str) -> dict[str, object]:
    return {"resourceType": "Flag", "status": "active", "period": period}


def test_a_flag_period_in_partial_dates_covers_the_whole_month() -> None:
    assert flag_is_active(flag(start="2026-12", end="2026-12"), DECEMBER)
    assert not flag_is_active(flag(start="2026-12", end="2026-12"), JANUARY)
    assert not flag_is_active(flag(start="2027"), DECEMBER)
    assert flag_is_active({"resourceType": "Flag", "status": "active"}, DECEMBER)


def test_a_flag_that_is_inactive_or_has_an_unreadable_period_is_not_in_force() -> None:
    assert not flag_is_active({"resourceType": "Flag", "status": "inactive"}, DECEMBER)
    assert not flag_is_active(flag(start="next week"), DECEMBER)


def test_an_allergy_refuted_or_resolved_is_not_an_alert() -> None:
    def allergy(clinical: str | None, verification: str | None) -> dict[str, object]:
        found: dict[str, object] = {"resourceType": "AllergyIntolerance"}
        if clinical:
            found["clinicalStatus"] = {"coding": [{"code": clinical}]}
        if verification:
            found["verificationStatus"] = {"coding": [{"code": verification}]}
        return found

    assert allergy_is_active(allergy(None, None))
    assert allergy_is_active(allergy("active", "confirmed"))
    assert not allergy_is_active(allergy("resolved", None))
    assert not allergy_is_active(allergy("active", "refuted"))
    assert not allergy_is_active(allergy(None, "entered-in-error"))
