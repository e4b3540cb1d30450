"""The audit log on SQLite and PostgreSQL: appends chain, and editing or deleting a row is caught at its seq."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine

from closer.audit import Disclosure, events_for, record, verify
from closer.audit.chain import GENESIS, Link, check_chain, link_hash
from closer.audit.log import audit_head, audit_log
from closer.fhir.validate import validate_resource
from closer.store.engine import make_engine

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def read(patient: str, n: int = 1, outcome: str = "0") -> Disclosure:
    return Disclosure(
        recipient="nwas-epr",
        organization="RX7",
        patient=patient,
        action="read",
        entities=(f"Flag/f{n}/_history/1",),
        outcome=outcome,
        decision="permit by Consent/c1 provision.provision[0]" if outcome == "0" else "deny: no consent permits this",
        purpose="ETREAT",
        query=f"/Flag/f{n}",
    )


def fill(engine: Engine, count: int) -> None:
    for n in range(1, count + 1):
        record(engine, [read(f"Patient/p{n % 2}", n)], now=T0 + timedelta(minutes=n))


def test_an_empty_log_is_intact(engine: Engine) -> None:
    result = verify(engine)
    assert result.ok and result.events == 0
    assert result.summary() == "0 events, chain intact"


def test_appends_chain_and_verify(engine: Engine) -> None:
    fill(engine, 3)
    record(engine, [read("Patient/p9", 4), read("Patient/p9", 5, outcome="4")], now=T0 + timedelta(hours=1))
    record(engine, [])  # nothing to record: no row, no error
    result = verify(engine)
    assert result.ok and result.events == 5
    assert result.summary() == "5 events, chain intact"
    with engine.connect() as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.seq)).all()
        head = conn.execute(select(audit_head)).one()
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == GENESIS
    assert all(later.prev_hash == earlier.hash for earlier, later in pairwise(rows))
    assert (head.seq, head.hash) == (5, rows[-1].hash)


def test_events_for_a_patient_newest_first(engine: Engine) -> None:
    fill(engine, 4)
    record(engine, [read("Patient/p9", 5, outcome="4")], now=T0 + timedelta(hours=1))
    events = events_for(engine, "Patient/p1")
    assert [e["id"] for e in events] == ["audit-3", "audit-1"]
    assert [e["id"] for e in events_for(engine, "Patient/p1", limit=1)] == ["audit-3"]
    denied = events_for(engine, "Patient/p9")[0]
    assert denied["outcome"] == "4" and denied["outcomeDesc"] == "deny: no consent permits this"
    assert denied["recorded"] == "2026-12-06T10:00:00.000000Z"
    for event in events:
        validate_resource(event)
    assert events_for(engine, "Patient/nobody") == []


def tamper(engine: Engine, statement: object) -> None:
    with engine.begin() as conn:
        conn.execute(statement)  # type: ignore[call-overload]


def test_an_edited_event_is_caught_at_its_seq(engine: Engine) -> None:
    fill(engine, 5)
    with engine.connect() as conn:
        text = conn.execute(select(audit_log.c.event).where(audit_log.c.seq == 3)).scalar_one()
    tamper(engine, update(audit_log).where(audit_log.c.seq == 3).values(event=text.replace("permit", "PERMIT")))
    result = verify(engine)
    assert (result.ok, result.broken_seq, result.events) == (False, 3, 2)
    assert "edited" in (result.reason or "")


def test_an_edited_column_is_caught_at_its_seq(engine: Engine) -> None:
    fill(engine, 5)
    tamper(engine, update(audit_log).where(audit_log.c.seq == 2).values(patient="Patient/someone-else"))
    assert verify(engine).broken_seq == 2


def test_an_edited_hash_is_caught_at_its_seq(engine: Engine) -> None:
    fill(engine, 5)
    tamper(engine, update(audit_log).where(audit_log.c.seq == 4).values(hash="f" * 64))
    result = verify(engine)
    assert result.broken_seq == 4 and "edited" in (result.reason or "")


def test_an_edited_last_hash_is_caught_at_its_seq(engine: Engine) -> None:
    """Rewriting the last row's body and hash together still disagrees with the head."""
    fill(engine, 3)
    with engine.connect() as conn:
        row = conn.execute(select(audit_log).where(audit_log.c.seq == 3)).one()
    event = row.event.replace("permit", "PERMIT")
    forged = link_hash(row.prev_hash, 3, row.recorded, row.patient, row.recipient, event)
    tamper(engine, update(audit_log).where(audit_log.c.seq == 3).values(event=event, hash=forged))
    result = verify(engine)
    assert result.broken_seq == 3 and "head" in (result.reason or "")


def test_a_deleted_middle_row_is_caught_at_its_seq(engine: Engine) -> None:
    fill(engine, 5)
    tamper(engine, delete(audit_log).where(audit_log.c.seq == 3))
    result = verify(engine)
    assert (result.broken_seq, result.events) == (3, 2)
    assert "missing" in (result.reason or "")


def test_a_deleted_first_row_is_caught(engine: Engine) -> None:
    fill(engine, 3)
    tamper(engine, delete(audit_log).where(audit_log.c.seq == 1))
    assert verify(engine).broken_seq == 1


def test_a_deleted_last_row_is_caught_at_its_seq(engine: Engine) -> None:
    fill(engine, 5)
    tamper(engine, delete(audit_log).where(audit_log.c.seq == 5))
    result = verify(engine)
    assert (result.broken_seq, result.events) == (5, 4)
    assert "deleted tail" in (result.reason or "")


def test_a_deleted_head_is_caught(engine: Engine) -> None:
    fill(engine, 2)
    tamper(engine, delete(audit_head))
    assert not verify(engine).ok


def test_renumbered_rows_break_the_link(engine: Engine) -> None:
    """Deleting seq 3 and moving 4 and 5 down closes the gap, but the hashes cover seq."""
    fill(engine, 5)
    tamper(engine, delete(audit_log).where(audit_log.c.seq == 3))
    tamper(engine, update(audit_log).where(audit_log.c.seq == 4).values(seq=3))
    tamper(engine, update(audit_log).where(audit_log.c.seq == 5).values(seq=4))
    tamper(engine, update(audit_head).values(seq=4))
    assert verify(engine).broken_seq == 3


def test_appends_after_a_missing_head_continue_the_chain(engine: Engine) -> None:
    fill(engine, 2)
    tamper(engine, delete(audit_head))
    record(engine, [read("Patient/p1", 3)])
    result = verify(engine)
    assert result.ok and result.events == 3


def test_threads_appending_at_once_make_one_valid_chain(database_url: str) -> None:
    engines = [make_engine(database_url) for _ in range(2)]  # two engines: as two worker processes would

    def write(worker: int) -> None:
        for n in range(10):
            record(engines[worker % 2], [read(f"Patient/w{worker}", n), read(f"Patient/w{worker}", n + 100)])

    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(write, range(8)))
        result = verify(engines[0])
        assert result.ok, result.summary()
        assert result.events == 160
        assert len(events_for(engines[1], "Patient/w3", limit=1000)) == 20
    finally:
        for engine in engines:
            engine.dispose()


def link(seq: int, prev: str, event: str = "{}") -> Link:
    return Link(seq, 0, None, "r", event, prev, link_hash(prev, seq, 0, None, "r", event))


def test_check_chain_alone() -> None:
    first = link(1, GENESIS)
    second = link(2, first.hash)
    assert check_chain([first, second], (2, second.hash)).ok
    assert check_chain([], None).ok
    assert check_chain([first, second], None).broken_seq == 2
    assert check_chain([first, second], (1, first.hash)).broken_seq == 2
    assert check_chain([link(1, "a" * 64)], (1, "x")).broken_seq == 1
    assert "link broken" in (check_chain([first, link(2, "b" * 64)], (2, "x")).reason or "")


WRITER = """
import sys
from closer.audit import Disclosure, record
from closer.store.engine import make_engine
engine = make_engine(sys.argv[1])
for n in range(15):
    record(engine, [Disclosure("proc", None, f"Patient/{sys.argv[2]}", "push", (), "0", "permit")])
"""


def test_processes_appending_at_once_make_one_valid_chain(database_url: str, engine: Engine) -> None:
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, database_url, f"q{i}"]) for i in range(4)]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0, 0]
    result = verify(engine)
    assert result.ok and result.events == 60, result.summary()
