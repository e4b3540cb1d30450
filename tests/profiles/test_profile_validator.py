"""Validating resources against the profiles they claim, and the NHS number rule for every resource."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from fhir_profiles import CANONICAL_BASE, ProfileIssue, validate
from fhir_profiles import validator as validator_module
from fhir_profiles.canonical import CLOSER_PATIENT_PROFILE, NHS_NUMBER_SYSTEM
from fhir_profiles.validator import check_nhs_numbers

VERIFICATION_URL = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
ENGLAND_STATUS = "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland"


def _patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": "p1",
        "meta": {"profile": [CLOSER_PATIENT_PROFILE]},
        "identifier": [
            {"system": "https://example.org/mrn", "value": "MRN-1"},
            {
                "extension": [
                    {
                        "url": VERIFICATION_URL,
                        "valueCodeableConcept": {
                            "coding": [
                                {
                                    "system": ENGLAND_STATUS,
                                    "code": "01",
                                    "display": "Number present and verified",
                                }
                            ]
                        },
                    }
                ],
                "system": NHS_NUMBER_SYSTEM,
                "value": "9434765919",
            },
        ],
        "name": [{"family": "Smith", "given": ["Ada"]}],
        "gender": "female",
        "birthDate": "1938-04-12",
        "generalPractitioner": [{"reference": "Organization/A81001"}],
    }


@pytest.fixture
def patient() -> dict[str, Any]:
    return _patient()


def _only(issues: list[ProfileIssue]) -> ProfileIssue:
    assert len(issues) == 1, issues
    return issues[0]


def test_valid_profiled_patient_passes(patient: dict[str, Any]) -> None:
    assert validate(patient) == []


def test_minimal_valid_patient_passes() -> None:
    patient = {
        "resourceType": "Patient",
        "meta": {"profile": [f"{CLOSER_PATIENT_PROFILE}|0.1.0"]},
        "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": "9000000009"}],
        "name": [{"text": "Ada Smith"}],
        "gender": "unknown",
        "birthDate": "1938",
    }
    assert validate(patient) == []


@pytest.mark.parametrize(
    "reference",
    [
        {"reference": "Practitioner/G1234567"},
        {"reference": "https://closer.example.nhs.uk/fhir/PractitionerRole/r1/_history/2"},
        {"reference": "urn:uuid:7d3e7c3a-5b1e-4b47-9d0c-1f9f7d1a2b3c"},
        {"type": "Organization", "identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code"}},
        {"display": "Dr Jones"},
    ],
)
def test_allowed_general_practitioner_references(patient: dict[str, Any], reference: dict[str, Any]) -> None:
    patient["generalPractitioner"] = [reference]
    assert validate(patient) == []


def test_missing_nhs_number_slice(patient: dict[str, Any]) -> None:
    del patient["identifier"][1]
    issue = _only(validate(patient))
    assert (issue.expression, issue.code, issue.severity) == ("Patient.identifier", "required", "error")
    assert "nhsNumber" in issue.message


def test_no_identifiers_at_all(patient: dict[str, Any]) -> None:
    del patient["identifier"]
    issue = _only(validate(patient))
    assert (issue.expression, issue.code) == ("Patient.identifier", "required")


def test_two_nhs_numbers(patient: dict[str, Any]) -> None:
    patient["identifier"].append({"system": NHS_NUMBER_SYSTEM, "value": "4010232137"})
    issue = _only(validate(patient))
    assert (issue.expression, issue.code) == ("Patient.identifier", "invariant")
    assert "maximum allowed = 1" in issue.message


def test_nhs_number_slice_needs_a_value(patient: dict[str, Any]) -> None:
    del patient["identifier"][1]["value"]
    issue = _only(validate(patient))
    assert (issue.expression, issue.code) == ("Patient.identifier[1].value", "required")


@pytest.mark.parametrize("element", ["birthDate", "gender", "name"])
def test_missing_mandatory_element(patient: dict[str, Any], element: str) -> None:
    del patient[element]
    issue = _only(validate(patient))
    assert (issue.expression, issue.code) == (f"Patient.{element}", "required")


def test_birth_date_with_only_an_extension_counts_as_present(patient: dict[str, Any]) -> None:
    del patient["birthDate"]
    patient["_birthDate"] = {
        "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}]
    }
    assert validate(patient) == []


@pytest.mark.parametrize("gender", ["F", "Female", "not-known", ""])
def test_bad_gender_code(patient: dict[str, Any], gender: str) -> None:
    patient["gender"] = gender
    issue = _only(validate(patient))
    assert (issue.expression, issue.code) == ("Patient.gender", "code-invalid")
    assert "administrative-gender" in issue.message


@pytest.mark.parametrize(
    "coding",
    [
        {"system": ENGLAND_STATUS, "code": "09"},
        {"system": ENGLAND_STATUS, "code": "1"},
        {
            "system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusWales",
            "code": "01",
        },
        {"code": "01"},
    ],
)
def test_bad_verification_status_code(patient: dict[str, Any], coding: dict[str, Any]) -> None:
    patient["identifier"][1]["extension"][0]["valueCodeableConcept"] = {"coding": [coding]}
    issue = _only(validate(patient))
    assert (issue.expression, issue.code) == ("Patient.identifier[1].extension[0].value", "code-invalid")


def test_verification_status_text_only_is_rejected(patient: dict[str, Any]) -> None:
    patient["identifier"][1]["extension"][0]["valueCodeableConcept"] = {"text": "verified"}
    issue = _only(validate(patient))
    assert issue.code == "code-invalid"


def test_verification_status_needs_a_codeable_concept(patient: dict[str, Any]) -> None:
    patient["identifier"][1]["extension"][0] = {"url": VERIFICATION_URL, "valueCode": "01"}
    issue = _only(validate(patient))
    assert (issue.expression, issue.code) == ("Patient.identifier[1].extension[0].value", "invariant")


def test_verification_status_without_value(patient: dict[str, Any]) -> None:
    patient["identifier"][1]["extension"][0] = {"url": VERIFICATION_URL}
    issue = _only(validate(patient))
    assert (issue.expression, issue.code) == ("Patient.identifier[1].extension[0].value", "required")


def test_two_verification_statuses(patient: dict[str, Any]) -> None:
    extensions = patient["identifier"][1]["extension"]
    extensions.append(copy.deepcopy(extensions[0]))
    issue = _only(validate(patient))
    assert (issue.expression, issue.code) == ("Patient.identifier[1].extension", "invariant")


def test_other_extensions_on_the_nhs_number_are_left_alone(patient: dict[str, Any]) -> None:
    patient["identifier"][1]["extension"].insert(0, {"url": "https://example.org/other", "valueCode": "zz"})
    assert validate(patient) == []


def test_general_practitioner_pointing_at_a_patient(patient: dict[str, Any]) -> None:
    patient["generalPractitioner"].append({"reference": "Patient/p2"})
    issue = _only(validate(patient))
    assert (issue.expression, issue.code) == ("Patient.generalPractitioner[1]", "invariant")
    assert "Patient" in issue.message and "Organization" in issue.message


def test_general_practitioner_by_type_only(patient: dict[str, Any]) -> None:
    patient["generalPractitioner"] = [{"type": "RelatedPerson", "display": "Daughter"}]
    assert _only(validate(patient)).expression == "Patient.generalPractitioner[0]"


def test_general_practitioner_contained(patient: dict[str, Any]) -> None:
    patient["contained"] = [
        {"resourceType": "Practitioner", "id": "gp"},
        {"resourceType": "Patient", "id": "x"},
    ]
    patient["generalPractitioner"] = [{"reference": "#gp"}]
    assert validate(patient) == []
    patient["generalPractitioner"] = [{"reference": "#x"}]
    assert _only(validate(patient)).expression == "Patient.generalPractitioner[0]"


def test_unknown_own_base_profile_is_an_error(patient: dict[str, Any]) -> None:
    unknown = f"{CANONICAL_BASE}/StructureDefinition/closer-nonesuch"
    patient["meta"]["profile"].append(unknown)
    issue = _only(validate(patient))
    assert issue == ProfileIssue("Patient.meta.profile[1]", issue.message, code="not-supported", severity="error")
    assert unknown in issue.message


def test_outside_profile_is_a_warning(patient: dict[str, Any]) -> None:
    uk_core = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"
    patient["meta"]["profile"] = [uk_core]
    del patient["birthDate"]  # not enforced: nothing we know is claimed
    issue = _only(validate(patient))
    assert (issue.expression, issue.code, issue.severity) == (
        "Patient.meta.profile[0]",
        "not-supported",
        "warning",
    )
    assert uk_core in issue.message


def test_profile_for_another_resource_type(patient: dict[str, Any]) -> None:
    observation = {"resourceType": "Observation", "meta": {"profile": [CLOSER_PATIENT_PROFILE]}}
    issue = _only(validate(observation))
    assert (issue.expression, issue.code) == ("Observation.meta.profile[0]", "invariant")


def test_unprofiled_patient_is_not_held_to_the_profile(patient: dict[str, Any]) -> None:
    del patient["meta"]
    del patient["birthDate"]
    patient["gender"] = "F"
    assert validate(patient) == []


def test_many_problems_are_all_reported(patient: dict[str, Any]) -> None:
    del patient["birthDate"]
    patient["gender"] = "F"
    patient["generalPractitioner"] = [{"reference": "Patient/p2"}]
    expressions = {issue.expression for issue in validate(patient)}
    assert expressions == {"Patient.birthDate", "Patient.gender", "Patient.generalPractitioner[0]"}


def test_issues_are_immutable() -> None:
    issue = ProfileIssue("Patient.gender", "bad")
    assert (issue.code, issue.severity) == ("invariant", "error")
    with pytest.raises(dataclasses.FrozenInstanceError):
        issue.code = "value"  # type: ignore[misc]


# --- the NHS number rule, profile or not ----------------------------------------------------------


def test_invalid_nhs_number_in_profiled_patient(patient: dict[str, Any]) -> None:
    patient["identifier"][1]["value"] = "9434765918"
    issue = _only(validate(patient))
    assert (issue.expression, issue.code) == ("Patient.identifier[1].value", "value")


@pytest.mark.parametrize("value", ["943 476 5919", "943476591", "ABCDEFGHIJ", 9434765919])
def test_invalid_nhs_number_without_profile(value: object) -> None:
    patient = {"resourceType": "Patient", "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": value}]}
    issue = _only(validate(patient))
    assert (issue.expression, issue.code) == ("Patient.identifier[0].value", "value")


def test_nhs_numbers_checked_on_any_resource_type() -> None:
    person = {
        "resourceType": "RelatedPerson",
        "identifier": [
            {"system": NHS_NUMBER_SYSTEM, "value": "9000000009"},
            {"system": NHS_NUMBER_SYSTEM, "value": "9000000008"},
        ],
    }
    assert [issue.expression for issue in check_nhs_numbers(person)] == ["RelatedPerson.identifier[1].value"]


def test_single_identifier_resources_are_checked() -> None:
    response = {
        "resourceType": "QuestionnaireResponse",
        "identifier": {"system": NHS_NUMBER_SYSTEM, "value": "1"},
    }
    assert _only(check_nhs_numbers(response)).expression == "QuestionnaireResponse.identifier.value"


def test_identifiers_inside_references_are_not_checked() -> None:
    encounter = {
        "resourceType": "Encounter",
        "subject": {"identifier": {"system": NHS_NUMBER_SYSTEM, "value": "1234567890"}},
    }
    assert check_nhs_numbers(encounter) == []


def test_other_identifier_systems_are_not_checked() -> None:
    patient = {
        "resourceType": "Patient",
        "identifier": [{"system": "https://example.org/mrn", "value": "12"}],
    }
    assert check_nhs_numbers(patient) == []


# --- the walker is generic: a made-up profile with pattern slicing and closed rules ---------------

OBSERVATION_PROFILE = f"{CANONICAL_BASE}/StructureDefinition/test-frailty-score"
SNOMED = "http://snomed.info/sct"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


@pytest.fixture
def observation_profile(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    profile = {
        "resourceType": "StructureDefinition",
        "url": OBSERVATION_PROFILE,
        "type": "Observation",
        "differential": {
            "element": [
                {"id": "Observation", "path": "Observation"},
                {
                    "id": "Observation.category",
                    "path": "Observation.category",
                    "slicing": {"discriminator": [{"type": "pattern", "path": "$this"}], "rules": "closed"},
                },
                {
                    "id": "Observation.category:survey",
                    "path": "Observation.category",
                    "sliceName": "survey",
                    "min": 1,
                    "max": "1",
                    "patternCodeableConcept": {"coding": [{"system": CATEGORY, "code": "survey"}]},
                },
                {
                    "id": "Observation.code",
                    "path": "Observation.code",
                    "patternCodeableConcept": {"coding": [{"system": SNOMED, "code": "713636003"}]},
                },
                {"id": "Observation.value[x]", "path": "Observation.value[x]", "type": [{"code": "integer"}]},
                {"id": "Observation.status", "path": "Observation.status", "fixedCode": "final"},
            ]
        },
    }
    profiles = {**validator_module.load_profiles(), OBSERVATION_PROFILE: profile}
    monkeypatch.setattr(validator_module, "load_profiles", lambda: profiles)
    validator_module._compile.cache_clear()
    yield
    validator_module._compile.cache_clear()


def _observation() -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "meta": {"profile": [OBSERVATION_PROFILE]},
        "status": "final",
        "category": [{"coding": [{"system": CATEGORY, "code": "survey", "display": "Survey"}]}],
        "code": {"coding": [{"system": SNOMED, "code": "713636003"}], "text": "Rockwood"},
        "valueInteger": 5,
    }


@pytest.mark.usefixtures("observation_profile")
def test_generic_profile_accepts_matching_resource() -> None:
    assert validate(_observation()) == []


@pytest.mark.usefixtures("observation_profile")
@pytest.mark.parametrize(
    ("change", "expression", "code"),
    [
        (lambda o: o.update(status="preliminary"), "Observation.status", "value"),
        (lambda o: o["code"]["coding"][0].update(code="1"), "Observation.code", "value"),
        (lambda o: o.update(category=[]), "Observation.category", "required"),
        (
            lambda o: o["category"].append({"coding": [{"system": CATEGORY, "code": "exam"}]}),
            "Observation.category[1]",
            "invariant",
        ),
        (lambda o: o.update(valueInteger=None, valueString="5"), "Observation.value", "invariant"),
    ],
)
def test_generic_profile_rules(change: Any, expression: str, code: str) -> None:
    observation = _observation()
    change(observation)
    issue = _only(validate(observation))
    assert (issue.expression, issue.code) == (expression, code)
