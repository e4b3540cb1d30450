"""Index rows pulled out of resources, by datatype (pure: dict in, rows out)."""

from __future__ import annotations

from typing import Any

import pytest
from extract_rows import Row, date_rows, index_rows, number_rows, reference_rows, string_rows, token_rows
from fhirdata import NHS, SNOMED, condition, observation, patient

from closer.store.dates import MAX_US, MIN_US, date_range
from closer.store.extract import STRING_NORM_MAX, TOKEN_MAX, normalise, values_at
from closer.store.searchparams import params_for


def rows_for(resource: dict[str, Any], table: str, param: str) -> list[Row]:
    rows = index_rows(resource, params_for(resource["resourceType"]))[table]
    return [{k: v for k, v in row.items() if k != "param"} for row in rows if row["param"] == param]


def span(text: str) -> Row:
    low, high = date_range(text)
    return {"low": low, "high": high}


def ref(**values: Any) -> Row:
    row: Row = {"target_type": None, "target_id": None, "target_url": None, "id_system": None, "id_value": None}
    row.update(values)
    return row


# -- paths -----------------------------------------------------------------------------------------------


def test_values_at_walks_lists_at_every_level() -> None:
    resource = {"name": [{"given": ["A", "B"]}, {"given": ["C"]}, {"family": "X"}]}
    assert list(values_at(resource, "name.given")) == ["A", "B", "C"]


def test_values_at_missing_path() -> None:
    assert list(values_at({"name": [{"family": "X"}]}, "name.given")) == []
    assert list(values_at({}, "birthDate")) == []


# -- tokens ----------------------------------------------------------------------------------------------


def test_codeable_concept_gives_one_row_per_coding() -> None:
    concept = {
        "coding": [{"system": SNOMED, "code": "1"}, {"system": "http://loinc.org", "code": "2"}, {"code": "3"}],
        "text": "ignored",
    }
    assert list(token_rows(concept)) == [
        {"system": SNOMED, "code": "1"},
        {"system": "http://loinc.org", "code": "2"},
        {"system": None, "code": "3"},
    ]


def test_codeable_concept_with_only_text_gives_nothing() -> None:
    assert list(token_rows({"text": "just words"})) == []


def test_coding_without_code_gives_nothing() -> None:
    assert list(token_rows({"coding": [{"system": SNOMED, "display": "x"}]})) == []


def test_identifier() -> None:
    assert list(token_rows({"system": NHS, "value": "9990000018", "use": "official"})) == [
        {"system": NHS, "code": "9990000018"}
    ]


def test_identifier_without_system() -> None:
    assert list(token_rows({"value": "abc"})) == [{"system": None, "code": "abc"}]


def test_contact_point_is_searched_by_its_value() -> None:
    assert list(token_rows({"system": "phone", "value": "01234 567890"})) == [{"system": None, "code": "01234 567890"}]


def test_code_and_boolean() -> None:
    assert list(token_rows("female")) == [{"system": None, "code": "female"}]
    assert list(token_rows(True)) == [{"system": None, "code": "true"}]
    assert list(token_rows(False)) == [{"system": None, "code": "false"}]


def test_long_token_codes_are_clipped() -> None:
    (row,) = token_rows({"value": "x" * (TOKEN_MAX + 50)})
    assert len(row["code"]) == TOKEN_MAX


def test_patient_token_rows() -> None:
    resource = patient(active=True, telecom=[{"system": "phone", "value": "0111"}, {"system": "email", "value": "a@b"}])
    assert rows_for(resource, "token", "identifier") == [{"system": NHS, "code": "9990000018"}]
    assert rows_for(resource, "token", "gender") == [{"system": None, "code": "female"}]
    assert rows_for(resource, "token", "active") == [{"system": None, "code": "true"}]
    assert rows_for(resource, "token", "phone") == [{"system": None, "code": "0111"}]
    assert rows_for(resource, "token", "email") == [{"system": None, "code": "a@b"}]
    assert len(rows_for(resource, "token", "telecom")) == 2


def test_duplicate_rows_are_dropped() -> None:
    resource = patient(identifier=[{"system": NHS, "value": "9990000018"}, {"system": NHS, "value": "9990000018"}])
    assert rows_for(resource, "token", "identifier") == [{"system": NHS, "code": "9990000018"}]


# -- strings ---------------------------------------------------------------------------------------------


def test_normalise_folds_case_accents_and_spaces() -> None:
    assert normalise("  Zoë   ÅNGSTRÖM ") == "zoe angstrom"
    assert normalise("Straße") == "strasse"
    assert len(normalise("x" * 1000)) == STRING_NORM_MAX


def test_human_name_gives_every_part() -> None:
    name = {
        "use": "official",
        "text": "Dr Ann Marie Smith",
        "family": "Smith",
        "given": ["Ann", "Marie"],
        "prefix": ["Dr"],
        "suffix": ["PhD"],
        "period": {"start": "2000"},
    }
    assert [r["raw"] for r in string_rows(name)] == ["Dr Ann Marie Smith", "Smith", "Ann", "Marie", "Dr", "PhD"]


def test_address_gives_every_part() -> None:
    address = {
        "use": "home",
        "line": ["1 High Street", "Flat 2"],
        "city": "Léeds",
        "district": "West Yorkshire",
        "postalCode": "LS1 1AA",
        "country": "GB",
    }
    rows = list(string_rows(address))
    assert [r["raw"] for r in rows] == ["1 High Street", "Flat 2", "Léeds", "West Yorkshire", "LS1 1AA", "GB"]
    assert rows[2] == {"norm": "leeds", "raw": "Léeds"}


def test_patient_string_rows() -> None:
    resource = patient(family="Ångström", given="Zoë", address=[{"city": "York", "postalCode": "YO1 7HH"}])
    assert rows_for(resource, "string", "family") == [{"norm": "angstrom", "raw": "Ångström"}]
    assert rows_for(resource, "string", "given") == [{"norm": "zoe", "raw": "Zoë"}]
    assert {r["raw"] for r in rows_for(resource, "string", "name")} == {"Ångström", "Zoë"}
    assert rows_for(resource, "string", "address-city") == [{"norm": "york", "raw": "York"}]
    assert {r["raw"] for r in rows_for(resource, "string", "address")} == {"York", "YO1 7HH"}


# -- dates -----------------------------------------------------------------------------------------------


def test_date_gives_its_range() -> None:
    assert list(date_rows("2020-03")) == [span("2020-03")]


def test_period_spans_from_start_to_end() -> None:
    (row,) = date_rows({"start": "2020-01-01", "end": "2020-01-31T12:00:00Z"})
    assert row == {"low": date_range("2020-01-01")[0], "high": date_range("2020-01-31T12:00:00Z")[1]}


def test_period_without_end_is_open_to_the_future() -> None:
    assert list(date_rows({"start": "2020-01-01"})) == [{"low": date_range("2020-01-01")[0], "high": MAX_US}]


def test_period_without_start_is_open_to_the_past() -> None:
    assert list(date_rows({"end": "2020-01-01"})) == [{"low": MIN_US, "high": date_range("2020-01-01")[1]}]


def test_empty_period_and_bad_dates_give_nothing() -> None:
    assert list(date_rows({})) == []
    assert list(date_rows("not a date")) == []
    assert list(date_rows({"start": "2020-99"})) == []


def test_far_future_sentinel_end_is_indexed() -> None:
    (row,) = date_rows({"start": "2020-01-01", "end": "9999-12-31"})
    assert row["high"] == date_range("9999-12-31")[1]


def test_choice_types_reach_the_same_param() -> None:
    as_datetime = condition("Patient/1", onset="2020-05-01")
    as_period = {k: v for k, v in condition("Patient/1").items() if k != "onsetDateTime"}
    as_period["onsetPeriod"] = {"start": "2020-05-01"}
    assert rows_for(as_datetime, "date", "onset-date") == [span("2020-05-01")]
    assert rows_for(as_period, "date", "onset-date") == [{"low": date_range("2020-05-01")[0], "high": MAX_US}]


# -- references ------------------------------------------------------------------------------------------


def test_relative_reference() -> None:
    assert list(reference_rows({"reference": "Patient/123"})) == [ref(target_type="Patient", target_id="123")]


def test_versioned_relative_reference() -> None:
    assert list(reference_rows({"reference": "Patient/123/_history/4"})) == [
        ref(target_type="Patient", target_id="123")
    ]


def test_reference_with_identifier_gives_two_rows() -> None:
    value = {"reference": "Patient/123", "identifier": {"system": NHS, "value": "9990000018"}}
    assert list(reference_rows(value)) == [
        ref(target_type="Patient", target_id="123"),
        ref(id_system=NHS, id_value="9990000018"),
    ]


def test_identifier_only_reference() -> None:
    assert list(reference_rows({"identifier": {"value": "X1"}, "display": "Someone"})) == [ref(id_value="X1")]


def test_absolute_reference_keeps_the_url() -> None:
    url = "https://other.example/fhir/Patient/9"
    assert list(reference_rows({"reference": url})) == [ref(target_url=url)]


def test_urn_reference_keeps_the_url() -> None:
    assert list(reference_rows({"reference": "urn:uuid:0b5e3c1a"})) == [ref(target_url="urn:uuid:0b5e3c1a")]


def test_contained_reference_gives_nothing() -> None:
    assert list(reference_rows({"reference": "#p1"})) == []


def test_canonical_reference() -> None:
    assert list(reference_rows("http://example.org/Questionnaire/q")) == [
        ref(target_url="http://example.org/Questionnaire/q")
    ]


def test_condition_reference_rows() -> None:
    resource = condition("Patient/p1")
    assert rows_for(resource, "reference", "subject") == [ref(target_type="Patient", target_id="p1")]
    assert rows_for(resource, "reference", "patient") == [ref(target_type="Patient", target_id="p1")]


# -- quantities and numbers ------------------------------------------------------------------------------


def test_quantity() -> None:
    quantity = {"value": 72.5, "unit": "kilogram", "system": "http://unitsofmeasure.org", "code": "kg"}
    assert list(number_rows(quantity)) == [
        {"value": 72.5, "system": "http://unitsofmeasure.org", "code": "kg", "unit": "kilogram"}
    ]


def test_quantity_with_unit_only() -> None:
    assert list(number_rows({"value": 3, "unit": "tablets"})) == [
        {"value": 3.0, "system": None, "code": None, "unit": "tablets"}
    ]


def test_quantity_without_value_gives_nothing() -> None:
    assert list(number_rows({"unit": "kg"})) == []


@pytest.mark.parametrize(("value", "expected"), [(0.25, 0.25), (1, 1.0), (0, 0.0)])
def test_plain_numbers(value: float, expected: float) -> None:
    assert list(number_rows(value)) == [{"value": expected, "system": None, "code": None, "unit": None}]


def test_booleans_are_not_numbers() -> None:
    assert list(number_rows(True)) == []


def test_observation_value_quantity_rows() -> None:
    rows = rows_for(observation("Patient/1", 72.5), "number", "value-quantity")
    assert rows == [{"value": 72.5, "system": "http://unitsofmeasure.org", "code": "kg", "unit": "kg"}]


def test_risk_assessment_probability_rows() -> None:
    resource = {
        "resourceType": "RiskAssessment",
        "status": "final",
        "subject": {"reference": "Patient/1"},
        "prediction": [{"probabilityDecimal": 0.2}, {"probabilityDecimal": 0.7}, {"qualitativeRisk": {"text": "x"}}],
    }
    assert [r["value"] for r in rows_for(resource, "number", "probability")] == [0.2, 0.7]


def test_index_rows_has_every_table() -> None:
    rows = index_rows(patient(), params_for("Patient"))
    assert set(rows) == {"token", "string", "date", "reference", "number"}
    assert rows["date"] == [{"param": "birthdate", **span("1950-03-02")}]
