"""Real `closer publish run` processes: one killed with SIGKILL mid-batch and restarted, and two running at
once. The receiver counts raw receipts; no deduplication on its side is part of the proof.

What "each version once" means here: a claimed batch is settled (marked done) once the receiver has
answered every delivery in it. A worker killed between the receiver's answer and that write leaves the
deliveries leased; the next run sends them again with the same Idempotency-Key. So the only receipts that
may repeat are those of deliveries that were in flight (leased) at the kill, and a version is never sent
under two keys.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from publisher_data import Receipt, Receiver, dnar_flag, seed_patient, settings_toml
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select

from closer.store.schema import outbox
from closer.store.sql import SqlRepository
from consent.publisher.tables import CURSOR, DONE, LEASED, OPEN, ensure_tables, publish_cursor, publish_deliveries

PATIENTS = 12
HANG_GUARD = 120.0  # seconds before a wait gives up (a hang, not a timing requirement)


@pytest.fixture
def receiver(httpserver: HTTPServer) -> Receiver:
    return Receiver(httpserver)


@pytest.fixture
def workers(database_url: str, receiver: Receiver, tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Started worker processes; any still running at the end are stopped."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def start(
    started: list[subprocess.Popen[bytes]], name: str, database_url: str, receiver: Receiver, tmp_path: Path
) -> subprocess.Popen[bytes]:
    config = tmp_path / "publish.toml"
    if not config.exists():
        config.write_text(settings_toml(receiver.url, tmp_path / "keys" / "publisher-key.pem"), encoding="utf-8")
    env = {**os.environ, "CLOSER_DATABASE_URL": database_url, "CLOSER_PUBLISH_ENDPOINTS": str(config)}
    log = (tmp_path / f"{name}.log").open("ab")
    command = [sys.executable, "-m", "closer.cli", "publish", "run", "--worker", name, "--poll", "0.05"]
    process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=log, stderr=log)
    started.append(process)
    return process


def running(name: str, tmp_path: Path) -> bool:
    """The worker has started: it logs its first line once its SIGTERM handler is in place."""
    return f"publisher {name}:" in (tmp_path / f"{name}.log").read_text(errors="replace")


def wait_for(condition: object, what: str, tmp_path: Path) -> None:
    deadline = time.monotonic() + HANG_GUARD
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            logs = "\n".join(p.read_text(errors="replace")[-3000:] for p in tmp_path.glob("*.log"))
            pytest.fail(f"gave up waiting for {what}; worker logs:\n{logs}")
        time.sleep(0.05)


def drained(store: SqlRepository) -> bool:
    """Every outbox event planned and every delivery settled."""
    ensure_tables(store.engine)
    d = publish_deliveries.c
    with store.engine.connect() as conn:
        head = conn.execute(select(func.max(outbox.c.seq))).scalar() or 0
        mark = conn.execute(select(publish_cursor.c.seq).where(publish_cursor.c.name == CURSOR)).scalar() or 0
        waiting = conn.execute(select(func.count()).where(d.status.in_(OPEN))).scalar_one()
    return mark >= head and waiting == 0


def delivery_keys(store: SqlRepository, status: str | None = None) -> dict[str, tuple[str, int]]:
    """idempotency key -> (resource, version) of the deliveries (of one status)."""
    d = publish_deliveries.c
    stmt = select(d.idempotency_key, d.res_type, d.res_id, d.version)
    if status is not None:
        stmt = stmt.where(d.status == status)
    with store.engine.connect() as conn:
        return {r.idempotency_key: (f"{r.res_type}/{r.res_id}", r.version) for r in conn.execute(stmt)}


def seed(store: SqlRepository) -> None:
    for n in range(PATIENTS):
        seed_patient(store, f"p{n}")


def change_flags(store: SqlRepository) -> None:
    """Two more versions of each patient's Flag, written while the workers run."""
    for status in ("inactive", "active"):
        for n in range(PATIENTS):
            store.update(dnar_flag(f"p{n}", status=status))


def assert_each_version_once(store: SqlRepository, receipts: list[Receipt], in_flight: set[str]) -> None:
    planned = delivery_keys(store)
    assert set(delivery_keys(store, DONE)) == set(planned), "some deliveries were not delivered"
    counts = Counter(r.key for r in receipts)
    assert set(counts) == set(planned), "the receiver got keys nobody planned, or missed some"
    repeated = {key for key, n in counts.items() if n > 1}
    assert repeated <= in_flight, f"resent deliveries that were not in flight: {repeated - in_flight}"
    assert all(counts[key] == 2 for key in repeated)
    versions = Counter(planned[key] for key in counts)
    assert max(versions.values()) == 1, "a version was sent under two idempotency keys"
    for receipt in receipts:  # and each receipt carries the version its key was planned for
        assert receipt.headers["X-Closer-Version"] == str(planned[receipt.key][1])


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing_on_restart(
    store: SqlRepository,
    receiver: Receiver,
    workers: list[subprocess.Popen[bytes]],
    database_url: str,
    tmp_path: Path,
) -> None:
    gate = threading.Event()

    def stall(_receipt: Receipt) -> tuple[int, str]:
        if len(receiver.receipts) > 10:  # from the 11th receipt on, answer only once the worker is dead
            gate.wait(HANG_GUARD)
        return 200, ""

    receiver.answer = stall
    seed(store)
    first = start(workers, "w1", database_url, receiver, tmp_path)
    wait_for(lambda: len(receiver.receipts) > 10, "the first receipts", tmp_path)
    first.send_signal(signal.SIGKILL)  # mid-batch: the 11th delivery was received and never answered
    first.wait()
    gate.set()
    in_flight = set(delivery_keys(store, LEASED))
    assert receiver.receipts[10].key in in_flight

    start(workers, "w1", database_url, receiver, tmp_path)  # same name: it takes its dead leases back at once
    wait_for(lambda: drained(store), "the queue to drain after the restart", tmp_path)
    assert_each_version_once(store, receiver.receipts, in_flight)
    assert len(delivery_keys(store)) == PATIENTS * 3  # Flag, allergy and plan for each patient
    repeated = {key for key, n in Counter(r.key for r in receiver.receipts).items() if n > 1}
    assert receiver.receipts[10].key in repeated  # the one on the wire was sent again, with its key


def test_two_workers_at_once_deliver_each_version_once_in_order(
    store: SqlRepository,
    receiver: Receiver,
    workers: list[subprocess.Popen[bytes]],
    database_url: str,
    tmp_path: Path,
) -> None:
    seed(store)
    for name in ("w1", "w2"):
        start(workers, name, database_url, receiver, tmp_path)
    wait_for(lambda: all(running(name, tmp_path) for name in ("w1", "w2")), "both workers to start", tmp_path)
    change_flags(store)
    wait_for(lambda: drained(store), "the queue to drain", tmp_path)
    for process in workers:
        process.send_signal(signal.SIGTERM)
    for process in workers:
        assert process.wait(timeout=HANG_GUARD) == 0
    assert_each_version_once(store, receiver.receipts, in_flight=set())
    for n in range(PATIENTS):  # each Flag's versions arrived in order, ending with the latest
        flags = [int(r.headers["X-Closer-Version"]) for r in receiver.receipts if r.path == f"/fhir/Flag/dnar-p{n}"]
        assert flags == sorted(set(flags)) and flags[-1] == 3
