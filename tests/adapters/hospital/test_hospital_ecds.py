"""Loading ECDS (A&E attendance) extracts into the store, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fhirdata import NHS_NUMBERS
from hospital_data import ECDS_COLUMNS, ecds_row

from adapters.csvload import load_csv
from adapters.hospital import ecds
from adapters.identity import ODS_SITE_SYSTEM, derived_id, local_system
from closer.store.query import parse_search
from closer.store.sql import SqlRepository

CsvWriter = Callable[..., Path]


def attendance(store: SqlRepository, attendance_id: str = "A5001", site: str = "RXW01") -> dict[str, Any]:
    return store.read("Encounter", derived_id("attendance", site, attendance_id))


def test_an_ecds_file_gives_emergency_encounters(store: SqlRepository, write_csv: CsvWriter) -> None:
    rows = [
        ecds_row(),
        ecds_row(
            attendance_id="A5002",
            nhs_number=NHS_NUMBERS[2],
            departure_time="",
            discharge_status_snomed="",
            discharge_status_term="",
        ),
    ]
    report = load_csv(store, write_csv("ae.csv", ECDS_COLUMNS, rows), ecds.FEED)
    assert (report.accepted, report.failed, report.issues) == (2, 0, [])

    visit = attendance(store)
    assert visit["status"] == "finished"
    assert visit["class"]["code"] == "EMER"
    assert visit["type"] == [
        {
            "coding": [
                {"system": "http://snomed.info/sct", "code": "4525004", "display": "Emergency department patient visit"}
            ]
        }
    ]
    assert visit["identifier"] == [{"system": local_system("attendance", "RXW01"), "value": "A5001"}]
    assert visit["subject"] == {"reference": f"Patient/{NHS_NUMBERS[1]}"}
    assert visit["period"] == {"start": "2024-07-01T22:40:00+01:00", "end": "2024-07-02T02:05:00+01:00"}
    assert visit["reasonCode"] == [
        {"coding": [{"system": "http://snomed.info/sct", "code": "29857009", "display": "Chest pain"}]}
    ]
    assert visit["hospitalization"]["dischargeDisposition"] == {
        "coding": [{"system": "http://snomed.info/sct", "code": "306689006", "display": "Discharge to home"}]
    }
    assert visit["serviceProvider"] == {"reference": "Organization/RXW01"}
    assert visit["location"] == [{"location": {"identifier": {"system": ODS_SITE_SYSTEM, "value": "RXW01"}}}]

    waiting = attendance(store, "A5002")
    assert waiting["status"] == "in-progress"
    assert waiting["period"] == {"start": "2024-07-01T22:40:00+01:00"}
    assert "hospitalization" not in waiting

    found = store.search(parse_search("Encounter", [("type", "http://snomed.info/sct|4525004")])).matches
    assert len(found) == 2
    assert store.read("Organization", "RXW01")["identifier"][0]["value"] == "RXW01"
    assert store.read("Patient", NHS_NUMBERS[2])["id"] == NHS_NUMBERS[2]


def test_a_resent_attendance_updates_and_an_identical_one_is_a_duplicate(
    store: SqlRepository, write_csv: CsvWriter
) -> None:
    waiting = ecds_row(departure_time="", discharge_status_snomed="", discharge_status_term="")
    load_csv(store, write_csv("ae1.csv", ECDS_COLUMNS, [waiting]), ecds.FEED)
    gone_home = write_csv("ae2.csv", ECDS_COLUMNS, [ecds_row()])
    first = load_csv(store, gone_home, ecds.FEED)
    again = load_csv(store, gone_home, ecds.FEED)
    assert (first.accepted, again.accepted, again.duplicates) == (1, 0, 1)
    visit = attendance(store)
    assert visit["meta"]["versionId"] == "2"
    assert visit["status"] == "finished"


def test_bad_ecds_rows_are_reported_and_the_others_load(store: SqlRepository, write_csv: CsvWriter) -> None:
    rows = [
        ecds_row(attendance_id="B1", chief_complaint_snomed="29857008"),
        ecds_row(attendance_id="B2", departure_time="2024-07-01T21:00"),
        ecds_row(attendance_id="G1"),
        ecds_row(attendance_id="B3", nhs_number="99900000"),
    ]
    report = load_csv(store, write_csv("ae.csv", ECDS_COLUMNS, rows), ecds.FEED)
    assert (report.accepted, report.failed) == (1, 3)
    assert [(i.location, i.message) for i in report.issues] == [
        (
            "ae.csv line 2",
            "chief_complaint_snomed '29857008' is not a SNOMED CT identifier (6-18 digits with a valid check digit)",
        ),
        ("ae.csv line 3", "departure_time 2024-07-01T21:00:00+01:00 is before arrival_time 2024-07-01T22:40:00+01:00"),
        ("ae.csv line 5", "nhs_number '99900000' is not an NHS number (10 digits)"),
    ]
    assert attendance(store, "G1")["status"] == "finished"
