"""Loading APC extracts into the store (SQLite and PostgreSQL): mapping, searching, re-ingest and bad rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fhirdata import NHS_NUMBERS, patient
from hospital_data import APC_COLUMNS, apc_row

from adapters.csvload import load_csv
from adapters.encounter_codes import ADMISSION_METHOD_EXTENSION, DISCHARGE_METHOD_EXTENSION
from adapters.hospital import apc
from adapters.identity import derived_id, local_system
from closer.store.query import parse_search
from closer.store.sql import SqlRepository

CsvWriter = Callable[..., Path]
EMERGENCY = "http://snomed.info/sct|183452005"


def encounter(store: SqlRepository, provider: str = "RXW", spell: str = "S1001") -> dict[str, Any]:
    return store.read("Encounter", derived_id("spell", provider, spell))


def condition(store: SqlRepository, code: str, provider: str = "RXW", spell: str = "S1001") -> dict[str, Any]:
    return store.read("Condition", derived_id("condition", provider, spell, code))


def search(store: SqlRepository, resource_type: str, *params: tuple[str, str]) -> list[dict[str, Any]]:
    return store.search(parse_search(resource_type, params)).matches


def load(store: SqlRepository, path: Path) -> Any:
    return load_csv(store, path, apc.FEED)


def test_a_good_file_gives_coded_encounters(store: SqlRepository, write_csv: CsvWriter) -> None:
    rows = [
        apc_row(),
        apc_row(
            nhs_number=NHS_NUMBERS[1],
            spell_id="S1002",
            admission_method="11",
            admission_date="2024-02-01",
            discharge_date="2024-02-03",
            primary_diagnosis="K80.2",
            secondary_diagnoses="",
        ),
        apc_row(
            nhs_number=NHS_NUMBERS[2],
            spell_id="S1003",
            admission_method="2A",
            discharge_date="",
            discharge_destination="",
            discharge_method="",
            primary_diagnosis="",
            secondary_diagnoses="",
        ),
    ]
    report = load(store, write_csv("apc.csv", APC_COLUMNS, rows))
    assert (report.accepted, report.duplicates, report.failed, report.issues) == (3, 0, 0, [])

    emergency = encounter(store)
    assert emergency["status"] == "finished"
    assert emergency["class"]["code"] == "IMP"
    assert emergency["identifier"] == [{"system": local_system("spell", "RXW"), "value": "S1001"}]
    assert emergency["identifier"][0]["system"].endswith("/Id/spell/rxw")
    assert emergency["subject"] == {"reference": f"Patient/{NHS_NUMBERS[0]}"}
    assert emergency["serviceProvider"] == {"reference": "Organization/RXW"}
    assert emergency["period"] == {"start": "2024-01-10T09:15:00+00:00", "end": "2024-01-15"}
    assert emergency["type"][0]["coding"][0]["code"] == "183452005"
    assert emergency["priority"]["coding"][0]["code"] == "EM"
    [admission] = emergency["hospitalization"]["extension"]
    assert admission["url"] == ADMISSION_METHOD_EXTENSION
    assert admission["valueCodeableConcept"]["coding"][0]["code"] == "21"
    assert emergency["hospitalization"]["dischargeDisposition"]["coding"][0]["code"] == "19"
    [discharge] = emergency["extension"]
    assert discharge["url"] == DISCHARGE_METHOD_EXTENSION
    assert discharge["valueCodeableConcept"]["coding"][0]["code"] == "1"

    elective = encounter(store, spell="S1002")
    assert elective["type"][0]["coding"][0]["code"] == "8715000"
    assert elective["priority"]["coding"][0]["code"] == "EL"

    ongoing = encounter(store, spell="S1003")
    assert ongoing["status"] == "in-progress"
    assert ongoing["period"] == {"start": "2024-01-10T09:15:00+00:00"}
    assert "extension" not in ongoing and "diagnosis" not in ongoing
    assert "dischargeDisposition" not in ongoing["hospitalization"]

    # Stubs for what the spells point at.
    assert store.read("Patient", NHS_NUMBERS[0])["identifier"][0]["value"] == NHS_NUMBERS[0]
    assert store.read("Organization", "RXW")["identifier"][0]["value"] == "RXW"


def test_conditions_and_encounter_diagnosis(store: SqlRepository, write_csv: CsvWriter) -> None:
    load(store, write_csv("apc.csv", APC_COLUMNS, [apc_row()]))
    spell = encounter(store)
    ids = {code: derived_id("condition", "RXW", "S1001", code) for code in ("J44.1", "I10", "E11.9")}
    assert spell["diagnosis"] == [
        {"condition": {"reference": f"Condition/{ids['J44.1']}"}, "rank": 1},
        {"condition": {"reference": f"Condition/{ids['I10']}"}, "rank": 2},
        {"condition": {"reference": f"Condition/{ids['E11.9']}"}, "rank": 3},
    ]
    copd = condition(store, "J44.1")
    assert copd["code"] == {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "J44.1"}]}
    assert copd["category"][0]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/condition-category",
        "code": "encounter-diagnosis",
        "display": "Encounter Diagnosis",
    }
    assert copd["subject"] == {"reference": f"Patient/{NHS_NUMBERS[0]}"}
    assert copd["encounter"] == {"reference": f"Encounter/{spell['id']}"}
    assert copd["recordedDate"] == "2024-01-10T09:15:00+00:00"
    assert "verificationStatus" not in copd and "clinicalStatus" not in copd
    assert len(search(store, "Condition", ("encounter", f"Encounter/{spell['id']}"))) == 3


def test_emergency_admissions_are_found_by_type_search(store: SqlRepository, write_csv: CsvWriter) -> None:
    rows = [
        apc_row(),
        apc_row(spell_id="S1002", admission_method="12"),
        apc_row(spell_id="S1003", admission_method="2D"),
    ]
    load(store, write_csv("apc.csv", APC_COLUMNS, rows))
    found = search(store, "Encounter", ("type", EMERGENCY))
    assert sorted(e["identifier"][0]["value"] for e in found) == ["S1001", "S1003"]
    elective = search(store, "Encounter", ("type", "http://snomed.info/sct|8715000"))
    assert [e["identifier"][0]["value"] for e in elective] == ["S1002"]
    by_identifier = search(store, "Encounter", ("identifier", f"{local_system('spell', 'RXW')}|S1002"))
    assert [e["id"] for e in by_identifier] == [derived_id("spell", "RXW", "S1002")]
    copd = search(store, "Condition", ("code", "http://hl7.org/fhir/sid/icd-10|J44.1"), ("subject", NHS_NUMBERS[0]))
    assert len(copd) == 3


def test_death_marks_the_existing_patient_deceased_and_keeps_the_rest(
    store: SqlRepository, write_csv: CsvWriter
) -> None:
    store.update({**patient(NHS_NUMBERS[0]), "id": NHS_NUMBERS[0]})
    died = apc_row(discharge_method="4", discharge_destination="79", discharge_date="2024-01-12T03:40")
    report = load(store, write_csv("apc.csv", APC_COLUMNS, [died]))
    assert report.failed == 0 and report.issues == []
    person = store.read("Patient", NHS_NUMBERS[0])
    assert person["deceasedDateTime"] == "2024-01-12T03:40:00+00:00"
    assert person["name"] == [{"family": "Smith", "given": ["Ann"]}]
    assert person["birthDate"] == "1950-03-02"
    assert person["meta"]["versionId"] == "2"
    assert encounter(store)["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "4"


def test_death_of_a_patient_known_only_from_this_feed(store: SqlRepository, write_csv: CsvWriter) -> None:
    died = apc_row(discharge_method="4", discharge_destination="79")
    load(store, write_csv("apc.csv", APC_COLUMNS, [died]))
    person = store.read("Patient", NHS_NUMBERS[0])
    assert person["deceasedDateTime"] == "2024-01-15"
    assert person["identifier"] == [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": NHS_NUMBERS[0]}]


def test_a_richer_patient_is_never_overwritten_by_the_stub(store: SqlRepository, write_csv: CsvWriter) -> None:
    store.update({**patient(NHS_NUMBERS[0]), "id": NHS_NUMBERS[0]})
    load(store, write_csv("apc.csv", APC_COLUMNS, [apc_row()]))
    person = store.read("Patient", NHS_NUMBERS[0])
    assert person["meta"]["versionId"] == "1"
    assert person["name"] == [{"family": "Smith", "given": ["Ann"]}]


def test_reingesting_the_same_file_changes_nothing(store: SqlRepository, write_csv: CsvWriter) -> None:
    rows = [
        apc_row(),
        apc_row(nhs_number=NHS_NUMBERS[1], spell_id="S1002", discharge_method="4", discharge_destination="79"),
    ]
    path = write_csv("apc.csv", APC_COLUMNS, rows)
    first = load(store, path)
    assert (first.accepted, first.duplicates) == (2, 0)
    events = len(list(store.events(limit=1000)))

    again = load(store, path)
    assert (again.accepted, again.duplicates, again.failed) == (0, 2, 0)
    assert len(list(store.events(limit=1000))) == events
    assert encounter(store)["meta"]["versionId"] == "1"
    assert encounter(store, spell="S1002")["meta"]["versionId"] == "1"
    for code in ("J44.1", "I10", "E11.9"):
        assert condition(store, code)["meta"]["versionId"] == "1"
    assert store.read("Patient", NHS_NUMBERS[0])["meta"]["versionId"] == "1"
    assert store.read("Patient", NHS_NUMBERS[1])["meta"]["versionId"] == "2"  # stub, then deceased
    assert store.read("Organization", "RXW")["meta"]["versionId"] == "1"


def test_same_codes_written_differently_are_the_same_diagnoses(store: SqlRepository, write_csv: CsvWriter) -> None:
    load(store, write_csv("apc.csv", APC_COLUMNS, [apc_row()]))
    report = load(
        store, write_csv("apc2.csv", APC_COLUMNS, [apc_row(primary_diagnosis="J44.1", secondary_diagnoses="I10;E119")])
    )
    assert (report.accepted, report.duplicates) == (0, 1)


def test_a_corrected_row_updates_in_place(store: SqlRepository, write_csv: CsvWriter) -> None:
    load(
        store,
        write_csv("apc.csv", APC_COLUMNS, [apc_row(discharge_date="", discharge_destination="", discharge_method="")]),
    )
    assert encounter(store)["status"] == "in-progress"
    report = load(
        store, write_csv("apc2.csv", APC_COLUMNS, [apc_row(discharge_date="2024-01-16", discharge_destination="54")])
    )
    assert (report.accepted, report.failed) == (1, 0)
    spell = encounter(store)
    assert spell["meta"]["versionId"] == "2"
    assert spell["status"] == "finished"
    assert spell["period"]["end"] == "2024-01-16"
    assert spell["hospitalization"]["dischargeDisposition"]["coding"][0]["code"] == "54"
    assert len(search(store, "Encounter", ("subject", NHS_NUMBERS[0]))) == 1
    assert condition(store, "J44.1")["meta"]["versionId"] == "1"  # unchanged diagnoses are not rewritten


def test_a_dropped_diagnosis_is_marked_entered_in_error(store: SqlRepository, write_csv: CsvWriter) -> None:
    load(store, write_csv("apc.csv", APC_COLUMNS, [apc_row()]))
    report = load(store, write_csv("apc2.csv", APC_COLUMNS, [apc_row(secondary_diagnoses="I10")]))
    assert (report.accepted, report.failed) == (1, 0)
    dropped = condition(store, "E11.9")
    assert dropped["verificationStatus"]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
        "code": "entered-in-error",
        "display": "Entered in Error",
    }
    assert dropped["meta"]["versionId"] == "2"
    assert "verificationStatus" not in condition(store, "I10")
    assert condition(store, "I10")["meta"]["versionId"] == "1"
    spell = encounter(store)
    assert [d["condition"]["reference"] for d in spell["diagnosis"]] == [
        f"Condition/{condition(store, 'J44.1')['id']}",
        f"Condition/{condition(store, 'I10')['id']}",
    ]
    # Sending the same again leaves the retraction as it is; sending the diagnosis again restores it.
    assert load(store, write_csv("apc3.csv", APC_COLUMNS, [apc_row(secondary_diagnoses="I10")])).duplicates == 1
    assert condition(store, "E11.9")["meta"]["versionId"] == "2"
    load(store, write_csv("apc4.csv", APC_COLUMNS, [apc_row()]))
    restored = condition(store, "E11.9")
    assert "verificationStatus" not in restored and restored["meta"]["versionId"] == "3"


def test_conditions_from_other_sources_linked_to_the_spell_are_left_alone(
    store: SqlRepository, write_csv: CsvWriter
) -> None:
    load(store, write_csv("apc.csv", APC_COLUMNS, [apc_row()]))
    spell_id = derived_id("spell", "RXW", "S1001")
    ward_note = {
        "resourceType": "Condition",
        "id": "ward-finding",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "22298006"}]},
        "subject": {"reference": f"Patient/{NHS_NUMBERS[0]}"},
        "encounter": {"reference": f"Encounter/{spell_id}"},
    }
    store.update(ward_note)
    load(store, write_csv("apc2.csv", APC_COLUMNS, [apc_row(secondary_diagnoses="")]))
    assert store.read("Condition", "ward-finding")["meta"]["versionId"] == "1"
    assert condition(store, "I10")["verificationStatus"]["coding"][0]["code"] == "entered-in-error"
    assert condition(store, "E11.9")["verificationStatus"]["coding"][0]["code"] == "entered-in-error"
    assert "verificationStatus" not in condition(store, "J44.1")


def test_every_kind_of_bad_row_is_reported_and_the_good_rows_still_load(
    store: SqlRepository, write_csv: CsvWriter
) -> None:
    rows = [
        apc_row(spell_id="G1"),  # line 2
        apc_row(spell_id="B1", nhs_number=""),  # line 3
        apc_row(spell_id="B2", nhs_number="9990000019"),  # line 4
        apc_row(spell_id="B3", admission_date="2024-13-01"),  # line 5
        apc_row(spell_id="B4", admission_method="7"),  # line 6
        apc_row(spell_id="B5", discharge_date="2024-01-01"),  # line 7
        apc_row(spell_id=""),  # line 8
        apc_row(spell_id="G2", nhs_number="999 000 0026"),  # line 9
        apc_row(spell_id="B6", secondary_diagnoses="I10;not-a-code"),  # line 10
        apc_row(spell_id="G3", provider_ods="rxw"),  # line 11: lower case is the same provider
    ]
    path = write_csv("apc.csv", APC_COLUMNS, rows)
    report = load(store, path)
    assert (report.accepted, report.failed) == (3, 7)
    assert [(issue.location, issue.message) for issue in report.issues] == [
        ("apc.csv line 3", "nhs_number is missing"),
        ("apc.csv line 4", "nhs_number '9990000019' fails the NHS number Modulus 11 check digit"),
        ("apc.csv line 5", "admission_date '2024-13-01' is not a real date or time"),
        (
            "apc.csv line 6",
            "admission_method '7' is not an NHS Data Dictionary admission method code "
            "(11-13 elective, 21-2D emergency, 31-32 maternity, 81-83 other, 98, 99)",
        ),
        ("apc.csv line 7", "discharge_date 2024-01-01 is before admission_date 2024-01-10T09:15:00+00:00"),
        ("apc.csv line 8", "spell_id is missing"),
        ("apc.csv line 10", "secondary_diagnoses: 'not-a-code' is not an ICD-10 code (e.g. I10, J44.1 or J441)"),
    ]
    assert {e["identifier"][0]["value"] for e in search(store, "Encounter")} == {"G1", "G2", "G3"}
    assert encounter(store, spell="G2")["subject"] == {"reference": f"Patient/{NHS_NUMBERS[1]}"}
    assert search(store, "Condition", ("encounter", f"Encounter/{derived_id('spell', 'RXW', 'B6')}")) == []
