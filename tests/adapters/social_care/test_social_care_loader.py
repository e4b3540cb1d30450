"""Loading extracts into the store (SQLite and PostgreSQL): per-person outcomes, re-ingest, retraction
rules, the review list, resolution, and the three stratification questions as ordinary FHIR searches."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from social_care_data import (
    HEADER,
    LA,
    NHS,
    ExtractWriter,
    by_type,
    home_care,
    person,
    person_xml,
    search,
    stored,
    versions,
    xml_document,
)

from adapters.identity import NHS_NUMBER_SYSTEM, local_system
from adapters.social_care import codes, review
from adapters.social_care.loader import ResolveRefused, load_extract, resolve
from adapters.social_care.model import Assessment, Carer, Person, Service
from closer.store.sql import SqlRepository

SERVICE = codes.SERVICE_SYSTEM
HOURS = f"{codes.OBSERVATION_SYSTEM}|{codes.HOME_CARE_HOURS}"
PERSON_SYSTEM = local_system("la-person", LA)
LATER = replace(HEADER, extract_date=date(2024, 9, 30))


def today_params(on: str = "2024-06-30") -> list[tuple[str, str]]:
    """`date` both ways: the period has started by `on` and has not ended before it."""
    return [("date", f"le{on}"), ("date", f"ge{on}")]


def has_hours(repo: SqlRepository, patient: str, at_least: int, on: str = "2024-06-30") -> bool:
    """Question 1: an active home care package of at least N hours a week."""
    params = [
        ("subject", f"Patient/{patient}"),
        ("code", HOURS),
        ("value-quantity", f"ge{at_least}|http://unitsofmeasure.org|h/wk"),
        ("status", "final"),
        *today_params(on),
    ]
    return bool(search(repo, "Observation", params))


def in_care_home(repo: SqlRepository, patient: str) -> bool:
    """Question 2: in residential or nursing care."""
    params = [
        ("patient", patient),
        ("type", f"{SERVICE}|residential,{SERVICE}|nursing"),
        ("status", "active"),
    ]
    return bool(search(repo, "EpisodeOfCare", params))


def has_carer(repo: SqlRepository, patient: str, code: str = f"{codes.CARER_SYSTEM}|unpaid-carer") -> bool:
    """Question 3: has an unpaid carer."""
    params = [("patient", patient), ("relationship", code), ("active", "true")]
    return bool(search(repo, "RelatedPerson", params))


def three_people() -> list[Person]:
    return [
        person(),  # 14.5 h/wk home care, daughter main carer
        Person(
            "P2",
            "Jones",
            date(1931, 11, 23),
            nhs_number=NHS[1],
            services=(
                home_care("21", id="S21", end=date(2024, 3, 3)),
                Service("S22", "nursing", date(2024, 3, 4), provider_ods="VM4X1", provider_name="Riverside"),
            ),
            carers=(Carer("C2", "Jones", "spouse", False),),
        ),
        Person(
            "P3",
            "Evans",
            date(1940, 7, 14),
            nhs_number=NHS[2],
            services=(home_care("6", id="S31"), Service("S32", "residential", date(2024, 7, 15))),
        ),
    ]


def test_an_extract_loads_and_loading_it_again_changes_nothing(
    store: SqlRepository, write_people: ExtractWriter
) -> None:
    path = write_people(three_people())
    first = load_extract(store, path)
    assert (first.accepted, first.duplicates, first.failed, first.issues) == (3, 0, 0, [])
    count = versions(store)
    again = load_extract(store, path)
    assert (again.accepted, again.duplicates, again.failed, again.issues) == (0, 3, 0, [])
    assert versions(store) == count


def test_the_three_stratification_questions_are_ordinary_searches(
    store: SqlRepository, write_people: ExtractWriter
) -> None:
    load_extract(store, write_people(three_people()))
    assert [has_hours(store, nhs, 10) for nhs in NHS[:3]] == [True, False, False]  # P2's 21 h ended in March
    assert [has_hours(store, nhs, 5) for nhs in NHS[:3]] == [True, False, True]
    assert has_hours(store, NHS[1], 20, on="2024-02-01")  # ... but was active then
    assert [in_care_home(store, nhs) for nhs in NHS[:3]] == [False, True, False]  # P3's placement is planned
    assert [has_carer(store, nhs) for nhs in NHS[:3]] == [True, True, False]
    assert [has_carer(store, nhs, f"http://snomed.info/sct|{codes.SNOMED_INFORMAL_CARER}") for nhs in NHS[:3]] == [
        True,
        True,
        False,
    ]
    main = f"{codes.CARER_SYSTEM}|{codes.MAIN_CARER}"
    assert [has_carer(store, nhs, main) for nhs in NHS[:3]] == [True, False, False]

    # Question 2 on another day, by the period rather than the status of the last extract.
    placement = [("type", f"{SERVICE}|residential,{SERVICE}|nursing")]
    assert [
        bool(search(store, "EpisodeOfCare", [("patient", NHS[2]), *placement, *today_params(on)]))
        for on in (
            "2024-07-14",
            "2024-07-15",
        )
    ] == [False, True]

    # The same questions across the whole population: the cohort a stratification run starts from.
    cohort = search(
        store, "EpisodeOfCare", [("type", f"{SERVICE}|residential,{SERVICE}|nursing"), ("status", "active")]
    )
    assert [episode["patient"]["reference"] for episode in cohort] == [f"Patient/{NHS[1]}"]
    heavy = search(
        store, "Observation", [("code", HOURS), ("value-quantity", "ge10"), ("status", "final"), *today_params()]
    )
    assert [observation["subject"]["reference"] for observation in heavy] == [f"Patient/{NHS[0]}"]
    [episode] = search(store, "EpisodeOfCare", [("patient", NHS[0]), ("type", f"{SERVICE}|home-care")])
    assert (
        search(store, "Observation", [("focus", f"EpisodeOfCare/{episode['id']}")])[0]["valueQuantity"]["value"] == 14.5
    )


def test_the_patient_gets_the_la_id_without_losing_identifiers_or_details(
    store: SqlRepository, write_people: ExtractWriter
) -> None:
    hospital = {"system": "https://example.org/hospital", "value": "H123"}
    store.update(
        {
            "resourceType": "Patient",
            "id": NHS[0],
            "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": NHS[0]}, hospital],
            "name": [{"family": "Smith", "given": ["Annie"]}],
            "gender": "female",
        }
    )
    load_extract(store, write_people([person()]))
    patient = store.read("Patient", NHS[0])
    assert patient["identifier"] == [
        {"system": NHS_NUMBER_SYSTEM, "value": NHS[0]},
        hospital,
        {"system": PERSON_SYSTEM, "value": "P1"},
    ]
    assert (patient["name"], patient["gender"], patient["birthDate"]) == (
        [{"family": "Smith", "given": ["Annie"]}],
        "female",
        "1938-05-02",  # it had none
    )
    assert search(store, "Patient", [("identifier", f"{PERSON_SYSTEM}|P1")])[0]["id"] == NHS[0]


def test_a_package_that_ended_is_updated(store: SqlRepository, write_people: ExtractWriter) -> None:
    load_extract(store, write_people([person()]))
    ended = person(services=(home_care(end=date(2024, 8, 31)),))
    report = load_extract(store, write_people([ended], header=LATER))
    assert (report.accepted, report.failed) == (1, 0)
    [episode] = by_type(store, "EpisodeOfCare")
    assert (episode["status"], episode["period"]) == ("finished", {"start": "2024-01-15", "end": "2024-08-31"})
    [hours] = [obs for obs in by_type(store, "Observation") if obs["code"]["coding"][0]["code"] == "home-care-hours"]
    assert hours["effectivePeriod"] == {"start": "2024-01-15", "end": "2024-08-31"}
    assert has_hours(store, NHS[0], 10, on="2024-08-31")
    assert not has_hours(store, NHS[0], 10, on="2024-09-01")


def test_records_missing_from_a_re_sent_person_are_retracted_by_the_documented_rule(
    store: SqlRepository, write_people: ExtractWriter
) -> None:
    services = (
        home_care(),  # open-ended: dropped -> entered-in-error
        Service("S2", "day-care", date(2024, 1, 1), date(2024, 12, 31)),  # ends after the later extract: dropped
        Service("S3", "reablement", date(2024, 6, 1), date(2024, 7, 31)),  # ended by the later extract: finished
        Service("S4", "equipment", date(2024, 1, 1)),  # still sent
    )
    first = person(services=services, carers=(Carer("C1", "Smith", "daughter", True), Carer("C2", "Hughes", "friend")))
    load_extract(store, write_people([first]))
    resent = replace(first, services=(services[3],), carers=(first.carers[1],), assessments=())
    report = load_extract(store, write_people([resent], header=LATER))
    assert (report.accepted, report.failed) == (1, 0)
    statuses = {episode["identifier"][0]["value"]: episode["status"] for episode in by_type(store, "EpisodeOfCare")}
    assert statuses == {"S1": "entered-in-error", "S2": "entered-in-error", "S3": "finished", "S4": "active"}
    observations = {obs["code"]["coding"][0]["code"]: obs["status"] for obs in by_type(store, "Observation")}
    assert observations == {"home-care-hours": "entered-in-error", "needs-assessment": "final"}  # assessments stay
    carers = {carer["identifier"][0]["value"]: carer["active"] for carer in by_type(store, "RelatedPerson")}
    assert carers == {"C1": False, "C2": True}
    assert not has_hours(store, NHS[0], 1, on="2024-09-30")
    assert not has_carer(store, NHS[0], f"{codes.CARER_SYSTEM}|{codes.MAIN_CARER}")

    count = versions(store)
    assert load_extract(store, write_people([resent], header=LATER)).duplicates == 1
    assert versions(store) == count
    load_extract(store, write_people([first], header=LATER))  # sent again in full: restored
    restored = {episode["identifier"][0]["value"]: episode["status"] for episode in by_type(store, "EpisodeOfCare")}
    assert restored == {"S1": "active", "S2": "active", "S3": "finished", "S4": "active"}


def test_a_package_sent_for_another_authority_is_not_retracted(
    store: SqlRepository, write_people: ExtractWriter
) -> None:
    load_extract(store, write_people([person()]))
    other = replace(HEADER, local_authority="LA999")
    load_extract(store, write_people([person(services=(), carers=())], header=other))
    assert {episode["status"] for episode in by_type(store, "EpisodeOfCare")} == {"active"}
    assert {carer["active"] for carer in by_type(store, "RelatedPerson")} == {True}


# -- per-person problems ---------------------------------------------------------------------------------
def test_each_bad_person_is_an_issue_on_its_line_and_the_others_load(store: SqlRepository, tmp_path: Path) -> None:
    body = (
        person_xml("P1")
        + person_xml("P2", birth="1938-02-30")  # not a real date: the schema says so
        + person_xml("P3", nhs=NHS[1])
        + person_xml("P4", nhs="9990000019")  # check digit
        + person_xml("P5", nhs=NHS[2], extra='    <service id="S1"><type>home-care</type></service>\n')
        + person_xml("P6", nhs=NHS[3], birth="2025-01-01")
        + person_xml("P3", nhs=NHS[1])  # sent twice
    )
    path = tmp_path / "bad.xml"
    path.write_text(xml_document(body))
    report = load_extract(store, path)
    assert (report.accepted, report.duplicates, report.failed) == (2, 1, 4)
    ns = "{https://closer.example.nhs.uk/ns/social-care-extract/1}"
    assert [(issue.severity, issue.location, issue.message) for issue in report.issues] == [
        (
            "error",
            "bad.xml line 13 (LA person P2)",
            f"not valid against the extract schema: Element '{ns}birthDate': '1938-02-30' is not a valid value of "
            f"the atomic type '{ns}Date'.; person not stored",
        ),
        (
            "error",
            "bad.xml line 21 (LA person P4)",
            "nhsNumber '9990000019' fails the NHS number Modulus 11 check digit; person not stored",
        ),
        (
            "error",
            "bad.xml line 32 (LA person P5)",
            f"not valid against the extract schema: Element '{ns}service': Missing child element(s). Expected is "
            f"one of ( {ns}hoursPerWeek, {ns}startDate ).; person not stored",
        ),
        (
            "error",
            "bad.xml line 34 (LA person P6)",
            "birthDate 2025-01-01 is after the extract date 2024-06-30; person not stored",
        ),
        ("warning", "bad.xml line 40 (LA person P3)", "LA person P3 is also on line 15; this later row replaces it"),
    ]
    assert {patient["id"] for patient in by_type(store, "Patient")} == {NHS[0], NHS[1]}


def test_a_refused_file_stores_nothing(store: SqlRepository, tmp_path: Path) -> None:
    path = tmp_path / "broken.xml"
    path.write_text(xml_document(person_xml("P1") + person_xml("P2").replace("</person>", "")))
    report = load_extract(store, path)
    assert (report.accepted, report.failed) == (0, 1)
    [issue] = report.issues
    assert issue.location == "broken.xml line 15"
    assert issue.message.startswith("not well-formed XML: Opening and ending tag mismatch: person line 9")
    assert issue.message.endswith("; nothing in the file was stored")
    assert stored(store) == []


# -- the review list -------------------------------------------------------------------------------------
def review_items(store: SqlRepository, include_closed: bool = True) -> list[review.ReviewItem]:
    with store.engine.connect() as conn:
        return review.listing(conn, include_closed=include_closed)


def local(la_id: str = "P1", **changes: object) -> Person:
    return person(la_person_id=la_id, nhs_number="", **changes)  # type: ignore[arg-type]


def hospital_patient(patient_id: str, family: str = "Smith", given: str = "Ann") -> dict[str, object]:
    return {
        "resourceType": "Patient",
        "id": patient_id,
        "name": [{"family": family, "given": [given]}],
        "birthDate": "1938-05-02",
        "address": [{"postalCode": "SY1 1AA"}],
    }


def test_matching_outcomes_through_the_loader(store: SqlRepository, write_people: ExtractWriter) -> None:
    """Exact LA id, demographic match, two candidates, none, and a conflicting given name."""
    store.update(hospital_patient("h-smith"))
    store.update(hospital_patient("h-jones-1", "Jones"))
    store.update(hospital_patient("h-jones-2", "Jones"))
    store.update(hospital_patient("h-evans", "Evans", "Margaret"))
    store.update({**hospital_patient("h-price", "Price"), "identifier": [{"system": PERSON_SYSTEM, "value": "P5"}]})
    people = [
        local("P1"),  # demographics -> h-smith
        local("P2", family_name="Jones"),  # two candidates
        local("P3", family_name="Brown"),  # none
        local("P4", family_name="Evans"),  # given name Ann vs Margaret
        local("P5", family_name="Price", postcode="", given_name="Dorothy"),  # LA id already on h-price
    ]
    report = load_extract(store, write_people(people))
    assert (report.accepted, report.failed) == (2, 3)
    messages = [(issue.severity, issue.location.split(" (")[1], issue.message) for issue in report.issues]
    held = " held for review (closer matching list)"
    assert messages == [
        (
            "error",
            "LA person P2)",
            "not matched to a Patient: no NHS number, and 2 Patients have this family name, date of birth and "
            f"postcode: not guessing which;{held}",
        ),
        (
            "error",
            "LA person P3)",
            "not matched to a Patient: no NHS number, and no Patient has this family name, date of birth and "
            f"postcode;{held}",
        ),
        (
            "error",
            "LA person P4)",
            "not matched to a Patient: Patient/h-evans has this family name, date of birth and postcode, but given "
            f"name 'Ann' differs from its 'margaret';{held}",
        ),
        (
            "warning",
            "LA person P1)",
            "no NHS number: linked to Patient/h-smith, the one Patient with this family name, date of birth and "
            "postcode",
        ),
    ]
    assert sorted(episode["patient"]["reference"] for episode in by_type(store, "EpisodeOfCare")) == [
        "Patient/h-price",
        "Patient/h-smith",
    ]
    items = review_items(store)
    assert [(item.la_person_id, item.status, item.candidates) for item in items] == [
        ("P2", "open", "h-jones-1,h-jones-2"),
        ("P3", "open", ""),
        ("P4", "open", "h-evans"),
    ]
    assert store.read("Patient", "h-smith")["identifier"] == [{"system": PERSON_SYSTEM, "value": "P1"}]
    assert "h-smith" not in {ref for item in items for ref in item.candidates.split(",")}

    # Sent again: the demographic match now goes by LA id (no warning), the held people stay held, once each.
    again = load_extract(store, write_people(people))
    assert (again.accepted, again.duplicates, again.failed) == (0, 2, 3)
    assert [issue.severity for issue in again.issues] == ["error"] * 3
    assert [item.id for item in review_items(store)] == [item.id for item in items]


def test_a_held_person_who_later_arrives_with_an_nhs_number_leaves_the_list(
    store: SqlRepository, write_people: ExtractWriter
) -> None:
    load_extract(store, write_people([local("P7")]))
    assert [item.status for item in review_items(store)] == ["open"]
    assert by_type(store, "EpisodeOfCare") == []
    report = load_extract(store, write_people([person(la_person_id="P7")], header=LATER))
    assert (report.accepted, report.failed) == (1, 0)
    [item] = review_items(store)
    assert (item.status, item.patient_id) == ("matched", NHS[0])
    assert review_items(store, include_closed=False) == []


def test_resolving_a_held_person_links_and_loads_them(store: SqlRepository, write_people: ExtractWriter) -> None:
    someone = local(
        "P8",
        services=(home_care("30"),),
        assessments=(Assessment("A8", "review", date(2024, 5, 1), "support-increased"),),
    )
    load_extract(store, write_people([someone]))
    [item] = review_items(store)
    assert (
        resolve(store, item.id, NHS[3]) == f"LA person P8 of {LA} linked to Patient/{NHS[3]}; their records are loaded"
    )
    assert has_hours(store, NHS[3], 30)
    patient = store.read("Patient", NHS[3])
    assert {"system": PERSON_SYSTEM, "value": "P8"} in patient["identifier"]
    assert patient["birthDate"] == "1938-05-02"
    [item] = review_items(store)
    assert (item.status, item.patient_id) == ("resolved", NHS[3])

    # The next extract finds them by LA id, and nothing changes.
    count = versions(store)
    report = load_extract(store, write_people([someone]))
    assert (report.accepted, report.duplicates, report.failed) == (0, 1, 0)
    assert versions(store) == count


def test_resolving_refuses_what_is_unsafe(store: SqlRepository, write_people: ExtractWriter) -> None:
    store.update({**hospital_patient("h-other"), "identifier": [{"system": PERSON_SYSTEM, "value": "P99"}]})
    load_extract(store, write_people([local("P9", family_name="Nobody")]))
    [item] = review_items(store)
    refusals = {
        "9990000019": "9990000019 fails the NHS number Modulus 11 check digit",
        "no-such-patient": "Patient/no-such-patient cannot be used: ",
        "h-other": "Patient/h-other is already linked to LA person id P99",
    }
    for patient, message in refusals.items():
        with pytest.raises(ResolveRefused, match=f"^{re.escape(message)}"):
            resolve(store, item.id, patient)
    with pytest.raises(ResolveRefused, match=r"^no review item 12345$"):
        resolve(store, 12345, NHS[0])
    resolve(store, item.id, NHS[0])
    with pytest.raises(
        ResolveRefused, match=re.escape(f"review item {item.id} is already resolved (Patient/{NHS[0]})")
    ):
        resolve(store, item.id, NHS[0])
    with_nhs = person(la_person_id="P10", family_name="Nobody")
    store.update({**hospital_patient("h-ten"), "identifier": [{"system": PERSON_SYSTEM, "value": "P10"}]})
    load_extract(store, write_people([with_nhs]))  # its LA id is on h-ten: held
    held = next(entry for entry in review_items(store, include_closed=False) if entry.la_person_id == "P10")
    with pytest.raises(ResolveRefused, match=f"the extract gives this person NHS number {NHS[0]}, not {NHS[1]}"):
        resolve(store, held.id, NHS[1])


def test_hours_with_decimals_are_searchable_by_threshold(store: SqlRepository, write_people: ExtractWriter) -> None:
    load_extract(store, write_people([person(services=(home_care("9.75"),))]))
    assert has_hours(store, NHS[0], 9) and not has_hours(store, NHS[0], 10)
    [hours] = [obs for obs in by_type(store, "Observation") if obs["code"]["coding"][0]["code"] == "home-care-hours"]
    assert Decimal(str(hours["valueQuantity"]["value"])) == Decimal("9.75")
