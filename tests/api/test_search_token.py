"""Token search over the REST API: system|code, code, |code, system|, :not, OR lists and escapes."""

from __future__ import annotations

from typing import Any

from apiutil import check, created, found, nhs_number, send
from fhirdata import NHS, SNOMED, condition, patient
from flask.testing import FlaskClient

LOCAL = "urn:oid:2.16.840.1.113883.2.1.3.2.4.18.23"


def setup_patients(client: FlaskClient) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], list[str]]:
    numbers = [nhs_number(), nhs_number()]
    with_system = created(
        client,
        patient(
            numbers[0],
            identifier=[{"system": NHS, "value": numbers[0]}, {"system": LOCAL, "value": "L1"}],
            active=True,
            telecom=[{"system": "phone", "value": "0113 496 0000"}, {"system": "email", "value": "ann@example.org"}],
        ),
    )
    without_system = created(
        client,
        patient(
            numbers[1],
            identifier=[{"system": NHS, "value": numbers[1]}, {"value": "L1"}, {"value": "a,b|c"}],
            gender="male",
            active=False,
            telecom=[{"system": "email", "value": "0113 496 0000"}],
        ),
    )
    no_gender = {k: v for k, v in patient(nhs_number(), family="Jones").items() if k not in ("gender", "identifier")}
    lacking = created(client, no_gender)
    return with_system, without_system, lacking, numbers


def test_token_forms(client: FlaskClient) -> None:
    a, b, _c, numbers = setup_patients(client)
    check(
        client,
        [
            ("/Patient?gender=female", {a["id"]}),
            ("/Patient?gender=male", {b["id"]}),
            ("/Patient?gender=female,male", {a["id"], b["id"]}),
            ("/Patient?gender=other", set()),
            ("/Patient?gender=FEMALE", set()),  # codes are case-sensitive
            (f"/Patient?identifier={NHS}|{numbers[0]}", {a["id"]}),
            (f"/Patient?identifier={numbers[1]}", {b["id"]}),
            (f"/Patient?identifier={LOCAL}|{numbers[0]}", set()),
            ("/Patient?identifier=L1", {a["id"], b["id"]}),
            ("/Patient?identifier=|L1", {b["id"]}),
            (f"/Patient?identifier={LOCAL}|L1", {a["id"]}),
            (f"/Patient?identifier={LOCAL}|", {a["id"]}),
            (f"/Patient?identifier={NHS}|", {a["id"], b["id"]}),
            ("/Patient?identifier=urn:nowhere|", set()),
            (f"/Patient?identifier={NHS}|{numbers[0]},|L1", {a["id"], b["id"]}),
            ("/Patient?active=true", {a["id"]}),
            ("/Patient?active=false", {b["id"]}),
            ("/Patient?gender=|female", {a["id"]}),
        ],
    )


def test_escaped_comma_and_pipe_in_a_code(client: FlaskClient) -> None:
    _a, b, _c, _numbers = setup_patients(client)
    assert found(client, r"/Patient?identifier=a\,b\|c") == {b["id"]}
    assert found(client, r"/Patient?identifier=|a\,b\|c") == {b["id"]}
    assert found(client, "/Patient?identifier=a,b") == set()


def test_not_includes_resources_lacking_the_element(client: FlaskClient) -> None:
    a, b, c, _numbers = setup_patients(client)
    check(
        client,
        [
            ("/Patient?gender:not=male", {a["id"], c["id"]}),
            ("/Patient?gender:not=female,male", {c["id"]}),
            ("/Patient?gender:not=other", {a["id"], b["id"], c["id"]}),
            ("/Patient?identifier:not=L1", {c["id"]}),
            ("/Patient?identifier:not=|L1", {a["id"], c["id"]}),
            ("/Patient?gender:not=male&family=jones", {c["id"]}),
        ],
    )


def test_contact_points_by_kind(client: FlaskClient) -> None:
    a, b, _c, _numbers = setup_patients(client)
    check(
        client,
        [
            ("/Patient?phone=0113 496 0000", {a["id"]}),
            ("/Patient?email=0113 496 0000", {b["id"]}),
            ("/Patient?email=ann@example.org", {a["id"]}),
            ("/Patient?telecom=0113 496 0000", {a["id"], b["id"]}),
        ],
    )


def test_codeable_concept_codes(client: FlaskClient) -> None:
    subject = created(client, patient(nhs_number()))["id"]
    two_codings = condition(f"Patient/{subject}")
    two_codings["code"]["coding"].append({"system": "http://read.info/ctv3", "code": "X40J4"})
    first = created(client, two_codings)["id"]
    second = created(client, condition(f"Patient/{subject}", code="195967001"))["id"]
    uncoded = condition(f"Patient/{subject}")
    uncoded["code"] = {"text": "asthma"}
    created(client, uncoded)
    check(
        client,
        [
            (f"/Condition?code={SNOMED}|44054006", {first}),
            ("/Condition?code=http://read.info/ctv3|X40J4", {first}),
            ("/Condition?code=X40J4", {first}),
            ("/Condition?code=http://read.info/ctv3|44054006", set()),
            (f"/Condition?code={SNOMED}|", {first, second}),
            ("/Condition?code=44054006,195967001", {first, second}),
            ("/Condition?code=|44054006", set()),
            ("/Condition?code=asthma", set()),
        ],
    )


def test_repeated_params_are_and(client: FlaskClient) -> None:
    a, _b, _c, numbers = setup_patients(client)
    assert found(client, f"/Patient?identifier=L1&identifier={numbers[0]}") == {a["id"]}
    assert found(client, f"/Patient?identifier=L1&identifier={numbers[0]}&gender=male") == set()


def test_token_modifier_refused(client: FlaskClient) -> None:
    response = send(client, "GET", "/Patient?gender:contains=fem")
    assert response.status_code == 400
    assert response.get_json()["resourceType"] == "OperationOutcome"
