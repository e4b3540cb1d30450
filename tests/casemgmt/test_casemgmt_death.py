"""Death from every feed ends case management: an HL7 A03 discharged dead, the GP extract's date of death
and an APC spell with discharge method 4 each mark the Patient deceased; `casemgmt watch` then discharges
them (reason death, the GP told), cancels their open Tasks and stops their alerts, so `$alerts` no longer
returns them. On SQLite and PostgreSQL. Also the watcher's other jobs: settling triaged referrals and
raising due reviews."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from cm_data import (
    ANN,
    BOB,
    NORTH_PRACTICE,
    agree,
    enrolled,
    ok,
    operation,
    plan,
    put,
    read,
    refer,
    repository,
    search,
    send,
    setting_up,
    settings,
    today,
)
from flask import Flask
from flask.testing import FlaskClient

from adapters.csvload import load_csv
from adapters.gp.extract import load_extract
from adapters.hl7v2.processor import Hl7Processor
from adapters.hospital import apc
from casemgmt import codes
from casemgmt.watch import poll_once
from closer.store.sql import SqlRepository
from tests.adapters.gp.gp_data import patient_row, write_extract
from tests.adapters.hospital.hospital_data import apc_row

DIED = today() - timedelta(days=1)
DNAR = {"system": "http://snomed.info/sct", "code": "304253006", "display": "Not for resuscitation"}


def a03_died(nhs: str, died: date) -> str:
    """An ITK-style ADT^A03: discharged dead (PV1-36 discharge disposition 79)."""
    stamp = died.strftime("%Y%m%d") + "0340"
    pv1 = ["PV1", "1", "I", "WARD1^BAY1^BED1^RXW", "21", *[""] * 14, "V0001^^^RXW^VN", *[""] * 16, "79"]
    pv1 += [""] * 7 + [(died - timedelta(days=3)).strftime("%Y%m%d") + "1000", stamp]
    return "\r".join(
        [
            f"MSH|^~\\&|PAS|RXW|CLOSER|CLOSER|{stamp}||ADT^A03^ADT_A03|DIED{nhs}|P|2.4|||AL|NE|GBR|UNICODE UTF-8",
            f"EVN|A03|{stamp}",
            f"PID|1||{nhs}^^^NHS^NH||TEST^ANN^^^MRS^^L||19380405|F",
            f"PD1|||TEST PRACTICE^^{NORTH_PRACTICE}",
            "|".join(pv1),
        ]
    )


def by_hl7(repo: SqlRepository, tmp_path: Path) -> None:
    outcome = Hl7Processor(repo).process(a03_died(ANN, DIED))
    assert outcome.code == "AA", outcome.text


def by_gp(repo: SqlRepository, tmp_path: Path) -> None:
    row = patient_row(
        nhs_number=ANN, practice_ods=NORTH_PRACTICE, date_of_birth="1938-04-05", date_of_death=DIED.isoformat()
    )
    report = load_extract(repo, write_extract(tmp_path / "gp", [row]))
    assert report.accepted == 1, report


def by_apc(repo: SqlRepository, tmp_path: Path) -> None:
    row = apc_row(
        nhs_number=ANN,
        admission_date=(DIED - timedelta(days=4)).isoformat(),
        discharge_date=DIED.isoformat(),
        discharge_method="4",
        discharge_destination="79",
    )
    path = tmp_path / "apc.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(apc.COLUMNS))
        writer.writeheader()
        writer.writerow(row)
    report = load_csv(repo, path, apc.FEED)
    assert report.failed == 0, report.issues


def alerts(client: FlaskClient, nhs: str) -> list[str]:
    response = send(client, "GET", f"/Patient/$alerts?identifier={nhs}")
    body = ok(response)
    return sorted(f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in body.get("entry", []))


def case_managed_with_alerts(client: FlaskClient, app: Flask) -> None:
    """ANN: enrolled (severe), with care and emergency plans, a DNAR flag and a review Task open."""
    setting_up(client, app, ANN)
    enrolled(client, app, ANN, tier="severe")
    due = today() + timedelta(days=2)
    ok(agree(client, ANN, ("carePlan", plan("Weekly calls", due)), ("emergency", plan("Call the GP first"))))
    start = (today() - timedelta(days=30)).isoformat()
    flag = {"resourceType": "Flag", "id": f"dnar-{ANN}", "status": "active", "code": {"coding": [DNAR]}}
    put(client, {**flag, "subject": {"reference": f"Patient/{ANN}"}, "period": {"start": start}})
    assert poll_once(repository(app), settings(), today()).reviews


@pytest.mark.parametrize("feed", [by_hl7, by_gp, by_apc], ids=["hl7-a03", "gp-date-of-death", "apc-method-4"])
def test_death_from_each_feed_ends_the_episode_and_stops_alerts(
    client: FlaskClient, app: Flask, tmp_path: Path, feed: Callable[[SqlRepository, Path], None]
) -> None:
    case_managed_with_alerts(client, app)
    shown = alerts(client, ANN)
    assert f"Flag/dnar-{ANN}" in shown and f"CarePlan/careplan-{ANN}-emergency-1" in shown

    feed(repository(app), tmp_path)
    assert read(client, "Patient", ANN)["deceasedDateTime"].startswith(DIED.isoformat())
    done = poll_once(repository(app), settings())
    assert done.discharged == [f"eoc-{ANN}-1"]

    episode = read(client, "EpisodeOfCare", f"eoc-{ANN}-1")
    assert episode["status"] == "finished"
    assert episode["extension"][-1]["valueCodeableConcept"]["coding"][0]["code"] == "death"
    (letter,) = search(client, f"Communication?patient=Patient/{ANN}")
    assert letter["recipient"] == [{"reference": f"Organization/{NORTH_PRACTICE}"}]
    assert letter["category"][0]["coding"][0]["code"] == codes.DISCHARGE_LETTER
    tasks = search(client, f"Task?patient=Patient/{ANN}&code={codes.ACTIVITY_SYSTEM}|review")
    assert [t["status"] for t in tasks] == ["cancelled"]
    dnar = read(client, "Flag", f"dnar-{ANN}")
    assert dnar["status"] == "inactive" and dnar["period"]["end"] == DIED.isoformat()
    assert {p["status"] for p in search(client, f"CarePlan?patient=Patient/{ANN}")} == {"completed"}
    assert read(client, "CareTeam", f"ct-{ANN}-1")["status"] == "inactive"
    assert alerts(client, ANN) == []

    again = poll_once(repository(app), settings())
    assert again.discharged == [] and read(client, "EpisodeOfCare", f"eoc-{ANN}-1")["meta"]["versionId"] == "2"


def test_discharge_by_review_for_death_also_stops_alerts(client: FlaskClient, app: Flask) -> None:
    case_managed_with_alerts(client, app)
    patient = read(client, "Patient", ANN)
    put(client, {**patient, "deceasedDateTime": DIED.isoformat()})
    asked = (("decision", "discharge"), ("reason", "Died at home"), ("dischargeReason", "death"))
    done = ok(operation(client, f"/Patient/{ANN}/$review", *asked))
    assert done["status"] == "completed" and done["businessStatus"]["coding"][0]["code"] == "discharge"
    assert read(client, "Flag", f"dnar-{ANN}")["status"] == "inactive"
    assert alerts(client, ANN) == []
    assert poll_once(repository(app), settings()).discharged == []  # already discharged


def test_the_watcher_settles_triaged_referrals(client: FlaskClient, app: Flask) -> None:
    setting_up(client, app, BOB)
    referral = refer(client, BOB)
    later = today() + timedelta(days=90)
    excluded = operation(
        client,
        f"/Patient/{BOB}/$triage",
        ("decision", "exclude"),
        ("reason", "Well supported at home"),
        ("decidedBy", "MDT"),
        ("nextReview", later),
        ("focus", {"reference": f"ServiceRequest/{referral['id']}"}),
    )
    ok(excluded, 201)
    assert poll_once(repository(app), settings()).settled == [referral["id"]]
    assert read(client, "ServiceRequest", referral["id"])["status"] == "revoked"
