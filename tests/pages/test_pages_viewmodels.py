"""The pages' pure parts: scope, the worklist's filters and sorting, the caseload's grouping, and the
patient page's readings of consents, alerts and audit events."""

from __future__ import annotations

from datetime import date

from casemgmt.service import CaseloadItem, QueueItem
from consent.model import parse_consent
from pages.caseload import caseload_page
from pages.patient import alerts_of, consent_summaries, disclosures_of
from pages.scope import may_see_patient, practices_of, unit_for, units_of
from pages.users import User
from pages.worklist import Query, select
from stratify import codes as strat

TEAMS = {"north-1": ("Z91001", "Z91002"), "south-1": ("Z93001",)}
NAMES = {"north-1": "North 1", "south-1": "South 1"}


def item(pid: str, name: str, tier: str | None, probability: float | None, **kw: object) -> QueueItem:
    fields: dict[str, object] = dict(
        patient_id=pid,
        name=name,
        nhs_number="9990000018",
        practice="Z91001",
        source="stratification",
        focus=f"RiskAssessment/ra-{pid}",
        tier=tier,
        probability=probability,
        factors=(),
        emergency_admissions=0,
        seen_before=False,
        last_decision=None,
    )
    fields.update(kw)
    return QueueItem(**fields)  # type: ignore[arg-type]


def test_scope_is_the_users_practices_or_their_teams() -> None:
    gp = User("gp", "Dr G", "gp", ("Z93001",), "")
    cm = User("cm", "C M", "case-manager", (), "north-1")
    assert practices_of(gp, TEAMS) == {"Z93001"}
    assert practices_of(cm, TEAMS) == {"Z91001", "Z91002"}
    assert [u.key for u in units_of(cm, TEAMS, NAMES)] == ["north-1", "Z91001", "Z91002"]
    assert unit_for(gp, "north-1", TEAMS, NAMES) is None and unit_for(gp, "Z91001", TEAMS, NAMES) is None
    patient = {"generalPractitioner": [{"reference": "Organization/x", "identifier": {"value": "z91002"}}]}
    assert may_see_patient(cm, patient, TEAMS) and not may_see_patient(gp, patient, TEAMS)
    assert not may_see_patient(cm, {"id": "no-practice"}, TEAMS)


def test_worklist_filters_and_sorts_with_stable_ties() -> None:
    items = [
        item("a", "Ann", "moderate", 0.40, emergency_admissions=2),
        item("b", "Bob", "severe", 0.70, source="referral"),
        item("c", "Cat", "severe", 0.55, seen_before=True),
        item("d", "Dan", None, None, source="referral"),
    ]
    assert [i.patient_id for i in select(items, Query())] == ["b", "c", "a", "d"]
    assert [i.patient_id for i in select(items, Query(sort="tier"))] == ["b", "c", "a", "d"]
    assert [i.patient_id for i in select(items, Query(sort="name", descending=False))] == ["a", "b", "c", "d"]
    assert next(i.patient_id for i in select(items, Query(sort="admissions"))) == "a"
    assert [i.patient_id for i in select(items, Query(source="referral"))] == ["b", "d"]
    assert [i.patient_id for i in select(items, Query(seen="yes"))] == ["c"]
    assert [i.patient_id for i in select(items, Query(text="an"))] == ["a", "d"]
    assert select(items, Query(), practices=frozenset({"Z93001"})) == []


def test_worklist_query_ignores_what_it_does_not_know() -> None:
    query = Query.from_args({"tier": "extreme", "sort": "'; drop", "order": "asc", "q": "  Ann  ", "seen": "no"})
    assert query == Query(text="Ann", seen="no", descending=False)
    assert query.args(sort="name") == {"seen": "no", "q": "Ann", "sort": "name", "order": "asc"}


def test_caseload_groups_by_tier_and_lists_reviews_and_admissions() -> None:
    def person(pid: str, tier: str, review: str, recent: int) -> CaseloadItem:
        return CaseloadItem(
            pid,
            pid.title(),
            None,
            f"eoc-{pid}",
            None,
            tier,
            "2026-09-01",
            date(2026, 12, 1),
            review,
            None,
            recent,
            recent,
        )

    page = caseload_page(
        [
            person("ann", "mild", "scheduled", 0),
            person("bob", "severe", "due", 1),
            person("cat", "severe", "overdue", 2),
            person("dan", "moderate", "no-plan", 0),
        ]
    )
    assert [tier for tier, _ in page.by_tier] == ["severe", "moderate", "mild"]
    assert [i.patient_id for i in page.reviews] == ["cat", "bob", "dan"]
    assert [i.patient_id for i in page.admitted] == ["cat", "bob"]
    assert (page.count("overdue"), page.count("due"), page.total) == (1, 1, 4)


def test_consent_summary_says_what_is_permitted_to_whom() -> None:
    hl7 = "http://terminology.hl7.org/CodeSystem"
    ambulance = {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "RX7"}
    consent = {
        "resourceType": "Consent",
        "id": "share",
        "status": "active",
        "scope": {"coding": [{"system": f"{hl7}/consentscope", "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": "Patient/p1"},
        "provision": {
            "type": "permit",
            "actor": [{"role": {"coding": [{"code": "IRCP"}]}, "reference": {"identifier": ambulance}}],
            "purpose": [{"system": f"{hl7}/v3-ActReason", "code": "ETREAT"}],
            "class": [{"system": "http://hl7.org/fhir/resource-types", "code": "Flag"}],
        },
    }
    [summary] = consent_summaries([parse_consent(consent)])
    assert summary.readable and summary.reference == "Consent/share"
    [rule] = summary.rules
    assert (rule.effect, rule.who, rule.purposes, rule.what) == ("Permits", "ODS RX7", "ETREAT", "Flag")
    [broken] = consent_summaries([parse_consent({"resourceType": "Consent", "id": "bad"})])
    assert not broken.readable and broken.problem


def test_alerts_put_dnacpr_first_and_leave_out_the_candidate_flag() -> None:
    def flag(status: str, text: str, system: str = "", code: str = "") -> dict[str, object]:
        coding = [{"system": system, "code": code}] if code else []
        return {"resourceType": "Flag", "status": status, "code": {"coding": coding, "text": text}}

    flags = [
        flag("active", "Lives alone"),
        flag("active", "DNACPR", "http://snomed.info/sct", "870373003"),
        flag("active", "Candidate", strat.FLAG_SYSTEM, strat.CANDIDATE),
        flag("inactive", "Old"),
    ]
    allergies = [
        {"code": {"text": "Penicillin"}, "verificationStatus": {"coding": [{"code": "refuted"}]}},
        {"code": {"text": "Latex"}, "reaction": [{"manifestation": [{"text": "Rash"}]}]},
    ]
    assert [(a.kind, a.text) for a in alerts_of(flags, allergies)] == [
        ("DNACPR", "DNACPR"),
        ("Allergy", "Latex (Rash)"),
        ("Flag", "Lives alone"),
    ]


def test_disclosures_read_the_audit_events() -> None:
    event = {
        "recorded": "2026-12-01T10:00:00.000000Z",
        "outcomeDesc": "permitted by Consent/share",
        "subtype": [{"system": "https://closer.example.nhs.uk/fhir/CodeSystem/disclosure-action", "code": "alerts"}],
        "agent": [{"name": "nwas-epr", "who": {"identifier": {"value": "RX7"}}}],
        "entity": [
            {"what": {"reference": "Patient/p1"}, "role": {"code": "1"}},
            {"what": {"reference": "Flag/f1/_history/1"}, "role": {"code": "4"}},
        ],
    }
    [found] = disclosures_of([event])
    assert (found.recipient, found.organisation, found.action, found.what) == (
        "nwas-epr",
        "RX7",
        "alerts",
        ("Flag/f1/_history/1",),
    )
