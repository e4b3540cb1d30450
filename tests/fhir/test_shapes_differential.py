"""The shape cache (closer.fhir.shapes) against plain fhir.resources validation: the same verdict, always.

Each comparison runs validate_structure twice on a deep copy of the resource: once with the cache under
test (which has usually seen the resource's shape already, so only the primitive values are checked) and
once with a cache that never remembers anything (so every resource gets the full model validation, as
before the cache existed). Accept vs reject must agree, and a rejection must carry the same status,
diagnostics and issue expressions.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from closer.errors import FhirError
from closer.fhir import model, shapes
from closer.fhir.shapes import NOT_CACHEABLE, ShapeCache, signature

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SNOMED = "http://snomed.info/sct"
PATIENT = {"reference": "Patient/p1"}
DIV = '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'


def coded(code: str, system: str = SNOMED, display: str | None = None) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


HAND_WRITTEN: list[dict[str, Any]] = [
    {
        "resourceType": "Patient",
        "id": "p1",
        "meta": {"versionId": "1", "lastUpdated": "2024-01-02T03:04:05.123+00:00", "profile": ["https://x/sd/p"]},
        "text": {"status": "generated", "div": DIV},
        "identifier": [{"use": "official", "system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9990000018"}],
        "active": True,
        "name": [{"use": "official", "family": "Smith", "given": ["Ann", "Marie"], "prefix": ["Mrs"]}],
        "telecom": [{"system": "phone", "value": "01234 567890", "use": "home", "rank": 1}],
        "gender": "female",
        "birthDate": "1950-03-02",
        "_birthDate": {
            "extension": [
                {
                    "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                    "valueDateTime": "1950-03-02T10:30:00+00:00",
                }
            ]
        },
        "deceasedBoolean": False,
        "address": [
            {"line": ["1 High Street"], "city": "Shrewsbury", "postalCode": "SY1 1AB", "period": {"start": "2001-01"}}
        ],
        "multipleBirthInteger": 2,
        "contact": [
            {
                "relationship": [coded("N", "http://terminology.hl7.org/CodeSystem/v2-0131")],
                "name": {"text": "Bob Smith"},
            }
        ],
        "communication": [{"language": coded("en", "urn:ietf:bcp:47"), "preferred": True}],
        "generalPractitioner": [
            {
                "identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "M82001"},
                "type": "Organization",
            }
        ],
        "extension": [
            {"url": "https://x/ext/ethnic", "valueCodeableConcept": coded("A", "https://x/cs/eth")},
            {"url": "https://x/ext/flag", "valueBoolean": True},
            {"url": "https://x/ext/count", "valueInteger": 3},
        ],
    },
    {
        "resourceType": "Patient",
        "id": "p2",
        "contained": [
            {"resourceType": "Organization", "id": "org", "name": "Practice"},
            {"resourceType": "Practitioner", "id": "gp", "name": [{"family": "Jones"}], "active": True},
        ],
        "managingOrganization": {"reference": "#org"},
        "generalPractitioner": [{"reference": "#gp"}],
        "gender": "unknown",
        "deceasedDateTime": "2023-05-06T07:08:09-01:00",
    },
    {
        "resourceType": "Encounter",
        "id": "e1",
        "identifier": [{"system": "https://x/visit", "value": "V123"}],
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "type": [coded("183452005", display="Emergency hospital admission")],
        "subject": PATIENT,
        "participant": [
            {
                "type": [coded("ATND", "http://terminology.hl7.org/CodeSystem/v3-ParticipationType")],
                "individual": {"reference": "Practitioner/pr1", "display": "Dr Jones"},
            }
        ],
        "period": {"start": "2024-01-02T03:04:05+00:00", "end": "2024-01-05T10:00:00Z"},
        "length": {"value": 3, "unit": "d", "system": "http://unitsofmeasure.org", "code": "d"},
        "hospitalization": {"admitSource": coded("19"), "dischargeDisposition": coded("01")},
        "location": [
            {
                "location": {"reference": "Location/w1"},
                "status": "completed",
                "period": {"start": "2024-01-02T03:04:05Z"},
            }
        ],
        "serviceProvider": {"reference": "Organization/o1"},
    },
    {
        "resourceType": "Condition",
        "clinicalStatus": coded("active", "http://terminology.hl7.org/CodeSystem/condition-clinical"),
        "verificationStatus": coded("confirmed", "http://terminology.hl7.org/CodeSystem/condition-ver-status"),
        "category": [coded("encounter-diagnosis", "http://terminology.hl7.org/CodeSystem/condition-category")],
        "code": coded("44054006", display="Diabetes mellitus type 2"),
        "subject": PATIENT,
        "encounter": {"reference": "Encounter/e1"},
        "onsetDateTime": "2020-05-01",
        "recordedDate": "2020-05-02T09:00:00+01:00",
        "note": [{"text": "Diet controlled", "time": "2020-05-02T09:00:00Z"}],
    },
    {
        "resourceType": "Observation",
        "status": "final",
        "category": [coded("vital-signs", "http://terminology.hl7.org/CodeSystem/observation-category")],
        "code": coded("27113001", display="Body weight"),
        "subject": PATIENT,
        "effectiveDateTime": "2024-01-10T10:00:00Z",
        "issued": "2024-01-10T10:05:00.000+00:00",
        "valueQuantity": {"value": 72.5, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
        "referenceRange": [{"low": {"value": 50, "unit": "kg"}, "high": {"value": 100.0, "unit": "kg"}}],
    },
    {
        "resourceType": "Observation",
        "status": "preliminary",
        "code": {"text": "Smoking status"},
        "subject": PATIENT,
        "effectivePeriod": {"start": "2023", "end": "2024-02"},
        "valueString": "Never smoked",
        "component": [
            {"code": {"text": "packs"}, "valueInteger": 0},
            {"code": {"text": "current"}, "valueBoolean": False},
            {"code": {"text": "since"}, "valueDateTime": "2001-02-03"},
            {"code": {"text": "ratio"}, "valueRatio": {"numerator": {"value": 1}, "denominator": {"value": 2}}},
            {"code": {"text": "time"}, "valueTime": "10:11:12"},
        ],
    },
    {
        "resourceType": "RiskAssessment",
        "id": "ra1",
        "meta": {"profile": ["https://closer.example/fhir/StructureDefinition/closer-risk-assessment"]},
        "status": "final",
        "method": coded("closer-admission-v1", "https://closer.example/fhir/CodeSystem/risk-model"),
        "code": coded("admission", "https://closer.example/fhir/CodeSystem/risk-model"),
        "subject": PATIENT,
        "occurrenceDateTime": "2024-03-04T05:06:07+00:00",
        "basis": [{"reference": "Condition/c1"}, {"reference": "Observation/o1"}],
        "prediction": [
            {
                "outcome": {"text": "Emergency admission within 12 months"},
                "probabilityDecimal": 0.137,
                "qualitativeRisk": coded("high", "https://closer.example/fhir/CodeSystem/risk-tier"),
                "relativeRisk": 2,
                "whenPeriod": {"start": "2024-03-04", "end": "2025-03-04"},
                "rationale": "Two admissions last year",
            }
        ],
        "note": [{"text": "Generated by the stratification run", "authorString": "closer"}],
    },
    {
        "resourceType": "Flag",
        "status": "active",
        "category": [coded("safety", "http://terminology.hl7.org/CodeSystem/flag-category")],
        "code": coded("case-managed", "https://closer.example/fhir/CodeSystem/case-management-flag"),
        "subject": PATIENT,
        "period": {"start": "2024-03-04T05:06:07Z"},
        "author": {"reference": "Organization/o1"},
    },
    {
        "resourceType": "Task",
        "status": "completed",
        "intent": "order",
        "priority": "routine",
        "code": coded("triage", "https://closer.example/fhir/CodeSystem/case-management-task"),
        "for": PATIENT,
        "authoredOn": "2024-03-04T05:06:07+00:00",
        "lastModified": "2024-03-05T05:06:07+00:00",
        "executionPeriod": {"start": "2024-03-04T05:06:07Z"},
        "input": [{"type": {"text": "score"}, "valueDecimal": 0.5}],
        "output": [
            {"type": {"text": "review-by"}, "valueDate": "2024-04-01"},
            {"type": {"text": "decision"}, "valueCodeableConcept": coded("accept", "https://x/cs/decision")},
        ],
        "restriction": {"repetitions": 1},
    },
    {
        "resourceType": "MedicationStatement",
        "status": "active",
        "medicationCodeableConcept": coded("322236009", display="Paracetamol 500mg tablets"),
        "subject": PATIENT,
        "effectivePeriod": {"start": "2024-01-01"},
        "dateAsserted": "2024-01-02T00:00:00Z",
        "dosage": [
            {
                "sequence": 1,
                "text": "1 tablet four times a day",
                "timing": {"repeat": {"frequency": 4, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}],
                "asNeededBoolean": False,
            }
        ],
    },
    {
        "resourceType": "EpisodeOfCare",
        "status": "active",
        "statusHistory": [{"status": "planned", "period": {"start": "2024-01-01", "end": "2024-01-02"}}],
        "type": [coded("case-management", "https://x/cs/eoc")],
        "patient": PATIENT,
        "managingOrganization": {"reference": "Organization/o1"},
        "period": {"start": "2024-01-02"},
        "careManager": {"reference": "Practitioner/pr1"},
    },
    {
        "resourceType": "Provenance",
        "target": [{"reference": "Patient/p1/_history/1"}],
        "recorded": "2024-01-02T03:04:05.678Z",
        "activity": coded("CREATE", "http://terminology.hl7.org/CodeSystem/v3-DataOperation"),
        "agent": [
            {
                "type": coded("author", "http://terminology.hl7.org/CodeSystem/provenance-participant-type"),
                "who": {"identifier": {"system": "https://x/systems", "value": "PAS"}},
            }
        ],
        "entity": [{"role": "source", "what": {"identifier": {"system": "https://x/msg", "value": "MSG0001"}}}],
        "signature": [
            {
                "type": [{"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.1"}],
                "when": "2024-01-02T03:04:05Z",
                "who": {"reference": "Device/d1"},
                "data": "SGVsbG8=",
            }
        ],
    },
    {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "count", "valueInteger": 10},
            {"name": "when", "valueInstant": "2024-01-02T03:04:05Z"},
            {"name": "url", "valueUri": "urn:oid:1.2.3"},
            {"name": "patient", "resource": {"resourceType": "Patient", "gender": "male"}},
            {"name": "part", "part": [{"name": "x", "valueUnsignedInt": 0}, {"name": "y", "valuePositiveInt": 7}]},
        ],
    },
]

BUNDLE: dict[str, Any] = {
    "resourceType": "Bundle",
    "type": "transaction",
    "timestamp": "2024-01-02T03:04:05Z",
    "entry": [
        {
            "fullUrl": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a",
            "resource": HAND_WRITTEN[0],
            "request": {"method": "PUT", "url": "Patient/p1"},
        },
        {
            "fullUrl": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0b",
            "resource": HAND_WRITTEN[6],
            "request": {"method": "POST", "url": "RiskAssessment", "ifNoneExist": "identifier=x|1"},
        },
        {"resource": HAND_WRITTEN[7], "request": {"method": "POST", "url": "Flag"}},
    ],
}
HAND_WRITTEN.append(BUNDLE)


def _resources_in(value: Any) -> Iterator[dict[str, Any]]:
    """Every dict with a known resourceType, at any depth (so a Bundle's entries count on their own too)."""
    if isinstance(value, dict):
        if isinstance(value.get("resourceType"), str) and model.is_resource_type(value["resourceType"]):
            yield value
        for child in value.values():
            yield from _resources_in(child)
    elif isinstance(value, list):
        for child in value:
            yield from _resources_in(child)


def _sample_resources() -> list[dict[str, Any]]:
    found = []
    for path in sorted(SAMPLES.glob("**/*.json")):
        found.extend(_resources_in(json.loads(path.read_text())))
    return found


SAMPLE_RESOURCES = _sample_resources()
ALL = HAND_WRITTEN + SAMPLE_RESOURCES


def verdict(resource: Any, cache: ShapeCache) -> tuple[Any, ...]:
    """What validate_structure says about a (copy of the) resource with `cache` as the shape cache."""
    saved = model.SHAPES
    model.SHAPES = cache
    try:
        model.validate_structure(copy.deepcopy(resource))
    except FhirError as exc:
        issues = tuple((i.code, i.diagnostics, i.expression) for i in exc.all_issues())
        return ("rejected", exc.status, exc.code, exc.diagnostics, issues)
    except Exception as exc:  # anything fhir.resources lets escape must escape the same way with the cache
        return ("raised", type(exc).__name__, str(exc))
    finally:
        model.SHAPES = saved
    return ("accepted",)


def plain(resource: Any) -> tuple[Any, ...]:
    return verdict(resource, ShapeCache(maxsize=0))  # remembers nothing: every resource gets the full validation


ALL_VALID = [r for r in ALL if plain(r) == ("accepted",)]


def test_samples_were_found() -> None:
    assert len(SAMPLE_RESOURCES) > 50
    assert {r["resourceType"] for r in SAMPLE_RESOURCES} >= {"Patient", "Encounter", "Condition"}
    assert len(ALL_VALID) > 60


@pytest.mark.parametrize("resource", ALL, ids=lambda r: r["resourceType"])
def test_same_verdict_on_every_sample(resource: dict[str, Any]) -> None:
    cache = ShapeCache()
    expected = plain(resource)
    assert verdict(resource, cache) == expected  # a miss: the full validation
    assert verdict(resource, cache) == expected  # a hit, when the shape can be cached
    if expected == ("accepted",) and resource["resourceType"] != "Bundle":
        assert cache.hits == 1 or NOT_CACHEABLE in cache._plans.values()


# ----------------------------------------------------------------------------------------------------------
# Mutations: a valid resource with one primitive replaced, one key dropped or one key added.

# fmt: off
ODD_VALUES: list[Any] = [
    # dates, dateTimes, instants, times
    "2020-13-45", "2020-02-30", "2021-02-29", "2020-02-29", "2024", "2024-1", "2024-01", "0000", "99999",
    "2024-01-02T03:04:05", "2024-01-02T03:04:05Z", "2024-01-02T03:04:05.1+14:00", "2024-01-02T03:04:05+14:30",
    "2024-01-02T03:04Z", "2024-01-02T24:00:00Z", "2016-12-31T23:59:60Z", "2016-12-31T23:59:61Z",
    "2024-01-02 03:04:05Z", "2024-01-02T03:04:05.123456789-05:00", "10:11:12", "24:00:00", "23:59:60",
    "10:11", "1950-03-02T10:30:00+00:00",
    # strings, codes, ids, uris
    "", " ", " x", "x ", "a  b", "a\tb", "a\nb", "x" * 65, "x" * 300, "ABC-1.2", "a_b", "\u00a0", "a\x00b",
    "é", "urn:oid:1.2.3", "urn:oid:1.02", "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a", "http://x y",
    "Patient/p1", "#x", "true", "false", "yes", "1", "0", "-1", "01", "+1", "1.5", "1e3", "-0", "NaN",
    "SGVsbG8=", "not base64!", "{}", '{"text": "x"}', "Patient", "RiskAssessment",
    # numbers and booleans
    0, 1, -1, 2, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**63, 10**30, 0.0, -0.0, 1.0, 1.5, -2.5, 1e-7,
    1e300, 0.137, True, False,
    # not primitives
    None, {}, [], {"a": 1}, ["x"], [1], {"extension": []}, [{}], {"text": "x"},
]

SCALAR_ODD = [v for v in ODD_VALUES if isinstance(v, str | int | float | bool)]
NEW_KEYS = ["foo", "_status", "_birthDate", "fhir_comments", "extension", "modifierExtension", "id",
            "resource_type", "resourceType", "valueString", "class_fhir", "text", "_id", "contained", "meta"]
# fmt: on


def _leaf_paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _leaf_paths(child, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _leaf_paths(child, (*path, i))
    else:
        yield path


def _object_paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        yield path
        for key, child in value.items():
            yield from _object_paths(child, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _object_paths(child, (*path, i))


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


def _with(resource: dict[str, Any], path: tuple[Any, ...], new: Any) -> dict[str, Any]:
    copied = copy.deepcopy(resource)
    _at(copied, path[:-1])[path[-1]] = new
    return copied


@st.composite
def mutants(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """One mutation of `base`: mostly a primitive replaced (often keeping the shape, so the cache is hit);
    else a key dropped, a key added (known or not) with an odd value, or an object replaced."""
    kind = draw(st.sampled_from(["value", "value", "value", "same-type", "drop", "add", "object"]))
    leaves = list(_leaf_paths(base))
    if kind in ("value", "same-type") and leaves:
        path = draw(st.sampled_from(leaves))
        old = _at(base, path)
        pool = ODD_VALUES if kind == "value" else [v for v in SCALAR_ODD if type(v) is type(old)] or [old]
        return _with(base, path, draw(st.sampled_from(pool)))
    objects = list(_object_paths(base))
    where = draw(st.sampled_from(objects))
    target = _at(base, where)
    if kind == "drop" and target:
        key = draw(st.sampled_from(sorted(target)))
        copied = copy.deepcopy(base)
        del _at(copied, where)[key]
        return copied
    if kind == "object" and where:
        return _with(base, where, draw(st.sampled_from(ODD_VALUES)))  # an object replaced by anything
    copied = copy.deepcopy(base)
    key = draw(st.sampled_from(NEW_KEYS))
    _at(copied, where)[key] = draw(st.sampled_from(ODD_VALUES))
    return copied


_SHARED_CACHE = ShapeCache()  # shared by the examples, so shapes from earlier examples are hit too


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutants_after_a_valid_twin(data: st.DataObject) -> None:
    """Warm the cache with a valid resource, then validate mutants of it (several, so a mutant's own shape
    can be cached by one and hit by the next): every verdict must equal a fresh full validation's."""
    cache = _SHARED_CACHE
    base = data.draw(st.sampled_from(ALL_VALID), label="base")
    assert verdict(base, cache) == ("accepted",)
    for _ in range(data.draw(st.integers(1, 3), label="mutants")):
        mutant = data.draw(mutants(base), label="mutant")
        assert verdict(mutant, cache) == plain(mutant), mutant
        # the same shape again with another primitive changed, now that the mutant's shape may be cached
        again = data.draw(mutants(mutant), label="again")
        assert verdict(again, cache) == plain(again), again


@settings(max_examples=150, deadline=None)
@given(value=st.sampled_from(SCALAR_ODD), other=st.sampled_from(SCALAR_ODD), data=st.data())
def test_lax_shapes_then_bad_values(value: Any, other: Any, data: st.DataObject) -> None:
    """A value of another JSON type that pydantic's lax mode accepts ("true" for a boolean, 1.0 for an
    integer) makes a shape of its own; the next resource of that shape must still have its value checked."""
    cache = ShapeCache()
    base = data.draw(st.sampled_from(ALL_VALID[:14]), label="base")
    path = data.draw(st.sampled_from(list(_leaf_paths(base))), label="path")
    first, second = _with(base, path, value), _with(base, path, other)
    assert verdict(first, cache) == plain(first)
    assert verdict(second, cache) == plain(second)


LAX = [
    ({"active": "true"}, {"active": "maybe"}),  # pydantic's lax bool takes "true", so str is a boolean's shape too
    ({"active": 1}, {"active": 2}),
    ({"multipleBirthInteger": 2.0}, {"multipleBirthInteger": 2.5}),  # and a float with no fraction for an integer
    ({"multipleBirthInteger": "3"}, {"multipleBirthInteger": "x"}),
    ({"birthDate": "2001"}, {"birthDate": "2001-13"}),
]


@pytest.mark.parametrize(("accepted", "rejected"), LAX, ids=[str(a) for a, _ in LAX])
def test_a_lax_shape_still_checks_its_values(accepted: dict[str, Any], rejected: dict[str, Any]) -> None:
    cache = ShapeCache()
    first, second = {"resourceType": "Patient", **accepted}, {"resourceType": "Patient", **rejected}
    assert verdict(first, cache) == plain(first) == ("accepted",)
    assert len(cache) == 1 and _sig(first) == _sig(second)  # the second is a hit on the first's shape
    assert verdict(second, cache) == plain(second) != ("accepted",)


def test_a_blank_narrative_div_is_validated_in_full() -> None:
    """_empty_elements lets a blank div through; the shape walk stops at any blank string, so such a resource
    gets the empty-element check and then the full validation, and is not cached."""
    cache = ShapeCache()
    resource = {"resourceType": "Patient", "text": {"status": "generated", "div": " "}}
    assert verdict(resource, cache) == plain(resource)
    assert len(cache) == 0


# ----------------------------------------------------------------------------------------------------------
# The cache itself.


def _risk(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "RiskAssessment",
        "status": "final",
        "subject": {"reference": f"Patient/p{i}"},
        "prediction": [{"probabilityDecimal": i / 1000}],
        **extra,
    }


def test_a_hit_does_not_call_model_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    cls = model.model_class("RiskAssessment")
    original = cls.model_validate
    calls: list[Any] = []

    def spy(resource: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(resource)
        return original(resource, *args, **kwargs)

    monkeypatch.setattr(cls, "model_validate", spy)
    monkeypatch.setattr(model, "SHAPES", ShapeCache())
    model.validate_structure(_risk(1))
    assert len(calls) == 1  # the miss
    for i in range(2, 50):
        model.validate_structure(_risk(i, id=f"ra{i}", occurrenceDateTime=f"2024-01-{1 + i % 28:02d}"))
    assert len(calls) == 2  # one more miss: the shape with id and occurrenceDateTime
    assert model.SHAPES.hits == 47
    with pytest.raises(FhirError) as caught:
        model.validate_structure(_risk(3, id="a b", occurrenceDateTime="2024-01-03"))
    assert len(calls) == 3  # a value failed its check: the full validation, for its errors
    assert caught.value.issues[0].expression == ("RiskAssessment.id",)


def test_the_cache_is_bounded_and_least_recently_used_goes_first() -> None:
    cache = ShapeCache(maxsize=4)
    shapes = [_risk(1, **{key: "x"}) for key in ("id", "language", "mitigation", "implicitRules")]
    shapes.append(_risk(1))
    for resource in shapes:
        assert verdict(resource, cache) == ("accepted",)
    assert len(cache) == 4
    assert _sig(shapes[0]) not in _kept(cache)  # the oldest went
    assert verdict(shapes[1], cache) == ("accepted",)  # a hit: now the most recently used
    assert cache.hits == 1
    assert verdict(_risk(1, id="y", language="en"), cache) == ("accepted",)
    assert len(cache) == 4
    assert _sig(shapes[1]) in _kept(cache)
    assert _sig(shapes[2]) not in _kept(cache)


def test_a_shape_with_very_many_leaf_paths_is_not_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shapes, "MAX_PLAN_PATHS", 4)
    cache = ShapeCache()
    assert verdict(_risk(1), cache) == ("accepted",)  # 3 leaf paths: status, subject.reference, probability
    assert len(cache) == 1
    assert verdict(_risk(1, id="a", language="en"), cache) == ("accepted",)  # 5
    assert len(cache) == 1


def _kept(cache: ShapeCache) -> list[Any]:
    return [sig for _, sig in cache._plans]


def _sig(resource: dict[str, Any]) -> Any:
    return signature(resource, (), [])


@pytest.mark.parametrize(
    "resource",
    [
        {"resourceType": "Patient", "fhir_comments": ["a comment"], "gender": "male"},  # a str-or-list union
        {"resourceType": "Encounter", "status": "planned", "class_fhir": {"code": "AMB"}},  # a Python name
        {"resourceType": "Observation", "status": "final", "code": '{"text": "parsed as JSON"}'},  # str for object
    ],
    ids=["fhir_comments", "python-name", "string-for-object"],
)
def test_shapes_that_are_never_cached(resource: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    cache = ShapeCache()
    expected = plain(resource)
    assert verdict(resource, cache) == expected == ("accepted",)
    assert list(cache._plans.values()) == [NOT_CACHEABLE]
    assert verdict(resource, cache) == expected
    assert cache.hits == 0


def test_a_string_for_an_object_is_checked_each_time() -> None:
    cache = ShapeCache()
    good = {"resourceType": "Observation", "status": "final", "code": '{"text": "x"}'}
    bad = {"resourceType": "Observation", "status": "final", "code": '{"texts": "x"}'}
    assert verdict(good, cache) == ("accepted",)
    assert verdict(bad, cache) == plain(bad) != ("accepted",)


def test_nested_resources_take_their_model_from_resource_type() -> None:
    """contained, Bundle.entry.resource and Parameters.parameter.resource are polymorphic: the same keys
    under another resourceType are another shape, and each leaf is checked against its own model's type."""
    cache = ShapeCache()
    org = {"resourceType": "Patient", "contained": [{"resourceType": "Organization", "id": "o", "active": True}]}
    assert verdict(org, cache) == ("accepted",)
    assert verdict(org, cache) == ("accepted",)
    assert cache.hits == 1
    wrong = copy.deepcopy(org)
    wrong["contained"][0]["resourceType"] = "Location"  # Location has no `active`
    assert verdict(wrong, cache) == plain(wrong) != ("accepted",)
    bad_id = copy.deepcopy(org)
    bad_id["contained"][0]["id"] = "not an id"
    assert verdict(bad_id, cache) == plain(bad_id) != ("accepted",)
    unknown = copy.deepcopy(org)
    unknown["contained"][0]["resourceType"] = "NoSuchThing"
    assert verdict(unknown, cache) == plain(unknown) != ("accepted",)
