"""Store mapped records' plans in batches: the storing half of every row-based feed, whatever the source
format (CSV rows in csvload, people of the social care XML extract, ...).

Plans are written in batches: one transaction per BATCH_ROWS plans (one commit, so a county-sized file
does not pay a disk flush per record), first with a few statements for the whole batch and, when any
record fails, again with a savepoint per record, so one bad record (or one the store rejects) costs only
that record and is reported precisely.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from adapters.report import IngestReport
from adapters.rows import RowPlan
from adapters.writing import ensure, exists, put
from closer.errors import FhirError
from closer.store.repository import Repository, Resource
from closer.store.searching import search_all

logger = logging.getLogger(__name__)

SEARCH_PAGE = 500
BATCH_ROWS = 2000
T = TypeVar("T")


class RowRejected(Exception):
    """The store refused something a row asked for; the message says which resource and why."""


@dataclass(frozen=True)
class Mapped:
    """A record's plan and where it came from (for the report)."""

    location: str
    line: int
    plan: RowPlan


def store_batch(repo: Repository, batch: list[Mapped], stored_at: dict[str, int], report: IngestReport) -> None:
    """Write a batch of mapped rows in one transaction, each row in its own savepoint. If the commit
    itself fails, every row of the batch is reported, since none of them was stored."""
    if not batch:
        return
    results: list[tuple[Mapped, bool | str]] = []
    try:
        with repo.transaction() as tx:
            changed = apply_plans(tx, [mapped.plan for mapped in batch])
        results = list(zip(batch, changed, strict=True))
    except Exception:
        logger.debug("batch fast path failed; storing the rows one by one", exc_info=True)
        results = _store_one_by_one(repo, batch)
    for mapped, outcome in results:
        if isinstance(outcome, str):
            report.fail(mapped.location, outcome)
        else:
            _count(mapped, outcome, stored_at, report)


def _store_one_by_one(repo: Repository, batch: list[Mapped]) -> list[tuple[Mapped, bool | str]]:
    """The slow, precise path: a savepoint per row, so a failing row is reported alone with its reason."""
    results: list[tuple[Mapped, bool | str]] = []
    try:
        with repo.transaction() as tx:
            for mapped in batch:
                results.append((mapped, _store_row(tx, mapped)))
    except Exception as exc:
        logger.debug("batch commit failed", exc_info=True)
        results = [
            (mapped, f"not stored: the batch could not be committed ({exc.__class__.__name__})") for mapped in batch
        ]
    return results


def _store_row(tx: Repository, mapped: Mapped) -> bool | str:
    """Carry out one row's plan in a savepoint: True/False for changed/unchanged, or why it failed."""
    try:
        with tx.savepoint():
            return apply_plan(tx, mapped.plan)
    except RowRejected as exc:
        return f"rejected by the store: {exc}"
    except FhirError as exc:
        return f"rejected by the store: {describe(exc)}"
    except Exception as exc:
        logger.debug("unexpected error at %s", mapped.location, exc_info=True)
        return f"unexpected error, row not stored: {exc.__class__.__name__}: {exc}"


def _count(mapped: Mapped, changed: bool, stored_at: dict[str, int], report: IngestReport) -> None:
    location, line, plan = mapped.location, mapped.line, mapped.plan
    if changed:
        report.accepted += 1
    else:
        report.duplicates += 1
    if plan.key in stored_at:
        report.warn(location, f"{plan.key} is also on line {stored_at[plan.key]}; this later row replaces it")
    stored_at[plan.key] = line
    for warning in plan.warnings:
        report.warn(location, warning)


class _NeedsRowByRow(Exception):
    """The batch holds something only the row-by-row path handles exactly."""


def apply_plans(tx: Repository, plans: list[RowPlan]) -> list[bool]:
    """Carry out a batch of plans with a few statements (one lookup of what they touch, one put_many);
    for each plan, whether it changed anything. Raises on any problem, and the caller then stores the
    batch row by row, which reports each failing row precisely."""
    known = tx.read_many(_touched(plans))
    overlay: dict[tuple[str, str], Resource] = {}
    writes: list[tuple[int, Resource]] = []

    written_by: dict[tuple[str, str], int] = {}  # which plan last wrote each resource

    def write(index: int, resource: Resource) -> None:
        key = (resource["resourceType"], str(resource["id"]))
        overlay[key] = resource
        written_by[key] = index
        writes.append((index, resource))

    earlier_keys: set[str] = set()
    for index, plan in enumerate(plans):
        for stub in plan.stubs:
            key = (stub["resourceType"], str(stub["id"]))
            if key not in known and key not in overlay:
                write(index, stub)
        for resource in plan.resources:
            write(index, resource)
        for amendment in plan.amendments:
            key = (amendment.resource_type, amendment.resource_id)
            current = overlay.get(key) or _live(known, key)
            wanted = amendment.change(current)
            if wanted != current:
                write(index, wanted)
        for supersession in plan.supersessions:
            if supersession.anchor is not None and supersession.anchor not in known:
                continue  # a new record: nothing of it existed to supersede
            # The search sees the store as it was before this batch. That is only wrong if an earlier row of
            # this batch wrote the anchor, or was the same source record.
            anchor_writer = written_by.get(supersession.anchor, index) if supersession.anchor else index
            if anchor_writer != index or plan.key in earlier_keys:
                raise _NeedsRowByRow("a supersession needs what this batch has written")
            for resource in list(search_all(tx, supersession.resource_type, list(supersession.search), SEARCH_PAGE)):
                if resource["id"] not in supersession.keep:
                    wanted = supersession.change(resource)
                    if wanted != resource:
                        write(index, wanted)
        earlier_keys.add(plan.key)
    changed = [False] * len(plans)
    for (index, _), result in zip(writes, tx.put_many([r for _, r in writes]), strict=True):
        changed[index] |= result.action != "noop"
    return changed


def _touched(plans: list[RowPlan]) -> set[tuple[str, str]]:
    keys = {(s["resourceType"], str(s["id"])) for p in plans for s in p.stubs}
    keys |= {(a.resource_type, a.resource_id) for p in plans for a in p.amendments}
    keys |= {s.anchor for p in plans for s in p.supersessions if s.anchor is not None}
    return keys


def _live(known: dict[tuple[str, str], tuple[Resource, bool]], key: tuple[str, str]) -> Resource:
    found = known.get(key)
    if found is None or found[1]:
        raise _NeedsRowByRow(f"{key[0]}/{key[1]} is not in the store")
    return found[0]


def apply_plan(tx: Repository, plan: RowPlan) -> bool:
    """Carry out a row's plan inside the caller's transaction; True if anything in the store changed."""
    changed = False
    for stub in plan.stubs:
        changed |= _guarded(stub, lambda resource: ensure(tx, resource)) is not None
    for resource in plan.resources:
        changed |= _write(tx, resource)
    for amendment in plan.amendments:
        current = tx.read(amendment.resource_type, amendment.resource_id)
        wanted = amendment.change(current)
        if wanted != current:
            changed |= _write(tx, wanted)
    for supersession in plan.supersessions:
        if supersession.anchor is not None and not exists(tx, *supersession.anchor):
            continue
        for resource in list(search_all(tx, supersession.resource_type, list(supersession.search), SEARCH_PAGE)):
            if resource["id"] in supersession.keep:
                continue
            wanted = supersession.change(resource)
            if wanted != resource:
                changed |= _write(tx, wanted)
    return changed


def _write(tx: Repository, resource: Resource) -> bool:
    result = _guarded(resource, lambda item: put(tx, item))
    return result is not None and result.action != "noop"


def _guarded(resource: Resource, write: Callable[[Resource], T]) -> T:
    """Run a write, naming the resource in the error if the store refuses it."""
    try:
        return write(resource)
    except FhirError as exc:
        raise RowRejected(f"{resource['resourceType']}/{resource['id']}: {describe(exc)}") from exc


def describe(exc: FhirError) -> str:
    """An OperationOutcome's issues as one line: each diagnostic with the element it names."""
    parts = []
    for issue in exc.all_issues():
        where = f" ({', '.join(issue.expression)})" if issue.expression else ""
        parts.append(f"{issue.diagnostics}{where}")
    return "; ".join(parts)
