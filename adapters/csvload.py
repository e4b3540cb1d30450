"""Read a CSV extract and store it row by row: the one loader behind every CSV feed (APC, ECDS, GP).

Each row is checked by its feed's pure mapping, then rows are written in batches: one transaction per
BATCH_ROWS rows (one commit, so a county-sized file does not pay a disk flush per row) with a savepoint
per row, so one bad row (or one the store rejects) costs only that row. Nothing that goes wrong with a
row stops the file: it becomes an issue in the report, located by file and line, saying which column
held what.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

from adapters.report import IngestReport
from adapters.rows import Feed, RowError, RowPlan
from adapters.writing import ensure, exists, put
from closer.errors import FhirError
from closer.store.query import parse_search
from closer.store.repository import Repository, Resource

logger = logging.getLogger(__name__)

ENCODING = "utf-8-sig"  # a byte-order mark, as Excel writes, is not part of the first column's name
SEARCH_PAGE = 500
BATCH_ROWS = 500
T = TypeVar("T")


class RowRejected(Exception):
    """The store refused something a row asked for; the message says which resource and why."""


class _Lines:
    """The file's lines, decoded one at a time, so a byte that is not UTF-8 costs only the row it is in
    (a text-mode file decodes in blocks and would lose everything from the block on). A line that does not
    decode is passed on with replacement characters and remembered, and its row is refused."""

    def __init__(self, binary: IO[bytes]) -> None:
        self.binary = binary
        self.undecodable: dict[int, str] = {}  # line number -> why

    def __iter__(self) -> Iterator[str]:
        for number, raw in enumerate(self.binary, start=1):
            encoding = ENCODING if number == 1 else "utf-8"
            try:
                yield raw.decode(encoding)
            except UnicodeDecodeError as exc:
                self.undecodable[number] = f"{exc.reason} at byte {exc.start + 1} of the line"
                yield raw.decode(encoding, errors="replace")

    def problem(self, first: int, last: int) -> str | None:
        for number in range(first, last + 1):
            if number in self.undecodable:
                return f"line {number} is not UTF-8 text ({self.undecodable[number]})"
        return None


def count_rows(path: Path) -> int:
    """Rows in the file (without the header), for a progress bar; 0 when it cannot be read."""
    try:
        with path.open("rb") as binary:
            return max(sum(1 for _ in csv.reader(_Lines(binary))) - 1, 0)
    except (OSError, csv.Error):
        return 0


def load_csv(
    repo: Repository,
    path: Path,
    feed: Feed,
    *,
    progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Store every row of `path` that maps and validates; report every one that does not."""
    name = path.name
    report = IngestReport(f"{feed.name} {name}")
    try:
        binary = path.open("rb")
    except OSError as exc:
        report.fail(name, f"cannot read the file: {exc.strerror or exc}")
        return report
    with binary:
        lines = _Lines(binary)
        reader = csv.DictReader(lines)
        try:
            header = reader.fieldnames
        except (OSError, csv.Error) as exc:
            report.fail(f"{name} line 1", f"cannot read the header row: {exc}")
            return report
        if not header:
            report.fail(f"{name} line 1", f"the file is empty; expected a header row: {', '.join(feed.columns)}")
            return report
        problem = lines.problem(1, reader.line_num)
        if problem:
            report.fail(f"{name} line 1", f"cannot read the header row: {problem}")
            return report
        reader.fieldnames = [column.strip() for column in header]
        if not _header_ok(reader.fieldnames, feed, f"{name} line 1", report):
            return report
        _load_rows(repo, reader, lines, feed, name, report, progress)
    return report


def _header_ok(header: list[str], feed: Feed, location: str, report: IngestReport) -> bool:
    """Missing or repeated columns make the whole file unreadable; extra columns are ignored, with a warning."""
    missing = [column for column in feed.columns if column not in header]
    repeated = sorted({column for column in header if header.count(column) > 1})
    if missing or repeated:
        problems = []
        if missing:
            problems.append(f"missing columns: {', '.join(missing)}")
        if repeated:
            problems.append(f"repeated columns: {', '.join(repeated)}")
        expected = ", ".join(feed.columns)
        report.fail(
            location, f"the header does not match the {feed.name} layout: {'; '.join(problems)} (expected: {expected})"
        )
        return False
    extra = [column or "(blank)" for column in header if column not in feed.columns]
    if extra:
        report.warn(location, f"ignored columns that are not part of the {feed.name} layout: {', '.join(extra)}")
    return True


def _load_rows(
    repo: Repository,
    reader: csv.DictReader[str],
    lines: _Lines,
    feed: Feed,
    name: str,
    report: IngestReport,
    progress: Callable[[int], None] | None,
) -> None:
    width = len(reader.fieldnames or ())
    stored_at: dict[str, int] = {}  # plan key -> line it was stored from, to spot a record sent twice
    batch: list[_Mapped] = []
    rows = iter(reader)
    while True:
        if len(batch) >= BATCH_ROWS:
            _store_batch(repo, batch, stored_at, report)
            batch = []
        next_line = reader.line_num + 1
        try:
            raw = next(rows)
        except StopIteration:
            _store_batch(repo, batch, stored_at, report)
            return
        except OSError as exc:
            _store_batch(repo, batch, stored_at, report)
            report.fail(f"{name} line {next_line}", f"cannot read on from here: {exc}")
            return
        except csv.Error as exc:
            report.fail(f"{name} line {next_line}", f"not valid CSV: {exc}")
            if reader.line_num < next_line:  # the reader could not move past it; nothing more can be read
                _store_batch(repo, batch, stored_at, report)
                return
            continue
        if progress is not None:
            progress(1)
        # A quoted value may span lines; report the line the row starts on.
        line = reader.line_num - sum(text.count("\n") for text in raw.values() if isinstance(text, str))
        location = f"{name} line {line}"
        problem = lines.problem(line, reader.line_num)
        if problem:
            report.fail(location, f"{problem}; row not stored")
            continue
        if None in raw:
            report.fail(location, f"has {width + len(raw[None])} fields but the header has {width}")
            continue
        if any(text is None for text in raw.values()):
            present = sum(text is not None for text in raw.values())
            report.fail(location, f"has {present} fields but the header has {width}")
            continue
        row = {column: text.strip() for column, text in raw.items()}
        if not any(row.values()):
            report.warn(location, "empty row skipped")
            continue
        mapped = _map_row(row, feed, location, line, report)
        if mapped is not None:
            batch.append(mapped)


@dataclass(frozen=True)
class _Mapped:
    location: str
    line: int
    plan: RowPlan


def _map_row(row: dict[str, str], feed: Feed, location: str, line: int, report: IngestReport) -> _Mapped | None:
    try:
        return _Mapped(location, line, feed.map_row(row))
    except RowError as exc:
        report.fail(location, str(exc))
    except Exception as exc:
        logger.debug("unexpected error at %s", location, exc_info=True)
        report.fail(location, f"unexpected error, row not stored: {exc.__class__.__name__}: {exc}")
    return None


def _store_batch(repo: Repository, batch: list[_Mapped], stored_at: dict[str, int], report: IngestReport) -> None:
    """Write a batch of mapped rows in one transaction, each row in its own savepoint. If the commit
    itself fails, every row of the batch is reported, since none of them was stored."""
    if not batch:
        return
    results: list[tuple[_Mapped, bool | str]] = []
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


def _store_one_by_one(repo: Repository, batch: list[_Mapped]) -> list[tuple[_Mapped, bool | str]]:
    """The slow, precise path: a savepoint per row, so a failing row is reported alone with its reason."""
    results: list[tuple[_Mapped, bool | str]] = []
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


def _store_row(tx: Repository, mapped: _Mapped) -> bool | str:
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


def _count(mapped: _Mapped, changed: bool, stored_at: dict[str, int], report: IngestReport) -> None:
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

    def write(index: int, resource: Resource) -> None:
        overlay[(resource["resourceType"], str(resource["id"]))] = resource
        writes.append((index, resource))

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
            if supersession.anchor is None or supersession.anchor in overlay:
                raise _NeedsRowByRow("a supersession needs what this batch has written")
            for resource in _search_all(tx, supersession.resource_type, supersession.search):
                if resource["id"] not in supersession.keep:
                    wanted = supersession.change(resource)
                    if wanted != resource:
                        write(index, wanted)
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
        for resource in _search_all(tx, supersession.resource_type, supersession.search):
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


def _search_all(tx: Repository, resource_type: str, params: tuple[tuple[str, str], ...]) -> list[Resource]:
    """Every match, all pages read before the caller changes any of them."""
    found: list[Resource] = []
    while True:
        query = parse_search(resource_type, params, strict=True, default_count=SEARCH_PAGE)
        query.offset = len(found)
        query.total = "none"
        result = tx.search(query)
        found.extend(result.matches)
        if not result.has_more or not result.matches:
            return found


def describe(exc: FhirError) -> str:
    """An OperationOutcome's issues as one line: each diagnostic with the element it names."""
    parts = []
    for issue in exc.all_issues():
        where = f" ({', '.join(issue.expression)})" if issue.expression else ""
        parts.append(f"{issue.diagnostics}{where}")
    return "; ".join(parts)
