"""Search features that cut across types: _id, _lastUpdated, :missing, deleted and updated resources,
unknown parameters (lenient and strict) and POST /Type/_search."""

from __future__ import annotations

from typing import Any

from apiutil import check, created, found, ids, nhs_number, put, search, send
from fhirdata import condition, patient
from flask.testing import FlaskClient


def outcome_entries(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in bundle.get("entry", []) if e["search"]["mode"] == "outcome"]


# -- _id and _lastUpdated --------------------------------------------------------------------------------


def test_id_and_id_lists(client: FlaskClient) -> None:
    a, b, c = (str(created(client, patient(nhs_number()))["id"]) for _ in range(3))
    check(
        client,
        [
            (f"/Patient?_id={a}", {a}),
            (f"/Patient?_id={a},{c}", {a, c}),
            (f"/Patient?_id={a},nobody", {a}),
            ("/Patient?_id=nobody", set()),
            (f"/Patient?_id={a},{b}&_id={b},{c}", {b}),
            (f"/Condition?_id={a}", set()),  # ids are per type
        ],
    )


def test_last_updated_prefixes(client: FlaskClient) -> None:
    made = [created(client, patient(nhs_number())) for _ in range(3)]
    first, second, third = (str(p["id"]) for p in made)
    stamps = [p["meta"]["lastUpdated"] for p in made]
    assert len(set(stamps)) == 3, "resources written in the same millisecond; the test needs distinct instants"
    at = stamps[1].replace("+", "%2B")
    year = stamps[1][:4]
    check(
        client,
        [
            (f"/Patient?_lastUpdated={at}", {second}),
            (f"/Patient?_lastUpdated=eq{at}", {second}),
            (f"/Patient?_lastUpdated=ne{at}", {first, third}),
            (f"/Patient?_lastUpdated=lt{at}", {first}),
            (f"/Patient?_lastUpdated=le{at}", {first, second}),
            (f"/Patient?_lastUpdated=gt{at}", {third}),
            (f"/Patient?_lastUpdated=ge{at}", {second, third}),
            (f"/Patient?_lastUpdated=sa{at}", {third}),
            (f"/Patient?_lastUpdated=eb{at}", {first}),
            (f"/Patient?_lastUpdated={year}", {first, second, third}),
            (f"/Patient?_lastUpdated=lt{year}", set()),
            (f"/Patient?_lastUpdated=gt{stamps[0]}&_lastUpdated=lt{stamps[2]}", {second}),
            (f"/Patient?_lastUpdated=eq{stamps[0]},eq{stamps[2]}", {first, third}),
        ],
    )


# -- :missing --------------------------------------------------------------------------------------------


def test_missing_on_every_index_type(client: FlaskClient) -> None:
    full = patient(nhs_number(), address=[{"city": "Leeds"}], managingOrganization={"reference": "Organization/o1"})
    bare: dict[str, Any] = {"resourceType": "Patient", "name": [{"text": "Nobody"}]}
    has, lacks = str(created(client, full)["id"]), str(created(client, bare)["id"])
    cases = []
    for param in ("birthdate", "gender", "identifier", "family", "address-city", "organization"):
        cases += [(f"/Patient?{param}:missing=true", {lacks}), (f"/Patient?{param}:missing=false", {has})]
    check(client, cases)


def test_missing_needs_true_or_false(client: FlaskClient) -> None:
    assert send(client, "GET", "/Patient?birthdate:missing=maybe").status_code == 400


# -- deleted and updated resources -----------------------------------------------------------------------


def test_deleted_resources_never_match(client: FlaskClient) -> None:
    number = nhs_number()
    gone = created(client, patient(number, family="Gone", address=[{"city": "Leeds"}]))
    kept = created(client, patient(nhs_number(), family="Kept"))
    gone_id, kept_id = str(gone["id"]), str(kept["id"])
    condition_id = str(created(client, condition(f"Patient/{gone_id}"))["id"])
    assert send(client, "DELETE", f"/Patient/{gone_id}").status_code in (200, 204)
    check(
        client,
        [
            ("/Patient", {kept_id}),
            ("/Patient?family=gone", set()),
            (f"/Patient?_id={gone_id}", set()),
            (f"/Patient?identifier={number}", set()),
            ("/Patient?birthdate=1950-03-02", {kept_id}),
            (f"/Patient?identifier:not={number}", {kept_id}),
            ("/Patient?address-city:missing=true", {kept_id}),
            ("/Patient?address-city:missing=false", set()),
            ("/Patient?gender:not=male", {kept_id}),
            (f"/Patient?_lastUpdated=ge{gone['meta']['lastUpdated']}", {kept_id}),
            ("/Patient?_sort=-_lastUpdated", {kept_id}),
            (f"/Patient?_id={gone_id}&_revinclude=Condition:subject", set()),
            (f"/Condition?_id={condition_id}", {condition_id}),
        ],
    )
    bundle = search(client, f"/Condition?_id={condition_id}&_include=Condition:subject")
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["Condition"]  # no deleted Patient
    assert search(client, "/Patient?family=gone")["total"] == 0


def test_recreated_resource_matches_again(client: FlaskClient) -> None:
    resource = patient(nhs_number(), family="Phoenix", id="phoenix-1")
    assert put(client, resource).status_code == 201
    assert send(client, "DELETE", "/Patient/phoenix-1").status_code in (200, 204)
    assert found(client, "/Patient?family=phoenix") == set()
    assert put(client, resource).status_code in (200, 201)
    assert found(client, "/Patient?family=phoenix") == {"phoenix-1"}


def test_updated_resources_match_only_their_new_values(client: FlaskClient) -> None:
    number = nhs_number()
    original = created(client, patient(number, family="Oldname", birth="1960-01-01", address=[{"city": "Leeds"}]))
    pid = str(original["id"])
    changed = patient(number, family="Newname", birth="1970-07-07", gender="male", id=pid)
    assert put(client, changed).status_code == 200
    check(
        client,
        [
            ("/Patient?family=oldname", set()),
            ("/Patient?family=newname", {pid}),
            ("/Patient?birthdate=1960", set()),
            ("/Patient?birthdate=1970-07-07", {pid}),
            ("/Patient?gender=female", set()),
            ("/Patient?gender=male", {pid}),
            ("/Patient?address-city=leeds", set()),
            ("/Patient?address-city:missing=true", {pid}),
            (f"/Patient?identifier={number}", {pid}),
        ],
    )
    assert search(client, "/Patient?family=newname")["entry"][0]["resource"]["meta"]["versionId"] == "2"


# -- unknown parameters ----------------------------------------------------------------------------------


def test_unknown_param_is_ignored_with_an_outcome_when_lenient(client: FlaskClient) -> None:
    smith = str(created(client, patient(nhs_number(), family="Smith"))["id"])
    created(client, patient(nhs_number(), family="Jones"))
    for headers in ({}, {"Prefer": "handling=lenient"}):
        response = send(client, "GET", "/Patient?family=smith&shoe-size=9", headers=headers)
        assert response.status_code == 200
        bundle = response.get_json()
        assert ids(bundle) == [smith]
        assert bundle["total"] == 1
        (entry,) = outcome_entries(bundle)
        assert entry["resource"]["resourceType"] == "OperationOutcome"
        assert "shoe-size" in entry["resource"]["issue"][0]["diagnostics"]
        (self_link,) = [link["url"] for link in bundle["link"] if link["relation"] == "self"]
        assert "shoe-size" not in self_link and "family=smith" in self_link


def test_unknown_param_is_400_when_strict(client: FlaskClient) -> None:
    response = send(client, "GET", "/Patient?family=smith&shoe-size=9", headers={"Prefer": "handling=strict"})
    assert response.status_code == 400
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert "shoe-size" in body["issue"][0]["diagnostics"]


def test_known_params_need_no_outcome(client: FlaskClient) -> None:
    created(client, patient(nhs_number()))
    bundle = search(client, "/Patient?family=smith&_format=json")
    assert outcome_entries(bundle) == []
    response = send(client, "GET", "/Patient?family=smith", headers={"Prefer": "handling=strict"})
    assert response.status_code == 200


def test_bad_value_of_a_known_param_is_400_even_when_lenient(client: FlaskClient) -> None:
    assert send(client, "GET", "/Patient?birthdate=soon").status_code == 400
    assert send(client, "GET", "/Patient?_count=many").status_code == 400
    assert send(client, "GET", "/Patient?_sort=shoe-size").status_code == 400


def test_unsupported_type_is_404(client: FlaskClient) -> None:
    assert send(client, "GET", "/Spaceship?name=x").status_code == 404


# -- POST _search ----------------------------------------------------------------------------------------


def form_search(client: FlaskClient, url: str, form: str, **headers: str) -> Any:
    return client.post(
        url,
        data=form,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/fhir+json", **headers},
    )


def test_post_search_with_a_form_body(client: FlaskClient) -> None:
    smith = str(created(client, patient(nhs_number(), family="Smith", gender="male"))["id"])
    created(client, patient(nhs_number(), family="Smith"))
    created(client, patient(nhs_number(), family="Jones", gender="male"))
    response = form_search(client, "/Patient/_search", "family=smith&gender=male")
    assert response.status_code == 200
    bundle = response.get_json()
    assert (bundle["type"], bundle["total"], ids(bundle)) == ("searchset", 1, [smith])


def test_post_search_combines_url_and_body_params(client: FlaskClient) -> None:
    smith = str(created(client, patient(nhs_number(), family="Smith", gender="male"))["id"])
    created(client, patient(nhs_number(), family="Smith"))
    response = form_search(client, "/Patient/_search?gender=male", "family=smith")
    assert ids(response.get_json()) == [smith]


def test_post_search_paging_links_are_gets_that_work(client: FlaskClient) -> None:
    made = {str(created(client, patient(nhs_number(), family="Smith"))["id"]) for _ in range(3)}
    first = form_search(client, "/Patient/_search", "family=smith&_count=2").get_json()
    (next_url,) = [link["url"] for link in first["link"] if link["relation"] == "next"]
    assert "family=smith" in next_url
    second = search(client, next_url)
    assert set(ids(first)) | set(ids(second)) == made


def test_post_search_escapes_and_unknowns(client: FlaskClient) -> None:
    smith = str(created(client, patient(nhs_number(), family="Smith"))["id"])
    lenient = form_search(client, "/Patient/_search", "family=smith&shoe-size=9").get_json()
    assert ids(lenient) == [smith] and len(outcome_entries(lenient)) == 1
    strict = form_search(client, "/Patient/_search", "family=smith&shoe-size=9", Prefer="handling=strict")
    assert strict.status_code == 400


def test_post_search_refuses_other_bodies(client: FlaskClient) -> None:
    response = client.post(
        "/Patient/_search", data=b'{"family": "smith"}', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 415


def test_post_search_without_a_body(client: FlaskClient) -> None:
    pid = str(created(client, patient(nhs_number()))["id"])
    response = client.post("/Patient/_search?family=smith")
    assert response.status_code == 200
    assert ids(response.get_json()) == [pid]
