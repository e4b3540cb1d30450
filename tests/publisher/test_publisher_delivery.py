"""The publisher end to end in one process, on SQLite and PostgreSQL: a store, a worker, and a receiver
(pytest-httpserver) that records every raw request it gets."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from publisher_data import (
    AMBULANCE_ODS,
    Receipt,
    Receiver,
    dnar_flag,
    emergency_plan,
    organization,
    seed_patient,
    settings,
    share_consent,
)
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select

from closer.audit import events_for
from closer.audit.event import action_of
from closer.cli import main
from closer.store.sql import SqlRepository
from consent.publisher.endpoints import REGISTRATION_EXTENSION
from consent.publisher.settings import PublishSettings
from consent.publisher.signing import SIGNATURE_HEADER, load_signer, verify
from consent.publisher.tables import DEAD, OPEN, publish_deliveries
from consent.publisher.worker import Worker


@pytest.fixture
def receiver(httpserver: HTTPServer) -> Receiver:
    return Receiver(httpserver)


def drain(repo: SqlRepository, publish: PublishSettings, worker: str = "w1") -> Worker:
    """Run a worker until every outbox event is planned and no delivery is open (retries included)."""
    w = Worker(repo, publish, worker)
    deadline = time.monotonic() + 60
    while w.step() or open_deliveries(repo):
        assert time.monotonic() < deadline, "the queue did not drain"
        time.sleep(0.005)
    w.sender.close()
    return w


def open_deliveries(repo: SqlRepository) -> int:
    d = publish_deliveries.c
    with repo.engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(d.status.in_(OPEN))).scalar_one())


def test_a_consented_patient_is_delivered_signed_and_audited(
    store: SqlRepository, receiver: Receiver, tmp_path: Path
) -> None:
    publish = settings(receiver.url, tmp_path)
    store.update(organization())
    seed_patient(store, "p1")
    drain(store, publish)
    paths = sorted(r.path for r in receiver.receipts)
    assert paths == ["/fhir/AllergyIntolerance/allergy-p1", "/fhir/CarePlan/ecp-p1", "/fhir/Flag/dnar-p1"]
    jwks = load_signer(publish.signing_key).jwks()
    for receipt in receiver.receipts:
        assert receipt.method == "PUT"
        header = verify(receipt.headers[SIGNATURE_HEADER], receipt.body, jwks)  # raises if it does not verify
        assert header["htm"] == "PUT" and header["htu"] == receiver.server.url_for(receipt.path)
        assert header["idem"] == receipt.key
        assert receipt.headers["X-Closer-Version"] == receipt.resource["meta"]["versionId"]  # type: ignore[index]
    tampered = receiver.receipts[0]
    with pytest.raises(Exception, match="Signature verification failed"):
        verify(tampered.headers[SIGNATURE_HEADER], tampered.body.replace(b"p1", b"p2"), jwks)
    events = events_for(store.engine, "Patient/p1")
    assert sorted(action_of(e) for e in events) == ["push", "push", "push"]
    assert {e["outcome"] for e in events} == {"0"}
    assert all("Consent/share-p1" in e["outcomeDesc"] for e in events)
    assert all(e["agent"][0]["who"]["identifier"]["value"] == AMBULANCE_ODS for e in events)


def test_without_consent_nothing_is_sent(store: SqlRepository, receiver: Receiver, tmp_path: Path) -> None:
    seed_patient(store, "p1", consent=False)
    drain(store, settings(receiver.url, tmp_path))
    assert receiver.receipts == []
    with store.engine.connect() as conn:
        assert conn.execute(publish_deliveries.select()).all() == []


def test_a_withdrawn_consent_retracts_what_was_shared_and_stops(
    store: SqlRepository, receiver: Receiver, tmp_path: Path
) -> None:
    publish = settings(receiver.url, tmp_path)
    seed_patient(store, "p1")
    drain(store, publish)
    assert Counter(r.method for r in receiver.receipts) == {"PUT": 3}
    store.update(share_consent("p1", status="inactive"))
    drain(store, publish)
    deletes = sorted(r.path for r in receiver.receipts if r.method == "DELETE")
    assert deletes == ["/fhir/AllergyIntolerance/allergy-p1", "/fhir/CarePlan/ecp-p1", "/fhir/Flag/dnar-p1"]
    received = len(receiver.receipts)
    store.update(dnar_flag("p1", status="inactive"))  # a change after withdrawal goes nowhere
    drain(store, publish)
    assert len(receiver.receipts) == received
    actions = Counter(action_of(e) for e in events_for(store.engine, "Patient/p1"))
    assert actions == {"push": 3, "retract": 3}


def test_a_consent_given_later_sends_the_record_then(store: SqlRepository, receiver: Receiver, tmp_path: Path) -> None:
    publish = settings(receiver.url, tmp_path)
    seed_patient(store, "p1", consent=False)
    drain(store, publish)
    assert receiver.receipts == []
    store.update(share_consent("p1"))
    drain(store, publish)
    assert len(receiver.receipts) == 3


def test_a_deleted_resource_is_deleted_downstream(store: SqlRepository, receiver: Receiver, tmp_path: Path) -> None:
    publish = settings(receiver.url, tmp_path)
    seed_patient(store, "p1")
    drain(store, publish)
    store.delete("Flag", "dnar-p1")
    drain(store, publish)
    assert [(r.method, r.path) for r in receiver.receipts[3:]] == [("DELETE", "/fhir/Flag/dnar-p1")]


def test_503_five_times_is_retried_then_delivered_once(
    store: SqlRepository, receiver: Receiver, tmp_path: Path
) -> None:
    failures = Counter[str]()

    def flaky(receipt: Receipt) -> tuple[int, str]:
        if failures[receipt.key] < 5:
            failures[receipt.key] += 1
            return 503, "busy"
        return 200, ""

    receiver.answer = flaky
    store.update(share_consent("p1"))
    store.update(dnar_flag("p1"))
    drain(store, settings(receiver.url, tmp_path))
    assert [r.path for r in receiver.receipts] == ["/fhir/Flag/dnar-p1"] * 6
    assert len({r.key for r in receiver.receipts}) == 1  # every attempt carries the same idempotency key
    assert failures == {receiver.receipts[0].key: 5}
    outcomes = Counter(e["outcome"] for e in events_for(store.engine, "Patient/p1"))
    assert outcomes == {"4": 5, "0": 1}


def test_400_is_dead_lettered_with_the_reason_and_retry_works_once_fixed(
    store: SqlRepository, receiver: Receiver, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.answer = lambda _r: (400, '{"resourceType":"OperationOutcome","issue":[{"diagnostics":"bad flag"}]}')
    store.update(share_consent("p1"))
    store.update(dnar_flag("p1"))
    publish = settings(receiver.url, tmp_path)
    drain(store, publish)
    assert len(receiver.receipts) == 1  # not retried: a 400 will not change by itself
    monkeypatch.setenv("CLOSER_DATABASE_URL", database_url)
    runner = CliRunner()
    listed = runner.invoke(main, ["publish", "dead-letters", "--json"])
    assert listed.exit_code == 0, listed.output
    (letter,) = json.loads(listed.output)
    assert letter["resource"] == "Flag/dnar-p1/_history/1" and letter["last_status"] == 400
    assert "HTTP 400" in letter["reason"] and "bad flag" in letter["reason"]
    receiver.answer = lambda _r: (200, "")
    retried = runner.invoke(main, ["publish", "retry", str(letter["id"])])
    assert retried.exit_code == 0, retried.output
    assert "queued again: 1" in retried.output
    drain(store, publish)
    assert [r.path for r in receiver.receipts] == ["/fhir/Flag/dnar-p1"] * 2
    assert receiver.receipts[0].key == receiver.receipts[1].key
    assert runner.invoke(main, ["publish", "dead-letters"]).output.strip() == "No dead letters."
    with store.engine.connect() as conn:
        assert conn.execute(publish_deliveries.select().where(publish_deliveries.c.status == DEAD)).all() == []


def test_a_patients_changes_arrive_in_order_even_when_one_is_retried(
    store: SqlRepository, receiver: Receiver, tmp_path: Path
) -> None:
    first = {"failed": 0}

    def fail_first_twice(receipt: Receipt) -> tuple[int, str]:
        if receipt.path.endswith("/ecp-p1") and first["failed"] < 2:
            first["failed"] += 1
            return 503, ""
        return 200, ""

    receiver.answer = fail_first_twice
    publish = settings(receiver.url, tmp_path)
    store.update(share_consent("p1"))
    store.update(share_consent("p2"))
    drain(store, publish)
    for n in range(4):  # p1's plan, then its flag, change in turns; p2's too
        for pid in ("p1", "p2"):
            store.update(emergency_plan(pid, title=f"plan {n}"))
            store.update(dnar_flag(pid, status="active" if n % 2 == 0 else "inactive"))
    drain(store, publish)
    committed = {(f"{e.resource_type}/{e.resource_id}", e.version): e.seq for e in store.events(0, limit=1000)}
    for pid in ("p1", "p2"):
        accepted = [
            (f"{r.resource['resourceType']}/{r.resource['id']}", int(r.resource["meta"]["versionId"]))
            for r in receiver.receipts
            if r.resource and r.resource["id"].endswith(pid) and not _failed(receiver, r)
        ]
        assert len(accepted) == len(set(accepted)) == 8  # 4 versions of the plan and of the flag, once each
        seqs = [committed[version] for version in accepted]
        assert seqs == sorted(seqs), f"{pid}'s changes arrived out of commit order"


def _failed(receiver: Receiver, receipt: Receipt) -> bool:
    """Whether this receipt was answered with a failure (the first two tries of p1's first plan)."""
    same = [r for r in receiver.receipts if r.key == receipt.key]
    return same.index(receipt) < len(same) - 1


@pytest.mark.parametrize("mode", ["transaction", "rest-hook"])
def test_transaction_and_rest_hook_modes_post_bundles(
    store: SqlRepository, receiver: Receiver, tmp_path: Path, mode: str
) -> None:
    publish = settings(receiver.url, tmp_path, mode=mode)
    store.update(share_consent("p1"))
    store.update(dnar_flag("p1"))
    drain(store, publish)
    store.update(share_consent("p1", status="inactive"))
    drain(store, publish)
    put, retraction = receiver.receipts
    assert (put.method, put.path) == ("POST", "/fhir") and (retraction.method, retraction.path) == ("POST", "/fhir")
    jwks = load_signer(publish.signing_key).jwks()
    verify(put.headers[SIGNATURE_HEADER], put.body, jwks)
    bundle, undo = put.resource, retraction.resource
    assert bundle is not None and undo is not None
    if mode == "transaction":
        assert bundle["type"] == "transaction"
        assert bundle["entry"][0]["request"] == {"method": "PUT", "url": "Flag/dnar-p1"}
        assert undo["entry"][0]["request"] == {"method": "DELETE", "url": "Flag/dnar-p1"}
    else:
        assert bundle["type"] == "history"
        status = bundle["entry"][0]["resource"]
        assert status["resourceType"] == "Parameters"
        names = [p["name"] for p in status["parameter"]]
        assert names[:4] == ["subscription", "topic", "status", "type"]
        assert bundle["entry"][1]["resource"]["id"] == "dnar-p1"
        assert undo["entry"][1]["request"]["method"] == "DELETE"


def test_an_endpoint_resource_registers_a_receiver(store: SqlRepository, receiver: Receiver, tmp_path: Path) -> None:
    store.update(organization())
    store.update(
        {
            "resourceType": "Endpoint",
            "id": "amb-epr",
            "status": "active",
            "connectionType": {
                "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
                "code": "hl7-fhir-rest",
            },
            "managingOrganization": {"reference": "Organization/org-rya"},
            "payloadType": [{"coding": [{"system": "http://hl7.org/fhir/resource-types", "code": "Flag"}]}],
            "address": receiver.url,
            "extension": [
                {
                    "url": REGISTRATION_EXTENSION,
                    "extension": [
                        {"url": "resource", "valueCode": "Flag"},
                        {"url": "mode", "valueCode": "put"},
                        {
                            "url": "purpose",
                            "valueCoding": {
                                "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                                "code": "ETREAT",
                            },
                        },
                    ],
                }
            ],
        }
    )
    seed_patient(store, "p1")
    drain(store, settings(receiver.url, tmp_path, registrations=()))
    assert [r.path for r in receiver.receipts] == ["/fhir/Flag/dnar-p1"]  # Flags only, as registered
    (event,) = events_for(store.engine, "Patient/p1")
    assert event["agent"][0]["name"] == "Endpoint/amb-epr"


def test_a_narrowed_consent_retracts_only_what_it_no_longer_permits(
    store: SqlRepository, receiver: Receiver, tmp_path: Path
) -> None:
    publish = settings(receiver.url, tmp_path)
    seed_patient(store, "p1")
    drain(store, publish)
    no_plans = share_consent("p1", cid="no-plans")
    no_plans["provision"] = {**no_plans["provision"], "type": "deny", "class": [no_plans["provision"]["class"][2]]}
    store.update(no_plans)  # a second Consent denying care plans: a deny beats a permit
    drain(store, publish)
    assert [(r.method, r.path) for r in receiver.receipts[3:]] == [("DELETE", "/fhir/CarePlan/ecp-p1")]
    store.update(emergency_plan("p1", title="revised"))
    store.update(dnar_flag("p1", status="inactive"))
    drain(store, publish)
    assert [(r.method, r.path) for r in receiver.receipts[4:]] == [("PUT", "/fhir/Flag/dnar-p1")]


def test_a_change_undelivered_past_its_maximum_age_is_dead_lettered(
    store: SqlRepository, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.answer = lambda _r: (503, "down for maintenance")
    store.update(share_consent("p1"))
    store.update(dnar_flag("p1"))
    drain(store, settings(receiver.url, tmp_path, max_age=0.2))
    with store.engine.connect() as conn:
        (row,) = conn.execute(select(publish_deliveries)).all()
    assert row.status == DEAD and row.attempts == len(receiver.receipts)
    assert "(max_age): HTTP 503: down for maintenance" in row.last_error


def test_a_consent_that_lapses_is_found_by_the_sweep_and_retracted(
    store: SqlRepository, receiver: Receiver, tmp_path: Path
) -> None:
    publish = settings(receiver.url, tmp_path)
    until_2099 = share_consent("p1")
    until_2099["provision"] = {**until_2099["provision"], "period": {"start": "2024-01-01", "end": "2099-12-31"}}
    store.update(until_2099)
    store.update(dnar_flag("p1"))
    worker = drain(store, publish)
    assert [r.method for r in receiver.receipts] == ["PUT"]
    assert worker.planner.sweep(datetime(2099, 6, 1, tzinfo=UTC)).changes == []  # still in force
    lapsed = worker.planner.sweep(datetime(2100, 1, 2, tzinfo=UTC))
    assert [(c.action, c.res_id) for c in lapsed.changes] == [("delete", "dnar-p1")]
    assert "no longer permitted" in lapsed.changes[0].decision
    drain(store, publish)
    assert [(r.method, r.path) for r in receiver.receipts] == [
        ("PUT", "/fhir/Flag/dnar-p1"),
        ("DELETE", "/fhir/Flag/dnar-p1"),
    ]
