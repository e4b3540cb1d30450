"""Outbox gaps on PostgreSQL: a transaction that took a lower seq and commits after a higher one is still
planned, and a rolled-back transaction's gap holds the cursor back only until gap_timeout."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from publisher_data import Receiver, dnar_flag, settings, share_consent
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from closer.store.sql import SqlRepository
from consent.publisher.planner import Planner
from consent.publisher.tables import CURSOR, publish_cursor, publish_seen
from consent.publisher.worker import RegistrationCache


@pytest.fixture
def postgres_store(store: SqlRepository) -> SqlRepository:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL can commit outbox seqs out of order")
    return store


def mark(store: SqlRepository) -> tuple[int, list[int]]:
    with store.engine.connect() as conn:
        seq = conn.execute(select(publish_cursor.c.seq).where(publish_cursor.c.name == CURSOR)).scalar_one()
        seen = sorted(conn.execute(select(publish_seen.c.seq)).scalars())
    return int(seq), seen


def planner(store: SqlRepository, url: str, tmp_path: Path, **overrides: float) -> Planner:
    publish = settings(url, tmp_path, **overrides)
    return Planner(store, publish, RegistrationCache(store, publish), worker="p")


def test_a_lower_seq_committed_later_is_still_planned(
    postgres_store: SqlRepository, httpserver: HTTPServer, tmp_path: Path
) -> None:
    store = postgres_store
    receiver = Receiver(httpserver)
    for pid in ("p1", "p2"):
        store.update(share_consent(pid))
    plan = planner(store, receiver.url, tmp_path)
    while plan.plan_once().busy:
        pass
    with ExitStack() as stack:
        early = stack.enter_context(store.transaction())
        early.update(dnar_flag("p1"))
        early.read("Flag", "dnar-p1")  # flushes: its outbox row takes the lower seq now
        with store.transaction() as late:
            late.update(dnar_flag("p2"))
        first = plan.plan_once()  # sees p2's change; p1's is not committed yet
        assert [c.res_id for c in first.changes] == ["dnar-p2"]
        low, seen = mark(store)
        assert seen == [low + 2]  # the mark waits below the gap
    second = plan.plan_once()  # p1's transaction has committed now
    assert [c.res_id for c in second.changes] == ["dnar-p1"]
    assert mark(store) == (seen[0], [])


def test_a_rolled_back_transactions_gap_is_skipped_after_the_timeout(
    postgres_store: SqlRepository, httpserver: HTTPServer, tmp_path: Path
) -> None:
    store = postgres_store
    receiver = Receiver(httpserver)
    store.update(share_consent("p1"))
    plan = planner(store, receiver.url, tmp_path, gap_timeout=0.05)
    while plan.plan_once().busy:
        pass
    with pytest.raises(RuntimeError), store.transaction() as doomed:
        doomed.update(dnar_flag("p1", fid="never"))
        doomed.read("Flag", "never")
        raise RuntimeError("roll back")
    store.update(dnar_flag("p1"))
    assert [c.res_id for c in plan.plan_once().changes] == ["dnar-p1"]
    low, seen = mark(store)
    assert len(seen) == 1 and seen[0] > low + 1
    for _ in range(500):  # the gap times out on a later pass, which moves the mark past it
        if not mark(store)[1]:
            break
        time.sleep(0.01)
        plan.plan_once()
    assert mark(store) == (seen[0], [])
