"""The shipped StructureDefinition, ValueSet and CodeSystem JSON is valid R4 and consistent with our constants."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
from fhir.resources.R4B.codesystem import CodeSystem
from fhir.resources.R4B.structuredefinition import StructureDefinition
from fhir.resources.R4B.valueset import ValueSet

from fhir_profiles import CANONICAL_BASE, load_code_systems, load_profiles, load_value_sets, validate
from fhir_profiles.canonical import (
    CLOSER_PATIENT_PROFILE,
    NHS_NUMBER_SYSTEM,
    NHS_NUMBER_VERIFICATION_STATUS_VALUE_SET,
)
from fhir_profiles.terminology import BUILTIN_VALUE_SETS, strip_version

DEFINITIONS = resources.files("fhir_profiles") / "definitions"
FILES = sorted(entry.name for entry in DEFINITIONS.iterdir() if entry.name.endswith(".json"))


def _read(name: str) -> dict[str, Any]:
    return json.loads((DEFINITIONS / name).read_text(encoding="utf-8"))


def test_definitions_are_shipped() -> None:
    assert "StructureDefinition-closer-patient.json" in FILES
    assert "ValueSet-closer-nhs-number-verification-status.json" in FILES


MODELS = {"StructureDefinition": StructureDefinition, "ValueSet": ValueSet, "CodeSystem": CodeSystem}


@pytest.mark.parametrize("name", FILES)
def test_definition_is_valid_fhir(name: str) -> None:
    definition = _read(name)
    assert definition["resourceType"] in MODELS
    MODELS[definition["resourceType"]].model_validate(definition)


@pytest.mark.parametrize("name", FILES)
def test_definition_naming_follows_our_canonical(name: str) -> None:
    definition = _read(name)
    kind, ident = definition["resourceType"], definition["id"]
    assert name == f"{kind}-{ident}.json"
    assert definition["url"] == f"{CANONICAL_BASE}/{kind}/{ident}"
    assert definition["status"] == "active"


@pytest.mark.parametrize("value_set", list(BUILTIN_VALUE_SETS.values()), ids=list(BUILTIN_VALUE_SETS))
def test_builtin_value_sets_are_valid_fhir(value_set: dict[str, Any]) -> None:
    ValueSet.model_validate(value_set)


def test_patient_profile_header() -> None:
    profile = load_profiles()[CLOSER_PATIENT_PROFILE]
    assert profile["kind"] == "resource"
    assert profile["type"] == "Patient"
    assert profile["baseDefinition"] == "http://hl7.org/fhir/StructureDefinition/Patient"
    assert profile["derivation"] == "constraint"
    assert profile["fhirVersion"] == "4.0.1"
    elements = {element["id"]: element for element in profile["differential"]["element"]}
    assert elements["Patient.identifier:nhsNumber.system"]["fixedUri"] == NHS_NUMBER_SYSTEM
    assert elements["Patient.identifier"]["slicing"]["discriminator"] == [{"type": "value", "path": "system"}]


def test_verification_status_value_set_has_england_codes() -> None:
    value_set = load_value_sets()[NHS_NUMBER_VERIFICATION_STATUS_VALUE_SET]
    (include,) = value_set["compose"]["include"]
    assert include["system"] == "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland"
    assert [concept["code"] for concept in include["concept"]] == [f"0{n}" for n in range(1, 9)]


def test_every_required_binding_resolves_offline() -> None:
    known = set(load_value_sets()) | set(BUILTIN_VALUE_SETS)
    for profile in load_profiles().values():
        for element in profile["differential"]["element"]:
            binding = element.get("binding", {})
            if binding.get("strength") == "required":
                assert strip_version(binding["valueSet"]) in known, element["id"]


@pytest.mark.parametrize("url", sorted(load_profiles()))
def test_every_profile_compiles(url: str) -> None:
    resource = {"resourceType": load_profiles()[url]["type"], "meta": {"profile": [url]}}
    assert all(issue.code != "not-supported" for issue in validate(resource))


def test_definitions_are_loaded_once() -> None:
    assert load_profiles() is load_profiles()
    assert load_value_sets() is load_value_sets()
    assert load_code_systems() is load_code_systems()


def test_code_systems_are_loaded_by_url() -> None:
    loaded = load_code_systems()
    assert {name for name in FILES if name.startswith("CodeSystem-")} == {
        f"CodeSystem-{definition['id']}.json" for definition in loaded.values()
    }
    for url, code_system in loaded.items():
        assert code_system["url"] == url
        assert code_system["count"] == len(code_system["concept"])
        assert len({concept["code"] for concept in code_system["concept"]}) == code_system["count"]


def test_our_value_sets_name_codes_our_code_systems_define() -> None:
    defined = {
        (url, concept["code"]): concept["display"]
        for url, code_system in load_code_systems().items()
        for concept in code_system["concept"]
    }
    for value_set in load_value_sets().values():
        for include in value_set["compose"]["include"]:
            if include["system"].startswith(f"{CANONICAL_BASE}/"):
                for concept in include["concept"]:
                    assert defined.get((include["system"], concept["code"])) == concept["display"], concept
