"""String search over the REST API: prefix by default, case/accent-insensitive, :exact and :contains."""

from __future__ import annotations

from apiutil import check, created, nhs_number, send
from fhirdata import patient
from flask.testing import FlaskClient


def make(client: FlaskClient, family: str, given: str, **extra: object) -> str:
    return str(created(client, patient(nhs_number(), family=family, given=given, **extra))["id"])


def test_default_is_a_case_and_accent_insensitive_prefix(client: FlaskClient) -> None:
    zoe = make(client, "Ångström", "Zoë")
    smith = make(client, "Smith", "Ann")
    smithson = make(client, "Smithson", "Bob")
    check(
        client,
        [
            ("/Patient?family=smith", {smith, smithson}),
            ("/Patient?family=SMITH", {smith, smithson}),
            ("/Patient?family=Smiths", {smithson}),
            ("/Patient?family=mith", set()),  # not a prefix
            ("/Patient?family=angstrom", {zoe}),
            ("/Patient?family=ÅNGSTRÖM", {zoe}),
            ("/Patient?family=angström", {zoe}),
            ("/Patient?given=zoe", {zoe}),
            ("/Patient?given=ZOË", {zoe}),
            ("/Patient?family=smithsonian", set()),
            ("/Patient?family=jones,smiths", {smithson}),
            ("/Patient?family=smith&given=bob", {smithson}),
        ],
    )


def test_exact_matches_the_whole_string_as_written(client: FlaskClient) -> None:
    zoe = make(client, "Ångström", "Zoë")
    smith = make(client, "Smith", "Ann")
    make(client, "Smithson", "Bob")
    check(
        client,
        [
            ("/Patient?family:exact=Smith", {smith}),
            ("/Patient?family:exact=smith", set()),
            ("/Patient?family:exact=Smit", set()),
            ("/Patient?family:exact=Ångström", {zoe}),
            ("/Patient?family:exact=Angstrom", set()),
            ("/Patient?family:exact=Smith,Ångström", {smith, zoe}),
        ],
    )


def test_contains_matches_anywhere(client: FlaskClient) -> None:
    zoe = make(client, "Ångström", "Zoë")
    smith = make(client, "Smith", "Ann")
    smithson = make(client, "Smithson", "Bob")
    check(
        client,
        [
            ("/Patient?family:contains=mith", {smith, smithson}),
            ("/Patient?family:contains=SON", {smithson}),
            ("/Patient?family:contains=STRO", {zoe}),
            ("/Patient?family:contains=xyz", set()),
            ("/Patient?given:contains=n", {smith}),
        ],
    )


def test_like_wildcards_are_literal(client: FlaskClient) -> None:
    percent = make(client, "100%_Real", "Al")
    make(client, "100xxReal", "Bo")
    check(
        client,
        [
            ("/Patient?family=100%25", {percent}),
            ("/Patient?family=100%25_", {percent}),
            ("/Patient?family:contains=%25_r", {percent}),
            ("/Patient?family:contains=_", {percent}),
            ("/Patient?family=1__", set()),
        ],
    )


def test_name_matches_every_part_of_the_human_name(client: FlaskClient) -> None:
    resource = patient(nhs_number())
    resource["name"] = [
        {"use": "official", "family": "Okafor", "given": ["Chidi", "Emeka"], "prefix": ["Dr"], "suffix": ["MBE"]},
        {"use": "usual", "text": "Chid Okafor"},
    ]
    okafor = str(created(client, resource)["id"])
    other = make(client, "Smith", "Ann")
    check(
        client,
        [
            ("/Patient?name=okafor", {okafor}),
            ("/Patient?name=emeka", {okafor}),
            ("/Patient?name=dr", {okafor}),
            ("/Patient?name=mbe", {okafor}),
            ("/Patient?name=chid", {okafor}),
            ("/Patient?name=chid okafor", {okafor}),
            ("/Patient?name=ann", {other}),
            ("/Patient?name=emeka,ann", {okafor, other}),
            ("/Patient?given=emeka", {okafor}),
            ("/Patient?family=emeka", set()),
            ("/Patient?name:exact=Chid Okafor", {okafor}),
            ("/Patient?name:contains=kaf", {okafor}),
        ],
    )


def test_address_parts(client: FlaskClient) -> None:
    leeds = make(
        client,
        "Smith",
        "Ann",
        address=[{"line": ["1 Park Row", "Flat 2"], "city": "Leeds", "postalCode": "LS1 5AB", "country": "GB"}],
    )
    york = make(client, "Jones", "Bo", address=[{"city": "York", "district": "North Yorkshire", "state": "Yorks"}])
    check(
        client,
        [
            ("/Patient?address=leeds", {leeds}),
            ("/Patient?address=1 park", {leeds}),
            ("/Patient?address=park", set()),  # a prefix of the line, not of a word in it
            ("/Patient?address:contains=park", {leeds}),
            ("/Patient?address=flat 2", {leeds}),
            ("/Patient?address=ls1", {leeds}),
            ("/Patient?address=north", {york}),
            ("/Patient?address=gb", {leeds}),
            ("/Patient?address:contains=york", {york}),
            ("/Patient?address-city=york", {york}),
            ("/Patient?address-city=park", set()),
            ("/Patient?address-postalcode=ls1 5ab", {leeds}),
            ("/Patient?address-state=yorks", {york}),
            ("/Patient?address-country=GB", {leeds}),
        ],
    )


def test_string_modifier_refused(client: FlaskClient) -> None:
    response = send(client, "GET", "/Patient?family:not=smith")
    assert response.status_code == 400
