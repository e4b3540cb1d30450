"""The publisher's tables, beside the FHIR store's in the same database (SQLite or PostgreSQL).

- `publish_cursor`: how far planning has read the outbox. `seq` is the low-water mark (every event at or
  below it is planned); `revision` counts planning commits, so a planner that read a stale state can tell;
  `planner` and `planner_until` say which worker planned last and how long the others leave it to plan;
  `swept` when Consent periods were last checked.
- `publish_seen`: events above the low-water mark that are planned already. On PostgreSQL a lower seq can
  commit after a higher one (two writers); the gap waits here until it fills or times out.
- `publish_deliveries`: the queue. One row per change to send to one endpoint: a PUT of one version or a
  DELETE (a retraction), with its idempotency key, status, attempts, lease and last error. Dead letters are
  rows with status `dead` and the reason in `last_error`.
- `publish_holdings`: what each endpoint will hold once its queue is delivered, so a withdrawn Consent
  knows what to retract.

Instants are microseconds since the epoch (UTC), as in the store's tables.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text
from sqlalchemy.engine import Engine

from closer.store.schema import ID, TYPE, metadata

CURSOR = "publisher"  # the publisher's row in publish_cursor

PENDING = "pending"
LEASED = "leased"
DONE = "done"
DEAD = "dead"
SUPERSEDED = "superseded"  # a queued PUT that a retraction made pointless before it was sent
OPEN = (PENDING, LEASED)  # still to be delivered: holds back later changes for the same patient

publish_cursor = Table(
    "publish_cursor",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("revision", BigInteger, nullable=False),
    Column("planner", String(128), nullable=True),  # the worker planning lately, and its lease (us)
    Column("planner_until", BigInteger, nullable=True),
    Column("swept", BigInteger, nullable=True),  # when Consent periods were last checked (sweep)
)

publish_seen = Table(
    "publish_seen",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("seen_at", BigInteger, nullable=False),
)

publish_deliveries = Table(
    "publish_deliveries",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("endpoint", String(128), nullable=False),
    Column("patient", String(80), nullable=False),  # "Patient/<id>"
    Column("res_type", TYPE, nullable=False),
    Column("res_id", ID, nullable=False),
    Column("version", Integer, nullable=False),
    Column("action", String(8), nullable=False),  # put | delete
    Column("body", Text, nullable=True),  # the version's JSON for a put; null for a delete
    Column("idempotency_key", String(64), nullable=False),
    Column("decision", Text, nullable=False),  # the consent decision (or why it is retracted), in words
    Column("consent", String(128), nullable=True),  # the Consent that decided, e.g. Consent/share
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("queued", BigInteger, nullable=False),
    Column("committed", BigInteger, nullable=False),  # when the change was written to the store
    Column("next_attempt", BigInteger, nullable=False),
    Column("leased_until", BigInteger, nullable=True),
    Column("worker", String(128), nullable=True),
    Column("last_status", Integer, nullable=True),  # the receiver's last HTTP status
    Column("last_error", Text, nullable=True),
    Column("delivered", BigInteger, nullable=True),
    Index("ux_publish_deliveries_key", "idempotency_key", unique=True),
    Index("ix_publish_deliveries_due", "status", "next_attempt"),
    Index("ix_publish_deliveries_queue", "endpoint", "patient", "status", "id"),
    Index("ix_publish_deliveries_resource", "endpoint", "res_type", "res_id", "status"),
)

publish_holdings = Table(
    "publish_holdings",
    metadata,
    Column("endpoint", String(128), primary_key=True),
    Column("res_type", TYPE, primary_key=True),
    Column("res_id", ID, primary_key=True),
    Column("patient", String(80), nullable=False),
    Column("version", Integer, nullable=False),
    Index("ix_publish_holdings_patient", "endpoint", "patient"),
)

TABLES = (publish_cursor, publish_seen, publish_deliveries, publish_holdings)


def ensure_tables(engine: Engine) -> None:
    for table in TABLES:
        table.create(engine, checkfirst=True)
