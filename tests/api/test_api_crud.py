"""Read, vread, create, update, delete, optimistic locking and Prefer over the REST API."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime

from apiutil import BASE, FHIR_JSON, created, nhs_number, outcome, put, send, snapshot
from fhirdata import condition, patient
from flask import Flask
from flask.testing import FlaskClient


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- create ------------------------------------------------------------------------------------------


def test_create_assigns_id_and_returns_location_etag_and_meta(client: FlaskClient) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    response = send(client, "POST", "/Patient", patient(nhs_number(), id="client-chosen"))
    assert response.status_code == 201
    assert response.mimetype == FHIR_JSON
    body = response.get_json()
    assert body["resourceType"] == "Patient"
    assert body["id"] and body["id"] != "client-chosen"
    assert body["meta"]["versionId"] == "1"
    stored_at = _instant(body["meta"]["lastUpdated"])
    assert before <= stored_at <= datetime.now(UTC)
    assert body["name"] == [{"family": "Smith", "given": ["Ann"]}]
    assert response.headers["Location"] == f"{BASE}/Patient/{body['id']}/_history/1"
    assert response.headers["ETag"] == 'W/"1"'
    # Last-Modified is an HTTP-date (RFC 9110), not a FHIR instant.
    assert email.utils.parsedate_to_datetime(response.headers["Last-Modified"]) == stored_at.replace(microsecond=0)


def test_create_ignores_client_id_and_version(client: FlaskClient) -> None:
    tag = [{"system": "urn:test", "code": "t"}]
    first = created(client, patient(nhs_number(), id="same", meta={"versionId": "7", "tag": tag}))
    second = created(client, patient(nhs_number(), id="same"))
    assert first["id"] != second["id"]
    assert "same" not in (first["id"], second["id"])
    assert first["meta"]["versionId"] == "1"
    assert first["meta"]["tag"] == tag


# -- read and vread ---------------------------------------------------------------------------------


def test_read_returns_the_stored_resource_with_etag(client: FlaskClient) -> None:
    stored = created(client, patient(nhs_number()))
    response = send(client, "GET", f"/Patient/{stored['id']}")
    assert response.status_code == 200
    assert response.get_json() == stored
    assert response.headers["ETag"] == 'W/"1"'
    assert "Location" not in response.headers
    assert email.utils.parsedate_to_datetime(response.headers["Last-Modified"])


def test_vread_returns_each_version(client: FlaskClient) -> None:
    v1 = created(client, patient(nhs_number(), family="Jones"))
    changed = {**v1, "name": [{"family": "Brown", "given": ["Ann"]}]}
    assert put(client, changed).status_code == 200
    first = send(client, "GET", f"/Patient/{v1['id']}/_history/1")
    second = send(client, "GET", f"/Patient/{v1['id']}/_history/2")
    assert first.status_code == second.status_code == 200
    assert first.get_json() == v1
    assert first.headers["ETag"] == 'W/"1"'
    assert second.get_json()["name"][0]["family"] == "Brown"
    assert second.headers["ETag"] == 'W/"2"'
    assert "Location" not in first.headers


def test_read_and_vread_of_unknown_are_404(client: FlaskClient) -> None:
    stored = created(client, patient(nhs_number()))
    oo = outcome(send(client, "GET", "/Patient/does-not-exist"), 404)
    assert oo["issue"][0]["code"] == "not-found"
    outcome(send(client, "GET", f"/Condition/{stored['id']}"), 404)
    outcome(send(client, "GET", f"/Patient/{stored['id']}/_history/9"), 404)
    outcome(send(client, "GET", f"/Patient/{stored['id']}/_history/abc"), 404)
    outcome(send(client, "GET", "/Patient/nobody/_history/1"), 404)


# -- update -----------------------------------------------------------------------------------------


def test_update_creates_with_client_id_then_updates(client: FlaskClient) -> None:
    resource = patient(nhs_number(), id="pat-client-1")
    first = put(client, resource)
    assert first.status_code == 201
    assert first.get_json()["id"] == "pat-client-1"
    assert first.get_json()["meta"]["versionId"] == "1"
    assert first.headers["Location"] == f"{BASE}/Patient/pat-client-1/_history/1"
    assert first.headers["ETag"] == 'W/"1"'

    second = put(client, {**resource, "gender": "male"})
    assert second.status_code == 200
    body = second.get_json()
    assert body["meta"]["versionId"] == "2"
    assert body["gender"] == "male"
    assert second.headers["ETag"] == 'W/"2"'
    assert second.headers["Location"] == f"{BASE}/Patient/pat-client-1/_history/2"
    assert send(client, "GET", "/Patient/pat-client-1").get_json() == body


def test_unchanged_update_is_a_no_op(client: FlaskClient, app: Flask) -> None:
    stored = created(client, patient(nhs_number()))
    before = snapshot(app)
    again = put(client, {k: v for k, v in stored.items() if k != "meta"})
    assert again.status_code == 200
    assert again.get_json() == stored
    assert again.headers["ETag"] == 'W/"1"'
    # Only server-set meta differs: still the same content.
    resent = {**stored, "meta": {"versionId": "5", "lastUpdated": "2001-01-01T00:00:00Z"}}
    assert put(client, resent).get_json()["meta"] == stored["meta"]
    assert snapshot(app) == before
    history = send(client, "GET", f"/Patient/{stored['id']}/_history").get_json()
    assert len(history["entry"]) == 1


def test_update_keeps_resource_types_apart(client: FlaskClient) -> None:
    put(client, patient(nhs_number(), id="shared-id"))
    response = put(client, condition("Patient/shared-id", id="shared-id"))
    assert response.status_code == 201
    assert send(client, "GET", "/Patient/shared-id").get_json()["resourceType"] == "Patient"
    assert send(client, "GET", "/Condition/shared-id").get_json()["resourceType"] == "Condition"


# -- delete -----------------------------------------------------------------------------------------


def test_delete_is_soft_and_history_keeps_old_versions(client: FlaskClient, app: Flask) -> None:
    stored = created(client, patient(nhs_number()))
    url = f"/Patient/{stored['id']}"
    deleted = send(client, "DELETE", url)
    assert deleted.status_code == 204
    assert deleted.get_data() == b""
    assert deleted.headers["ETag"] == 'W/"2"'

    gone = outcome(send(client, "GET", url), 410)
    assert gone["issue"][0]["code"] == "deleted"
    old = send(client, "GET", f"{url}/_history/1")
    assert old.status_code == 200
    assert old.get_json() == stored
    outcome(send(client, "GET", f"{url}/_history/2"), 410)

    history = send(client, "GET", f"{url}/_history").get_json()
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "POST"]
    assert "resource" not in history["entry"][0]

    bundle = send(client, "GET", f"/Patient?_id={stored['id']}").get_json()
    assert bundle["total"] == 0
    assert "entry" not in bundle

    # Deleting again changes nothing and still succeeds.
    before = snapshot(app)
    assert send(client, "DELETE", url).status_code == 204
    assert snapshot(app) == before


def test_recreate_after_delete_continues_the_version_sequence(client: FlaskClient) -> None:
    resource = patient(nhs_number(), id="phoenix")
    assert put(client, resource).status_code == 201
    assert send(client, "DELETE", "/Patient/phoenix").status_code == 204
    again = put(client, resource)
    assert again.status_code == 201
    assert again.get_json()["meta"]["versionId"] == "3"
    assert send(client, "GET", "/Patient/phoenix").get_json() == again.get_json()
    history = send(client, "GET", "/Patient/phoenix/_history").get_json()
    assert [e["request"]["method"] for e in history["entry"]] == ["PUT", "DELETE", "PUT"]


def test_delete_unknown_id_is_404(client: FlaskClient, app: Flask) -> None:
    created(client, patient(nhs_number()))
    before = snapshot(app)
    oo = outcome(send(client, "DELETE", "/Patient/never-was"), 404)
    assert oo["issue"][0]["code"] == "not-found"
    assert snapshot(app) == before


# -- optimistic locking -----------------------------------------------------------------------------


def test_if_match_stale_is_412_and_current_updates(client: FlaskClient, app: Flask) -> None:
    stored = created(client, patient(nhs_number()))
    assert put(client, {**stored, "gender": "male"}).status_code == 200
    before = snapshot(app)
    oo = outcome(put(client, {**stored, "gender": "other"}, **{"If-Match": 'W/"1"'}), 412)
    assert "version 2" in oo["issue"][0]["diagnostics"]
    assert snapshot(app) == before
    assert send(client, "GET", f"/Patient/{stored['id']}").get_json()["gender"] == "male"

    response = put(client, {**stored, "gender": "other"}, **{"If-Match": 'W/"2"'})
    assert response.status_code == 200
    assert response.get_json()["meta"]["versionId"] == "3"
    assert response.headers["ETag"] == 'W/"3"'
    # A strong ETag names the same version.
    assert put(client, {**stored, "gender": "female"}, **{"If-Match": '"3"'}).status_code == 200


def test_if_match_on_missing_resource_or_malformed_is_rejected(client: FlaskClient, app: Flask) -> None:
    stored = created(client, patient(nhs_number()))
    before = snapshot(app)
    outcome(put(client, patient(nhs_number(), id="absent"), **{"If-Match": 'W/"1"'}), 412)
    outcome(put(client, {**stored, "gender": "male"}, **{"If-Match": "version-one"}), 400)
    assert snapshot(app) == before


# -- Prefer -----------------------------------------------------------------------------------------


def test_prefer_return_minimal(client: FlaskClient) -> None:
    response = send(client, "POST", "/Patient", patient(nhs_number()), {"Prefer": "return=minimal"})
    assert response.status_code == 201
    assert response.get_data() == b""
    assert response.headers["ETag"] == 'W/"1"'
    location = response.headers["Location"]
    assert location.startswith(f"{BASE}/Patient/") and location.endswith("/_history/1")
    new_id = location.split("/")[-3]
    stored = send(client, "GET", f"/Patient/{new_id}").get_json()

    update = put(client, {**stored, "gender": "male"}, Prefer="return=minimal")
    assert update.status_code == 200
    assert update.get_data() == b""
    assert update.headers["ETag"] == 'W/"2"'
    assert update.headers["Location"] == f"{BASE}/Patient/{new_id}/_history/2"

    several = send(client, "POST", "/Patient", patient(nhs_number()), {"Prefer": "handling=strict, return=minimal"})
    assert several.status_code == 201
    assert several.get_data() == b""


def test_prefer_return_representation_and_operation_outcome(client: FlaskClient) -> None:
    response = send(client, "POST", "/Patient", patient(nhs_number()), {"Prefer": "return=representation"})
    assert response.status_code == 201
    assert response.get_json()["resourceType"] == "Patient"
    assert response.get_json()["meta"]["versionId"] == "1"

    response = send(client, "POST", "/Patient", patient(nhs_number()), {"Prefer": "return=OperationOutcome"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["severity"] == "information"
    assert response.headers["Location"].endswith("/_history/1")
    assert response.headers["ETag"] == 'W/"1"'
