"""The AuditEvent built for a disclosure: valid FHIR R4, and it says who, which patient, what and why."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from closer.audit import Disclosure
from closer.audit.event import ACTIONS, DISCLOSURE_ACTION, RESTFUL_INTERACTION, action_of, build_event
from closer.fhir.validate import validate_resource
from fhir_profiles.canonical import ODS_ORGANIZATION_SYSTEM

WHEN = datetime(2026, 12, 6, 14, 30, 5, 123456, tzinfo=UTC)


def disclosure(**changes: object) -> Disclosure:
    fields: dict[str, object] = {
        "recipient": "nwas-epr",
        "organization": "RX7",
        "patient": "Patient/p1",
        "action": "read",
        "entities": ("Flag/f1/_history/2",),
        "outcome": "0",
        "decision": "permit by Consent/c1 provision.provision[0]: ambulance crews may see alerts",
        "purpose": "ETREAT",
        "query": "/Flag/f1",
        "request_id": "req-1",
    }
    return Disclosure(**(fields | changes))  # type: ignore[arg-type]


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_every_action_makes_a_valid_r4_audit_event(action: str) -> None:
    event = build_event(disclosure(action=action), WHEN, event_id="audit-7")
    validate_resource(event)
    assert event["id"] == "audit-7"
    assert action_of(event) == action


def test_the_event_says_who_which_patient_what_when_outcome_and_decision() -> None:
    event = build_event(disclosure(), WHEN)
    assert event["type"]["code"] == "rest"
    assert {"system": RESTFUL_INTERACTION, "code": "read"} in event["subtype"]
    assert event["action"] == "R"
    assert event["recorded"] == "2026-12-06T14:30:05.123456Z"
    assert event["outcome"] == "0"
    assert event["outcomeDesc"].startswith("permit by Consent/c1")
    assert event["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT"
    recipient, closer = event["agent"]
    assert recipient["who"]["identifier"] == {"system": ODS_ORGANIZATION_SYSTEM, "value": "RX7"}
    assert recipient["name"] == "nwas-epr" and recipient["requestor"] is True
    assert closer["name"] == "Closer" and closer["requestor"] is False
    assert event["source"]["observer"] == {"display": "Closer"}
    patient, flag, query, request_id = event["entity"]
    assert patient["what"] == {"reference": "Patient/p1"} and patient["role"]["code"] == "1"
    assert flag["what"] == {"reference": "Flag/f1/_history/2"} and flag["role"]["code"] == "4"
    assert base64.b64decode(query["query"]).decode() == "/Flag/f1" and query["role"]["code"] == "24"
    assert request_id["what"]["identifier"]["value"] == "req-1"


def test_a_denied_search_without_a_patient_or_purpose() -> None:
    event = build_event(
        disclosure(
            action="search",
            patient=None,
            entities=(),
            outcome="4",
            decision="deny: no consent permits this",
            purpose=None,
            organization=None,
            request_id=None,
        ),
        WHEN,
    )
    validate_resource(event)
    assert event["action"] == "E" and event["outcome"] == "4"
    assert event["outcomeDesc"] == "deny: no consent permits this"
    assert "purposeOfEvent" not in event
    assert event["agent"][0]["who"] == {"display": "nwas-epr"}
    assert [e["role"]["code"] for e in event["entity"]] == ["24"]  # only the query


def test_a_push_is_an_export_requested_by_closer_to_the_endpoint() -> None:
    event = build_event(disclosure(action="push", recipient="nwas-alerts", query="https://nwas.example/fhir"), WHEN)
    validate_resource(event)
    assert event["type"] == {
        "system": "http://dicom.nema.org/resources/ontology/DCM",
        "code": "110106",
        "display": "Export",
    }
    assert event["subtype"] == [{"system": DISCLOSURE_ACTION, "code": "push"}]
    assert event["agent"][0]["requestor"] is False and event["agent"][1]["requestor"] is True
    assert event["agent"][0]["network"] == {"address": "https://nwas.example/fhir", "type": "5"}


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("/Patient/p1/_history?_count=5", "history-instance"),
        ("/Flag/_history", "history-type"),
        ("/_history", "history-system"),
        (None, "history-instance"),
    ],
)
def test_history_interaction_follows_the_path(query: str | None, code: str) -> None:
    event = build_event(disclosure(action="history", query=query), WHEN)
    assert event["subtype"][0] == {"system": RESTFUL_INTERACTION, "code": code}


def test_recorded_is_utc_whatever_the_zone_given() -> None:
    bst = datetime(2026, 6, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    assert build_event(disclosure(), bst)["recorded"] == "2026-06-01T12:00:00.000000Z"
    assert build_event(disclosure(), datetime(2026, 6, 1, 12, 0))["recorded"] == "2026-06-01T12:00:00.000000Z"


def test_entities_given_as_a_list_are_kept_as_a_tuple() -> None:
    assert disclosure(entities=["Flag/f1/_history/2"]).entities == ("Flag/f1/_history/2",)


@pytest.mark.parametrize(
    "changes",
    [
        {"action": "write"},
        {"outcome": "1"},
        {"recipient": ""},
        {"patient": "p1"},
        {"entities": "Flag/f1"},
    ],
)
def test_a_bad_disclosure_is_refused_where_it_is_made(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        disclosure(**changes)
