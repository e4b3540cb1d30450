"""Where runs are recorded: one row per run (its settings, model, counts) and one per person scored (their
tier and probability, so `diff` and `report` need not re-read the RiskAssessments), plus the GP
sign-offs per practice and quarter. Tables sit beside the FHIR store's in the same database."""

from __future__ import annotations

import json
import zlib
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine

from closer.store.schema import metadata

stratify_runs = Table(
    "stratify_runs",
    metadata,
    Column("run_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("period", String(16), nullable=False),
    Column("as_of", String(10), nullable=False),
    Column("started", String(40), nullable=False),
    Column("finished", String(40), nullable=False),
    Column("model", String(64), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("settings", Text, nullable=False),  # JSON
    Column("counts", Text, nullable=False),  # JSON
    Index("ix_stratify_runs_period", "period"),
)

stratify_results = Table(
    "stratify_results",
    metadata,
    Column("run_id", BigInteger, nullable=False),
    Column("patient_id", String(64), nullable=False),
    Column("practice", String(16), nullable=False),
    Column("locality", String(16), nullable=False),
    Column("tier", String(20), nullable=False),
    Column("probability", Float, nullable=False),
    Column("candidate", Boolean, nullable=False),
    Column("frailty", String(10), nullable=False),
    Column("ltc_count", Integer, nullable=False),
    Index("ix_stratify_results_run", "run_id", "patient_id"),
)

stratify_signoffs = Table(
    "stratify_signoffs",
    metadata,
    Column("period", String(16), primary_key=True),
    Column("practice", String(16), primary_key=True),
    Column("signed_by", String(256), nullable=False),
    Column("signed_at", String(40), nullable=False),
    Column("assessments", Integer, nullable=False),
)

TABLES = (stratify_runs, stratify_results, stratify_signoffs)


def ensure_tables(engine: Engine) -> None:
    for table in TABLES:
        table.create(engine, checkfirst=True)


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Result:
    patient_id: str
    practice: str
    locality: str
    tier: str
    probability: float
    candidate: bool
    frailty: str
    ltc_count: int


@dataclass(frozen=True)
class RunRecord:
    run_id: int
    period: str
    as_of: str
    started: str
    finished: str
    model: str
    model_version: str
    settings: dict[str, Any]
    counts: dict[str, Any]


def record_run(conn: Connection, run: RunRecord, results: Iterable[Result], *, chunk: int = 5000) -> int:
    """Insert the run and its people (inside the caller's transaction); returns the new run id."""
    inserted = conn.execute(
        insert(stratify_runs).values(
            period=run.period,
            as_of=run.as_of,
            started=run.started,
            finished=run.finished,
            model=run.model,
            model_version=run.model_version,
            settings=json.dumps(run.settings, sort_keys=True),
            counts=json.dumps(run.counts, sort_keys=True),
        )
    )
    key = inserted.inserted_primary_key
    assert key is not None
    run_id = int(key[0])
    rows = [{"run_id": run_id, **r.__dict__} for r in results]
    for start in range(0, len(rows), chunk):
        conn.execute(insert(stratify_results), rows[start : start + chunk])
    return run_id


def runs(engine: Engine, *, period: str | None = None) -> list[RunRecord]:
    """Recorded runs, oldest first."""
    r = stratify_runs.c
    query = select(stratify_runs).order_by(r.run_id)
    if period is not None:
        query = query.where(r.period == period)
    with engine.connect() as conn:
        return [_record(row) for row in conn.execute(query)]


def latest_run(engine: Engine, *, before: int | None = None) -> RunRecord | None:
    """The newest run (before run `before`, if given); `stratify watch` asks on every poll."""
    r = stratify_runs.c
    query = select(stratify_runs).order_by(r.run_id.desc()).limit(1)
    if before is not None:
        query = query.where(r.run_id < before)
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return _record(row) if row is not None else None


def run_by_id(engine: Engine, run_id: int) -> RunRecord | None:
    with engine.connect() as conn:
        row = conn.execute(select(stratify_runs).where(stratify_runs.c.run_id == run_id)).first()
    return _record(row) if row is not None else None


def results_of(engine: Engine, run_id: int, patient_ids: Collection[str] | None = None) -> Iterator[Result]:
    """A run's people by patient id: all of them, or only `patient_ids` (a rescore needs a few, not 73,000)."""
    c = stratify_results.c
    query = select(*(getattr(c, f) for f in Result.__dataclass_fields__)).where(c.run_id == run_id)
    if patient_ids is not None:
        query = query.where(c.patient_id.in_(list(patient_ids)))
    with engine.connect() as conn:
        for row in conn.execute(query.order_by(c.patient_id)):
            yield Result(*row)


def signed_off(engine: Engine, period: str) -> dict[str, tuple[str, str]]:
    """practice -> (signed_by, signed_at) for the practices whose result for `period` a GP has signed off."""
    s = stratify_signoffs.c
    with engine.connect() as conn:
        rows = conn.execute(select(s.practice, s.signed_by, s.signed_at).where(s.period == period))
        return {practice: (by, at) for practice, by, at in rows}


def lock_period(conn: Connection, period: str) -> None:
    """Serialise writers of one period's assessments (a run's batches, a sign-off) until commit. SQLite
    write transactions are serialised already; PostgreSQL takes a transaction-level advisory lock."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": zlib.crc32(f"stratify:{period}".encode())})


def signed_practices(conn: Connection, period: str) -> set[str]:
    s = stratify_signoffs.c
    return set(conn.execute(select(s.practice).where(s.period == period)).scalars())


def record_signoff(conn: Connection, period: str, practice: str, signed_by: str, assessments: int) -> str:
    at = now_text()
    conn.execute(
        insert(stratify_signoffs).values(
            period=period, practice=practice, signed_by=signed_by, signed_at=at, assessments=assessments
        )
    )
    return at


def _record(row: Any) -> RunRecord:
    m = row._mapping
    return RunRecord(
        run_id=int(m["run_id"]),
        period=m["period"],
        as_of=m["as_of"],
        started=m["started"],
        finished=m["finished"],
        model=m["model"],
        model_version=m["model_version"],
        settings=json.loads(m["settings"]),
        counts=json.loads(m["counts"]),
    )
