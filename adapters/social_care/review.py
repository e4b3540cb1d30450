"""The matching review list: people from the social care feed who could not be linked to a Patient safely.

Each row keeps the person's details, the reason and the person's whole record (as a <person> fragment),
so `closer matching resolve` can load the records once someone has said which Patient it is. One row per
(authority, LA person id): a person held again updates it. A person who later matches (an NHS number
arrives, or the review is resolved) closes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
    update,
)

from adapters.social_care.model import Person
from closer.store.schema import metadata

OPEN = "open"  # waiting for someone to decide
RESOLVED = "resolved"  # linked by hand (closer matching resolve)
MATCHED = "matched"  # matched by the rule when a later extract gave more (e.g. an NHS number)

social_care_review = Table(
    "social_care_review",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("la_code", String(20), nullable=False),
    Column("la_person_id", String(64), nullable=False),
    Column("la_name", String(200), nullable=False, default=""),
    Column("nhs_number", String(10), nullable=True),
    Column("family_name", String(100), nullable=False),
    Column("given_name", String(100), nullable=False, default=""),
    Column("birth_date", String(10), nullable=False),
    Column("postcode", String(10), nullable=False, default=""),
    Column("reason", Text, nullable=False),
    Column("candidates", Text, nullable=False, default=""),  # Patient ids that came close, comma-separated
    Column("status", String(16), nullable=False),
    Column("patient_id", String(64), nullable=True),  # once resolved or matched
    Column("source", String(400), nullable=False, default=""),  # the file it last came from
    Column("extract_date", String(10), nullable=False),
    Column("record", Text, nullable=False),  # the person's <person> element, to load on resolution
    Column("first_seen", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=False),
    UniqueConstraint("la_code", "la_person_id", name="uq_social_care_review_person"),
    Index("ix_social_care_review_status", "status", "id"),
)


def create_table(engine: Engine) -> None:
    social_care_review.create(engine, checkfirst=True)


@dataclass(frozen=True)
class ReviewItem:
    id: int
    la_code: str
    la_person_id: str
    la_name: str
    nhs_number: str | None
    family_name: str
    given_name: str
    birth_date: str
    postcode: str
    reason: str
    candidates: str
    status: str
    patient_id: str | None
    source: str
    extract_date: str
    record: str
    first_seen: int
    last_seen: int

    @property
    def last_seen_at(self) -> str:
        return datetime.fromtimestamp(self.last_seen / 1_000_000, UTC).isoformat(timespec="seconds")


_COLUMNS = [social_care_review.c[name] for name in ReviewItem.__dataclass_fields__]


@dataclass(frozen=True)
class Hold:
    """A person to put on (or keep on) the list."""

    la_code: str
    la_name: str
    person: Person
    nhs_number: str
    reason: str
    candidates: tuple[str, ...]
    source: str
    extract_date: str
    record: str


def hold(conn: Connection, item: Hold) -> None:
    """Add the person to the list, or bring their row up to date (and open again) if already there."""
    now = _now_us()
    person = item.person
    values = {
        "la_name": item.la_name,
        "nhs_number": item.nhs_number or None,
        "family_name": person.family_name,
        "given_name": person.given_name,
        "birth_date": person.birth_date.isoformat(),
        "postcode": person.postcode,
        "reason": item.reason,
        "candidates": ",".join(item.candidates),
        "status": OPEN,
        "patient_id": None,
        "source": item.source,
        "extract_date": item.extract_date,
        "record": item.record,
        "last_seen": now,
    }
    key = (social_care_review.c.la_code == item.la_code, social_care_review.c.la_person_id == person.la_person_id)
    existing = conn.execute(select(social_care_review.c.id).where(*key)).first()
    if existing is None:
        conn.execute(
            insert(social_care_review).values(
                la_code=item.la_code, la_person_id=person.la_person_id, first_seen=now, **values
            )
        )
    else:
        conn.execute(update(social_care_review).where(social_care_review.c.id == existing[0]).values(**values))


def close(conn: Connection, la_code: str, la_person_id: str, patient_id: str, status: str) -> bool:
    """Take an open row off the list, naming the Patient it was linked to; False when none was open."""
    result = conn.execute(
        update(social_care_review)
        .where(
            social_care_review.c.la_code == la_code,
            social_care_review.c.la_person_id == la_person_id,
            social_care_review.c.status == OPEN,
        )
        .values(status=status, patient_id=patient_id, last_seen=_now_us())
    )
    return bool(result.rowcount)


def get(conn: Connection, item_id: int) -> ReviewItem | None:
    row = conn.execute(select(*_COLUMNS).where(social_care_review.c.id == item_id)).first()
    return ReviewItem(*row) if row else None


def listing(conn: Connection, *, include_closed: bool = False, limit: int = 100) -> list[ReviewItem]:
    """Open rows (or all), oldest first, so the longest-waiting person is seen first."""
    query = select(*_COLUMNS).order_by(social_care_review.c.id).limit(limit)
    if not include_closed:
        query = query.where(social_care_review.c.status == OPEN)
    return [ReviewItem(*row) for row in conn.execute(query)]


def _now_us() -> int:
    return int(datetime.now(UTC).timestamp() * 1_000_000)
