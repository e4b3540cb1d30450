"""The publisher's pure parts: the outbox cursor and its gaps, what an answer means and the backoff, what an
endpoint gets, the requests per mode, and reading registrations (settings file and Endpoint resources)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from publisher_data import dnar_flag, emergency_plan, share_consent

from consent.engine import Decision, Verdict
from consent.model import parse_consent
from consent.publisher.cursor import advance, gaps
from consent.publisher.endpoints import REGISTRATION_EXTENSION, from_endpoint
from consent.publisher.payload import Delivery, notification, outgoing
from consent.publisher.plan import DELETE, PUT, boundary_crossed, decide, wanted
from consent.publisher.retry import DEAD, DELIVERED, RETRY, backoff, classify, retry_after
from consent.publisher.settings import Registration, SettingsError, parse_settings

AMBULANCE = Registration(name="ambulance", url="https://amb.example/fhir/", ods="rya")
PERMIT = Verdict(Decision.AUTHORIZED, "permits this", consent="Consent/c", provision="provision")
DENY = Verdict(Decision.REJECT, "no consent permits this")


class FakeSigner:
    def sign(self, body: bytes, *, method: str, url: str, idempotency_key: str) -> str:
        return f"sig:{method}:{url}:{len(body)}"


# -- cursor --------------------------------------------------------------------------------------------


def test_the_mark_moves_over_consecutive_seen_seqs_and_waits_at_a_gap() -> None:
    moved = advance(10, {11: 0, 12: 0, 14: 0}, now=5, gap_timeout=100)
    assert (moved.mark, moved.drop, moved.skipped) == (12, frozenset({11, 12}), ())


def test_a_gap_older_than_the_timeout_is_skipped() -> None:
    moved = advance(10, {11: 0, 14: 0, 15: 50}, now=100, gap_timeout=100)
    assert moved.mark == 15 and moved.skipped == (12, 13)


def test_gaps_are_the_unseen_runs_below_the_highest_seen_seq() -> None:
    assert gaps(10, {11: 0, 14: 0, 18: 0}) == [(12, 13), (15, 17)]
    assert gaps(10, {}) == []


# -- retry ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "status", "verdict"),
    [
        ("put", 200, DELIVERED),
        ("put", 201, DELIVERED),
        ("delete", 204, DELIVERED),
        ("delete", 404, DELIVERED),
        ("delete", 410, DELIVERED),
        ("put", 404, DEAD),
        ("put", 400, DEAD),
        ("put", 422, DEAD),
        ("put", 301, DEAD),
        ("put", 408, RETRY),
        ("put", 409, RETRY),
        ("put", 429, RETRY),
        ("put", 500, RETRY),
        ("put", 503, RETRY),
        ("put", None, RETRY),
    ],
)
def test_what_an_answer_means(action: str, status: int | None, verdict: str) -> None:
    assert classify(action, status, "", error="refused").verdict == verdict


def test_a_dead_letter_says_the_status_and_the_start_of_the_body() -> None:
    outcome = classify("put", 400, "  bad\n request " + "x" * 1000)
    assert outcome.reason.startswith("HTTP 400: bad request x") and len(outcome.reason) < 330


def test_backoff_is_full_jitter_under_an_exponential_ceiling() -> None:
    rng = random.Random(1)
    for attempt, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (10, 60.0)):
        waits = [backoff(attempt, 1.0, 60.0, rng) for _ in range(200)]
        assert all(0 <= w <= ceiling for w in waits) and max(waits) > ceiling / 2


def test_retry_after_in_seconds_or_as_a_date_is_capped() -> None:
    now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    assert retry_after("30", now, 10) == 10
    assert retry_after("Wed, 01 Jan 2025 12:00:05 GMT", now, 60) == 5
    assert retry_after("soon", now, 60) is None and retry_after(None, now, 60) is None


# -- plan ----------------------------------------------------------------------------------------------


def test_an_endpoint_gets_dnar_flags_and_shared_care_plans_only() -> None:
    assert wanted(AMBULANCE, dnar_flag("p1"))
    other_flag = {**dnar_flag("p1"), "code": {"coding": [{"system": "http://snomed.info/sct", "code": "1"}]}}
    assert not wanted(AMBULANCE, other_flag)
    assert wanted(AMBULANCE, emergency_plan("p1"))
    assert not wanted(AMBULANCE, {**emergency_plan("p1"), "category": []})
    assert not wanted(Registration(name="a", url="http://a", ods="X", resources=("Flag",)), emergency_plan("p1"))


def test_decide_sends_newer_permitted_versions_and_retracts_what_is_held() -> None:
    key, flag = ("Flag", "f"), dnar_flag("p1")

    def change(resource: dict | None, verdict: Verdict | None, held: int | None, version: int = 3) -> tuple | None:
        found = decide(AMBULANCE, "Patient/p1", key, version, resource, verdict, held)
        return None if found is None else (found.action, found.version, found.decision.split(":")[0])

    assert change(flag, PERMIT, None) == (PUT, 3, "AUTHORIZED (Consent/c provision)")
    assert change(flag, PERMIT, 2) == (PUT, 3, "AUTHORIZED (Consent/c provision)")
    assert change(flag, PERMIT, 3) is None  # the endpoint has it already
    assert change(flag, DENY, None) is None  # never shared: nothing to retract
    assert change(flag, DENY, 2) == (DELETE, 2, "retract")
    assert change(None, None, 2) == (DELETE, 2, "retract")
    assert change(flag, None, 2) == (DELETE, 2, "retract")  # no longer a kind it receives


def test_a_crossed_consent_period_boundary_is_noticed() -> None:
    consent = share_consent("p1")
    consent["provision"]["provision"] = [{"type": "deny", "period": {"start": "2025-06-01"}}]
    parsed = [parse_consent(consent)]
    may, july = datetime(2025, 5, 1, tzinfo=UTC), datetime(2025, 7, 1, tzinfo=UTC)
    assert boundary_crossed(parsed, may, july)  # the nested deny began in June
    assert not boundary_crossed(parsed, july, datetime(2025, 8, 1, tzinfo=UTC))
    assert not boundary_crossed([parse_consent({**consent, "status": "inactive"})], may, july)


# -- payload -------------------------------------------------------------------------------------------


def delivery(action: str = "put") -> Delivery:
    body = orjson.dumps({**dnar_flag("p1"), "meta": {"versionId": "2"}}).decode() if action == "put" else None
    return Delivery(7, "ambulance", "Patient/p1", "Flag", "dnar-p1", 2, action, body, "key-7", "ok", 1, 0, 0)


def test_put_mode_puts_the_resource_and_deletes_a_retraction() -> None:
    put = outgoing(AMBULANCE, delivery(), FakeSigner(), "2025-01-01T00:00:00Z")
    assert (put.method, put.url) == ("PUT", "https://amb.example/fhir/Flag/dnar-p1")
    assert put.headers["Idempotency-Key"] == "key-7" and put.headers["ETag"] == 'W/"2"'
    assert put.headers["X-Closer-Signature"] == f"sig:PUT:{put.url}:{len(put.body)}"
    gone = outgoing(AMBULANCE, delivery("delete"), FakeSigner(), "2025-01-01T00:00:00Z")
    assert (gone.method, gone.body, "Content-Type" in gone.headers) == ("DELETE", b"", False)


def test_a_rest_hook_notification_is_a_backport_history_bundle() -> None:
    bundle = notification(AMBULANCE, delivery(), "2025-01-01T00:00:00Z")
    status, change = bundle["entry"]
    assert bundle["type"] == "history" and status["resource"]["resourceType"] == "Parameters"
    event = next(p for p in status["resource"]["parameter"] if p["name"] == "notification-event")
    assert {"name": "focus", "valueReference": {"reference": "Flag/dnar-p1/_history/2"}} in event["part"]
    assert change["request"] == {"method": "PUT", "url": "Flag/dnar-p1"} and change["response"]["status"] == "200"


# -- registrations -------------------------------------------------------------------------------------


def test_the_settings_file_registers_endpoints(tmp_path: Path) -> None:
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    document = {
        "publisher": {"backoff_base": 0.5, "max_age": 60},
        "endpoint": [
            {"name": "ae", "url": "https://ae.example/fhir", "ods": "RXW", "mode": "transaction"},
            {
                "name": "amb",
                "url": "https://amb.example",
                "ods": "RYA",
                "resources": ["Flag"],
                "client_cert": str(cert),
                "client_key": str(cert),
            },
        ],
    }
    found = parse_settings(document)
    assert (found.backoff_base, found.max_age, found.backoff_cap) == (0.5, 60.0, 300.0)
    ae, amb = found.registrations
    assert (ae.mode, ae.purpose, ae.resources) == ("transaction", "ETREAT", ("CarePlan", "Flag", "AllergyIntolerance"))
    assert amb.tls.mutual and amb.resources == ("Flag",)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"endpoint": [{"name": "a", "url": "ftp://x", "ods": "X"}]}, "url must be http"),
        ({"endpoint": [{"name": "a", "url": "http://x", "ods": "X", "mode": "email"}]}, "mode must be one of"),
        ({"endpoint": [{"name": "a", "url": "http://x", "ods": "X", "resources": ["Condition"]}]}, "resources must"),
        ({"endpoint": [{"name": "a", "url": "http://x"}]}, "'ods' is required"),
        ({"endpoint": [{"name": "a", "url": "http://x", "ods": "X", "client_cert": "/nope"}]}, "not a readable file"),
        ({"endpoint": [{"name": "a", "url": "http://x", "ods": "X"}] * 2}, "must be unique"),
        ({"publisher": {"lease": 0}}, "lease must be positive"),
        ({"publisher": {"colour": "red"}}, "unknown [publisher] setting"),
    ],
)
def test_unusable_settings_say_why(document: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("[", r"\[")):
        parse_settings(document)


def endpoint(**extra: object) -> dict:
    return {
        "resourceType": "Endpoint",
        "id": "e1",
        "status": "active",
        "connectionType": {
            "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
            "code": "hl7-fhir-rest",
        },
        "address": "https://epr.example/fhir",
        "extension": [
            {
                "url": REGISTRATION_EXTENSION,
                "extension": [
                    {"url": "resource", "valueCode": "CarePlan"},
                    {"url": "careplanCategory", "valueCoding": {"system": "http://snomed.info/sct", "code": "1"}},
                    {"url": "mode", "valueCode": "rest-hook"},
                    {"url": "timeout", "valueDecimal": 3},
                ],
            }
        ],
        **extra,
    }


def test_an_endpoint_resource_is_read_as_a_registration() -> None:
    found = from_endpoint(endpoint(), "RXW", {})
    assert found is not None
    assert (found.name, found.url, found.ods, found.mode, found.timeout) == (
        "Endpoint/e1",
        "https://epr.example/fhir",
        "RXW",
        "rest-hook",
        3.0,
    )
    assert found.resources == ("CarePlan",) and found.careplan_categories == frozenset({"1"})
    assert from_endpoint(endpoint(status="off"), "RXW", {}) is None
    assert from_endpoint(endpoint(extension=[]), "RXW", {}) is None
    with pytest.raises(SettingsError, match="managingOrganization"):
        from_endpoint(endpoint(), None, {})
