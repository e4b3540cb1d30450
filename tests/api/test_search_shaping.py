"""_summary and _elements applied to one resource (pure)."""

from __future__ import annotations

from typing import Any

from closer.api.shaping import SUBSETTED, mandatory_elements, shape

OBSERVATION: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "o1",
    "meta": {"versionId": "1", "tag": [{"system": "urn:x", "code": "keep"}]},
    "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">70 kg</div>'},
    "status": "final",
    "code": {"text": "weight"},
    "subject": {"reference": "Patient/p1"},
    "note": [{"text": "not a summary element"}],
    "valueQuantity": {"value": 70},
}


def test_mandatory_elements() -> None:
    assert mandatory_elements("Observation") == {"resourceType", "id", "meta", "status", "code"}
    assert mandatory_elements("Patient") == {"resourceType", "id", "meta"}
    assert {"medicationCodeableConcept", "medicationReference", "status", "subject"} <= mandatory_elements(
        "MedicationStatement"
    )


def test_no_subsetting() -> None:
    assert shape(OBSERVATION, None, []) is OBSERVATION
    assert shape(OBSERVATION, "false", []) is OBSERVATION
    assert shape(OBSERVATION, "count", []) is OBSERVATION


def test_elements_keep_mandatory_and_tag_the_subset() -> None:
    shaped = shape(OBSERVATION, None, ["subject", "nonsense"])
    assert set(shaped) == {"resourceType", "id", "meta", "status", "code", "subject"}
    assert shaped["meta"]["tag"] == [{"system": "urn:x", "code": "keep"}, SUBSETTED]
    assert shaped["meta"]["versionId"] == "1"


def test_elements_win_over_summary() -> None:
    assert "note" in shape(OBSERVATION, "true", ["note"])


def test_summary_true() -> None:
    shaped = shape(OBSERVATION, "true", [])
    assert {"status", "code", "subject", "valueQuantity"} <= set(shaped)
    assert "note" not in shaped and "text" not in shaped
    assert SUBSETTED in shaped["meta"]["tag"]


def test_summary_text() -> None:
    assert set(shape(OBSERVATION, "text", [])) == {"resourceType", "id", "meta", "text", "status", "code"}


def test_summary_data() -> None:
    shaped = shape(OBSERVATION, "data", [])
    assert set(shaped) == set(OBSERVATION) - {"text"}


def test_shaping_leaves_the_input_alone() -> None:
    before = repr(OBSERVATION)
    shape(OBSERVATION, "true", [])
    shape(OBSERVATION, None, ["status"])
    assert repr(OBSERVATION) == before
