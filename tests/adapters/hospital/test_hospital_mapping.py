"""The pure row mappings: every way a row can be wrong gives a message naming the column and value."""

from __future__ import annotations

from typing import Any

import pytest
from fhirdata import NHS_NUMBERS
from hospital_data import apc_row, ecds_row

from adapters.hospital import apc, ecds
from adapters.rows import RowError, RowPlan


def encounter_of(plan: RowPlan) -> dict[str, Any]:
    return next(r for r in plan.resources if r["resourceType"] == "Encounter")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"nhs_number": ""}, "nhs_number is missing"),
        ({"nhs_number": "12345"}, "nhs_number '12345' is not an NHS number (10 digits)"),
        ({"nhs_number": "999000001X"}, "nhs_number '999000001X' is not an NHS number (10 digits)"),
        ({"nhs_number": "9990000019"}, "nhs_number '9990000019' fails the NHS number Modulus 11 check digit"),
        ({"spell_id": ""}, "spell_id is missing"),
        ({"provider_ods": ""}, "provider_ods is missing"),
        ({"provider_ods": "R X"}, "provider_ods 'R X' is not an ODS code (3 to 10 letters and digits)"),
        ({"admission_date": ""}, "admission_date is missing"),
        ({"admission_date": "10/01/2024"}, "admission_date '10/01/2024' is not an ISO 8601 date (YYYY-MM-DD)"),
        ({"admission_date": "20240110"}, "admission_date '20240110' is not an ISO 8601 date"),
        ({"admission_date": "2024-02-30"}, "admission_date '2024-02-30' is not a real date or time"),
        ({"discharge_date": "2024-01-10T25:00"}, "discharge_date '2024-01-10T25:00' is not a real date or time"),
        ({"admission_method": ""}, "admission_method is missing"),
        ({"admission_method": "77"}, "admission_method '77' is not an NHS Data Dictionary admission method code"),
        (
            {"discharge_date": "2024-01-09"},
            "discharge_date 2024-01-09 is before admission_date 2024-01-10T09:15:00+00:00",
        ),
        ({"discharge_method": "2"}, "discharge_method '2' is not an NHS Data Dictionary discharge method (1-9)"),
        ({"discharge_method": "4", "discharge_date": ""}, "discharge_method 4 (patient died) needs a discharge_date"),
        (
            {"discharge_destination": "20"},
            "discharge_destination '20' is not an NHS Data Dictionary discharge destination",
        ),
        ({"primary_diagnosis": "J4"}, "primary_diagnosis: 'J4' is not an ICD-10 code"),
        ({"secondary_diagnoses": "I10;HELLO"}, "secondary_diagnoses: 'HELLO' is not an ICD-10 code"),
        ({"secondary_diagnoses": "I10,E11.9"}, "secondary_diagnoses: 'I10,E11.9' is not an ICD-10 code"),
    ],
)
def test_bad_apc_rows_are_refused_with_a_precise_message(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(RowError) as caught:
        apc.map_row(apc_row(**overrides))
    assert str(caught.value).startswith(message)


def test_nhs_number_written_with_spaces_is_accepted_in_canonical_form() -> None:
    plan = apc.map_row(apc_row(nhs_number="999 000 0018"))
    assert encounter_of(plan)["subject"] == {"reference": f"Patient/{NHS_NUMBERS[0]}"}
    assert plan.stubs[0]["id"] == NHS_NUMBERS[0]


def test_diagnoses_are_deduplicated_and_ranked_primary_first() -> None:
    plan = apc.map_row(apc_row(primary_diagnosis="J44.1", secondary_diagnoses="J441; I10X ;i10;;E119"))
    codes = [r["code"]["coding"][0]["code"] for r in plan.resources if r["resourceType"] == "Condition"]
    assert codes == ["J44.1", "I10", "E11.9"]
    assert [d["rank"] for d in encounter_of(plan)["diagnosis"]] == [1, 2, 3]


def test_secondary_diagnoses_without_a_primary_rank_from_two() -> None:
    plan = apc.map_row(apc_row(primary_diagnosis="", secondary_diagnoses="I10"))
    assert [d["rank"] for d in encounter_of(plan)["diagnosis"]] == [2]


def test_an_uncoded_spell_has_no_diagnosis_but_still_retracts_old_ones() -> None:
    plan = apc.map_row(apc_row(primary_diagnosis="", secondary_diagnoses=""))
    assert "diagnosis" not in encounter_of(plan)
    assert plan.supersessions[0].keep == frozenset()


def test_destination_died_without_method_died_is_stored_with_a_warning() -> None:
    plan = apc.map_row(apc_row(discharge_destination="79", discharge_method="1"))
    assert not plan.amendments
    assert plan.warnings == [
        "discharge_destination 79 (patient died) but discharge_method is '1', not 4: "
        "the Patient was not marked deceased"
    ]


def test_died_on_keeps_the_rest_of_the_patient_and_a_more_precise_record_of_the_same_day() -> None:
    change = apc.died_on("2024-01-15")
    patient = {"resourceType": "Patient", "id": "x", "name": [{"family": "Smith"}], "deceasedBoolean": True}
    assert change(patient) == {
        "resourceType": "Patient",
        "id": "x",
        "name": [{"family": "Smith"}],
        "deceasedDateTime": "2024-01-15",
    }
    precise = {"resourceType": "Patient", "id": "x", "deceasedDateTime": "2024-01-15T03:10:00+00:00"}
    assert change(precise) is precise
    assert apc.died_on("2024-01-15T03:10:00+00:00")({"deceasedDateTime": "2024-01-15"}) == {
        "deceasedDateTime": "2024-01-15T03:10:00+00:00"
    }


def test_entered_in_error_drops_the_clinical_status_con_5() -> None:
    condition = {
        "resourceType": "Condition",
        "id": "c",
        "clinicalStatus": {"text": "active"},
        "category": [apc.ENCOUNTER_DIAGNOSIS],
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I10"}]},
    }
    retracted = apc.entered_in_error(condition)
    assert "clinicalStatus" not in retracted
    assert retracted["verificationStatus"]["coding"][0]["code"] == "entered-in-error"


def test_entered_in_error_leaves_another_sources_condition_alone() -> None:
    """A GP's SNOMED problem linked to the spell is not this feed's to retract."""
    condition = {
        "resourceType": "Condition",
        "id": "c",
        "category": [apc.ENCOUNTER_DIAGNOSIS],
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]},
    }
    assert apc.entered_in_error(condition) is condition


# British Summer Time boundaries (see adapters/localtime.py): in spring 01:00-01:59 does not exist and is
# read with the GMT offset in force before the change; in autumn 01:00-01:59 happens twice and is read as
# the first (BST) occurrence.
@pytest.mark.parametrize(
    ("local", "stored"),
    [
        ("2024-03-31T00:59", "2024-03-31T00:59:00+00:00"),
        ("2024-03-31T01:30", "2024-03-31T01:30:00+00:00"),  # does not exist: GMT, as before the change
        ("2024-03-31T02:30", "2024-03-31T02:30:00+01:00"),  # exists: BST
        ("2024-10-27T00:30", "2024-10-27T00:30:00+01:00"),
        ("2024-10-27T01:30", "2024-10-27T01:30:00+01:00"),  # happens twice: the first (BST) occurrence
        ("2024-10-27T02:30", "2024-10-27T02:30:00+00:00"),
        ("2024-10-27T01:30:00Z", "2024-10-27T01:30:00+00:00"),  # an explicit offset is kept
    ],
)
def test_naive_times_are_europe_london_across_the_bst_changes(local: str, stored: str) -> None:
    plan = apc.map_row(apc_row(admission_date=local, discharge_date=""))
    assert encounter_of(plan)["period"] == {"start": stored}


def test_discharge_order_is_checked_on_instants_across_the_autumn_change() -> None:
    # 01:30 (BST, 00:30Z) then 01:10 written later in the night is 01:10 BST again: before the admission.
    with pytest.raises(RowError, match="discharge_date 2024-10-27T01:10:00\\+01:00 is before admission_date"):
        apc.map_row(apc_row(admission_date="2024-10-27T01:30", discharge_date="2024-10-27T01:10"))
    # The same day without a time is fine for a timed admission.
    plan = apc.map_row(apc_row(admission_date="2024-10-27T01:30", discharge_date="2024-10-27"))
    assert encounter_of(plan)["period"]["end"] == "2024-10-27"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"attendance_id": ""}, "attendance_id is missing"),
        ({"arrival_time": ""}, "arrival_time is missing"),
        ({"arrival_time": "yesterday"}, "arrival_time 'yesterday' is not an ISO 8601 date"),
        ({"nhs_number": "9990000027"}, "nhs_number '9990000027' fails the NHS number Modulus 11 check digit"),
        ({"site_ods": ""}, "site_ods is missing"),
        ({"chief_complaint_snomed": "29857008"}, "chief_complaint_snomed '29857008' is not a SNOMED CT identifier"),
        ({"discharge_status_snomed": "home"}, "discharge_status_snomed 'home' is not a SNOMED CT identifier"),
        ({"departure_time": "2024-07-01T22:00"}, "departure_time 2024-07-01T22:00:00+01:00 is before arrival_time"),
    ],
)
def test_bad_ecds_rows_are_refused_with_a_precise_message(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(RowError) as caught:
        ecds.map_row(ecds_row(**overrides))
    assert str(caught.value).startswith(message)


def test_ecds_term_without_a_code_is_kept_as_text() -> None:
    plan = ecds.map_row(ecds_row(chief_complaint_snomed="", chief_complaint_term="Fall at home"))
    assert plan.resources[0]["reasonCode"] == [{"text": "Fall at home"}]
