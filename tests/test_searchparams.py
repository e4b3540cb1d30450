"""The search parameter table names real elements, real types and sensible targets."""

from __future__ import annotations

import re
import sys
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from closer.store.searchparams import SEARCH_PARAMS, SUPPORTED_TYPES, SearchParam, params_for

ALL_PARAMS = [(rtype, p) for rtype, table in SEARCH_PARAMS.items() for p in table.values()]
PARAM_IDS = [f"{rtype}.{p.name}" for rtype, p in ALL_PARAMS]
TYPES = {"token", "string", "date", "reference", "quantity", "number", "uri"}
R4B_ONLY = {
    "AdministrableProductDefinition", "Citation", "ClinicalUseDefinition", "EvidenceReport", "Ingredient",
    "ManufacturedItemDefinition", "NutritionProduct", "PackagedProductDefinition", "RegulatedAuthorization",
    "SubscriptionStatus", "SubscriptionTopic",
}  # fmt: skip


def element_class(cls: Any, name: str) -> Any:
    """The model of element `name` (JSON name) of `cls`, None for a primitive; KeyError if no such element."""
    fields = {field.alias or key: field for key, field in cls.model_fields.items()}
    found = re.search(r"abc\.(\w+)Type\b", str(fields[name].annotation))
    if found is None:
        return None
    type_name = found.group(1)
    backbone = getattr(sys.modules[cls.__module__], type_name, None)
    return backbone if backbone is not None else get_fhir_model_class(type_name)


def is_r4_type(name: str) -> bool:
    """Whether `name` is a resource type of R4 (the R4B models, less the types R4B added)."""
    try:
        return get_fhir_model_class(name) is not None and name not in R4B_ONLY
    except (KeyError, ValueError):
        return False


def test_supported_types_are_the_table_keys_sorted() -> None:
    assert list(SUPPORTED_TYPES) == sorted(SEARCH_PARAMS)
    # the 22 the core issue names, RelatedPerson (HL7 NK1), and the StructureDefinitions and CodeSystems we publish
    assert len(SUPPORTED_TYPES) == 25


def test_params_for_unknown_type_is_empty() -> None:
    assert params_for("Basic") == {}
    assert params_for("Patient") is SEARCH_PARAMS["Patient"]


@pytest.mark.parametrize(("rtype", "param"), ALL_PARAMS, ids=PARAM_IDS)
def test_every_path_names_real_elements(rtype: str, param: SearchParam) -> None:
    assert param.paths, "a param needs at least one path"
    for path in param.paths:
        cls = get_fhir_model_class(rtype)
        for segment in path.split("."):
            assert cls is not None, f"{path}: {segment} is below a primitive"
            assert segment in {f.alias or k for k, f in cls.model_fields.items()}, f"{rtype}.{path}"
            cls = element_class(cls, segment)


@pytest.mark.parametrize(("rtype", "param"), ALL_PARAMS, ids=PARAM_IDS)
def test_types_targets_and_filters_are_consistent(rtype: str, param: SearchParam) -> None:
    assert param.type in TYPES
    assert param.description
    assert not param.name.startswith("_"), "the store handles the common params"
    if param.type == "reference":
        assert param.targets, "a reference param lists the types it may point to"
        for target in param.targets:
            assert target in SUPPORTED_TYPES or is_r4_type(target), target
    else:
        assert param.targets == ()
    for key, value in param.where:
        assert key and value


def test_identifier_wherever_the_resource_has_one() -> None:
    for rtype in SUPPORTED_TYPES:
        has_identifier = "identifier" in get_fhir_model_class(rtype).model_fields
        assert ("identifier" in SEARCH_PARAMS[rtype]) == (has_identifier and rtype != "StructureDefinition")


def test_subject_params_come_with_patient() -> None:
    for rtype, table in SEARCH_PARAMS.items():
        if "subject" in table:
            assert table["patient"].targets == ("Patient",), rtype
            assert table["patient"].paths == table["subject"].paths, rtype


def test_telecom_filters() -> None:
    for rtype in ("Patient", "Practitioner", "PractitionerRole"):
        table = SEARCH_PARAMS[rtype]
        assert table["phone"].paths == ("telecom",)
        assert table["phone"].where == (("system", "phone"),)
        assert table["email"].where == (("system", "email"),)
        assert table["telecom"].where == ()


def test_a_few_spec_details() -> None:
    assert SEARCH_PARAMS["Condition"]["patient"].paths == ("subject",)
    assert "subject" in SEARCH_PARAMS["Condition"]
    assert SEARCH_PARAMS["Observation"]["value-quantity"].paths == ("valueQuantity",)
    assert SEARCH_PARAMS["RiskAssessment"]["probability"].type == "number"
    assert SEARCH_PARAMS["StructureDefinition"]["url"].type == "uri"
    assert set(SEARCH_PARAMS["StructureDefinition"]) == {"url", "name", "type", "status", "version", "base"}
    assert set(SEARCH_PARAMS["Consent"]) == {
        "period", "action", "actor", "purpose", "security-label", "scope", "category", "consentor",
        "data", "organization", "patient", "source-reference", "status", "date", "identifier",
    }  # fmt: skip
    assert "near" not in SEARCH_PARAMS["Location"]
