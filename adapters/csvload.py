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
from pathlib import Path
from typing import IO

from adapters.planstore import BATCH_ROWS, Mapped, RowRejected, apply_plan, describe, store_batch
from adapters.report import IngestReport
from adapters.rows import Feed, RowError
from closer.store.repository import Repository

logger = logging.getLogger(__name__)

ENCODING = "utf-8-sig"  # a byte-order mark, as Excel writes, is not part of the first column's name
# The storing half lives in adapters.planstore (shared with feeds that are not CSV); its names stay importable here.
__all__ = ["BATCH_ROWS", "RowRejected", "apply_plan", "count_rows", "describe", "load_csv"]


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
    batch: list[Mapped] = []
    rows = iter(reader)
    while True:
        if len(batch) >= BATCH_ROWS:
            store_batch(repo, batch, stored_at, report)
            batch = []
        next_line = reader.line_num + 1
        try:
            raw = next(rows)
        except StopIteration:
            store_batch(repo, batch, stored_at, report)
            return
        except OSError as exc:
            store_batch(repo, batch, stored_at, report)
            report.fail(f"{name} line {next_line}", f"cannot read on from here: {exc}")
            return
        except csv.Error as exc:
            report.fail(f"{name} line {next_line}", f"not valid CSV: {exc}")
            if reader.line_num < next_line:  # the reader could not move past it; nothing more can be read
                store_batch(repo, batch, stored_at, report)
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


def _map_row(row: dict[str, str], feed: Feed, location: str, line: int, report: IngestReport) -> Mapped | None:
    try:
        return Mapped(location, line, feed.map_row(row))
    except RowError as exc:
        report.fail(location, str(exc))
    except Exception as exc:
        logger.debug("unexpected error at %s", location, exc_info=True)
        report.fail(location, f"unexpected error, row not stored: {exc.__class__.__name__}: {exc}")
    return None
