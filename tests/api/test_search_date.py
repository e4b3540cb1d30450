"""Date search over the REST API: every prefix against dates, dateTimes and Periods, as ranges."""

from __future__ import annotations

from typing import Any

from apiutil import check, created, nhs_number, send
from fhirdata import condition, patient
from flask.testing import FlaskClient


def born(client: FlaskClient, birth: str) -> str:
    return str(created(client, patient(nhs_number(), birth=birth))["id"])


def test_prefixes_against_partial_dates(client: FlaskClient) -> None:
    day = born(client, "1950-03-02")
    month = born(client, "1950-03")
    year = born(client, "1951")
    before = born(client, "1949-12-31")
    check(
        client,
        [
            ("/Patient?birthdate=1950-03-02", {day}),
            ("/Patient?birthdate=eq1950-03-02", {day}),
            ("/Patient?birthdate=eq1950-03", {day, month}),
            ("/Patient?birthdate=eq1950", {day, month}),
            ("/Patient?birthdate=eq1951-06", set()),  # the year is wider than the month asked for
            ("/Patient?birthdate=ne1950-03-02", {month, year, before}),
            ("/Patient?birthdate=ne1950", {year, before}),
            ("/Patient?birthdate=lt1950-03-02", {month, before}),
            ("/Patient?birthdate=gt1950-03-02", {month, year}),
            ("/Patient?birthdate=ge1950-03-02", {day, month, year}),
            ("/Patient?birthdate=le1950-03-02", {day, month, before}),
            ("/Patient?birthdate=sa1950-03-02", {year}),
            ("/Patient?birthdate=eb1950-03-02", {before}),
            ("/Patient?birthdate=sa1950", {year}),
            ("/Patient?birthdate=eb1950", {before}),
            ("/Patient?birthdate=ap1950-03", {day, month}),
            ("/Patient?birthdate=ge1950&birthdate=le1950-12-31", {day, month}),
            ("/Patient?birthdate=1949,1951", {year, before}),
            ("/Patient?birthdate=eq1950-03-02T00:00:00Z", set()),  # a day is not within one second
            ("/Patient?birthdate=ap1950-03-02T12:00:00Z", {day, month}),
        ],
    )


def onset(client: FlaskClient, subject: str, **value: Any) -> str:
    resource = {k: v for k, v in condition(f"Patient/{subject}").items() if k != "onsetDateTime"}
    resource.update(value)
    return str(created(client, resource)["id"])


def test_prefixes_against_date_times_and_periods(client: FlaskClient) -> None:
    subject = born(client, "1950-03-02")
    morning = onset(client, subject, onsetDateTime="2020-05-01T10:00:00Z")
    late = onset(client, subject, onsetDateTime="2020-05-01T23:30:00-02:00")  # 2020-05-02T01:30Z
    spanning = onset(client, subject, onsetPeriod={"start": "2020-04-20", "end": "2020-05-10"})
    open_end = onset(client, subject, onsetPeriod={"start": "2020-05-05T08:00:00Z"})
    open_start = onset(client, subject, onsetPeriod={"end": "2020-04-01"})
    check(
        client,
        [
            ("/Condition?onset-date=2020-05-01", {morning}),
            ("/Condition?onset-date=eq2020-05-02", {late}),
            ("/Condition?onset-date=eq2020-05", {morning, late}),
            ("/Condition?onset-date=eq2020", {morning, late, spanning}),
            ("/Condition?onset-date=eq2020-05-01T10:00:00Z", {morning}),
            ("/Condition?onset-date=eq2020-05-01T10:00Z", {morning}),
            ("/Condition?onset-date=eq2020-05-01T12:00:00%2B02:00", {morning}),
            ("/Condition?onset-date=eq2020-05-01T10:00:01Z", set()),
            ("/Condition?onset-date=ne2020-05", {spanning, open_end, open_start}),
            ("/Condition?onset-date=gt2020-05-01", {late, spanning, open_end}),
            ("/Condition?onset-date=lt2020-05-01", {spanning, open_start}),
            ("/Condition?onset-date=ge2020-05-02", {late, spanning, open_end}),
            ("/Condition?onset-date=le2020-04-30", {spanning, open_start}),
            ("/Condition?onset-date=sa2020-05-01", {late, open_end}),
            ("/Condition?onset-date=eb2020-05-01", {open_start}),
            ("/Condition?onset-date=sa2020-04-25", {morning, late, open_end}),
            ("/Condition?onset-date=eb2020-05-06", {morning, late, open_start}),
            ("/Condition?onset-date=ap2020-05-07", {spanning, open_end}),
            ("/Condition?onset-date=gt2030", {open_end}),
            ("/Condition?onset-date=lt1900", {open_start}),
            ("/Condition?onset-date=ge2020-05-01&onset-date=le2020-05-01", {morning, spanning}),
        ],
    )


def test_far_future_sentinel_end_is_indexed_and_searchable(client: FlaskClient) -> None:
    encounter = {
        "resourceType": "Encounter",
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "period": {"start": "2020-01-01", "end": "9999-12-31"},
    }
    response = send(client, "POST", "/Encounter", encounter)
    assert response.status_code == 201, response.get_data(as_text=True)
    encounter_id = response.get_json()["id"]
    check(
        client,
        [
            ("/Encounter?date=gt2100", {encounter_id}),
            ("/Encounter?date=eq2020", set()),
            ("/Encounter?date=ap2050", {encounter_id}),
            ("/Encounter?date=le9999-12-31", {encounter_id}),
            ("/Encounter?date=sa9999-12-30", set()),
        ],
    )


def test_bad_dates_are_400(client: FlaskClient) -> None:
    for value in ("2020-02-30", "yesterday", "ge", "2020-05-01T10", "2020-13"):
        response = send(client, "GET", f"/Patient?birthdate={value}")
        assert response.status_code == 400, value
        body = response.get_json()
        assert body["resourceType"] == "OperationOutcome"
        assert "birthdate" in body["issue"][0]["diagnostics"]
