"""Deterioration between runs: new emergency admissions of cohort members have them rescored, and a
tier rise raises a Flag; the outbox cursor survives restarts."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import text

from adapters.writing import open_repository
from closer.settings import Settings
from closer.store.cursor import OutboxCursor
from closer.store.sql import SqlRepository
from stratify.models.base import load_model
from stratify.runs import run
from stratify.watch import CURSOR, poll_once, read_cursor, stratify_cursor
from tests.stratify.strat_data import AS_OF, MILD, WELL, emergency_admission, populate, settings

TODAY = AS_OF + timedelta(days=20)


def _admit(store: SqlRepository, nhs: str, count: int, *, elective: bool = False) -> None:
    stays = [emergency_admission(nhs, 100 + n, TODAY - timedelta(days=2 + n), days=3) for n in range(count)]
    if elective:
        for stay in stays:
            stay["type"] = [{"coding": [{"system": "http://snomed.info/sct", "code": "8715000"}]}]
    with store.transaction() as tx:
        tx.put_many(stays)


def test_an_emergency_admission_rescores_and_a_tier_rise_raises_a_flag(store: SqlRepository) -> None:
    populate(store)
    run(store, settings(), AS_OF, load_model("default"))
    assert poll_once(store, settings(), TODAY) == []  # the run's own writes trigger nothing
    _admit(store, MILD, 4)
    done = poll_once(store, settings(), TODAY)
    assert [(d.patient_id, d.before) for d in done] == [(MILD, "mild")]
    assert done[0].after in ("moderate", "severe") and done[0].flag_id is not None
    ra = store.read("RiskAssessment", f"ra-rescore-{MILD}-{TODAY.strftime('%Y%m%d')}")
    assert ra["basis"][0]["reference"].startswith(f"Encounter/enc-{MILD}-10")
    assert "Rescored after Encounter/" in ra["note"][0]["text"]
    flag = store.read("Flag", done[0].flag_id)
    assert flag["status"] == "active" and "for the triage queue" in flag["code"]["text"]
    assert poll_once(store, settings(), TODAY) == []  # the cursor moved on
    assert read_cursor(store.engine) > 0


def test_elective_admissions_and_people_outside_the_cohort_trigger_nothing(store: SqlRepository) -> None:
    populate(store)
    run(store, settings(), AS_OF, load_model("default"))
    poll_once(store, settings(), TODAY)
    _admit(store, WELL, 3, elective=True)
    _admit(store, "9990000042", 3)  # too young: not in the run's cohort
    assert poll_once(store, settings(), TODAY) == []


def test_the_watch_command_rescores_within_a_minute(tmp_path: Path) -> None:
    """The real command, polling every second, as a separate process against a SQLite file."""
    from adapters.writing import open_repository
    from closer.settings import Settings

    url = f"sqlite:///{tmp_path}/watch.db"
    store = open_repository(Settings.from_env({}, database_url=url))
    populate(store)
    run(store, settings(), date.today() - timedelta(days=20), load_model("default"))
    settings_file = tmp_path / "stratify.toml"
    settings_file.write_text(
        '[practices]\nZ91001 = "North"\nZ93001 = "South"\n'
        "[tiering.severe]\nmin_probability = 0.45\n[tiering.moderate]\nmin_probability = 0.25\n"
        "[tiering.mild]\nmin_probability = 0.12\n"
    )
    watcher = subprocess.Popen(
        [sys.executable, "-m", "closer.cli", "stratify", "watch", "--interval", "1", "--settings", str(settings_file),
         "--database-url", url],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        stays = [emergency_admission(MILD, 200 + n, date.today() - timedelta(days=1 + n)) for n in range(4)]
        with store.transaction() as tx:
            tx.put_many(stays)
        wanted = ("RiskAssessment", f"ra-rescore-{MILD}-{date.today().strftime('%Y%m%d')}")
        deadline = time.monotonic() + 60
        found: dict[tuple[str, str], object] = {}
        while time.monotonic() < deadline and not found:
            time.sleep(0.5)
            with store.transaction() as tx:
                found = tx.read_many({wanted})  # type: ignore[assignment]
        assert found, "no rescore within a minute"
    finally:
        watcher.terminate()
        watcher.wait(timeout=10)
        store.engine.dispose()


def test_a_cursor_table_made_with_an_integer_seq_is_read_and_written_as_it_is(tmp_path: Path) -> None:
    store = open_repository(Settings.from_env({}, database_url=f"sqlite:///{tmp_path}/old.db"))
    try:
        with store.engine.begin() as conn:  # as the table was made before the cursor was shared (INTEGER seq)
            conn.execute(text("DROP TABLE stratify_cursor"))
            conn.execute(text("CREATE TABLE stratify_cursor (name VARCHAR(32) PRIMARY KEY, seq INTEGER NOT NULL)"))
            conn.execute(text("INSERT INTO stratify_cursor (name, seq) VALUES ('deterioration', 7)"))
        assert read_cursor(store.engine) == 7
        cursor = OutboxCursor(stratify_cursor, CURSOR)
        cursor.save(store, 2**40)  # past INTEGER's 32 bits, as the outbox's BigInteger seq may go
        assert read_cursor(store.engine) == 2**40
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM stratify_cursor")).scalar() == 1
    finally:
        store.engine.dispose()
