"""Hl7Processor behaviour on both backends: duplicates, out-of-order visit events, merges, demographics
ordering, local time, dead-lettering and replay, unmapped events, Provenance and deaths."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence

import pytest
from adt_builder import (
    APPLICATION,
    FACILITY,
    JSON,
    NHS_SYSTEM,
    adt,
    current,
    msa,
    open_processor,
    read,
    row_count,
    rows,
    version_count,
)
from fhirdata import NHS_NUMBERS

from adapters.hl7v2 import processor as processing
from adapters.hl7v2.parser import parse
from adapters.hl7v2.processor import Hl7Processor, Outcome
from closer.store.query import parse_search

BAD_NHS_NUMBER = "9990000019"  # fails the Modulus 11 check
A, B = NHS_NUMBERS[0], NHS_NUMBERS[1]


@pytest.fixture
def processor(database_url: str) -> Iterator[Hl7Processor]:
    with open_processor(database_url) as made:
        yield made


def accepted(processor: Hl7Processor, *messages: str) -> list[Outcome]:
    """Process each message on its own and check that it was accepted."""
    outcomes = [processor.process(m) for m in messages]
    for outcome in outcomes:
        assert outcome.code == "AA", (outcome.text, outcome.error)
    return outcomes


def written(outcome: Outcome, resource_type: str) -> str:
    """The id of the one resource of `resource_type` that `outcome` wrote."""
    (found,) = [r.split("/", 1)[1] for r in outcome.resources if r.startswith(f"{resource_type}/")]
    return found


def encounter_after(processor: Hl7Processor, messages: Sequence[str]) -> JSON:
    """The visit's Encounter after processing `messages` (all about one visit) in the order given."""
    outcomes = accepted(processor, *messages)
    return current(processor.repository, "Encounter", written(outcomes[0], "Encounter"))


def locations(encounter: JSON) -> list[tuple[str, str]]:
    return [(entry["location"]["display"], entry["status"]) for entry in encounter.get("location", [])]


def search(processor: Hl7Processor, resource_type: str, *params: tuple[str, str]) -> list[JSON]:
    return processor.repository.search(parse_search(resource_type, [*params, ("_count", "1000")])).matches


# -- idempotency ---------------------------------------------------------------------------------------------
def test_the_same_message_twice_changes_nothing(processor: Hl7Processor) -> None:
    message = adt("A01", diagnoses=["I10"], allergies=["PENICILLIN"])
    first = processor.process(message)
    assert (first.code, first.status) == ("AA", "processed")
    versions = version_count(processor.repository)

    second = processor.process(message)

    assert (second.code, second.status) == ("AA", "duplicate")
    assert msa(parse(second.ack())) == ("AA", "MSG0001")
    assert version_count(processor.repository) == versions
    assert row_count(processor.repository) == 1


def test_duplicates_are_per_sending_facility(processor: Hl7Processor) -> None:
    """MSH-10 is unique only at its sender: the same control id from another facility is another message."""
    accepted(processor, adt("A01", control_id="SAME"), adt("A01", control_id="SAME", facility="RJE", visit="V2"))
    assert sorted(row.sender for row in rows(processor.repository)) == ["RJE", FACILITY]
    assert {row.status for row in rows(processor.repository)} == {"processed"}


def test_a_duplicate_within_one_batch_is_applied_once(processor: Hl7Processor) -> None:
    message = adt("A01")
    outcomes = processor.process_batch([message, message])
    assert [(o.code, o.status) for o in outcomes] == [("AA", "processed"), ("AA", "duplicate")]
    assert row_count(processor.repository) == 1


# -- out-of-order visit events -------------------------------------------------------------------------------
ADMIT = adt("A01", control_id="admit", event_time="20240115103000")
TRANSFER = adt("A02", control_id="transfer", event_time="20240116090000", location="WARD2^BAY2^BED2")
DISCHARGE = adt(
    "A03",
    control_id="discharge",
    event_time="20240120100000",
    location="WARD2^BAY2^BED2",
    discharged="20240120100000",
    destination="19",
)


@pytest.mark.parametrize("order", ["admit first", "cancel first"])
def test_a_cancelled_admission_is_entered_in_error_whatever_the_order(processor: Hl7Processor, order: str) -> None:
    cancel = adt("A11", control_id="cancel", event_time="20240115113000")
    messages = [ADMIT, cancel] if order == "admit first" else [cancel, ADMIT]
    assert encounter_after(processor, messages)["status"] == "entered-in-error"


def test_a_cancelled_discharge_reopens_the_visit(processor: Hl7Processor) -> None:
    cancel = adt("A13", control_id="undischarge", event_time="20240120120000", location="WARD2^BAY2^BED2")
    encounter = encounter_after(processor, [ADMIT, TRANSFER, DISCHARGE, cancel])
    assert encounter["status"] == "in-progress"
    assert "end" not in encounter["period"]
    assert "dischargeDisposition" not in encounter.get("hospitalization", {})
    assert locations(encounter)[-1] == ("WARD2, BAY2, BED2", "active")


def test_a_discharge_cancellation_that_overtakes_its_discharge_still_cancels_it(processor: Hl7Processor) -> None:
    cancel = adt("A13", control_id="undischarge", event_time="20240120120000")
    encounter = encounter_after(processor, [ADMIT, cancel, DISCHARGE])
    assert encounter["status"] == "in-progress"
    assert "end" not in encounter["period"]


def test_a_cancelled_transfer_makes_the_previous_location_active_again(processor: Hl7Processor) -> None:
    cancel = adt("A12", control_id="untransfer", event_time="20240116100000", location="WARD1^BAY1^BED1")
    encounter = encounter_after(processor, [ADMIT, TRANSFER])
    assert locations(encounter) == [("WARD1, BAY1, BED1", "completed"), ("WARD2, BAY2, BED2", "active")]

    encounter = encounter_after(processor, [cancel])
    assert locations(encounter) == [("WARD1, BAY1, BED1", "active")]
    assert encounter["status"] == "in-progress"


@pytest.mark.parametrize("discharged", [False, True])
def test_an_update_changes_details_but_not_the_status(processor: Hl7Processor, discharged: bool) -> None:
    update = adt(
        "A08",
        control_id="update",
        event_time="20240121090000",
        location="WARD2^BAY2^BED2",
        hospital_service="430",
        attending="C7654321^GREEN^BOB^^^DR",
    )
    before = encounter_after(processor, [ADMIT, TRANSFER, *([DISCHARGE] if discharged else [])])
    after = encounter_after(processor, [update])
    assert after["status"] == before["status"] == ("finished" if discharged else "in-progress")
    assert after["serviceType"] == {"text": "430"}
    assert after["participant"][0]["individual"]["identifier"]["value"] == "C7654321"
    assert after["period"] == before["period"]


def test_any_arrival_order_gives_the_same_encounter(processor: Hl7Processor) -> None:
    """Every order of admit, transfer, update and discharge folds to the Encounter the in-order run gives."""

    def visit(number: int) -> list[str]:
        v = f"V{number:03d}"
        return [
            adt("A01", control_id=f"{v}-1", visit=v, event_time="20240115103000"),
            adt("A02", control_id=f"{v}-2", visit=v, event_time="20240116090000", location="WARD2^BAY2^BED2"),
            adt("A08", control_id=f"{v}-3", visit=v, event_time="20240117090000", location="WARD2^BAY2^BED2"),
            adt("A03", control_id=f"{v}-4", visit=v, event_time="20240120100000", discharged="20240120100000"),
        ]

    def comparable(encounter: JSON) -> JSON:
        return {k: v for k, v in encounter.items() if k not in ("meta", "id", "identifier")}

    expected = comparable(encounter_after(processor, visit(0)))
    assert expected["status"] == "finished"
    for number, order in enumerate(itertools.permutations(range(4)), start=1):
        messages = visit(number)
        got = comparable(encounter_after(processor, [messages[i] for i in order]))
        assert got == expected, f"arrival order {order}"


# -- merges --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("trigger", ["A40", "A34"])
def test_a_merge_moves_the_old_records_history_to_the_survivor(processor: Hl7Processor, trigger: str) -> None:
    repo = processor.repository
    (a_admit,) = accepted(processor, adt("A01", control_id="a1", nhs_number=A, visit="VA"))
    (b_admit,) = accepted(
        processor,
        adt("A01", control_id="b1", nhs_number=B, family="JONES", visit="VB", diagnoses=["I10"], allergies=["LATEX"]),
    )
    b_encounter, b_condition = written(b_admit, "Encounter"), written(b_admit, "Condition")
    b_allergy = written(b_admit, "AllergyIntolerance")

    accepted(
        processor,
        adt(trigger, control_id="m1", nhs_number=A, merged_nhs_number=B, visit=None, event_time="20240116100000"),
    )

    old, survivor = current(repo, "Patient", B), current(repo, "Patient", A)
    assert old["active"] is False
    assert old["link"] == [{"other": {"reference": f"Patient/{A}"}, "type": "replaced-by"}]
    assert {"other": {"reference": f"Patient/{B}"}, "type": "replaces"} in survivor["link"]
    assert current(repo, "Encounter", b_encounter)["subject"] == {"reference": f"Patient/{A}"}
    assert current(repo, "Condition", b_condition)["subject"] == {"reference": f"Patient/{A}"}
    assert current(repo, "AllergyIntolerance", b_allergy)["patient"] == {"reference": f"Patient/{A}"}
    found = search(processor, "Encounter", ("patient.identifier", f"{NHS_SYSTEM}|{A}"))
    assert {e["id"] for e in found} == {written(a_admit, "Encounter"), b_encounter}

    # A later message about the merged-away record is applied to the survivor.
    later = accepted(
        processor,
        adt(
            "A08", control_id="b2", nhs_number=B, family="JONES", given="BETTY", visit="VB", event_time="20240117100000"
        ),
        adt(
            "A01",
            control_id="b3",
            nhs_number=B,
            family="JONES",
            given="BETTY",
            visit="VB2",
            event_time="20240118100000",
        ),
    )
    assert all(f"Patient/{B}" not in outcome.resources for outcome in later)
    survivor = current(repo, "Patient", A)
    assert survivor["name"][0]["given"] == ["Betty"]
    assert [i["value"] for i in survivor["identifier"] if i["system"] == NHS_SYSTEM] == [A]
    assert current(repo, "Patient", B)["active"] is False
    for outcome in later:
        assert current(repo, "Encounter", written(outcome, "Encounter"))["subject"] == {"reference": f"Patient/{A}"}
    assert len(search(processor, "Encounter", ("patient.identifier", f"{NHS_SYSTEM}|{A}"))) == 3


# -- demographics ordering -----------------------------------------------------------------------------------
def test_an_older_message_does_not_overwrite_newer_demographics(processor: Hl7Processor) -> None:
    accepted(processor, adt("A31", control_id="new", visit=None, family="NEWER", event_time="20240301100000"))
    (older,) = accepted(processor, adt("A08", control_id="old", family="OLDER", event_time="20240201100000"))
    assert current(processor.repository, "Patient", A)["name"][0]["family"] == "Newer"
    assert current(processor.repository, "Encounter", written(older, "Encounter"))  # the visit still counts

    accepted(processor, adt("A08", control_id="newest", family="NEWEST", event_time="20240401100000"))
    assert current(processor.repository, "Patient", A)["name"][0]["family"] == "Newest"


# -- local time ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("20240115103000", "2024-01-15T10:30:00+00:00"),  # winter: GMT
        ("20240715103000", "2024-07-15T10:30:00+01:00"),  # summer: BST
        ("20240331005959", "2024-03-31T00:59:59+00:00"),  # just before the spring change
        ("20240331013000", "2024-03-31T01:30:00+00:00"),  # the missing hour: read with the offset before it
        ("20240331020000", "2024-03-31T02:00:00+01:00"),  # just after
        ("20241027005959", "2024-10-27T00:59:59+01:00"),  # before the autumn change
        ("20241027013000", "2024-10-27T01:30:00+01:00"),  # the repeated hour: its first (BST) occurrence
        ("20241027020000", "2024-10-27T02:00:00+00:00"),  # after
        ("20240715103000+0000", "2024-07-15T10:30:00+00:00"),  # an offset sent is kept
    ],
)
def test_times_are_london_local_time(processor: Hl7Processor, sent: str, expected: str) -> None:
    (outcome,) = accepted(processor, adt("A03", event_time=sent, admitted=sent, discharged=sent))
    encounter = current(processor.repository, "Encounter", written(outcome, "Encounter"))
    assert encounter["period"] == {"start": expected, "end": expected}
    (provenance,) = search(processor, "Provenance", ("target", f"Encounter/{encounter['id']}"))
    assert provenance["occurredDateTime"] == expected


# -- dead letters and replay ---------------------------------------------------------------------------------
def test_a_failed_message_is_dead_lettered_and_a_corrected_resend_is_processed(processor: Hl7Processor) -> None:
    failed = processor.process(adt("A01", control_id="fix-me", nhs_number=BAD_NHS_NUMBER))
    assert (failed.code, failed.status) == ("AE", "failed")
    ack = parse(failed.ack())
    assert msa(ack) == ("AE", "fix-me")
    err = ack.first("ERR")
    assert err is not None and err.get(1, 1) == "PID"
    (row,) = rows(processor.repository)
    assert (row.status, row.attempts, row.control_id) == ("failed", 1, "fix-me")
    assert BAD_NHS_NUMBER in (row.error or "")
    assert version_count(processor.repository) == 0

    fixed = processor.process(adt("A01", control_id="fix-me"))

    assert (fixed.code, fixed.status) == ("AA", "processed")
    (row,) = rows(processor.repository)
    assert (row.status, row.attempts, row.error) == ("processed", 2, None)
    assert current(processor.repository, "Patient", A)


def test_replaying_a_failed_message_fails_the_same_way(processor: Hl7Processor) -> None:
    failed = processor.process(adt("A01", control_id="still-bad", nhs_number=BAD_NHS_NUMBER))
    (row,) = rows(processor.repository)

    again = processor.replay(row.id)

    assert (again.code, again.status, again.text) == ("AE", "failed", failed.text)
    (row,) = rows(processor.repository)
    assert (row.status, row.attempts) == ("failed", 2)
    with pytest.raises(LookupError):
        processor.replay(row.id + 1000)


def test_replaying_a_processed_message_is_a_harmless_duplicate(processor: Hl7Processor) -> None:
    accepted(processor, adt("A01"))
    (row,) = rows(processor.repository)
    versions = version_count(processor.repository)
    assert processor.replay(row.id).status == "duplicate"
    assert version_count(processor.repository) == versions


@pytest.mark.parametrize(
    "bad",
    [
        adt("A01", control_id="m2", nhs_number=BAD_NHS_NUMBER, visit="V2"),  # fails while mapping
        adt("A01", control_id="m2", nhs_number=NHS_NUMBERS[2], practice="M99_01", visit="V2"),  # fails while writing
    ],
    ids=["bad NHS number", "bad ODS code"],
)
def test_one_bad_message_in_a_batch_is_dead_lettered_alone(processor: Hl7Processor, bad: str) -> None:
    batch = [
        adt("A01", control_id="m1", nhs_number=NHS_NUMBERS[1], visit="V1"),
        bad,
        adt("A01", control_id="m3", nhs_number=NHS_NUMBERS[3], visit="V3"),
    ]
    outcomes = processor.process_batch(batch)

    assert [(o.code, o.status, o.control_id) for o in outcomes] == [
        ("AA", "processed", "m1"),
        ("AE", "failed", "m2"),
        ("AA", "processed", "m3"),
    ]
    stored = {row.control_id: row.status for row in rows(processor.repository)}
    assert stored == {"m1": "processed", "m2": "failed", "m3": "processed"}
    assert current(processor.repository, "Patient", NHS_NUMBERS[1])
    assert read(processor.repository, "Patient", NHS_NUMBERS[2]) is None  # rolled back with its message
    assert current(processor.repository, "Patient", NHS_NUMBERS[3])
    assert read(processor.repository, "Organization", "M99_01") is None


BAD_IN_A_BATCH = [
    adt("A01", control_id="m2", nhs_number=BAD_NHS_NUMBER, visit="V2"),  # fails while mapping
    adt("A01", control_id="m2", nhs_number=NHS_NUMBERS[2], practice="M99_01", visit="V2"),  # fails while writing
]


@pytest.mark.parametrize("bad", BAD_IN_A_BATCH, ids=["bad NHS number", "bad ODS code"])
def test_a_stream_mapped_by_a_worker_process_dead_letters_the_same_way(processor: Hl7Processor, bad: str) -> None:
    good = [adt("A01", control_id=f"m{n}", nhs_number=NHS_NUMBERS[n], visit=f"V{n}") for n in (1, 3)]
    stream = processor.process_stream([[good[0], bad], [good[1]]], workers=1)
    outcomes = [outcome for batch in stream for outcome in batch]

    assert [(o.code, o.status, o.control_id) for o in outcomes] == [
        ("AA", "processed", "m1"),
        ("AE", "failed", "m2"),
        ("AA", "processed", "m3"),
    ]
    assert {row.control_id: row.status for row in rows(processor.repository)} == {
        "m1": "processed",
        "m2": "failed",
        "m3": "processed",
    }
    assert read(processor.repository, "Patient", NHS_NUMBERS[2]) is None


def _worker_dies(texts: list[str], strict: bool) -> None:
    os._exit(1)


def test_when_a_mapping_worker_dies_the_writer_maps_the_batches_itself(
    processor: Hl7Processor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(processing, "map_in_worker", _worker_dies)
    batches = [[adt("A01", control_id=f"m{n}", nhs_number=NHS_NUMBERS[n], visit=f"V{n}")] for n in (1, 2, 3)]
    outcomes = [outcome for batch in processor.process_stream(batches, workers=1) for outcome in batch]
    assert [(o.code, o.control_id) for o in outcomes] == [("AA", "m1"), ("AA", "m2"), ("AA", "m3")]
    assert all(current(processor.repository, "Patient", NHS_NUMBERS[n]) for n in (1, 2, 3))


# -- unmapped events -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("message", "message_type"),
    [
        (adt("A60", control_id="u1", visit=None, extra=["IAM|1|DA|^LATEX"]), "ADT^A60"),
        (
            "MSH|^~\\&|LAB|RXW|CLOSER|CLOSER|20240101101010||ORU^R01^ORU_R01|u2|P|2.4\r"
            f"PID|1||{A}^^^NHS^NH\rOBR|1|||1234^Sodium\rOBX|1|NM|1234^Sodium||140|mmol/L",
            "ORU^R01",
        ),
    ],
    ids=["ADT^A60", "ORU^R01"],
)
def test_an_unmapped_event_is_accepted_and_kept_raw(processor: Hl7Processor, message: str, message_type: str) -> None:
    outcome = processor.process(message)
    assert (outcome.code, outcome.status, outcome.resources) == ("AA", "stored", [])
    assert msa(parse(outcome.ack()))[0] == "AA"
    (row,) = rows(processor.repository)
    assert (row.status, row.message_type, row.raw) == ("stored", message_type, message)
    assert version_count(processor.repository) == 0
    assert processor.process(message).status == "duplicate"


# -- provenance ----------------------------------------------------------------------------------------------
def test_each_message_has_a_provenance_naming_its_sender_and_control_id(processor: Hl7Processor) -> None:
    outcomes = accepted(
        processor,
        adt("A01", control_id="p1", diagnoses=["I10"], allergies=["LATEX"]),
        adt("A08", control_id="p2", event_time="20240116090000", hospital_service="430"),
    )
    provenances = search(processor, "Provenance")
    assert len(provenances) == 2
    for outcome in outcomes:
        (provenance,) = [p for p in provenances if p["entity"][0]["what"]["identifier"]["value"] == outcome.control_id]
        assert {t["reference"] for t in provenance["target"]} == set(outcome.resources)
        who = provenance["agent"][0]["who"]
        assert who["identifier"]["value"] == APPLICATION
        assert APPLICATION in who["display"] and FACILITY in who["display"]
        assert FACILITY.lower() in provenance["entity"][0]["what"]["identifier"]["system"]
    assert {t.split("/")[0] for t in outcomes[0].resources} == {
        "Patient",
        "Encounter",
        "Condition",
        "AllergyIntolerance",
    }


# -- deaths --------------------------------------------------------------------------------------------------
def test_date_of_death_in_pid_29(processor: Hl7Processor) -> None:
    accepted(processor, adt("A08", died="20240310143000"))
    patient = current(processor.repository, "Patient", A)
    assert patient["deceasedDateTime"] == "2024-03-10T14:30:00+00:00"
    assert "deceasedBoolean" not in patient


def test_a_discharge_because_the_patient_died(processor: Hl7Processor) -> None:
    (outcome,) = accepted(
        processor, adt("A03", destination="79", discharged="20240311150000", event_time="20240311151000")
    )
    assert current(processor.repository, "Patient", A)["deceasedDateTime"] == "2024-03-11T15:00:00+00:00"
    encounter = current(processor.repository, "Encounter", written(outcome, "Encounter"))
    assert encounter["status"] == "finished"
    assert encounter["hospitalization"]["dischargeDisposition"]["coding"][0]["code"] == "79"


def test_a_deadlock_or_serialisation_failure_is_a_clash_to_retry_and_other_errors_are_not() -> None:
    from sqlalchemy.exc import IntegrityError, OperationalError

    from adapters.hl7v2.processor import _clash

    class Driver(Exception):
        def __init__(self, sqlstate: str | None) -> None:
            self.sqlstate = sqlstate

    assert _clash(IntegrityError("INSERT", {}, Driver("23505")))
    assert _clash(OperationalError("UPDATE", {}, Driver("40P01")))  # deadlock detected
    assert _clash(OperationalError("UPDATE", {}, Driver("40001")))  # serialization failure
    assert not _clash(OperationalError("SELECT", {}, Driver("08006")))  # connection failure
    assert not _clash(OperationalError("SELECT", {}, Driver(None)))
