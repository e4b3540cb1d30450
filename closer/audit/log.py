"""The audit log's tables and its three uses: append (record), check (verify) and read (events_for).

`audit_log` holds one row per AuditEvent with the hash chain (see closer.audit.chain); `audit_head` is a
single row (id 1) with the last seq and hash, updated in the same transaction as each append, so a deleted
tail shows. Appends are serialised, so the chain stays linear across threads and processes: on SQLite by
the store's write queue and BEGIN IMMEDIATE, on PostgreSQL by locking the head row (SELECT ... FOR UPDATE).
Concurrent appends in one process share a transaction (closer.store.groupcommit). The head row is made
by the first append, not with the tables, so an unused store stays empty (and `closer store copy` can copy
into it).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from closer.audit.chain import GENESIS, Link, VerifyResult, canonical, check_chain, link_hash
from closer.audit.event import Disclosure, build_event
from closer.store.dates import to_us
from closer.store.engine import writing
from closer.store.groupcommit import GroupCommit
from closer.store.schema import metadata

log = logging.getLogger("closer.audit")

HEAD_ID = 1
VERIFY_CHUNK = 5_000

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),  # consecutive from 1: a gap is a deletion
    Column("recorded", BigInteger, nullable=False),  # microseconds since the epoch, UTC
    Column("patient", String(128), nullable=True),  # "Patient/<id>"
    Column("recipient", String(256), nullable=False),
    Column("event", Text, nullable=False),  # canonical JSON of the AuditEvent
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_log_patient", "patient", "seq"),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always HEAD_ID
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

TABLES = (audit_log, audit_head)

# Statements built once: every audited request runs them.
_LOCK_HEAD = select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == HEAD_ID).with_for_update()
_INSERT_LINK = audit_log.insert()
_UPDATE_HEAD = (
    update(audit_head).where(audit_head.c.id == HEAD_ID).values(seq=bindparam("head_seq"), hash=bindparam("head_hash"))
)
_Append = tuple[tuple[Disclosure, ...], datetime]  # one call's disclosures and their moment

_ensured: weakref.WeakSet[Engine] = weakref.WeakSet()
_ensure_lock = threading.Lock()


def ensure_tables(engine: Engine) -> None:
    """Create the tables once per engine (make_engine creates them too when this module was imported first).
    Every audited request calls this: once an engine is known, no lock is taken."""
    if engine in _ensured:
        return
    with _ensure_lock:
        if engine in _ensured:
            return
        for table in TABLES:
            table.create(engine, checkfirst=True)
        _ensured.add(engine)


def record(engine: Engine, disclosures: Sequence[Disclosure], *, now: datetime | None = None) -> None:
    """Append one AuditEvent per Disclosure to the chain, durably, before returning. Concurrent calls in this
    process are committed together (closer.store.groupcommit): one flush for many requests' audits."""
    if not disclosures:
        return
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    ensure_tables(engine)
    _appender(engine).submit((tuple(disclosures), moment))


_APPENDERS: weakref.WeakKeyDictionary[Engine, GroupCommit[_Append]] = weakref.WeakKeyDictionary()
_appenders_lock = threading.Lock()


def _appender(engine: Engine) -> GroupCommit[_Append]:
    with _appenders_lock:
        found = _APPENDERS.get(engine)
        if found is None:
            found = _APPENDERS[engine] = GroupCommit(lambda items: _append(engine, items))
        return found


def _append(engine: Engine, items: list[_Append]) -> list[BaseException | None]:
    """Link every item's events onto the chain in one transaction; an item whose events cannot be built
    is left out (its caller gets the error) and the others go on."""
    errors: list[BaseException | None] = []
    with writing(engine) as conn:
        seq, prev = _lock_head(conn)
        rows = []
        for disclosures, moment in items:
            try:
                linked = _linked(disclosures, moment, seq, prev)
            except Exception as exc:
                errors.append(exc)
                continue
            errors.append(None)
            rows.extend(linked)
            if linked:
                seq, prev = linked[-1]["seq"], linked[-1]["hash"]
        if rows:
            conn.execute(_INSERT_LINK, rows)
            conn.execute(_UPDATE_HEAD, {"head_seq": seq, "head_hash": prev})
    return errors


def _linked(disclosures: Sequence[Disclosure], moment: datetime, seq: int, prev: str) -> list[dict[str, Any]]:
    """The audit_log rows of one call's disclosures, chained on from (seq, prev)."""
    recorded = to_us(moment)
    rows = []
    for disclosure in disclosures:
        seq += 1
        event = canonical(build_event(disclosure, moment, event_id=f"audit-{seq}"))
        digest = link_hash(prev, seq, recorded, disclosure.patient, disclosure.recipient, event)
        rows.append(
            {
                "seq": seq,
                "recorded": recorded,
                "patient": disclosure.patient,
                "recipient": disclosure.recipient,
                "event": event,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    return rows


def _lock_head(conn: Connection) -> tuple[int, str]:
    """The head (seq, hash), locked until commit; made on the first append."""
    head = conn.execute(_LOCK_HEAD).first()
    if head is None:
        tail = conn.execute(select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)).first()
        start = (tail.seq, tail.hash) if tail is not None else (0, GENESIS)
        if tail is not None:
            log.warning("audit_head was missing: the chain continues from seq %s", tail.seq)
        insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(audit_head)
        conn.execute(insert.values(id=HEAD_ID, seq=start[0], hash=start[1]).on_conflict_do_nothing())
        head = conn.execute(_LOCK_HEAD).one()  # another first writer may have won: its head, locked
    return int(head.seq), str(head.hash)


def verify(engine: Engine) -> VerifyResult:
    """Walk the whole chain in one consistent snapshot; the first broken seq and why, or how many are intact."""
    ensure_tables(engine)
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():  # SQLite (WAL) and REPEATABLE READ both read one snapshot for the whole walk
            head = conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == HEAD_ID)).first()
            links = conn.execution_options(stream_results=True, yield_per=VERIFY_CHUNK).execute(
                select(*audit_log.columns).order_by(audit_log.c.seq)
            )
            rows = (Link(**row._mapping) for row in links)
            return check_chain(rows, (int(head.seq), str(head.hash)) if head is not None else None)


def events_for(engine: Engine, patient: str, limit: int = 100) -> list[dict[str, Any]]:
    """A patient's AuditEvents, newest first: who has been sent what about them."""
    return latest(engine, patient=patient, limit=limit)


def latest(engine: Engine, *, patient: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The newest AuditEvents, for one patient or all, newest first."""
    ensure_tables(engine)
    query = select(audit_log.c.event).order_by(audit_log.c.seq.desc()).limit(limit)
    if patient is not None:
        query = query.where(audit_log.c.patient == patient)
    with engine.connect() as conn:
        return [orjson.loads(text) for text in conn.execute(query).scalars()]
