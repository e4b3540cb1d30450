"""GP Connect STU3 -> R4: the translation rules, what is reported rather than translated, records that
cannot be translated at all, and the GP Connect record meeting the CSV extract on one Patient."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from gp_data import PRACTICE, RECORD, load_json, patient_row, write_extract

from adapters.gp.connect import RecordError, Translation, translate
from adapters.gp.extract import load_extract
from adapters.gp.record import load_record
from closer.store.sql import SqlRepository

JSON = dict[str, Any]
PATIENT_REF = "Patient/d23f0824-128b-4f33-8c5c-7fd0a6a3a450"
PRACTITIONER_REF = "Practitioner/9531985d-5d9d-49f8-9818-e811892f902b"
NHS = "9994929259"


def sample() -> JSON:
    bundle: JSON = load_json(RECORD)
    return bundle


def with_entries(*resources: JSON, base: JSON | None = None) -> JSON:
    """The sample's Patient, practice and GP, plus `resources`."""
    bundle = copy.deepcopy(base or sample())
    bundle["entry"] = bundle["entry"][:3] + [{"resource": resource} for resource in resources]
    return bundle


def only(translation: Translation, kind: str) -> JSON:
    [found] = [t.resource for t in translation.resources if t.resource["resourceType"] == kind]
    return found


def notes(translation: Translation, kind: str) -> list[str]:
    return [note for t in translation.resources if t.resource["resourceType"] == kind for note in t.notes]


def condition(**extra: Any) -> JSON:
    return {
        "resourceType": "Condition",
        "id": "c1",
        "identifier": [{"system": "https://example.org/problems", "value": "p1"}],
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]},
        "subject": {"reference": PATIENT_REF},
        **extra,
    }


def test_condition_statuses_become_codeable_concepts_and_asserted_date_recorded_date() -> None:
    translated = only(
        translate(
            with_entries(condition(clinicalStatus="remission", verificationStatus="provisional", assertedDate="2020"))
        ),
        "Condition",
    )
    assert translated["clinicalStatus"] == {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "remission"}]
    }
    assert translated["verificationStatus"]["coding"][0]["code"] == "provisional"
    assert translated["recordedDate"] == "2020"
    assert translated["subject"] == {"reference": f"Patient/{NHS}"}


def test_an_entered_in_error_condition_loses_its_clinical_status_and_unknown_verification_is_absent() -> None:
    translation = translate(
        with_entries(
            condition(clinicalStatus="active", verificationStatus="entered-in-error"),
            condition(
                id="c2",
                identifier=[{"system": "https://example.org/problems", "value": "p2"}],
                verificationStatus="unknown",
            ),
        )
    )
    wrong, unknown = (t.resource for t in translation.resources if t.resource["resourceType"] == "Condition")
    assert "clinicalStatus" not in wrong
    assert wrong["verificationStatus"]["coding"][0]["code"] == "entered-in-error"
    assert "verificationStatus" not in unknown
    assert "Condition.clinicalStatus not carried: R4 allows none when entered-in-error" in notes(
        translation, "Condition"
    )


def test_elements_without_an_r4_home_are_reported() -> None:
    translation = translate(
        with_entries(
            condition(
                abatementBoolean=True, context={"reference": "EpisodeOfCare/e1"}, stage={"summary": {"text": "2"}}
            )
        )
    )
    found = notes(translation, "Condition")
    assert "Condition.abatementBoolean not carried: R4 has no element of the same meaning" in found
    assert "Condition.context not carried: R4 Condition.encounter takes only an Encounter" in found
    assert only(translation, "Condition")["stage"] == [{"summary": {"text": "2"}}]


def test_references_to_what_is_not_in_the_bundle_are_dropped_with_their_extension() -> None:
    extension = {"url": "https://example.org/related", "valueReference": {"reference": "Observation/missing"}}
    translation = translate(with_entries(condition(extension=[extension], asserter={"reference": "Practitioner/x"})))
    translated = only(translation, "Condition")
    assert "extension" not in translated and "asserter" not in translated
    assert notes(translation, "Condition") == [
        "Condition.extension[0].valueReference: reference to Observation/missing dropped: it is not in the bundle",
        "Condition.asserter: reference to Practitioner/x dropped: it is not in the bundle",
    ]


def test_full_url_references_resolve() -> None:
    bundle = with_entries(condition(subject={"reference": "urn:uuid:5b7c0f9e-0000-4000-8000-000000000001"}))
    bundle["entry"][0]["fullUrl"] = "urn:uuid:5b7c0f9e-0000-4000-8000-000000000001"
    assert only(translate(bundle), "Condition")["subject"] == {"reference": f"Patient/{NHS}"}


def test_medication_statement_taken_n_is_not_taken_and_dosage_moves_dose_and_rate() -> None:
    medication = {"resourceType": "Medication", "id": "m1", "code": {"text": "Aspirin 75mg dispersible tablets"}}
    statement = {
        "resourceType": "MedicationStatement",
        "id": "s1",
        "status": "completed",
        "medicationReference": {"reference": "Medication/m1"},
        "subject": {"reference": PATIENT_REF},
        "taken": "n",
        "reasonNotTaken": [{"text": "Patient declined"}],
        "dosage": [{"text": "75mg daily", "doseQuantity": {"value": 75, "unit": "mg"}}],
    }
    translation = translate(with_entries(medication, statement))
    translated = only(translation, "MedicationStatement")
    assert translated["status"] == "not-taken"
    assert translated["statusReason"] == [{"text": "Patient declined"}]
    assert translated["medicationCodeableConcept"] == {"text": "Aspirin 75mg dispersible tablets"}
    assert translated["dosage"] == [
        {"text": "75mg daily", "doseAndRate": [{"doseQuantity": {"value": 75, "unit": "mg"}}]}
    ]
    assert "taken" not in translated and "category" not in translated  # no plan, so no course
    assert not translation.skipped  # the Medication was all carried


def test_a_statement_whose_medication_is_missing_keeps_what_it_can() -> None:
    statement = {
        "resourceType": "MedicationStatement",
        "id": "s1",
        "status": "active",
        "medicationReference": {"reference": "Medication/gone", "display": "Ramipril 5mg capsules"},
        "subject": {"reference": PATIENT_REF},
        "taken": "unk",
    }
    translation = translate(with_entries(statement))
    assert only(translation, "MedicationStatement")["medicationCodeableConcept"] == {"text": "Ramipril 5mg capsules"}
    assert "no coded Medication in the bundle" in notes(translation, "MedicationStatement")[0]


def test_encounter_class_reason_and_diagnosis() -> None:
    encounter = {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "finished",
        "class": {"system": "http://hl7.org/fhir/v3/ActCode", "code": "HH", "display": "home health"},
        "reason": [{"text": "Falls"}],
        "diagnosis": [{"condition": {"reference": "Condition/c1"}, "role": {"text": "chief complaint"}, "rank": 1}],
        "subject": {"reference": PATIENT_REF},
    }
    translation = translate(with_entries(encounter, condition()))
    translated = only(translation, "Encounter")
    assert translated["class"] == {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
        "code": "HH",
        "display": "home health",
    }
    assert translated["reasonCode"] == [{"text": "Falls"}]
    [diagnosis] = translated["diagnosis"]
    assert diagnosis["use"] == {"text": "chief complaint"} and "role" not in diagnosis
    assert diagnosis["condition"]["reference"] == f"Condition/{only(translation, 'Condition')['id']}"
    del encounter["class"]
    assert only(translate(with_entries(encounter)), "Encounter")["class"]["code"] == "AMB"


def test_entries_that_cannot_be_translated_are_reported_by_type_and_id() -> None:
    bundle = with_entries(
        {
            "resourceType": "Flag",
            "id": "f1",
            "status": "active",
            "code": {"text": "x"},
            "subject": {"reference": PATIENT_REF},
        },
        {"resourceType": "Foo", "id": "x1"},
        {
            "resourceType": "Condition",
            "id": "bad",
            "subject": {"reference": PATIENT_REF},
            "onsetDateTime": "2020-13-01",
        },
        condition(id="mod", modifierExtension=[{"url": "https://example.org/negated", "valueBoolean": True}]),
        {"resourceType": "Condition", "subject": {"reference": PATIENT_REF}},
        {
            "resourceType": "ReferralRequest",
            "id": "r1",
            "status": "active",
            "intent": "order",
            "subject": {"reference": PATIENT_REF},
        },
    )
    bundle["entry"].append({"fullUrl": "urn:uuid:empty"})
    skipped = {(s.source, s.error): s.message for s in translate(bundle).skipped}
    assert skipped[("Flag/f1", False)] == "not translated: Closer does not translate Flag resources"
    assert skipped[("Foo/x1", True)] == "not translated: not a valid STU3 Foo: Foo is not a FHIR STU3 resource type"
    assert skipped[("Condition/bad", True)].startswith(
        "not translated: not a valid STU3 Condition: Condition.onsetDateTime"
    )
    assert "modifierExtension" in skipped[("Condition/mod", True)]
    assert "no stable id" in skipped[("Condition (entry 8, no id)", True)]
    assert skipped[("ReferralRequest/r1", False)].startswith("not translated")
    assert skipped[("entry 10", True)] == "has no resource"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: b.update(resourceType="Parameters"), "not a FHIR Bundle"),
        (lambda b: b.update(entry=b["entry"][1:]), "the Bundle holds no Patient"),
        (lambda b: b["entry"][0]["resource"].update(identifier=[]), "has no NHS number"),
        (
            lambda b: b["entry"][0]["resource"]["identifier"][0].update(value="9994929258"),
            "has NHS number '9994929258', which fails its check digit",
        ),
        (lambda b: b["entry"][0]["resource"].pop("managingOrganization"), "cannot tell the practice"),
        (lambda b: b.update(entry={"resource": {}}), "not a valid STU3 Bundle: Bundle.entry"),
    ],
)
def test_records_that_cannot_be_translated_at_all(change: Any, message: str) -> None:
    bundle = sample()
    change(bundle)
    with pytest.raises(RecordError, match=message):
        translate(bundle)


def test_ids_are_scoped_by_the_practice() -> None:
    bundle = sample()
    other = copy.deepcopy(bundle)
    other["entry"][1]["resource"]["identifier"][0]["value"] = "M99902"
    first, second = translate(bundle), translate(other)
    conditions = [
        {t.resource["id"] for t in x.resources if t.resource["resourceType"] == "Condition"} for x in (first, second)
    ]
    assert not conditions[0] & conditions[1]
    assert {t.resource["id"] for t in first.resources} == {t.resource["id"] for t in translate(sample()).resources}


# -- into the store ---------------------------------------------------------------------------------------
def test_a_record_that_is_not_json_or_not_a_record_fails_with_a_reason(store: SqlRepository, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"resourceType": "Bundle", ')
    report = load_record(store, broken)
    assert report.failed == 1 and report.issues[0].message.startswith("not JSON: ")
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"resourceType": "Bundle", "type": "collection"}))
    assert load_record(store, empty).issues[0].message == "the Bundle holds no Patient"


def test_gp_connect_and_the_csv_extract_agree_on_one_patient(store: SqlRepository, tmp_path: Path) -> None:
    """Either order, each feed keeps what the other wrote, and neither undoes the other on a re-send."""
    folder = write_extract(
        tmp_path / "x",
        [
            patient_row(
                nhs_number=NHS,
                family_name="Tiptree",
                given_name="Margaret",
                date_of_birth="1941-09-14",
                postcode="SY39ZZ",
                registration_date="1998-04-01",
            )
        ],
    )
    load_record(store, RECORD)
    load_extract(store, folder)
    patient = store.read("Patient", NHS)
    assert patient["telecom"] and patient["name"][0]["prefix"] == ["Mrs"]
    assert patient["address"][0]["line"] == ["12 Quarry View", "Meole Brace"]
    assert [g["reference"].split("/")[0] for g in patient["generalPractitioner"]] == ["Organization", "Practitioner"]
    assert patient["generalPractitioner"][0]["reference"] == f"Organization/{PRACTICE}"
    version = patient["meta"]["versionId"]
    assert load_record(store, RECORD).accepted == 0
    assert load_extract(store, folder).accepted == 0
    assert store.read("Patient", NHS)["meta"]["versionId"] == version
    assert store.read("Organization", PRACTICE)["name"] == "Severn Side Medical Practice"
