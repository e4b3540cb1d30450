"""`closer casemgmt watch`: follow the store's outbox and keep case management in step with the feeds.

Like `stratify watch`, it reads every write's event in commit order from a cursor it keeps in the
database (table casemgmt_cursor), so a restart neither misses nor repeats work. For each batch:

- a Patient that is now deceased (from any feed: HL7 A03 discharged dead, the GP's date of death, APC
  discharge method 4) and has an active episode is discharged with reason death (service.discharge_on_death:
  the GP is told, open Tasks cancelled, Flags inactive from the date of death, CarePlans completed);
- a new triage Task whose focus is a referral settles it (include -> completed, exclude -> revoked).

Once a day (on the first poll of each day) it raises the review Tasks that have fallen due.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.engine import Engine

from casemgmt import service
from casemgmt.death import is_deceased
from casemgmt.settings import CaseManagementSettings
from closer.errors import FhirError
from closer.store.cursor import OutboxCursor, cursor_table
from closer.store.repository import OutboxEvent
from closer.store.sql import SqlRepository
from stratify.operations import today_in_england

log = logging.getLogger("closer.casemgmt.watch")
CURSOR = "casemgmt"

casemgmt_cursor = cursor_table("casemgmt_cursor")
_cursor = OutboxCursor(casemgmt_cursor, CURSOR)


@dataclass
class Polled:
    """What one poll did."""

    discharged: list[str] = field(default_factory=list)  # EpisodeOfCare ids ended by death
    settled: list[str] = field(default_factory=list)  # ServiceRequest ids
    reviews: list[str] = field(default_factory=list)  # open review Task ids, when reviews were raised


def read_cursor(engine: Engine) -> int:
    return _cursor.read(engine)


def handle(repo: SqlRepository, settings: CaseManagementSettings, events: list[OutboxEvent], done: Polled) -> None:
    """React to one batch of events."""
    keys = {
        (e.resource_type, e.resource_id)
        for e in events
        if e.resource_type in ("Patient", "Task") and e.action != "delete"
    }
    if not keys:
        return
    with repo.transaction() as tx:
        found = tx.read_many(keys)
    for (kind, ident), (resource, gone) in sorted(found.items()):
        if gone:
            continue
        try:
            _react(repo, settings, kind, ident, resource, done)
        except FhirError as exc:  # one person's bad data must not stop the watcher for everyone
            log.error("cannot process", extra={"resource": f"{kind}/{ident}", "error": exc.diagnostics})


def _react(
    repo: SqlRepository, settings: CaseManagementSettings, kind: str, ident: str, resource: dict[str, Any], done: Polled
) -> None:
    if kind == "Patient" and is_deceased(resource):
        episode = service.discharge_on_death(repo, settings, ident)
        if episode is not None:
            done.discharged.append(str(episode["id"]))
            log.info("discharged on death", extra={"patient": ident, "episode": episode["id"]})
    elif kind == "Task":
        settled = service.settle_referral(repo, resource)
        if settled is not None:
            done.settled.append(str(settled["id"]))


def poll_once(
    repo: SqlRepository, settings: CaseManagementSettings, today: date | None = None, batch: int = 500
) -> Polled:
    """Process every outbox event after the cursor; raise due reviews when `today` is given."""
    done = Polled()
    cursor = read_cursor(repo.engine)
    while True:
        events = list(repo.events(cursor, limit=batch))
        if not events:
            break
        handle(repo, settings, events, done)
        cursor = events[-1].seq
        _cursor.save(repo, cursor)
    if today is not None:
        done.reviews = [str(t["id"]) for t in service.due_reviews(repo, settings, today)]
    return done


def watch(repo: SqlRepository, settings: CaseManagementSettings, interval: float, once: bool = False) -> None:
    """Poll the outbox until stopped (Ctrl-C / SIGTERM); due reviews on the first poll of each day."""
    reviewed: date | None = None
    while True:
        today = today_in_england(datetime.now(UTC))
        done = poll_once(repo, settings, today if today != reviewed else None)
        reviewed = today
        if done.discharged or done.settled or done.reviews:
            log.info(
                "polled",
                extra={"discharged": len(done.discharged), "settled": len(done.settled), "reviews": len(done.reviews)},
            )
        if once:
            return
        time.sleep(interval)
