"""Loading GP practice extracts into the store (SQLite and PostgreSQL): searches stratification relies on,
the re-ingest rule, bad input located by file and line, and merging into a Patient another feed made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gp_data import (
    ANNIE,
    EDITH,
    EXTRACT,
    GWILYM,
    PRACTICE,
    copy_sample,
    event_row,
    patient_row,
    read_rows,
    write_extract,
    write_rows,
)

from adapters.gp.codes import MEDICATION_COURSE_SYSTEM, extract_system
from adapters.gp.extract import ExtractReport, load_extract
from adapters.identity import derived_id
from closer.store.query import parse_search
from closer.store.sql import SqlRepository

SNOMED = "http://snomed.info/sct"
JSON = dict[str, Any]


def search(store: SqlRepository, resource_type: str, *params: tuple[str, str]) -> list[JSON]:
    return store.search(parse_search(resource_type, [*params, ("_count", "1000")])).matches


def issues(report: ExtractReport) -> list[tuple[str, str, str]]:
    return [(i.location, i.severity, i.message) for i in report.issues]


def event_id(kind: str, nhs: str, on: str, code: str) -> str:
    return derived_id(f"gp-{kind}", PRACTICE, nhs, on, code)


def without(path: Path, **match: str) -> None:
    """Drop the rows of a sample file that match every column given."""
    rows = [row for row in read_rows(path) if any(row[k] != v for k, v in match.items())]
    write_rows(path, rows)


# -- searches ---------------------------------------------------------------------------------------------
def test_current_repeats_problems_and_measurements_are_found_by_search(store: SqlRepository) -> None:
    load_extract(store, EXTRACT)
    repeats = search(
        store,
        "MedicationStatement",
        ("subject", f"Patient/{EDITH}"),
        ("category", f"{MEDICATION_COURSE_SYSTEM}|repeat"),
        ("status", "active"),
    )
    assert sorted(r["medicationCodeableConcept"]["coding"][0]["code"] for r in repeats) == [
        "325278007",
        "39720311000001101",
    ]
    acute = search(store, "MedicationStatement", ("subject", f"Patient/{EDITH}"), ("category", "acute"))
    assert [r["status"] for r in acute] == ["completed"]

    [diabetes] = search(store, "Condition", ("subject", f"Patient/{EDITH}"), ("code", f"{SNOMED}|73211009"))
    assert diabetes["clinicalStatus"]["coding"][0]["code"] == "active"
    problems = search(store, "Condition", ("category", "problem-list-item"), ("clinical-status", "active"))
    assert len(problems) == 4

    high = search(store, "Observation", ("value-quantity", "gt140|http://unitsofmeasure.org|mm[Hg]"))
    assert [o["code"]["coding"][0]["code"] for o in high] == ["72313002"]
    assert len(search(store, "Observation", ("identifier", f"{extract_system(PRACTICE)}|"))) == 6
    [annie] = search(store, "Patient", ("general-practitioner", f"Organization/{PRACTICE}"), ("death-date", "2024"))
    assert annie["id"] == ANNIE


# -- re-ingest --------------------------------------------------------------------------------------------
def test_an_event_removed_from_the_extract_is_marked_entered_in_error(store: SqlRepository, tmp_path: Path) -> None:
    load_extract(store, EXTRACT)
    folder = copy_sample(tmp_path / "next")
    without(folder / "events.csv", nhs_number=EDITH, snomed_code="195967001")  # asthma
    report = load_extract(store, folder)
    asthma_id = event_id("condition", EDITH, "2016-09-01", "195967001")
    assert issues(report) == [
        (
            "events.csv",
            "warning",
            f"Condition/{asthma_id} (event/{EDITH}/2016-09-01/195967001) is no longer in the extract: "
            "marked verificationStatus entered-in-error",
        )
    ]
    assert (report.accepted, report.failed) == (0, 0)
    asthma = store.read("Condition", asthma_id)
    assert asthma["verificationStatus"]["coding"][0]["code"] == "entered-in-error"
    assert "clinicalStatus" not in asthma  # R4 con-5
    assert asthma["meta"]["versionId"] == "2"
    assert search(store, "Condition", ("subject", f"Patient/{EDITH}"), ("clinical-status", "active"))  # diabetes
    assert len(search(store, "Condition", ("subject", f"Patient/{EDITH}"))) == 2  # kept, not deleted

    again = load_extract(store, folder)
    assert (again.accepted, again.issues) == (0, [])
    load_extract(store, EXTRACT)  # back in a later extract: current again
    assert store.read("Condition", asthma_id)["clinicalStatus"]["coding"][0]["code"] == "active"
    assert "verificationStatus" not in store.read("Condition", asthma_id)


def test_removed_measurements_medications_and_allergies_are_retracted_by_their_rule(
    store: SqlRepository, tmp_path: Path
) -> None:
    load_extract(store, EXTRACT)
    folder = copy_sample(tmp_path / "next")
    without(folder / "events.csv", nhs_number=GWILYM, snomed_code="60621009")
    without(folder / "medications.csv", nhs_number=EDITH, code="325278007")
    without(folder / "allergies.csv", nhs_number=EDITH)
    report = load_extract(store, folder)
    assert report.ok and len(report.issues) == 3
    assert store.read("Observation", event_id("observation", GWILYM, "2023-11-05", "60621009"))["status"] == (
        "entered-in-error"
    )
    metformin = derived_id("gp-medication", PRACTICE, EDITH, "2012-05-20", "325278007")
    assert store.read("MedicationStatement", metformin)["status"] == "entered-in-error"
    allergy = store.read("AllergyIntolerance", derived_id("gp-allergy", PRACTICE, EDITH, "91936005"))
    assert allergy["clinicalStatus"]["coding"][0]["code"] == "inactive"
    # Only what was removed: the other patients' records are as they were.
    assert (
        store.read("AllergyIntolerance", derived_id("gp-allergy", PRACTICE, ANNIE, "300916003"))["meta"]["versionId"]
        == "1"
    )


def test_a_changed_value_updates_the_observation_in_place(store: SqlRepository, tmp_path: Path) -> None:
    load_extract(store, EXTRACT)
    folder = copy_sample(tmp_path / "next")
    rows = read_rows(folder / "events.csv")
    for row in rows:
        if row["snomed_code"] == "1049301000000100":
            row["value"] = "61"
    write_rows(folder / "events.csv", rows)
    report = load_extract(store, folder)
    assert (report.accepted, report.duplicates, report.issues) == (1, 18, [])
    hba1c = store.read("Observation", event_id("observation", EDITH, "2024-01-10", "1049301000000100"))
    assert (hba1c["valueQuantity"]["value"], hba1c["meta"]["versionId"]) == (61, "2")
    assert len(search(store, "Observation", ("subject", f"Patient/{EDITH}"))) == 3


def test_a_patient_left_out_of_patients_csv_keeps_their_records(store: SqlRepository, tmp_path: Path) -> None:
    """A patient not in the new extract (e.g. moved practice) is out of its scope: nothing is retracted."""
    load_extract(store, EXTRACT)
    folder = copy_sample(tmp_path / "next")
    for name in ("patients.csv", "events.csv", "medications.csv", "allergies.csv"):
        without(folder / name, nhs_number=ANNIE)
    report = load_extract(store, folder)
    assert (report.accepted, report.issues) == (0, [])
    assert store.read("Condition", event_id("condition", ANNIE, "2020-06-18", "52448006"))["meta"]["versionId"] == "1"


def test_a_failed_row_holds_back_only_its_patients_retractions(store: SqlRepository, tmp_path: Path) -> None:
    load_extract(store, EXTRACT)
    folder = copy_sample(tmp_path / "next")
    rows = [row for row in read_rows(folder / "events.csv") if row["snomed_code"] not in ("195967001", "13645005")]
    rows.append(event_row(date="2024-02-30", snomed_code="38341003", term="Hypertension"))  # Edith, bad date
    write_rows(folder / "events.csv", rows)
    report = load_extract(store, folder)
    assert issues(report)[:2] == [
        ("events.csv line 10", "error", "date '2024-02-30' is not a real date or time"),
        (
            "events.csv",
            "warning",
            f"records no longer in events.csv were not retracted for 1 patient(s) with a failed row: {EDITH}",
        ),
    ]
    assert store.read("Condition", event_id("condition", EDITH, "2016-09-01", "195967001"))["meta"]["versionId"] == "1"
    copd = store.read("Condition", event_id("condition", GWILYM, "2019-03-22", "13645005"))
    assert copd["verificationStatus"]["coding"][0]["code"] == "entered-in-error"


def test_an_unreadable_line_holds_back_the_files_retractions(store: SqlRepository, tmp_path: Path) -> None:
    load_extract(store, EXTRACT)
    folder = copy_sample(tmp_path / "next")
    without(folder / "events.csv", snomed_code="13645005")
    with (folder / "events.csv").open("ab") as handle:
        handle.write(f"{EDITH},2024-02-01,38341003,Hypertensive disorder \xe9,,\n".encode("latin-1"))
    report = load_extract(store, folder)
    assert report.failed == 1
    assert "cannot be tied to a patient" in report.issues[1].message
    assert store.read("Condition", event_id("condition", GWILYM, "2019-03-22", "13645005"))["meta"]["versionId"] == "1"


def test_records_the_extract_did_not_make_are_never_retracted(store: SqlRepository, tmp_path: Path) -> None:
    """Another feed's Condition for the patient, and another practice's records, are outside the rule."""
    load_extract(store, EXTRACT)
    hospital = {
        "resourceType": "Condition",
        "id": "hospital-1",
        "code": {"coding": [{"system": SNOMED, "code": "38341003"}]},
        "subject": {"reference": f"Patient/{EDITH}"},
    }
    store.update(hospital)
    other = write_extract(
        tmp_path / "other",
        [patient_row(practice_ods="M99902")],
        [event_row(snomed_code="38341003", date="2020-01-01")],
    )
    load_extract(store, other)  # Edith moves to M99902: her M99901 records are not M99902's to retract
    assert len(search(store, "Condition", ("subject", f"Patient/{EDITH}"))) == 4
    assert not search(store, "Condition", ("verification-status", "entered-in-error"))

    back = copy_sample(tmp_path / "back")  # registered with M99901 again, and M99901 sends none of her events
    without(back / "events.csv", nhs_number=EDITH)
    report = load_extract(store, back)
    assert len(report.issues) == 5  # her two problems and three measurements
    retracted = search(store, "Condition", ("subject", f"Patient/{EDITH}"), ("verification-status", "entered-in-error"))
    assert len(retracted) == 2
    assert all(extract_system(PRACTICE) == r["identifier"][0]["system"] for r in retracted)
    assert store.read("Condition", "hospital-1")["meta"]["versionId"] == "1"
    elsewhere = derived_id("gp-condition", "M99902", EDITH, "2020-01-01", "38341003")
    assert store.read("Condition", elsewhere)["meta"]["versionId"] == "1"


# -- bad input ---------------------------------------------------------------------------------------------
def test_a_missing_column_fails_that_file_and_the_rest_loads(store: SqlRepository, tmp_path: Path) -> None:
    folder = copy_sample(tmp_path / "x")
    rows = read_rows(folder / "events.csv")
    columns = [column for column in rows[0] if column != "unit"]
    write_rows(folder / "events.csv", [{c: row[c] for c in columns} for row in rows], columns)
    report = load_extract(store, folder)
    [section] = [s for s in report.sections if s.source == "GP events events.csv"]
    assert section.issues[0].location == "events.csv line 1"
    assert section.issues[0].message.startswith("the header does not match the GP events layout: missing columns: unit")
    assert (report.accepted, report.failed) == (9, 1)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (event_row(date="2024-02-30"), "date '2024-02-30' is not a real date or time"),
        (event_row(date="10/01/2024"), "date '10/01/2024' is not an ISO 8601 date (YYYY-MM-DD) or date-time"),
        (event_row(nhs_number="9991905325"), "nhs_number '9991905325' fails the NHS number Modulus 11 check digit"),
        (event_row(nhs_number="99919053"), "nhs_number '99919053' is not an NHS number (10 digits)"),
        (event_row(snomed_code=""), "snomed_code is missing"),
        (event_row(unit="mmHg"), "unit 'mmHg' is given without a value"),
        (event_row(value="high", unit="mmHg"), "value 'high' is not a number, but has the unit 'mmHg'"),
        (event_row(nhs_number="9990000018"), "nhs_number 9990000018 is not in patients.csv"),
    ],
)
def test_a_bad_event_row_is_a_precise_issue_and_the_good_rows_load(
    store: SqlRepository, tmp_path: Path, row: dict[str, str], message: str
) -> None:
    folder = write_extract(tmp_path / "x", [patient_row()], [event_row(snomed_code="195967001"), row])
    report = load_extract(store, folder)
    assert (report.accepted, report.failed) == (2, 1)
    location, severity, text = issues(report)[0]
    assert (location, severity) == ("events.csv line 3", "error")
    assert text.startswith(message)


def test_an_unknown_snomed_code_is_kept_and_flagged(store: SqlRepository, tmp_path: Path) -> None:
    folder = write_extract(tmp_path / "x", [patient_row()], [event_row(snomed_code="73211008")])
    report = load_extract(store, folder)
    assert report.ok and report.accepted == 2
    [(location, severity, message)] = issues(report)
    assert (location, severity) == ("events.csv line 2", "warning")
    assert message.startswith("snomed_code '73211008' is not a valid SNOMED CT identifier")
    [kept] = search(store, "Condition", ("code", "73211008"))
    assert kept["code"] == {"coding": [{"code": "73211008", "display": "Diabetes mellitus"}]}


def test_a_truncated_file_loses_only_its_cut_row(store: SqlRepository, tmp_path: Path) -> None:
    folder = copy_sample(tmp_path / "x")
    with (folder / "events.csv").open("a", encoding="utf-8") as handle:
        handle.write(f'{EDITH},2024-02-01,72313002,"Systolic arte')  # cut mid-field, no newline
    report = load_extract(store, folder)
    assert ("events.csv line 12", "error", "has 4 fields but the header has 6") in issues(report)
    assert (report.accepted, report.failed) == (19, 1)


def test_latin1_bytes_cost_only_their_row(store: SqlRepository, tmp_path: Path) -> None:
    folder = copy_sample(tmp_path / "x")
    with (folder / "allergies.csv").open("ab") as handle:
        handle.write(f"{GWILYM},294505008,Allergy to amoxicillin,Rash \u2013 mild,mild,2010-01-01\n".encode("cp1252"))
    report = load_extract(store, folder)
    [error] = [i for i in report.issues if i.severity == "error"]
    assert error.location == "allergies.csv line 4"
    assert error.message.startswith("line 4 is not UTF-8 text")
    assert (report.accepted, report.failed) == (19, 1)


def test_an_empty_file_is_a_file_level_issue(store: SqlRepository, tmp_path: Path) -> None:
    folder = copy_sample(tmp_path / "x")
    (folder / "medications.csv").write_bytes(b"")
    report = load_extract(store, folder)
    assert issues(report)[0][:2] == ("medications.csv line 1", "error")
    assert "the file is empty" in issues(report)[0][2]
    assert (report.accepted, report.failed) == (15, 1)


def test_a_missing_file_is_a_file_level_issue_of_its_section(store: SqlRepository, tmp_path: Path) -> None:
    folder = copy_sample(tmp_path / "x")
    (folder / "allergies.csv").unlink()
    report = load_extract(store, folder)
    [section] = [s for s in report.sections if s.source == "GP allergies allergies.csv"]
    assert [(i.location, i.severity) for i in section.issues] == [
        ("allergies.csv", "error"),
        ("allergies.csv", "warning"),  # and so nothing is retracted
    ]
    assert section.issues[0].message.startswith("the file is missing from the extract")
    assert "were not retracted" in section.issues[1].message
    assert (report.accepted, report.failed) == (17, 1)


def test_without_patients_csv_nothing_else_can_be_placed(store: SqlRepository, tmp_path: Path) -> None:
    folder = copy_sample(tmp_path / "x")
    (folder / "patients.csv").unlink()
    report = load_extract(store, folder)
    assert report.accepted == 0 and report.failed == 4
    assert [i.location for i in report.issues] == ["patients.csv", "events.csv", "medications.csv", "allergies.csv"]
    assert "no patient could be read from patients.csv" in report.issues[1].message


def test_bad_patient_rows(store: SqlRepository, tmp_path: Path) -> None:
    rows = [
        patient_row(),
        patient_row(nhs_number=GWILYM, sex="X"),
        patient_row(nhs_number=ANNIE, date_of_birth="1930-12-01T10:00"),
        patient_row(nhs_number="9990000018", postcode="SY2"),
        patient_row(nhs_number="9990000026", date_of_death="1930-01-01"),
        patient_row(nhs_number="9990000034", practice_ods="M9-9901"),
    ]
    report = load_extract(store, write_extract(tmp_path / "x", rows))
    assert [message for _, severity, message in issues(report) if severity == "error"] == [
        "sex 'X' is not one of M, F, U, I (or male, female, unknown, indeterminate)",
        "date_of_birth '1930-12-01T10:00' is not a date (YYYY-MM-DD)",
        "postcode 'SY2' is not a UK postcode",
        "date_of_death 1930-01-01 is before date_of_birth 1938-02-11",
        "practice_ods 'M9-9901' is not an ODS code (3 to 10 letters and digits)",
    ]
    assert report.accepted == 1


# -- a Patient another feed made -------------------------------------------------------------------------
def hl7_patient() -> JSON:
    """As the HL7 ADT feed writes one: hospital number, verification status, phone, address lines, a title,
    next-of-kin style link, an ethnicity extension, and a GP practitioner at the same practice."""
    return {
        "resourceType": "Patient",
        "id": EDITH,
        "extension": [
            {
                "url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory",
                "valueCodeableConcept": {"coding": [{"code": "A"}]},
            }
        ],
        "identifier": [
            {"system": "https://closer.example.nhs.uk/fhir/Id/patient/rxw", "value": "H123456"},
            {
                "system": "https://fhir.nhs.uk/Id/nhs-number",
                "value": EDITH,
                "extension": [
                    {
                        "url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus",
                        "valueCodeableConcept": {"coding": [{"code": "01"}]},
                    }
                ],
            },
        ],
        "name": [{"use": "official", "family": "MARSH", "given": ["Edith"], "prefix": ["Mrs"]}],
        "telecom": [{"system": "phone", "value": "01743 000202", "use": "home"}],
        "gender": "female",
        "birthDate": "1938-02-11",
        "address": [{"use": "home", "line": ["3 Abbey Foregate"], "city": "Shrewsbury", "postalCode": "SY29ZX"}],
        "generalPractitioner": [
            {"reference": f"Organization/{PRACTICE}"},
            {"identifier": {"system": "https://fhir.hl7.org.uk/Id/gmp-number", "value": "G1234567"}},
        ],
        "link": [{"other": {"reference": "Patient/9990000018"}, "type": "replaces"}],
        "deceasedDateTime": "2024-03-01T04:10:00+00:00",
    }


def test_the_extract_updates_a_patient_another_feed_made_and_keeps_the_rest(
    store: SqlRepository, tmp_path: Path
) -> None:
    store.update(hl7_patient())
    folder = write_extract(tmp_path / "x", [patient_row(date_of_death="2024-03-01", given_name="Edith")])
    assert load_extract(store, folder).accepted == 1
    merged = store.read("Patient", EDITH)
    assert [i["value"] for i in merged["identifier"]] == ["H123456", EDITH]
    assert "extension" in merged["identifier"][1]  # the verification status stays
    assert merged["telecom"] == hl7_patient()["telecom"]
    assert merged["link"] == hl7_patient()["link"]
    assert [e["url"].rsplit("/", 1)[1] for e in merged["extension"]] == [
        "Extension-UKCore-EthnicCategory",
        "gp-registration-period",
    ]
    assert merged["name"] == [{"use": "official", "family": "Marsh", "given": ["Edith"], "prefix": ["Mrs"]}]
    assert merged["address"] == [
        {"use": "home", "line": ["3 Abbey Foregate"], "city": "Shrewsbury", "postalCode": "SY2 9ZX"}
    ]
    assert merged["generalPractitioner"][1] == hl7_patient()["generalPractitioner"][1]  # same practice: kept
    assert merged["deceasedDateTime"] == "2024-03-01T04:10:00+00:00"  # the more precise record of the death

    again = load_extract(store, folder)
    assert (again.accepted, again.duplicates) == (0, 1)
    assert store.read("Patient", EDITH)["meta"]["versionId"] == "2"


def test_a_new_postcode_keeps_the_old_address_as_old(store: SqlRepository, tmp_path: Path) -> None:
    store.update(hl7_patient())
    load_extract(store, write_extract(tmp_path / "x", [patient_row(postcode="SY3 9ZZ", family_name="Marsh")]))
    addresses = store.read("Patient", EDITH)["address"]
    assert addresses == [
        {"use": "home", "postalCode": "SY3 9ZZ"},
        {"use": "old", "line": ["3 Abbey Foregate"], "city": "Shrewsbury", "postalCode": "SY29ZX"},
    ]
