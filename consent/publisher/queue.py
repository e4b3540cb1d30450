"""Looking at and mending the delivery queue: the dead letters, putting them back, and a summary.

A dead letter put back (`retry`) is queued again in its old place, as a fresh delivery: attempts start
over, and so does its maximum age. If a newer change to the same resource has been queued for the endpoint
since, the old one would only overwrite it with stale data, so it is marked superseded instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, select, update
from sqlalchemy.engine import Engine

from closer.store.dates import to_us
from closer.store.engine import writing
from consent.publisher.tables import (
    CURSOR,
    DEAD,
    OPEN,
    PENDING,
    SUPERSEDED,
    ensure_tables,
    publish_cursor,
    publish_deliveries,
)


@dataclass(frozen=True)
class DeadLetter:
    id: int
    endpoint: str
    patient: str
    resource: str  # Type/id/_history/version
    action: str
    attempts: int
    last_status: int | None
    reason: str


def dead_letters(engine: Engine, endpoint: str | None = None) -> list[DeadLetter]:
    ensure_tables(engine)
    d = publish_deliveries.c
    stmt = select(
        d.id, d.endpoint, d.patient, d.res_type, d.res_id, d.version, d.action, d.attempts, d.last_status, d.last_error
    )
    stmt = stmt.where(d.status == DEAD).order_by(d.id)
    if endpoint is not None:
        stmt = stmt.where(d.endpoint == endpoint)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [
        DeadLetter(
            r.id,
            r.endpoint,
            r.patient,
            f"{r.res_type}/{r.res_id}/_history/{r.version}",
            r.action,
            r.attempts,
            r.last_status,
            r.last_error or "",
        )
        for r in rows
    ]


@dataclass(frozen=True)
class Retried:
    requeued: tuple[int, ...]
    superseded: tuple[int, ...]
    unknown: tuple[int, ...]  # not dead letters (or no such delivery)


def retry(engine: Engine, ids: Iterable[int] | None, now: datetime) -> Retried:
    """Put dead letters back in the queue: these ids, or every one when `ids` is None."""
    ensure_tables(engine)
    d = publish_deliveries.c
    newer = publish_deliveries.alias("newer")
    superseding = exists(
        select(newer.c.id).where(
            newer.c.endpoint == d.endpoint,
            newer.c.res_type == d.res_type,
            newer.c.res_id == d.res_id,
            newer.c.id > d.id,
            newer.c.status.not_in((DEAD, SUPERSEDED)),
        )
    )
    wanted = None if ids is None else sorted(set(ids))
    at = to_us(now)
    with writing(engine) as conn:
        stmt = select(d.id, superseding.label("stale")).where(d.status == DEAD)
        if wanted is not None:
            stmt = stmt.where(d.id.in_(wanted))
        rows = conn.execute(stmt).all()
        stale = [r.id for r in rows if r.stale]
        fresh = [r.id for r in rows if not r.stale]
        if stale:
            conn.execute(
                update(publish_deliveries)
                .where(d.id.in_(stale))
                .values(status=SUPERSEDED, last_error=d.last_error + " (superseded by a newer change when retried)")
            )
        if fresh:
            conn.execute(
                update(publish_deliveries)
                .where(d.id.in_(fresh))
                .values(status=PENDING, attempts=0, queued=at, next_attempt=at, leased_until=None, worker=None)
            )
    found = {r.id for r in rows}
    unknown = tuple(i for i in wanted or () if i not in found)
    return Retried(tuple(fresh), tuple(stale), unknown)


@dataclass(frozen=True)
class Status:
    cursor: int  # outbox seq planned up to (every event at or below it)
    counts: dict[tuple[str, str], int]  # (endpoint, status) -> deliveries
    oldest_open: dict[str, int]  # endpoint -> when its oldest undelivered change was queued (us)


def status(engine: Engine) -> Status:
    ensure_tables(engine)
    d = publish_deliveries.c
    with engine.connect() as conn:
        mark = conn.execute(select(publish_cursor.c.seq).where(publish_cursor.c.name == CURSOR)).scalar()
        counts = {
            (r.endpoint, r.status): int(r.n)
            for r in conn.execute(select(d.endpoint, d.status, func.count().label("n")).group_by(d.endpoint, d.status))
        }
        oldest = {
            r.endpoint: int(r.queued)
            for r in conn.execute(
                select(d.endpoint, func.min(d.queued).label("queued")).where(d.status.in_(OPEN)).group_by(d.endpoint)
            )
        }
    return Status(int(mark or 0), counts, oldest)
