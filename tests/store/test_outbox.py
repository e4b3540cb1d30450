"""The outbox: every change leaves exactly one event, in the same transaction as the change."""

from __future__ import annotations

from typing import Any

import pytest
from fhirdata import NHS_NUMBERS, condition, patient

from closer.errors import FhirError


def events(repo: Any) -> list[tuple[str, str, int, str]]:
    return [(e.resource_type, e.resource_id, e.version, e.action) for e in repo.events(0, 1000)]


def test_create_update_delete_each_leave_one_event_in_order(repo: Any) -> None:
    before = len(events(repo))
    created = repo.create(patient(NHS_NUMBERS[0])).resource
    pid = created["id"]
    repo.update({**created, "gender": "male"})
    repo.delete("Patient", pid)
    assert events(repo)[before:] == [
        ("Patient", pid, 1, "create"),
        ("Patient", pid, 2, "update"),
        ("Patient", pid, 3, "delete"),
    ]
    seqs = [e.seq for e in repo.events(0, 1000)]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_unchanged_update_and_repeat_delete_leave_no_event(repo: Any) -> None:
    created = repo.create(patient(NHS_NUMBERS[1])).resource
    count = len(events(repo))
    assert repo.update(created).action == "noop"
    repo.delete("Patient", created["id"])
    assert repo.delete("Patient", created["id"]).action == "noop"
    assert len(events(repo)) == count + 1


def test_failed_transaction_leaves_no_resource_history_or_event(repo: Any) -> None:
    count = len(events(repo))
    with pytest.raises(FhirError), repo.transaction() as tx:
        first = tx.create(patient(NHS_NUMBERS[2])).resource
        tx.create(condition(f"Patient/{first['id']}"))
        tx.create({"resourceType": "Patient", "gender": "not-a-gender"})
    assert len(events(repo)) == count
    with pytest.raises(FhirError) as gone:
        repo.read("Patient", first["id"])
    assert gone.value.status == 404
    entries, _more = repo.history("Patient", None)
    assert first["id"] not in {e.resource_id for e in entries}


def test_events_page_after_a_sequence_number(repo: Any) -> None:
    for number in NHS_NUMBERS[3:6]:
        repo.create(patient(number))
    all_events = list(repo.events(0, 1000))
    first_page = list(repo.events(0, 2))
    assert first_page == all_events[:2]
    assert list(repo.events(first_page[-1].seq, 1000)) == all_events[2:]
