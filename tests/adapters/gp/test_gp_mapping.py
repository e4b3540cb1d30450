"""The pure GP extract mappings: the event rule, medication status and code systems, allergy details,
units, the patient merge and the retraction rule, without a store."""

from __future__ import annotations

from datetime import date

import pytest
from gp_data import EDITH, PRACTICE, allergy_row, event_row, medication_row, patient_row

from adapters.gp import allergies, events, medications, patients
from adapters.gp.codes import DMD_SYSTEM, SNOMED_SYSTEM, UCUM_SYSTEM, extract_identifier
from adapters.gp.merge import merge_patient, overlay
from adapters.gp.retract import retracted
from adapters.gp.units import parse_number, quantity
from adapters.rows import JSON, RowError

ROSTER = {EDITH: PRACTICE}
TODAY = date(2024, 6, 1)


def event(**overrides: str) -> JSON:
    [resource] = events.map_row(event_row(**overrides), ROSTER).resources
    return resource


def statement(**overrides: str) -> JSON:
    [resource] = medications.map_row(medication_row(**overrides), ROSTER, TODAY).resources
    return resource


# -- events ---------------------------------------------------------------------------------------------
def test_an_event_without_a_value_is_an_active_problem() -> None:
    condition = event()
    assert condition["resourceType"] == "Condition"
    assert condition["clinicalStatus"]["coding"][0]["code"] == "active"
    assert condition["category"][0]["coding"][0]["code"] == "problem-list-item"
    diabetes = {"system": SNOMED_SYSTEM, "code": "73211009", "display": "Diabetes mellitus"}
    assert condition["code"]["coding"] == [diabetes]
    assert condition["onsetDateTime"] == "2012-05-14"
    assert condition["identifier"] == [extract_identifier(PRACTICE, "event", EDITH, "2012-05-14", "73211009")]


def test_an_event_with_a_value_is_a_final_observation() -> None:
    observation = event(date="2024-07-01T08:05", snomed_code="72313002", value="138", unit="mm Hg")
    assert observation["resourceType"] == "Observation"
    assert observation["status"] == "final"
    assert observation["effectiveDateTime"] == "2024-07-01T08:05:00+01:00"  # BST
    assert observation["valueQuantity"] == {"value": 138, "unit": "mm Hg", "system": UCUM_SYSTEM, "code": "mm[Hg]"}
    assert event(value="Positive")["valueString"] == "Positive"
    assert event(value="6", unit="score")["valueQuantity"] == {"value": 6, "unit": "score"}


def test_an_event_id_comes_from_practice_patient_date_and_code() -> None:
    assert event()["id"] == event(term="Type 2 diabetes")["id"]
    assert event()["id"] != event(date="2012-05-15")["id"]
    assert event()["id"] != events.map_row(event_row(), {EDITH: "M99902"}).resources[0]["id"]


def test_an_invalid_snomed_code_is_kept_without_a_system_and_flagged() -> None:
    plan = events.map_row(event_row(snomed_code="XaBc1"), ROSTER)
    assert plan.resources[0]["code"] == {"coding": [{"code": "XaBc1", "display": "Diabetes mellitus"}]}
    assert plan.warnings[0].startswith("snomed_code 'XaBc1' is not a valid SNOMED CT identifier")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("7.5", (None, 7.5)), ("<0.5", ("<", 0.5)), (">= 90", (">=", 90)), ("-3", (None, -3)), ("7.5.1", None)],
)
def test_numbers_with_comparators(text: str, expected: object) -> None:
    assert parse_number(text) == expected


@pytest.mark.parametrize(
    ("unit", "code"),
    [("mmol/l", "mmol/L"), ("kg/m²", "kg/m2"), ("bpm", "/min"), ("mL/min/1.73m2", "mL/min/{1.73_m2}"), ("%", "%")],
)
def test_ucum_units(unit: str, code: str) -> None:
    assert quantity(1, None, unit) == {"value": 1, "unit": unit, "system": UCUM_SYSTEM, "code": code}


# -- medications ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("end", "status"), [("", "active"), ("2024-06-01", "active"), ("2099-01-01", "active"), ("2024-05-31", "completed")]
)
def test_medication_status_follows_the_end_date(end: str, status: str) -> None:
    assert statement(end=end)["status"] == status


def test_the_course_is_a_searchable_category() -> None:
    assert statement(repeat="y")["category"]["coding"][0]["code"] == "repeat"
    assert statement(repeat="N")["category"]["coding"][0]["code"] == "acute"
    with pytest.raises(RowError, match="repeat 'maybe' is not Y or N"):
        statement(repeat="maybe")


def test_dmd_namespace_codes_use_the_dmd_system_and_core_codes_snomed() -> None:
    assert statement(code="39720311000001101")["medicationCodeableConcept"]["coding"][0]["system"] == DMD_SYSTEM
    assert statement()["medicationCodeableConcept"]["coding"][0]["system"] == SNOMED_SYSTEM
    plan = medications.map_row(medication_row(code="39720311000001102"), ROSTER, TODAY)
    assert "system" not in plan.resources[0]["medicationCodeableConcept"]["coding"][0]
    assert plan.warnings and plan.warnings[0].startswith("code '39720311000001102' is not a valid SNOMED CT")


def test_a_course_cannot_end_before_it_starts() -> None:
    with pytest.raises(RowError, match="end 2012-05-01 is before start 2012-05-20"):
        statement(end="2012-05-01")


# -- allergies --------------------------------------------------------------------------------------------
def test_an_allergy_is_one_record_per_substance() -> None:
    [first] = allergies.map_row(allergy_row(), ROSTER).resources
    [later] = allergies.map_row(allergy_row(date="2011-01-01", severity="severe"), ROSTER).resources
    assert first["id"] == later["id"]
    assert first["reaction"] == [{"manifestation": [{"text": "Urticaria"}], "severity": "moderate"}]
    assert first["clinicalStatus"]["coding"][0]["code"] == "active" and "verificationStatus" not in first


def test_an_allergy_severity_without_a_reaction_stores_the_allergy_with_a_warning() -> None:
    plan = allergies.map_row(allergy_row(reaction="", severity="Severe"), ROSTER)
    assert "reaction" not in plan.resources[0]
    assert plan.warnings == ["severity 'severe' is not stored: it needs a reaction to belong to (reaction is blank)"]
    with pytest.raises(RowError, match="severity 'fatal' is not one of mild, moderate, severe"):
        allergies.map_row(allergy_row(severity="fatal"), ROSTER)


# -- patients and the merge ------------------------------------------------------------------------------
def gp(**overrides: str) -> JSON:
    return patients.gp_patient(patient_row(**overrides), EDITH, PRACTICE)


def test_postcodes_are_normalised() -> None:
    assert gp(postcode=" sy29zx ")["address"] == [{"use": "home", "postalCode": "SY2 9ZX"}]


def test_merging_a_patient_into_itself_or_twice_changes_nothing() -> None:
    patient = gp()
    assert merge_patient(patient, patient) == patient
    current = {
        **gp(family_name="Jones", postcode="TF1 9ZY"),
        "telecom": [{"system": "phone", "value": "01743 000202"}],
        "generalPractitioner": [{"reference": "Organization/M99902"}, {"reference": "Practitioner/p1"}],
    }
    once = merge_patient(current, patient)
    assert merge_patient(once, patient) == once
    assert once["telecom"] == current["telecom"]
    assert once["name"][1] == {"use": "old", "family": "Jones", "given": ["Edith"]}
    assert once["address"][1] == {"use": "old", "postalCode": "TF1 9ZY"}
    assert once["generalPractitioner"] == patient["generalPractitioner"]  # a new practice: its old GP goes


def test_a_recorded_death_is_never_undone() -> None:
    current = {**gp(), "deceasedDateTime": "2024-01-05"}
    assert merge_patient(current, gp())["deceasedDateTime"] == "2024-01-05"
    assert merge_patient({**gp(), "deceasedBoolean": True}, gp())["deceasedBoolean"] is True
    assert "deceasedBoolean" not in merge_patient({**gp(), "deceasedBoolean": True}, gp(date_of_death="2024-01-05"))


def test_overlay_unions_identifiers_and_keeps_unsent_elements() -> None:
    current: JSON = {"resourceType": "Organization", "id": "M99901", "identifier": [{"system": "a", "value": "1"}]}
    current |= {"meta": {"versionId": "3"}, "name": "Old name", "telecom": [{"system": "phone", "value": "1"}]}
    incoming: JSON = {"resourceType": "Organization", "id": "M99901", "identifier": [{"system": "b", "value": "2"}]}
    merged = overlay(current, incoming | {"name": "New name"})
    assert merged == {
        "resourceType": "Organization",
        "id": "M99901",
        "identifier": [{"system": "a", "value": "1"}, {"system": "b", "value": "2"}],
        "name": "New name",
        "telecom": [{"system": "phone", "value": "1"}],
    }


# -- the retraction rule ---------------------------------------------------------------------------------
def test_each_kind_is_retracted_by_its_rule_once() -> None:
    condition = event()
    gone = retracted(condition, PRACTICE)
    assert "clinicalStatus" not in gone
    assert gone["verificationStatus"]["coding"][0]["code"] == "entered-in-error"
    assert retracted(gone, PRACTICE) == gone
    assert retracted(event(value="7"), PRACTICE)["status"] == "entered-in-error"
    assert retracted(statement(), PRACTICE)["status"] == "entered-in-error"
    [allergy] = allergies.map_row(allergy_row(), ROSTER).resources
    assert retracted(allergy, PRACTICE)["clinicalStatus"]["coding"][0]["code"] == "inactive"


def test_what_the_extract_did_not_make_is_never_retracted() -> None:
    condition = event()
    assert retracted(condition, "M99902") == condition
    assert retracted({k: v for k, v in condition.items() if k != "identifier"}, PRACTICE)["clinicalStatus"]
