"""Required-binding checks: clean resources pass, each wrong code is reported once at the right place."""

from __future__ import annotations

import re
import sys
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from closer.fhir.bindings import (
    CODEABLE_CONCEPT_SYSTEMS,
    DATATYPE_BINDINGS,
    ELEMENT_BINDINGS,
    VALUE_SETS,
    check_required_bindings,
)

CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
PATIENT_REF = {"reference": "Patient/p1"}

VALID: list[dict[str, Any]] = [
    {
        "resourceType": "Patient",
        "text": {"status": "generated", "div": "<div xmlns='http://www.w3.org/1999/xhtml'>Ann</div>"},
        "identifier": [{"use": "official", "system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009"}],
        "name": [{"use": "official", "family": "Smith", "given": ["Ann"]}],
        "telecom": [{"system": "phone", "value": "01234", "use": "home"}, {"system": "email", "value": "a@b"}],
        "gender": "female",
        "address": [{"use": "home", "type": "physical", "city": "Leeds"}],
        "contact": [{"name": {"use": "usual", "text": "Bob"}, "gender": "male"}],
        "link": [{"other": PATIENT_REF, "type": "seealso"}],
        "managingOrganization": {"identifier": {"use": "official", "value": "X1"}},
    },
    {
        "resourceType": "Encounter",
        "status": "finished",
        "statusHistory": [{"status": "arrived", "period": {"start": "2024-01-01"}}],
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "location": [{"location": {"reference": "Location/l1"}, "status": "completed"}],
        "length": {"value": 2, "unit": "d", "comparator": "<"},
    },
    {
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{"system": CLINICAL, "code": "active"}, {"system": "x", "code": "?"}]},
        "verificationStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]
        },
        "subject": PATIENT_REF,
        "abatementString": "resolved",
    },
    {
        "resourceType": "AllergyIntolerance",
        "type": "allergy",
        "category": ["food", "medication"],
        "criticality": "high",
        "reaction": [{"manifestation": [{"text": "rash"}], "severity": "mild"}],
        "patient": PATIENT_REF,
    },
    {
        "resourceType": "Consent",
        "status": "active",
        "scope": {"text": "privacy"},
        "category": [{"text": "x"}],
        "provision": {
            "type": "deny",
            "data": [{"meaning": "related", "reference": {"reference": "Observation/o1"}}],
            "provision": [{"type": "permit", "provision": [{"type": "deny"}]}],
        },
    },
    {
        "resourceType": "MedicationStatement",
        "status": "active",
        "medicationCodeableConcept": {"text": "aspirin"},
        "subject": PATIENT_REF,
        "dosage": [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d", "dayOfWeek": ["mon"]}}}],
    },
    {
        "resourceType": "Location",
        "status": "active",
        "mode": "instance",
        "name": "Ward 1",
        "address": {"use": "work", "city": "Leeds"},
        "hoursOfOperation": [{"daysOfWeek": ["mon", "tue"]}],
    },
    {"resourceType": "Organization", "name": "Practice", "telecom": [{"system": "url", "value": "https://x"}]},
    {
        "resourceType": "AuditEvent",
        "type": {"code": "rest"},
        "action": "R",
        "outcome": "0",
        "recorded": "2024-01-01T00:00:00Z",
        "agent": [{"requestor": True, "network": {"address": "10.0.0.1", "type": "2"}}],
        "source": {"observer": {"display": "closer"}},
    },
    {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "priority": "urgent",
        "for": PATIENT_REF,
        "contained": [{"resourceType": "Practitioner", "id": "pr", "gender": "unknown"}],
    },
]


def expressions(resource: dict[str, Any]) -> list[str]:
    return [expr for expr, _ in check_required_bindings(resource)]


@pytest.mark.parametrize("resource", VALID, ids=[r["resourceType"] for r in VALID])
def test_valid_resources_give_no_issues(resource: dict[str, Any]) -> None:
    assert check_required_bindings(resource) == []


def test_wrong_patient_gender() -> None:
    issues = check_required_bindings({"resourceType": "Patient", "gender": "M"})
    assert len(issues) == 1
    expr, message = issues[0]
    assert expr == "Patient.gender"
    assert "'M'" in message and "administrative-gender" in message


def test_wrong_encounter_status() -> None:
    assert expressions({"resourceType": "Encounter", "status": "done"}) == ["Encounter.status"]


def test_wrong_condition_clinical_status_coding() -> None:
    condition = {
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{"system": "http://snomed.info/sct", "code": "55561003"},
                                      {"system": CLINICAL, "code": "current"}]},
    }  # fmt: skip
    assert expressions(condition) == ["Condition.clinicalStatus.coding[1].code"]


def test_wrong_nested_consent_provision_type() -> None:
    consent = {
        "resourceType": "Consent",
        "status": "active",
        "provision": {"type": "deny", "provision": [{"type": "allow"}]},
    }
    assert expressions(consent) == ["Consent.provision.provision[0].type"]


def test_wrong_second_telecom_system() -> None:
    patient = {"resourceType": "Patient", "telecom": [{"system": "phone"}, {"system": "mobile", "value": "07"}]}
    assert expressions(patient) == ["Patient.telecom[1].system"]


def test_datatype_codes_are_found_at_any_depth() -> None:
    resource = {
        "resourceType": "Organization",
        "text": {"status": "done", "div": "<div/>"},
        "contact": [{"name": {"use": "formal"}, "address": {"type": "house"}}],
        "identifier": [{"use": "official"}, {"use": "primary"}],
    }
    assert expressions(resource) == [
        "Organization.text.status",
        "Organization.contact[0].name.use",
        "Organization.contact[0].address.type",
        "Organization.identifier[1].use",
    ]


def test_list_of_codes_and_contained_resources_report_indices() -> None:
    allergy = {
        "resourceType": "AllergyIntolerance",
        "category": ["food", "drug"],
        "contained": [{"resourceType": "Practitioner", "gender": "F"}],
    }
    assert expressions(allergy) == ["AllergyIntolerance.category[1]", "AllergyIntolerance.contained[0].gender"]


def test_quantity_comparator_and_non_string_codes() -> None:
    observation = {"resourceType": "Observation", "status": {"code": "final"}, "valueQuantity": {"comparator": "=<"}}
    assert expressions(observation) == ["Observation.status", "Observation.valueQuantity.comparator"]


def test_resources_without_type_or_rules_are_accepted() -> None:
    assert check_required_bindings({"gender": "M"}) == []
    assert check_required_bindings({"resourceType": "StructureDefinition", "status": "whatever"}) == []


def element_field(resource_type: str, path: str) -> Any:
    """The pydantic field at a dotted path of an R4B model, following backbone and datatype classes."""
    cls: Any = get_fhir_model_class(resource_type)
    field = None
    for segment in path.replace("*", "").split("."):
        fields = {f.alias or k: f for k, f in cls.model_fields.items()}
        field = fields[segment]
        found = re.search(r"abc\.(\w+)Type\b", str(field.annotation))
        if found:
            name = found.group(1)
            cls = getattr(sys.modules[cls.__module__], name, None) or get_fhir_model_class(name)
    return field


@pytest.mark.parametrize(("rtype", "path", "value_set"), ELEMENT_BINDINGS, ids=lambda v: str(v))
def test_element_bindings_match_the_models(rtype: str, path: str, value_set: str) -> None:
    """Each path exists; where the model lists the codes in full, they match our value set."""
    assert value_set in VALUE_SETS
    field = element_field(rtype, path)
    listed = (field.json_schema_extra or {}).get("enum_values")
    if listed and "+" not in listed:
        assert set(listed) == VALUE_SETS[value_set]
    if value_set in CODEABLE_CONCEPT_SYSTEMS:
        assert "CodeableConcept" in str(field.annotation)


@pytest.mark.parametrize(
    ("datatype", "element", "value_set"),
    [("Identifier", "use", "identifier-use"), ("HumanName", "use", "name-use"),
     ("ContactPoint", "system", "contact-point-system"), ("ContactPoint", "use", "contact-point-use"),
     ("Address", "use", "address-use"), ("Address", "type", "address-type"),
     ("Narrative", "status", "narrative-status"), ("Timing", "repeat.periodUnit", "units-of-time"),
     ("Timing", "repeat.dayOfWeek", "days-of-week")],
)  # fmt: skip
def test_datatype_value_sets_match_the_models(datatype: str, element: str, value_set: str) -> None:
    listed = element_field(datatype, element).json_schema_extra["enum_values"]
    assert set(listed) == VALUE_SETS[value_set]
    assert any(value_set in dict(pairs).values() for pairs in DATATYPE_BINDINGS.values())


def test_the_quick_datatype_check_agrees_with_the_walk_that_names_issues() -> None:
    """`_datatype_clean` decides whether the expression-building walk runs; it must never miss an issue."""
    from closer.fhir.bindings import _datatype_clean, _datatype_issues

    bad_codes = ["bogus", 7, None, {"x": 1}, "", "phone", "<", "home"]
    samples = [
        {"resourceType": "Patient", "telecom": [{"system": "phone", "value": "1"}, {"system": code, "value": "2"}],
         "address": [{"use": code}], "contact": [{"telecom": [{"system": "email", "use": code}]}]}
        for code in bad_codes
    ] + [
        {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
         "valueQuantity": {"value": 1, "comparator": code}, "component": [{"code": {"text": "y"},
         "valueQuantity": {"comparator": "<"}}]}
        for code in bad_codes
    ]  # fmt: skip
    for resource in samples:
        assert _datatype_clean(resource) == (not list(_datatype_issues(resource, resource["resourceType"])))


_CODES = st.sampled_from(["official", "usual", "phone", "email", "home", "physical", "generated", "<", "h", "mon"])
_ODD = st.one_of(st.sampled_from(["bogus", "", "Official"]), st.integers(0, 2), st.none(), st.booleans())
_DATATYPE_KEYS = [*DATATYPE_BINDINGS, "comparator", "contact", "component", "extension", "valueQuantity"]
_DATATYPE_KEYS += [element for pairs in DATATYPE_BINDINGS.values() for element, _ in pairs]


def _datatype_json(depth: int) -> st.SearchStrategy[Any]:
    leaf = st.one_of(_CODES, _ODD)
    if depth == 0:
        return leaf
    inner = _datatype_json(depth - 1)
    objects = st.dictionaries(st.sampled_from(_DATATYPE_KEYS), inner, max_size=4)
    return st.one_of(leaf, objects, st.lists(st.one_of(objects, leaf), max_size=3))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.dictionaries(st.sampled_from(_DATATYPE_KEYS), _datatype_json(4), max_size=5))
def test_the_quick_datatype_check_agrees_on_random_trees(body: dict[str, Any]) -> None:
    """The same, on random trees of the element names and codes the datatype bindings look at."""
    from closer.fhir.bindings import _datatype_clean, _datatype_issues

    assert _datatype_clean(body) == (not list(_datatype_issues(body, "Patient")))
