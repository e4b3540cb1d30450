"""`closer audit verify` and `closer audit list`, through the real `closer` command group."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import delete
from sqlalchemy.engine import Engine

from closer.audit import Disclosure, record
from closer.audit.log import audit_log
from closer.cli import main
from closer.store.engine import make_engine


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def run(database_url: str, *args: str) -> Result:
    return CliRunner().invoke(main, ["audit", args[0], "--database-url", database_url, *args[1:]])


def alerts(patient: str, outcome: str = "0") -> Disclosure:
    decision = "permit by Consent/c1 provision.provision[0]" if outcome == "0" else "deny: no consent permits this"
    return Disclosure("nwas-epr", "RX7", patient, "alerts", ("Flag/f1/_history/2",), outcome, decision, "ETREAT")


def test_verify_an_intact_chain(database_url: str, engine: Engine) -> None:
    assert run(database_url, "verify").output == "0 events, chain intact\n"
    record(engine, [alerts("Patient/p1"), alerts("Patient/p2", "4")], now=datetime(2026, 12, 6, tzinfo=UTC))
    result = run(database_url, "verify")
    assert (result.exit_code, result.output) == (0, "2 events, chain intact\n")


def test_verify_a_broken_chain_exits_1_naming_the_seq(database_url: str, engine: Engine) -> None:
    record(engine, [alerts("Patient/p1"), alerts("Patient/p2"), alerts("Patient/p3")])
    with engine.begin() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.seq == 2))
    result = run(database_url, "verify")
    assert result.exit_code == 1
    assert "chain broken at seq 2: seq 2 is missing" in result.output


def test_list_newest_first_and_by_patient(database_url: str, engine: Engine) -> None:
    record(engine, [alerts("Patient/p1")], now=datetime(2026, 12, 6, 9, tzinfo=UTC))
    record(engine, [alerts("Patient/p2", "4")], now=datetime(2026, 12, 6, 10, tzinfo=UTC))
    lines = run(database_url, "list").output.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("audit-2  2026-12-06T10:00:00.000000Z  alerts  to nwas-epr (RX7)  Patient/p2")
    assert "minor failure: deny: no consent permits this" in lines[0]
    assert "1 disclosed  success: permit by Consent/c1" in lines[1]
    only = run(database_url, "list", "--patient", "p1", "--limit", "5").output.splitlines()
    assert len(only) == 1 and "Patient/p1" in only[0]
    assert run(database_url, "list", "--patient", "Patient/nobody").output == "No audit events for Patient/nobody.\n"
    assert '"resourceType": "AuditEvent"' in run(database_url, "list", "--json").output


def test_store_copy_keeps_the_chain_intact(tmp_path: object, database_url: str, engine: Engine) -> None:
    source = f"sqlite:///{tmp_path}/source.db"
    writer = make_engine(source)
    record(writer, [alerts("Patient/p1"), alerts("Patient/p2")])
    record(writer, [alerts("Patient/p3")])
    writer.dispose()
    copied = CliRunner().invoke(main, ["store", "copy", "--from", source, "--to", database_url])
    assert copied.exit_code == 0, copied.output
    assert run(database_url, "verify").output == "3 events, chain intact\n"
