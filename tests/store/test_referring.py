"""`referring` and `referring_identified`: the one-statement lookups a consumer's every request makes (a
patient's Consents, the alerts behind an NHS number) answer exactly what the general search answers."""

from __future__ import annotations

from typing import Any

from fhirdata import NHS, NHS_NUMBERS, patient

from closer.store.query import parse_search
from closer.store.sql import SqlRepository

SOURCES = ["AllergyIntolerance", "Consent", "Flag"]


def flag(pid: str, n: int) -> dict[str, Any]:
    return {
        "resourceType": "Flag",
        "id": f"flag-{pid}-{n}",
        "status": "active",
        "code": {"text": f"alert {n}"},
        "subject": {"reference": f"Patient/{pid}"},
    }


def allergy(pid: str) -> dict[str, Any]:
    return {"resourceType": "AllergyIntolerance", "id": f"allergy-{pid}", "patient": {"reference": f"Patient/{pid}"}}


def consent(pid: str) -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "id": f"consent-{pid}",
        "status": "active",
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{pid}"},
    }


def county(store: SqlRepository) -> None:
    """Patients a and b share an NHS number (a merge); c has another. Each has a Flag or two, an allergy
    and a Consent; one of a's Flags is deleted, and an Organization (no patient's record) is stored too."""
    for pid, number in (("a", NHS_NUMBERS[0]), ("b", NHS_NUMBERS[0]), ("c", NHS_NUMBERS[1])):
        store.update({**patient(number), "id": pid})
        for resource in (flag(pid, 1), flag(pid, 2), allergy(pid), consent(pid)):
            store.update(resource)
    store.delete("Flag", "flag-a-2")
    store.update({"resourceType": "Organization", "id": "org", "name": "Practice"})


def keys(resources: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(r["resourceType"], r["id"]) for r in resources]


def searched(store: SqlRepository, resource_type: str, items: list[tuple[str, str]]) -> list[tuple[str, str]]:
    query = parse_search(resource_type, items, strict=True, max_count=1000)
    query.count = 1000
    return sorted(keys(store.search(query).matches))


def test_referring_equals_the_search_by_reference(store: SqlRepository) -> None:
    county(store)
    for pid in ("a", "b", "c", "nobody"):
        assert keys(store.referring(["Consent"], "patient", "Patient", [pid])) == searched(
            store, "Consent", [("patient", f"Patient/{pid}")]
        )
        expected = sorted(key for kind in SOURCES for key in searched(store, kind, [("patient", f"Patient/{pid}")]))
        assert keys(store.referring(SOURCES, "patient", "Patient", [pid])) == expected
    both = store.referring(["Flag"], "patient", "Patient", ["a", "c"])
    assert keys(both) == [("Flag", "flag-a-1"), ("Flag", "flag-c-1"), ("Flag", "flag-c-2")]


def test_referring_identified_finds_every_record_behind_an_identifier(store: SqlRepository) -> None:
    county(store)
    found = keys(store.referring_identified(SOURCES, "patient", "Patient", (NHS, NHS_NUMBERS[0])))
    by_search = sorted(
        key for kind in SOURCES for key in searched(store, kind, [("patient.identifier", f"{NHS}|{NHS_NUMBERS[0]}")])
    )
    assert found == by_search
    assert ("Flag", "flag-a-2") not in found and ("Flag", "flag-b-2") in found  # deleted, current
    assert {r[1].split("-")[1] for r in found} == {"a", "b"}  # both records of the merged pair, not c's
    assert store.referring_identified(SOURCES, "patient", "Patient", (NHS, NHS_NUMBERS[5])) == []
    assert store.referring_identified(SOURCES, "patient", "Patient", ("urn:other", NHS_NUMBERS[0])) == []


def test_a_deleted_target_has_no_records_by_identifier(store: SqlRepository) -> None:
    county(store)
    store.delete("Patient", "c")
    assert store.referring_identified(SOURCES, "patient", "Patient", (NHS, NHS_NUMBERS[1])) == []
    assert len(store.referring(SOURCES, "patient", "Patient", ["c"])) == 4  # by id: still what names it


def test_limit_and_no_types(store: SqlRepository) -> None:
    county(store)
    limited = store.referring(SOURCES, "patient", "Patient", ["c"], limit=2)
    assert keys(limited) == keys(store.referring(SOURCES, "patient", "Patient", ["c"]))[:2]
    assert store.referring([], "patient", "Patient", ["c"]) == []
    assert store.referring_identified([], "patient", "Patient", (NHS, NHS_NUMBERS[1])) == []
