"""The matching rule: pure cases first, then through the store (LA id, demographics, ambiguity, conflicts)."""

from __future__ import annotations

from datetime import date
from typing import Any

from social_care_data import HEADER, LA, NHS, person

from adapters.identity import NHS_NUMBER_SYSTEM, local_system
from adapters.social_care.mapping import Link, Source
from adapters.social_care.matching import Found, Held, decide, match_person
from closer.store.sql import SqlRepository

SOURCE = Source.from_header(HEADER)
PERSON_SYSTEM = local_system("la-person", LA)
LOCAL = person(nhs_number="")


def patient(patient_id: str, **changes: Any) -> dict[str, Any]:
    resource = {
        "resourceType": "Patient",
        "id": patient_id,
        "identifier": [{"system": "https://example.org/hospital", "value": patient_id}],
        "name": [{"family": "SMITH", "given": ["Ann"]}],
        "birthDate": "1938-05-02",
        "address": [{"line": ["1 High Street"], "postalCode": "sy11aa"}],
    }
    resource.update(changes)
    return resource


def with_la_id(resource: dict[str, Any], la_id: str) -> dict[str, Any]:
    return {**resource, "identifier": [*resource["identifier"], {"system": PERSON_SYSTEM, "value": la_id}]}


# -- the pure rule ---------------------------------------------------------------------------------------
def test_an_nhs_number_links_to_that_patient() -> None:
    assert decide(person(), NHS[0], SOURCE, Found()) == Link(NHS[0], "nhs-number", NHS[0])


def test_an_nhs_number_whose_la_id_is_on_another_patient_is_held() -> None:
    outcome = decide(person(), NHS[0], SOURCE, Found(by_la_id=(with_la_id(patient("h1"), "P1"),)))
    assert outcome == Held(
        f"LA person id P1 is already linked to Patient/h1, but the extract gives NHS number {NHS[0]}", ("h1", NHS[0])
    )


def test_an_nhs_number_whose_patient_has_another_la_id_is_held() -> None:
    found = Found(nhs_patient=with_la_id(patient(NHS[0]), "P9"))
    outcome = decide(person(), NHS[0], SOURCE, found)
    assert isinstance(outcome, Held)
    assert outcome.reason.startswith(f"Patient/{NHS[0]} is already linked to LA person id P9 of {LA}")


def test_the_la_id_links_without_an_nhs_number() -> None:
    assert decide(LOCAL, "", SOURCE, Found(by_la_id=(patient("h1"),))) == Link("h1", "la-person-id")


def test_the_la_id_on_two_patients_is_held() -> None:
    outcome = decide(LOCAL, "", SOURCE, Found(by_la_id=(patient("h2"), patient("h1"))))
    assert outcome == Held("LA person id P1 is on 2 Patients: not guessing which", ("h1", "h2"))


def test_one_patient_with_the_same_demographics_links_case_and_spaces_aside() -> None:
    candidates = (patient("h1"), patient("h2", birthDate="1938-05-03"), patient("h3", name=[{"family": "Smithson"}]))
    assert decide(LOCAL, "", SOURCE, Found(candidates=candidates)) == Link("h1", "demographics")


def test_no_postcode_is_held() -> None:
    outcome = decide(person(nhs_number="", postcode=""), "", SOURCE, Found(candidates=(patient("h1"),)))
    assert outcome == Held("no NHS number and no postcode: too little to match on safely")


def test_a_different_postcode_is_no_match() -> None:
    outcome = decide(LOCAL, "", SOURCE, Found(candidates=(patient("h1", address=[{"postalCode": "SY1 1AB"}]),)))
    assert outcome == Held("no NHS number, and no Patient has this family name, date of birth and postcode")


def test_two_candidates_are_held_with_both_named() -> None:
    outcome = decide(LOCAL, "", SOURCE, Found(candidates=(patient("h2"), patient("h1"))))
    assert outcome == Held(
        "no NHS number, and 2 Patients have this family name, date of birth and postcode: not guessing which",
        ("h1", "h2"),
    )


def test_a_conflicting_given_name_is_held() -> None:
    outcome = decide(
        LOCAL, "", SOURCE, Found(candidates=(patient("h1", name=[{"family": "Smith", "given": ["Anne"]}]),))
    )
    assert outcome == Held(
        "Patient/h1 has this family name, date of birth and postcode, but given name 'Ann' differs from its 'anne'",
        ("h1",),
    )


def test_a_missing_given_name_on_either_side_is_no_conflict() -> None:
    no_given = patient("h1", name=[{"family": "Smith"}])
    assert decide(LOCAL, "", SOURCE, Found(candidates=(no_given,))) == Link("h1", "demographics")
    anonymous = person(nhs_number="", given_name="")
    assert decide(anonymous, "", SOURCE, Found(candidates=(patient("h1"),))) == Link("h1", "demographics")


def test_any_of_the_patients_names_may_give_the_first_given_name() -> None:
    names = [{"family": "Smith", "given": ["Annabel"]}, {"use": "usual", "family": "Smith", "given": ["ann"]}]
    assert decide(LOCAL, "", SOURCE, Found(candidates=(patient("h1", name=names),))) == Link("h1", "demographics")


def test_a_candidate_with_another_la_id_is_held() -> None:
    outcome = decide(LOCAL, "", SOURCE, Found(candidates=(with_la_id(patient("h1"), "P7"),)))
    assert outcome == Held(
        "Patient/h1 has this family name, date of birth and postcode, but is already linked to LA person id P7",
        ("h1",),
    )


def test_too_many_candidates_is_held() -> None:
    assert isinstance(decide(LOCAL, "", SOURCE, Found(too_many=True)), Held)


# -- through the store -----------------------------------------------------------------------------------
def test_match_person_in_the_store(store: SqlRepository) -> None:
    store.update(patient("h1"))
    store.update(patient("h2", name=[{"family": "Smith, Jr", "given": ["Ann"]}], birthDate="1940-01-01"))
    store.update(with_la_id(patient("h3", name=[{"family": "Evans"}]), "P3"))
    assert match_person(store, LOCAL, "", SOURCE) == Link("h1", "demographics")
    assert match_person(store, person(la_person_id="P3", nhs_number=""), "", SOURCE) == Link("h3", "la-person-id")
    jr = person(la_person_id="P2", nhs_number="", family_name="smith, jr", birth_date=date(1940, 1, 1))
    assert match_person(store, jr, "", SOURCE) == Link("h2", "demographics")  # the comma is escaped in the search

    store.update(patient("h4"))  # a second Ann Smith born the same day at the same postcode
    assert match_person(store, LOCAL, "", SOURCE) == Held(
        "no NHS number, and 2 Patients have this family name, date of birth and postcode: not guessing which",
        ("h1", "h4"),
    )
    nhs_patient = with_la_id(
        {"resourceType": "Patient", "id": NHS[0], "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": NHS[0]}]}, "P8"
    )
    store.update(nhs_patient)
    held = match_person(store, person(), NHS[0], SOURCE)
    assert isinstance(held, Held) and held.reason.startswith(f"Patient/{NHS[0]} is already linked to LA person id P8")
    assert match_person(store, person(la_person_id="P8"), NHS[0], SOURCE) == Link(NHS[0], "nhs-number", NHS[0])
