"""What the audit records of one consumer request: sent, counted, refused, or, when the reply was an error,
nothing, whatever had been judged before the error."""

from __future__ import annotations

from datetime import UTC, datetime

from closer.auth.principal import Principal
from consent.access import disclosures
from consent.engine import Decision, Verdict
from consent.guard import Decided

WHO = Principal("c1", "ambulance", "system", "RYA", (), datetime.now(UTC), "ETREAT")
PERMIT = Verdict(Decision.AUTHORIZED, "shared with RYA", consent="Consent/c1")
DENY = Verdict(Decision.REJECT, "no consent")
DECIDED = [
    Decided("Flag/f1/_history/1", frozenset({"Patient/p1"}), PERMIT),
    Decided("Flag/f2/_history/1", frozenset({"Patient/p2"}), DENY),
]


def made(*, shown: set[str], failed: bool = False) -> list[tuple[str | None, tuple[str, ...], str]]:
    found = disclosures(DECIDED, shown, WHO, action="search", query="/Flag", request_id="r1", failed=failed)
    return [(d.patient, d.entities, d.outcome) for d in found]


def test_what_was_shown_is_disclosed_and_what_was_refused_is_not() -> None:
    assert made(shown={"Flag/f1/_history/1"}) == [
        ("Patient/p1", ("Flag/f1/_history/1",), "0"),
        ("Patient/p2", (), "4"),
    ]


def test_a_failed_reply_discloses_nothing_of_what_was_judged() -> None:
    records = disclosures(
        DECIDED, {"Flag/f1/_history/1"}, WHO, action="search", query="/Flag", request_id="r1", failed=True
    )
    assert [(d.patient, d.entities, d.outcome) for d in records] == [("Patient/p1", (), "8"), ("Patient/p2", (), "8")]
    assert all("failed" in d.decision for d in records)


def test_a_failed_reply_that_judged_nothing_is_recorded_once() -> None:
    records = disclosures([], set(), WHO, action="read", query="/Flag/x", request_id="r2", failed=True)
    assert [(d.patient, d.entities, d.outcome) for d in records] == [(None, (), "8")]
