"""The golden tests: the sample practice extract and the sample GP Connect record, loaded into an empty
store on each backend, leave exactly the reviewed resources of their expected files (without meta), and
loading them again changes nothing. Regenerate with regenerate_expected.py after a deliberate change."""

from __future__ import annotations

from gp_data import EXTRACT, RECORD, RECORD_EXPECTED, load_json, stored_resources

from adapters.gp import stu3
from adapters.gp.connect import translate
from adapters.gp.extract import load_extract
from adapters.gp.record import load_record
from closer.store.sql import SqlRepository


def versions(store: SqlRepository) -> dict[str, str]:
    found = {}
    for resource in stored_resources(store):
        key = f"{resource['resourceType']}/{resource['id']}"
        found[key] = store.read(resource["resourceType"], resource["id"])["meta"]["versionId"]
    return found


def test_the_sample_extract_gives_the_expected_resources(store: SqlRepository) -> None:
    report = load_extract(store, EXTRACT)
    assert (report.accepted, report.duplicates, report.failed, report.issues) == (19, 0, 0, [])
    assert stored_resources(store) == load_json(EXTRACT / "expected.json")


def test_the_sample_extract_twice_makes_no_new_versions(store: SqlRepository) -> None:
    load_extract(store, EXTRACT)
    before = versions(store)
    again = load_extract(store, EXTRACT)
    assert (again.accepted, again.duplicates, again.failed, again.issues) == (0, 19, 0, [])
    assert versions(store) == before


def test_the_sample_record_gives_the_expected_resources_and_reports_what_it_left(store: SqlRepository) -> None:
    expected = load_json(RECORD_EXPECTED)
    report = load_record(store, RECORD)
    assert (report.accepted, report.failed) == (11, 0)
    assert stored_resources(store) == expected["resources"]
    assert report.as_dict()["issues"] == expected["issues"]
    not_translated = {i.location.split(" ", 1)[1] for i in report.issues if i.message.startswith("not translated")}
    assert {source.split("/")[0] for source in not_translated} == {
        "List",
        "Observation",
        "ProcedureRequest",
        "MedicationRequest",
    }


def test_the_sample_record_twice_makes_no_new_versions(store: SqlRepository) -> None:
    load_record(store, RECORD)
    before = versions(store)
    again = load_record(store, RECORD)
    assert (again.accepted, again.duplicates, again.failed) == (0, 11, 0)
    assert versions(store) == before


def test_the_sample_record_is_valid_stu3_and_translates_as_expected() -> None:
    bundle = load_json(RECORD)
    assert stu3.bundle_problem(bundle) is None
    assert [stu3.resource_problem(entry["resource"]) for entry in bundle["entry"]] == [None] * len(bundle["entry"])
    translation = translate(bundle)
    assert (translation.practice, translation.patient_id) == ("M99901", "9994929259")
    assert not [skipped for skipped in translation.skipped if skipped.error]
    by_key = {f"{r['resourceType']}/{r['id']}": r for r in load_json(RECORD_EXPECTED)["resources"]}
    for translated in translation.resources:
        resource = translated.resource
        assert by_key[f"{resource['resourceType']}/{resource['id']}"] == resource
