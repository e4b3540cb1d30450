"""The pure mapping: one person -> RowPlan, the checks the schema cannot make, and the retraction rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from social_care_data import EXTRACT_DATE, HEADER, LA, NHS, home_care, person

from adapters.identity import NHS_NUMBER_SYSTEM, local_system
from adapters.rows import RowError
from adapters.social_care import codes
from adapters.social_care.mapping import (
    Link,
    Source,
    check_person,
    link_patient,
    no_longer_carer,
    normalise_postcode,
    package_status,
    plan_person,
    retract_hours,
    retract_package,
)
from adapters.social_care.model import Carer, Service

SOURCE = Source.from_header(HEADER)
LINK = Link(NHS[0], "nhs-number", NHS[0])
PERSON_SYSTEM = local_system("la-person", LA)


def of_type(resources: list[dict], resource_type: str) -> list[dict]:
    return [resource for resource in resources if resource["resourceType"] == resource_type]


def test_a_person_with_an_nhs_number_gets_a_stub_the_la_id_and_every_record() -> None:
    plan = plan_person(person(), LINK, SOURCE)
    assert plan.key == "LA person P1"
    assert [stub["id"] for stub in plan.stubs] == [NHS[0], LA]
    assert plan.stubs[1]["name"] == "Shropshire Council"
    assert [amendment.resource_id for amendment in plan.amendments] == [NHS[0]]
    assert [r["resourceType"] for r in plan.resources] == [
        "EpisodeOfCare",
        "Observation",
        "Observation",
        "RelatedPerson",
    ]
    assert [s.resource_type for s in plan.supersessions] == ["EpisodeOfCare", "Observation", "RelatedPerson"]
    assert {s.anchor for s in plan.supersessions} == {("Patient", NHS[0])}
    assert plan.warnings == []


def test_a_care_package_is_an_episode_of_care_typed_by_service() -> None:
    [episode] = of_type(plan_person(person(), LINK, SOURCE).resources, "EpisodeOfCare")
    assert episode == {
        "resourceType": "EpisodeOfCare",
        "id": episode["id"],
        "identifier": [{"system": local_system("la-service", LA), "value": "S1"}],
        "status": "active",
        "type": [
            {
                "coding": [
                    {"system": codes.SERVICE_SYSTEM, "code": "home-care", "display": "Home care (domiciliary care)"}
                ]
            }
        ],
        "patient": {"reference": f"Patient/{NHS[0]}"},
        "managingOrganization": {"reference": f"Organization/{LA}"},
        "period": {"start": "2024-01-15"},
        "extension": [{"url": codes.PROVIDER_EXTENSION, "valueReference": {"display": "Acme Care"}}],
    }
    assert episode["id"].startswith("sc-package-")


def test_home_care_hours_are_an_observation_on_the_package() -> None:
    resources = plan_person(person(), LINK, SOURCE).resources
    [episode] = of_type(resources, "EpisodeOfCare")
    hours = of_type(resources, "Observation")[0]
    assert hours["code"] == {
        "coding": [
            {"system": codes.OBSERVATION_SYSTEM, "code": "home-care-hours", "display": "Home care hours per week"}
        ]
    }
    assert hours["valueQuantity"] == {
        "value": 14.5,
        "unit": "h/wk",
        "system": "http://unitsofmeasure.org",
        "code": "h/wk",
    }
    assert hours["effectivePeriod"] == {"start": "2024-01-15"}
    assert hours["focus"] == [{"reference": f"EpisodeOfCare/{episode['id']}"}]
    assert hours["category"] == [codes.SOCIAL_HISTORY]
    assert hours["performer"] == [{"reference": f"Organization/{LA}"}]


def test_whole_hours_are_stored_as_integers() -> None:
    resources = plan_person(person(services=(home_care("21.00"),)), LINK, SOURCE).resources
    assert of_type(resources, "Observation")[0]["valueQuantity"]["value"] == 21


@pytest.mark.parametrize(
    ("start", "end", "status"),
    [
        (date(2024, 7, 1), None, "planned"),
        (date(2024, 6, 30), None, "active"),
        (date(2024, 1, 1), date(2024, 6, 30), "active"),
        (date(2024, 1, 1), date(2024, 6, 29), "finished"),
    ],
)
def test_package_status_is_judged_on_the_extract_date(start: date, end: date | None, status: str) -> None:
    assert package_status(Service("S", "residential", start, end), EXTRACT_DATE) == status


def test_warnings_for_hours_that_cannot_be_used() -> None:
    services = (
        replace(home_care(), hours_per_week=None),
        Service("S2", "day-care", date(2024, 1, 1), hours_per_week=Decimal(6)),
    )
    plan = plan_person(person(services=services), LINK, SOURCE)
    assert plan.warnings == [
        "home care service S1 has no hoursPerWeek: no hours Observation",
        "hoursPerWeek of day-care service S2 ignored: read for home care only",
    ]
    assert of_type(plan.resources, "Observation")[0]["code"]["coding"][0]["code"] == "needs-assessment"


def test_an_assessment_is_a_social_history_observation_with_its_outcome() -> None:
    assessment = of_type(plan_person(person(), LINK, SOURCE).resources, "Observation")[1]
    assert assessment["identifier"] == [{"system": local_system("la-assessment", LA), "value": "A1"}]
    assert assessment["code"]["coding"][0]["code"] == "needs-assessment"
    assert assessment["effectiveDateTime"] == "2023-12-18"
    assert assessment["valueCodeableConcept"] == {
        "coding": [
            {
                "system": codes.OUTCOME_SYSTEM,
                "code": "eligible-needs",
                "display": "Eligible needs: care and support to be arranged",
            }
        ]
    }


def test_a_main_carer_is_a_related_person_with_carer_and_family_roles() -> None:
    [carer] = of_type(plan_person(person(), LINK, SOURCE).resources, "RelatedPerson")
    assert carer["relationship"] == [
        codes.UNPAID_CARER_ROLE,
        codes.MAIN_CARER_ROLE,
        {"text": "daughter", "coding": [{"system": codes.V3_ROLE_CODE, "code": "DAUC", "display": "daughter"}]},
    ]
    assert carer["name"] == [{"family": "Smith", "given": ["Jane"]}]
    assert carer["period"] == {"start": "2019-03-01"}
    assert carer["active"] is True


def test_an_other_carer_has_no_role_code() -> None:
    plan = plan_person(person(carers=(Carer("C2", "Hughes", "other"),)), LINK, SOURCE)
    [carer] = of_type(plan.resources, "RelatedPerson")
    assert carer["relationship"] == [codes.UNPAID_CARER_ROLE, {"text": "other"}]
    assert "period" not in carer


def test_ids_are_stable_and_differ_between_people() -> None:
    first = plan_person(person(), LINK, SOURCE).resources
    again = plan_person(person(), LINK, SOURCE).resources
    other = plan_person(person(la_person_id="P2"), Link(NHS[1], "nhs-number", NHS[1]), SOURCE).resources
    assert [r["id"] for r in first] == [r["id"] for r in again]
    assert not {r["id"] for r in first} & {r["id"] for r in other}


def test_a_person_matched_without_an_nhs_number_gets_no_stub_and_a_warning_when_by_demographics() -> None:
    plan = plan_person(person(nhs_number=""), Link("local-7", "demographics"), SOURCE)
    assert [stub["id"] for stub in plan.stubs] == [LA]
    assert plan.warnings == [
        "no NHS number: linked to Patient/local-7, the one Patient with this family name, date of birth and postcode"
    ]


def test_provider_organizations_are_stubbed_once() -> None:
    services = (
        replace(home_care(), provider_ods="AB1C2"),
        Service("S2", "day-care", date(2024, 1, 1), provider_name="Acme Care", provider_ods="AB1C2"),
    )
    plan = plan_person(person(services=services), LINK, SOURCE)
    assert [stub["id"] for stub in plan.stubs] == [NHS[0], LA, "AB1C2"]
    episode = of_type(plan.resources, "EpisodeOfCare")[0]
    assert episode["extension"][0]["valueReference"] == {"reference": "Organization/AB1C2", "display": "Acme Care"}


# -- checks ----------------------------------------------------------------------------------------------
def test_check_person_returns_the_nhs_number_without_spaces() -> None:
    assert check_person(person(nhs_number="999 000 0018"), SOURCE) == "9990000018"
    assert check_person(person(nhs_number=""), SOURCE) == ""


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"nhs_number": "9990000019"}, "nhsNumber '9990000019' fails the NHS number Modulus 11 check digit"),
        ({"birth_date": date(2024, 7, 1)}, "birthDate 2024-07-01 is after the extract date 2024-06-30"),
        (
            {"services": (Service("S9", "residential", date(2024, 2, 1), date(2024, 1, 31)),)},
            "service S9: endDate 2024-01-31 is before startDate 2024-02-01",
        ),
    ],
)
def test_check_person_refuses(changes: dict, message: str) -> None:
    with pytest.raises(RowError) as caught:
        check_person(person(**changes), SOURCE)
    assert str(caught.value) == message


# -- changes to stored resources -------------------------------------------------------------------------
def test_linking_adds_the_la_id_and_keeps_every_other_identifier() -> None:
    stored = {
        "resourceType": "Patient",
        "id": NHS[0],
        "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": NHS[0]}, {"system": "urn:other", "value": "x"}],
        "name": [{"family": "Smyth", "given": ["Annie"]}],
        "birthDate": "1938-05-03",
    }
    linked = link_patient(PERSON_SYSTEM, person(), fill=True)(stored)
    assert linked["identifier"] == [*stored["identifier"], {"system": PERSON_SYSTEM, "value": "P1"}]
    assert (linked["name"], linked["birthDate"]) == (stored["name"], stored["birthDate"])  # never replaced
    assert linked["address"] == [{"postalCode": "SY1 1AA"}]  # it had none
    assert link_patient(PERSON_SYSTEM, person(), fill=True)(linked) == linked  # idempotent


def test_linking_a_stub_fills_its_demographics_only_when_asked() -> None:
    stub = {"resourceType": "Patient", "id": NHS[0], "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": NHS[0]}]}
    filled = link_patient(PERSON_SYSTEM, person(given_name="Ann Marie"), fill=True)(stub)
    assert filled["name"] == [{"family": "Smith", "given": ["Ann", "Marie"]}]
    assert filled["birthDate"] == "1938-05-02"
    unfilled = link_patient(PERSON_SYSTEM, person(), fill=False)(stub)
    assert set(unfilled) == {"resourceType", "id", "identifier"}


def test_a_package_no_longer_sent_is_finished_when_its_end_has_passed_else_entered_in_error() -> None:
    retract = retract_package(EXTRACT_DATE)
    base = {"resourceType": "EpisodeOfCare", "id": "e", "status": "active", "period": {"start": "2024-01-01"}}
    assert retract(base)["status"] == "entered-in-error"
    assert retract({**base, "period": {"start": "2024-01-01", "end": "2024-07-31"}})["status"] == "entered-in-error"
    assert retract({**base, "period": {"start": "2024-01-01", "end": "2024-05-31"}})["status"] == "finished"
    finished = {**base, "status": "finished", "period": {"start": "2024-01-01", "end": "2024-05-31"}}
    assert retract(finished) == finished


def test_hours_follow_the_package_rule() -> None:
    retract = retract_hours(EXTRACT_DATE)
    open_ended = {"resourceType": "Observation", "status": "final", "effectivePeriod": {"start": "2024-01-01"}}
    ended = {**open_ended, "effectivePeriod": {"start": "2024-01-01", "end": "2024-05-31"}}
    assert retract(open_ended)["status"] == "entered-in-error"
    assert retract(ended) == ended


def test_a_carer_no_longer_sent_is_inactive() -> None:
    assert no_longer_carer({"resourceType": "RelatedPerson", "active": True})["active"] is False


def test_postcodes_are_normalised() -> None:
    assert [normalise_postcode(text) for text in ("sy11aa", "SY1 1AA", " tf9  3ab")] == [
        "SY1 1AA",
        "SY1 1AA",
        "TF9 3AB",
    ]
