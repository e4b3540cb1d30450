"""Batch and transaction Bundles: atomicity, reference resolution, processing order, per-entry outcomes."""

from __future__ import annotations

import uuid
from typing import Any

from apiutil import created, diagnostics, ids, nhs_number, nhs_query, outcome, search, send, snapshot
from fhirdata import NHS, condition, observation, patient
from flask import Flask
from flask.testing import FlaskClient


def urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def entry(
    method: str, url: str, resource: dict[str, Any] | None = None, full_url: str | None = None, **request: str
) -> dict[str, Any]:
    item: dict[str, Any] = {"request": {"method": method, "url": url, **request}}
    if resource is not None:
        item["resource"] = resource
    if full_url is not None:
        item["fullUrl"] = full_url
    return item


def post_bundle(client: FlaskClient, body: dict[str, Any], kind: str) -> dict[str, Any]:
    response = send(client, "POST", "/", body)
    assert response.status_code == 200, response.get_data(as_text=True)
    reply: dict[str, Any] = response.get_json()
    assert reply["resourceType"] == "Bundle"
    assert reply["type"] == f"{kind}-response"
    assert len(reply["entry"]) == len(body["entry"])
    return reply


def status(item: dict[str, Any]) -> int:
    return int(item["response"]["status"].split()[0])


def location_id(item: dict[str, Any]) -> str:
    """The id in a response.location such as Patient/<id>/_history/1."""
    return str(item["response"]["location"].split("/")[1])


# -- transaction: success ---------------------------------------------------------------------------


def test_transaction_resolves_urn_uuid_references(client: FlaskClient) -> None:
    pat_url, cond_url = urn(), urn()
    number = nhs_number()
    body = bundle(
        "transaction",
        entry("POST", "Condition", condition(pat_url), cond_url),
        entry("POST", "Patient", patient(number), pat_url),
        entry("POST", "Observation", observation(pat_url, 71.5)),
    )
    reply = post_bundle(client, body, "transaction")
    assert [status(e) for e in reply["entry"]] == [201, 201, 201]
    cond_item, pat_item, obs_item = reply["entry"]
    pat_id = location_id(pat_item)
    assert pat_item["response"]["location"] == f"Patient/{pat_id}/_history/1"
    assert pat_item["response"]["etag"] == 'W/"1"'
    assert pat_item["response"]["lastModified"].endswith("Z")
    assert pat_item["resource"]["id"] == pat_id
    assert cond_item["resource"]["subject"]["reference"] == f"Patient/{pat_id}"

    stored_condition = send(client, "GET", f"/Condition/{location_id(cond_item)}").get_json()
    assert stored_condition["subject"]["reference"] == f"Patient/{pat_id}"
    stored_obs = send(client, "GET", f"/Observation/{location_id(obs_item)}").get_json()
    assert stored_obs["subject"]["reference"] == f"Patient/{pat_id}"
    assert ids(search(client, f"/Patient?{nhs_query(number)}")) == [pat_id]
    assert ids(search(client, f"/Condition?subject=Patient/{pat_id}")) == [location_id(cond_item)]


def test_transaction_resolves_conditional_references(client: FlaskClient) -> None:
    number = nhs_number()
    existing = created(client, patient(number))
    body = bundle("transaction", entry("POST", "Condition", condition(f"Patient?{nhs_query(number)}")))
    reply = post_bundle(client, body, "transaction")
    cond_id = location_id(reply["entry"][0])
    stored = send(client, "GET", f"/Condition/{cond_id}").get_json()
    assert stored["subject"]["reference"] == f"Patient/{existing['id']}"


def test_transaction_conditional_reference_must_match_exactly_one(client: FlaskClient, app: Flask) -> None:
    twin = nhs_number()
    created(client, patient(twin))
    created(client, patient(twin))
    before = snapshot(app)
    for number, how in ((nhs_number(), "no"), (twin, "more than one")):
        body = bundle(
            "transaction",
            entry("POST", "Patient", patient(nhs_number())),
            entry("POST", "Observation", observation(f"Patient?{nhs_query(number)}", 60.0)),
        )
        oo = outcome(send(client, "POST", "/", body), 412)
        assert how in diagnostics(oo)
        assert "entry[1]" in diagnostics(oo)
    assert snapshot(app) == before
    assert search(client, "/Observation")["total"] == 0


def test_transaction_put_create_and_update(client: FlaskClient) -> None:
    existing = created(client, patient(nhs_number()))
    body = bundle(
        "transaction",
        entry("PUT", "Patient/tx-new", patient(nhs_number(), id="tx-new")),
        entry("PUT", f"Patient/{existing['id']}", {**existing, "gender": "male"}),
    )
    reply = post_bundle(client, body, "transaction")
    assert [status(e) for e in reply["entry"]] == [201, 200]
    assert reply["entry"][1]["response"]["etag"] == 'W/"2"'
    assert send(client, "GET", f"/Patient/{existing['id']}").get_json()["gender"] == "male"
    assert send(client, "GET", "/Patient/tx-new").status_code == 200


def test_transaction_conditional_update_with_fullurl_reference(client: FlaskClient) -> None:
    number = nhs_number()
    existing = created(client, patient(number))
    pat_url = urn()
    body = bundle(
        "transaction",
        entry("PUT", f"Patient?{nhs_query(number)}", patient(number, gender="male"), pat_url),
        entry("POST", "Condition", condition(pat_url)),
    )
    reply = post_bundle(client, body, "transaction")
    assert status(reply["entry"][0]) == 200
    assert reply["entry"][0]["resource"]["id"] == existing["id"]
    assert reply["entry"][1]["resource"]["subject"]["reference"] == f"Patient/{existing['id']}"


def test_transaction_if_none_exist_reuses_existing(client: FlaskClient, app: Flask) -> None:
    number = nhs_number()
    existing = created(client, patient(number))
    pat_url = urn()
    body = bundle(
        "transaction",
        entry("POST", "Patient", patient(number, family="Dup"), pat_url, ifNoneExist=nhs_query(number)),
        entry("POST", "Condition", condition(pat_url)),
    )
    reply = post_bundle(client, body, "transaction")
    pat_item, cond_item = reply["entry"]
    assert status(pat_item) == 200
    assert pat_item["resource"]["id"] == existing["id"]
    assert pat_item["resource"]["name"][0]["family"] == "Smith"
    assert status(cond_item) == 201
    assert cond_item["resource"]["subject"]["reference"] == f"Patient/{existing['id']}"
    assert ids(search(client, f"/Patient?{nhs_query(number)}")) == [existing["id"]]


def test_transaction_if_none_exist_without_full_url(client: FlaskClient) -> None:
    number = nhs_number()
    existing = created(client, patient(number))
    fresh = nhs_number()
    body = bundle(
        "transaction",
        entry("POST", "Patient", patient(number), ifNoneExist=nhs_query(number)),
        entry("POST", "Patient", patient(fresh), ifNoneExist=nhs_query(fresh)),
    )
    reply = post_bundle(client, body, "transaction")
    assert [status(e) for e in reply["entry"]] == [200, 201]
    assert reply["entry"][0]["resource"]["id"] == existing["id"]
    assert len(ids(search(client, f"/Patient?{nhs_query(fresh)}"))) == 1


def test_transaction_if_none_exist_with_two_matches_is_412(client: FlaskClient, app: Flask) -> None:
    number = nhs_number()
    created(client, patient(number))
    created(client, patient(number))
    before = snapshot(app)
    body = bundle(
        "transaction",
        entry("POST", "Patient", patient(number), urn(), ifNoneExist=nhs_query(number)),
        entry("POST", "Patient", patient(nhs_number())),
    )
    outcome(send(client, "POST", "/", body), 412)
    assert snapshot(app) == before


# -- transaction: processing order ------------------------------------------------------------------


def test_transaction_get_sees_posted_resource(client: FlaskClient) -> None:
    number = nhs_number()
    body = bundle(
        "transaction",
        entry("GET", f"Patient?{nhs_query(number)}"),
        entry("POST", "Patient", patient(number), urn()),
    )
    reply = post_bundle(client, body, "transaction")
    search_item, post_item = reply["entry"]
    assert status(search_item) == 200
    found = search_item["resource"]
    assert found["type"] == "searchset"
    assert [e["resource"]["id"] for e in found["entry"]] == [location_id(post_item)]


def test_transaction_get_sees_put_resource(client: FlaskClient) -> None:
    body = bundle(
        "transaction",
        entry("GET", "Patient/ordered"),
        entry("PUT", "Patient/ordered", patient(nhs_number(), id="ordered")),
    )
    reply = post_bundle(client, body, "transaction")
    assert [status(e) for e in reply["entry"]] == [200, 201]
    assert reply["entry"][0]["resource"]["id"] == "ordered"


def test_transaction_deletes_before_posts(client: FlaskClient) -> None:
    number = nhs_number()
    old = created(client, patient(number, family="Old"))
    other = created(client, patient(nhs_number()))
    body = bundle(
        "transaction",
        entry("POST", "Patient", patient(number, family="New")),
        entry("DELETE", f"Patient?{nhs_query(number)}"),
        entry("DELETE", f"Patient/{other['id']}"),
    )
    reply = post_bundle(client, body, "transaction")
    assert status(reply["entry"][0]) == 201
    assert status(reply["entry"][1]) in (200, 204)
    assert status(reply["entry"][2]) in (200, 204)
    outcome(send(client, "GET", f"/Patient/{old['id']}"), 410)
    outcome(send(client, "GET", f"/Patient/{other['id']}"), 410)
    assert ids(search(client, f"/Patient?{nhs_query(number)}")) == [location_id(reply["entry"][0])]


def test_bundle_level_checks(client: FlaskClient, app: Flask) -> None:
    before = snapshot(app)
    response = send(client, "POST", "/", {"resourceType": "Bundle", "type": "transaction"})
    assert response.status_code == 200
    assert response.get_json()["type"] == "transaction-response"
    outcome(send(client, "POST", "/", patient(nhs_number())), 400)
    collection = bundle("collection", {"resource": patient(nhs_number())})
    oo = outcome(send(client, "POST", "/", collection), 400)
    assert "Bundle.type" in " ".join(e for i in oo["issue"] for e in i.get("expression", []))
    assert snapshot(app) == before


# -- transaction: atomicity -------------------------------------------------------------------------


def test_transaction_with_invalid_entry_stores_nothing(client: FlaskClient, app: Flask) -> None:
    number = nhs_number()
    before = snapshot(app)
    body = bundle(
        "transaction",
        entry("POST", "Patient", patient(number), urn()),
        entry("POST", "Patient", patient(nhs_number(), gender="x")),
    )
    oo = outcome(send(client, "POST", "/", body), 422)
    assert "Patient.gender" in " ".join(e for i in oo["issue"] for e in i.get("expression", []))
    assert "entry[1]" in diagnostics(oo)
    assert snapshot(app) == before
    assert ids(search(client, f"/Patient?{nhs_query(number)}")) == []


def test_transaction_failing_late_entry_rolls_back_earlier_writes(client: FlaskClient, app: Flask) -> None:
    existing = created(client, patient(nhs_number()))
    number = nhs_number()
    before = snapshot(app)
    body = bundle(
        "transaction",
        entry("DELETE", f"Patient/{existing['id']}"),
        entry("POST", "Patient", patient(number)),
        entry("PUT", "Patient/rolled-back", patient(nhs_number(), id="rolled-back")),
        entry("GET", "Patient/does-not-exist"),
    )
    oo = outcome(send(client, "POST", "/", body), 404)
    assert "entry[3]" in diagnostics(oo)
    assert snapshot(app) == before
    assert send(client, "GET", f"/Patient/{existing['id']}").status_code == 200
    assert ids(search(client, f"/Patient?{nhs_query(number)}")) == []
    outcome(send(client, "GET", "/Patient/rolled-back"), 404)


def test_transaction_bad_request_entries_are_400(client: FlaskClient, app: Flask) -> None:
    before = snapshot(app)
    bad_entries: list[dict[str, Any]] = [
        {"resource": patient(nhs_number())},
        entry("FETCH", "Patient"),
        entry("POST", ""),
        entry("POST", "Spaceship", {"resourceType": "Spaceship"}),
        entry("POST", "Patient"),
        entry("PUT", "Patient/abc", patient(nhs_number(), id="xyz")),
        entry("POST", "Condition", condition(urn())),
    ]
    for bad in bad_entries:
        body = bundle("transaction", entry("POST", "Patient", patient(nhs_number())), bad)
        outcome(send(client, "POST", "/", body), 400)
    assert snapshot(app) == before


# -- batch ------------------------------------------------------------------------------------------


def test_batch_entries_are_independent(client: FlaskClient) -> None:
    number = nhs_number()
    existing = created(client, patient(nhs_number()))
    body = bundle(
        "batch",
        entry("POST", "Patient", patient(number)),
        entry("POST", "Patient", patient(nhs_number(), gender="x")),
        entry("GET", "Patient/not-there"),
        entry("GET", f"Patient/{existing['id']}"),
        entry("PUT", "Patient/wrong-id", patient(nhs_number(), id="other-id")),
        entry("DELETE", f"Patient/{existing['id']}"),
    )
    reply = post_bundle(client, body, "batch")
    created_item, invalid_item, missing_item, read_item, mismatch_item, delete_item = reply["entry"]

    assert status(created_item) == 201
    assert created_item["response"]["location"].startswith("Patient/")
    assert ids(search(client, f"/Patient?{nhs_query(number)}")) == [location_id(created_item)]

    assert status(invalid_item) in (400, 422)
    invalid_outcome = invalid_item["response"]["outcome"]
    assert invalid_outcome["resourceType"] == "OperationOutcome"
    assert "Patient.gender" in invalid_outcome["issue"][0]["expression"]
    assert "resource" not in invalid_item

    assert status(missing_item) == 404
    assert missing_item["response"]["outcome"]["issue"][0]["code"] == "not-found"

    assert status(read_item) == 200
    assert read_item["resource"]["id"] == existing["id"]

    assert status(mismatch_item) == 400
    assert mismatch_item["response"]["outcome"]["resourceType"] == "OperationOutcome"
    outcome(send(client, "GET", "/Patient/wrong-id"), 404)

    assert status(delete_item) in (200, 204)
    outcome(send(client, "GET", f"/Patient/{existing['id']}"), 410)


def test_batch_conditional_create_and_search(client: FlaskClient) -> None:
    number = nhs_number()
    existing = created(client, patient(number))
    body = bundle(
        "batch",
        entry("POST", "Patient", patient(number), ifNoneExist=nhs_query(number)),
        entry("GET", f"Patient?identifier={NHS}|{number}"),
    )
    reply = post_bundle(client, body, "batch")
    assert status(reply["entry"][0]) == 200
    assert reply["entry"][0]["resource"]["id"] == existing["id"]
    assert [e["resource"]["id"] for e in reply["entry"][1]["resource"]["entry"]] == [existing["id"]]


def test_batch_all_failing_entries_still_answer_200(client: FlaskClient, app: Flask) -> None:
    before = snapshot(app)
    body = bundle(
        "batch",
        entry("GET", "Patient/a"),
        entry("DELETE", "Patient/b"),
        entry("PUT", "Patient/c", patient(nhs_number(), id="c", birthDate="not-a-date")),
    )
    reply = post_bundle(client, body, "batch")
    assert [status(e) for e in reply["entry"]] == [404, 404, 400]
    for item in reply["entry"]:
        assert item["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert snapshot(app) == before


def test_transaction_posted_as_xml(client: FlaskClient) -> None:
    number = nhs_number()
    xml = f"""<Bundle xmlns="http://hl7.org/fhir">
  <type value="transaction"/>
  <entry>
    <resource><Patient><identifier><system value="{NHS}"/><value value="{number}"/></identifier>
      <birthDate value="1944-04-04"/></Patient></resource>
    <request><method value="POST"/><url value="Patient"/></request>
  </entry>
</Bundle>"""
    response = send(client, "POST", "/", xml.encode(), {"Content-Type": "application/fhir+xml"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["type"] == "transaction-response"
    assert len(ids(search(client, f"/Patient?{nhs_query(number)}"))) == 1


# -- bundles obey the same rules as the REST routes -------------------------------------------------


def test_bundles_obey_the_type_rules_of_the_routes(client: FlaskClient, app: Flask) -> None:
    definition = send(client, "GET", "/StructureDefinition/closer-patient").get_json()
    medication = {"resourceType": "Medication", "code": {"text": "aspirin"}}
    before = snapshot(app)
    retire = entry("PUT", "StructureDefinition/closer-patient", {**definition, "status": "retired"})
    oo = outcome(send(client, "POST", "/", bundle("transaction", retire)), 405)
    assert "entry[0]" in diagnostics(oo)
    remove_profile = entry("DELETE", "StructureDefinition/closer-patient")
    outcome(send(client, "POST", "/", bundle("transaction", remove_profile)), 405)
    outcome(send(client, "POST", "/", bundle("transaction", entry("POST", "Medication", medication))), 404)

    body = bundle(
        "batch",
        remove_profile,
        entry("POST", "Medication", medication),
        entry("GET", "StructureDefinition/closer-patient"),
    )
    reply = post_bundle(client, body, "batch")
    assert [status(e) for e in reply["entry"]] == [405, 404, 200]
    assert reply["entry"][0]["response"]["outcome"]["issue"][0]["code"] == "not-supported"
    assert snapshot(app) == before
    assert send(client, "GET", "/StructureDefinition/closer-patient").get_json() == definition


def test_batch_read_interactions(client: FlaskClient) -> None:
    stored = created(client, patient(nhs_number()))
    body = bundle(
        "batch",
        entry("GET", "Patient/_history"),
        entry("GET", f"Patient/{stored['id']}/_history"),
        entry("GET", f"Patient/{stored['id']}/_history/1"),
        entry("GET", "Patient?family=Nobody"),
    )
    reply = post_bundle(client, body, "batch")
    assert [status(e) for e in reply["entry"]] == [200, 200, 200, 200]
    type_history, instance_history, vread, empty_search = reply["entry"]
    for item in (type_history, instance_history):
        assert item["resource"]["type"] == "history"
        assert [e["resource"]["id"] for e in item["resource"]["entry"]] == [stored["id"]]
    assert vread["resource"] == stored
    assert vread["fullUrl"].endswith(f"/Patient/{stored['id']}")
    assert empty_search["resource"]["type"] == "searchset"
    assert empty_search["resource"]["total"] == 0
    assert "fullUrl" not in empty_search  # a searchset has no id, so no made-up URL


def test_transaction_if_match(client: FlaskClient, app: Flask) -> None:
    stored = created(client, patient(nhs_number()))
    url = f"Patient/{stored['id']}"
    before = snapshot(app)
    stale = bundle(
        "transaction",
        entry("POST", "Patient", patient(nhs_number())),
        entry("PUT", url, {**stored, "gender": "male"}, ifMatch='W/"2"'),
    )
    outcome(send(client, "POST", "/", stale), 412)
    assert snapshot(app) == before
    fresh = bundle("transaction", entry("PUT", url, {**stored, "gender": "male"}, ifMatch='W/"1"'))
    reply = post_bundle(client, fresh, "transaction")
    assert status(reply["entry"][0]) == 200
    assert reply["entry"][0]["response"]["etag"] == 'W/"2"'


def test_transaction_changing_one_resource_twice_fails(client: FlaskClient, app: Flask) -> None:
    stored = created(client, patient(nhs_number()))
    url = f"Patient/{stored['id']}"
    before = snapshot(app)
    twice = [
        [entry("PUT", url, {**stored, "gender": "male"}), entry("PUT", url, {**stored, "gender": "other"})],
        [entry("DELETE", url), entry("PUT", url, {**stored, "gender": "male"})],
        [entry("PUT", url, {**stored, "gender": "male"}), entry("DELETE", url)],
    ]
    for entries in twice:
        oo = outcome(send(client, "POST", "/", bundle("transaction", *entries)), 400)
        assert "entry[" in diagnostics(oo)
    assert snapshot(app) == before


def test_transaction_prefer_return_minimal_leaves_out_written_resources(client: FlaskClient) -> None:
    pat_url = urn()
    number = nhs_number()
    body = bundle(
        "transaction",
        entry("POST", "Patient", patient(number), pat_url),
        entry("POST", "Condition", condition(pat_url)),
        entry("GET", f"Patient?identifier={NHS}|{number}"),
    )
    response = send(client, "POST", "/", body, headers={"Prefer": "return=minimal"})
    assert response.status_code == 200
    written, cond, read = response.get_json()["entry"]
    assert "resource" not in written and "resource" not in cond
    assert status(written) == 201 and written["response"]["location"].startswith("Patient/")
    assert written["response"]["etag"] == 'W/"1"'
    assert read["resource"]["resourceType"] == "Bundle"  # reads still return what they read
    assert read["resource"]["total"] == 1
