"""Conditional create (If-None-Exist), conditional update and conditional delete."""

from __future__ import annotations

from apiutil import BASE, created, ids, nhs_number, nhs_query, outcome, search, send, snapshot
from fhirdata import NHS, patient
from flask import Flask
from flask.testing import FlaskClient

# -- conditional create -----------------------------------------------------------------------------


def test_if_none_exist_with_no_match_creates(client: FlaskClient) -> None:
    number = nhs_number()
    # The same number under another identifier system is not a match.
    other = created(client, {**patient(number), "identifier": [{"system": "urn:other", "value": number}]})
    response = send(client, "POST", "/Patient", patient(number), {"If-None-Exist": nhs_query(number)})
    assert response.status_code == 201
    assert response.headers["ETag"] == 'W/"1"'
    new_id = response.get_json()["id"]
    assert new_id != other["id"]
    assert ids(search(client, f"/Patient?{nhs_query(number)}")) == [new_id]


def test_if_none_exist_with_one_match_returns_existing(client: FlaskClient, app: Flask) -> None:
    number = nhs_number()
    existing = created(client, patient(number))
    before = snapshot(app)
    for condition in (nhs_query(number), "?" + nhs_query(number)):
        response = send(client, "POST", "/Patient", patient(number, family="Other"), {"If-None-Exist": condition})
        assert response.status_code == 200
        assert response.get_json() == existing
        assert response.headers["ETag"] == 'W/"1"'
        assert response.headers["Location"] == f"{BASE}/Patient/{existing['id']}/_history/1"
    assert snapshot(app) == before


def test_if_none_exist_with_two_matches_is_412(client: FlaskClient, app: Flask) -> None:
    number = nhs_number()
    created(client, patient(number))
    created(client, patient(number))
    before = snapshot(app)
    outcome(send(client, "POST", "/Patient", patient(number), {"If-None-Exist": nhs_query(number)}), 412)
    assert snapshot(app) == before


def test_if_none_exist_without_usable_criteria_is_400(client: FlaskClient, app: Flask) -> None:
    before = snapshot(app)
    for condition in ("shoe-size=9", "_count=1"):
        outcome(send(client, "POST", "/Patient", patient(nhs_number()), {"If-None-Exist": condition}), 400)
    assert snapshot(app) == before


# -- conditional update -----------------------------------------------------------------------------


def test_conditional_update_with_no_match_creates(client: FlaskClient) -> None:
    number = nhs_number()
    response = send(client, "PUT", f"/Patient?{nhs_query(number)}", patient(number))
    assert response.status_code == 201
    body = response.get_json()
    assert body["id"]
    assert body["meta"]["versionId"] == "1"
    assert response.headers["Location"] == f"{BASE}/Patient/{body['id']}/_history/1"
    assert ids(search(client, f"/Patient?{nhs_query(number)}")) == [body["id"]]

    # With an id in the body, the new resource gets that id.
    other = nhs_number()
    response = send(client, "PUT", f"/Patient?{nhs_query(other)}", patient(other, id="cond-new"))
    assert response.status_code == 201
    assert response.get_json()["id"] == "cond-new"
    assert send(client, "GET", "/Patient/cond-new").status_code == 200


def test_conditional_update_with_one_match_updates_it(client: FlaskClient) -> None:
    number = nhs_number()
    existing = created(client, patient(number))
    response = send(client, "PUT", f"/Patient?{nhs_query(number)}", patient(number, gender="male"))
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == existing["id"]
    assert body["meta"]["versionId"] == "2"
    assert response.headers["ETag"] == 'W/"2"'
    assert send(client, "GET", f"/Patient/{existing['id']}").get_json()["gender"] == "male"
    # A body naming the matched id is fine too.
    same_id = patient(number, gender="other", id=existing["id"])
    response = send(client, "PUT", f"/Patient?{nhs_query(number)}", same_id)
    assert response.status_code == 200
    assert response.get_json()["meta"]["versionId"] == "3"
    assert ids(search(client, f"/Patient?{nhs_query(number)}")) == [existing["id"]]


def test_conditional_update_with_two_matches_is_412(client: FlaskClient, app: Flask) -> None:
    number = nhs_number()
    created(client, patient(number))
    created(client, patient(number))
    before = snapshot(app)
    outcome(send(client, "PUT", f"/Patient?{nhs_query(number)}", patient(number, gender="male")), 412)
    assert snapshot(app) == before


def test_conditional_update_bad_requests_are_400(client: FlaskClient, app: Flask) -> None:
    number = nhs_number()
    created(client, patient(number))
    before = snapshot(app)
    conflicting_id = patient(number, gender="male", id="someone-else")
    outcome(send(client, "PUT", f"/Patient?{nhs_query(number)}", conflicting_id), 400)
    outcome(send(client, "PUT", "/Patient", patient(nhs_number())), 400)
    outcome(send(client, "PUT", "/Patient?shoe-size=9", patient(nhs_number())), 400)
    assert snapshot(app) == before


def test_conditional_update_honours_if_match(client: FlaskClient, app: Flask) -> None:
    number = nhs_number()
    url = f"/Patient?{nhs_query(number)}"
    created(client, patient(number))
    before = snapshot(app)
    outcome(send(client, "PUT", url, patient(number, gender="male"), {"If-Match": 'W/"4"'}), 412)
    assert snapshot(app) == before
    ok = send(client, "PUT", url, patient(number, gender="male"), {"If-Match": 'W/"1"'})
    assert ok.status_code == 200
    assert ok.headers["ETag"] == 'W/"2"'


# -- conditional delete -----------------------------------------------------------------------------


def test_conditional_delete_with_no_match_succeeds_without_change(client: FlaskClient, app: Flask) -> None:
    created(client, patient(nhs_number()))
    before = snapshot(app)
    response = send(client, "DELETE", f"/Patient?{nhs_query(nhs_number())}")
    assert response.status_code in (200, 204)
    assert snapshot(app) == before


def test_conditional_delete_with_one_match_deletes_it(client: FlaskClient) -> None:
    number = nhs_number()
    doomed = created(client, patient(number))
    by_name = created(client, patient(nhs_number(), family="Zebedee"))
    survivor = created(client, patient(nhs_number()))
    response = send(client, "DELETE", f"/Patient?{nhs_query(number)}")
    assert response.status_code in (200, 204)
    outcome(send(client, "GET", f"/Patient/{doomed['id']}"), 410)
    assert ids(search(client, f"/Patient?{nhs_query(number)}")) == []
    assert send(client, "DELETE", "/Patient?family=Zebedee").status_code in (200, 204)
    outcome(send(client, "GET", f"/Patient/{by_name['id']}"), 410)
    assert send(client, "GET", f"/Patient/{survivor['id']}").status_code == 200


def test_conditional_delete_with_two_matches_is_412(client: FlaskClient, app: Flask) -> None:
    number = nhs_number()
    first = created(client, patient(number))
    second = created(client, patient(number))
    before = snapshot(app)
    outcome(send(client, "DELETE", f"/Patient?{nhs_query(number)}"), 412)
    assert snapshot(app) == before
    assert send(client, "GET", f"/Patient/{first['id']}").status_code == 200
    assert send(client, "GET", f"/Patient/{second['id']}").status_code == 200


def test_conditional_delete_without_usable_criteria_is_400(client: FlaskClient, app: Flask) -> None:
    created(client, patient(nhs_number()))
    before = snapshot(app)
    outcome(send(client, "DELETE", "/Patient"), 400)
    outcome(send(client, "DELETE", "/Patient?shoe-size=9"), 400)
    outcome(send(client, "DELETE", f"/Patient?identifier={NHS}|{nhs_number()}&_count=1&colour=red"), 400)
    assert snapshot(app) == before
