"""`closer ingest gp-csv DIR`: a GP practice extract, four CSV files, loaded in order and then reconciled.

patients.csv goes first: it writes the Patients and practices, and says which practice each patient is
registered with (the other files carry no practice column). events.csv, medications.csv and allergies.csv
follow, each through the shared CSV loader (a transaction per 500 rows; a failing row costs only itself).
Each file gets its own section in the report; a missing file is an issue of its own section.

After each of the three, the records of its kind that an earlier extract of the practice made for a patient
in patients.csv, and that this extract no longer carries, are retracted as retract.py describes. Only where
the file is known to be complete: a row that failed for a known patient holds back that patient's
retractions, and a problem that cannot be tied to a patient (a missing or unreadable file, a malformed line,
a store rejection) holds back the whole file's, since the record it hides would otherwise look deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from adapters.csvload import count_rows, load_csv
from adapters.gp import allergies, events, medications, patients
from adapters.gp.retract import MARKED_AS, retracted, source_key
from adapters.gp.storing import store_plans
from adapters.localtime import LONDON
from adapters.report import IngestReport, Progress
from adapters.rows import JSON, Feed, Row, RowError, RowPlan, Supersede, nhs_number, ods_code
from closer.store.repository import Repository

PATIENTS, EVENTS, MEDICATIONS, ALLERGIES = "patients.csv", "events.csv", "medications.csv", "allergies.csv"
FILES = (PATIENTS, EVENTS, MEDICATIONS, ALLERGIES)
RETRACT_CHUNK = 100  # patients per retraction search
HELD_LISTED = 10  # patients named in a "not retracted" warning

# A label and a row count in, a function to advance the bar by n rows out (click.progressbar on a terminal).


@dataclass
class ExtractReport(IngestReport):
    """The whole extract's report: a section per file, and the totals over all of them."""

    sections: list[IngestReport] = field(default_factory=list)

    def add(self, section: IngestReport) -> None:
        self.sections.append(section)
        self.merge(section)

    def as_dict(self) -> dict[str, Any]:
        """The totals, with each file's issues under its own section rather than in one list."""
        totals = {key: value for key, value in super().as_dict().items() if key != "issues"}
        return {**totals, "sections": [section.as_dict() for section in self.sections]}

    def summary(self, max_issues: int = 50) -> str:
        lines = [section.summary(max_issues) for section in self.sections]
        lines.append(
            f"{self.source} total: {self.accepted} accepted, {self.duplicates} duplicates, {self.failed} failed"
        )
        return "\n".join(lines)


def load_extract(
    repo: Repository, directory: Path, *, today: date | None = None, progress: Progress | None = None
) -> ExtractReport:
    """Load the four files of `directory` and retract what the practice no longer sends."""
    report = ExtractReport(f"GP extract {directory.name}")
    roster: dict[str, str] = {}
    first = _load(repo, directory / PATIENTS, _rostering(roster), progress)
    report.add(first)
    today = today or datetime.now(LONDON).date()
    for name, feed, kinds in (
        (EVENTS, events.feed(roster), ("Condition", "Observation")),
        (MEDICATIONS, medications.feed(roster, today), ("MedicationStatement",)),
        (ALLERGIES, allergies.feed(roster), ("AllergyIntolerance",)),
    ):
        if not roster and not first.ok:
            section = IngestReport(f"{feed.name} {name}")
            section.fail(
                name,
                f"not loaded: no patient could be read from {PATIENTS}, and every record is filed under its "
                "patient's practice",
            )
        else:
            tracked = _Tracked(feed)
            section = _load(repo, directory / name, tracked.feed(), progress)
            _retract(repo, name, kinds, tracked, roster, section)
        report.add(section)
    return report


def _load(repo: Repository, path: Path, feed: Feed, progress: Progress | None) -> IngestReport:
    if not path.is_file():
        section = IngestReport(f"{feed.name} {path.name}")
        section.fail(path.name, f"the file is missing from the extract (expected {', '.join(FILES)})")
        return section
    if progress is None:
        return load_csv(repo, path, feed)
    with progress(f"{feed.name} {path.name}", count_rows(path)) as advance:
        return load_csv(repo, path, feed, progress=advance)


def _rostering(roster: dict[str, str]) -> Feed:
    """The patients feed, noting each patient's practice on the way (even when another column of the
    row is wrong: the patient is still in the extract, and their events still belong to the practice)."""

    def map_row(row: Row) -> RowPlan:
        with suppress(RowError):
            roster[nhs_number(row)] = ods_code(row, "practice_ods")
        return patients.map_row(row)

    return Feed(patients.FEED.name, patients.COLUMNS, map_row)


@dataclass
class _Tracked:
    """What a file's rows mapped to, per patient, and which patients had a row fail."""

    inner: Feed
    kept: dict[str, set[str]] = field(default_factory=dict)  # NHS number -> ids of the resources mapped
    unsettled: set[str] = field(default_factory=set)
    attributed: int = 0  # failed rows whose patient is known

    def feed(self) -> Feed:
        return Feed(self.inner.name, self.inner.columns, self._map_row)

    def _map_row(self, row: Row) -> RowPlan:
        try:
            plan = self.inner.map_row(row)
        except Exception:
            with suppress(RowError):
                self.unsettled.add(nhs_number(row))
                self.attributed += 1
            raise
        self.kept.setdefault(nhs_number(row), set()).update(str(r["id"]) for r in plan.resources)
        return plan


def _retract(
    repo: Repository,
    name: str,
    kinds: tuple[str, ...],
    tracked: _Tracked,
    roster: dict[str, str],
    section: IngestReport,
) -> None:
    if not roster:
        return
    untied = section.failed - tracked.attributed
    if untied:
        section.warn(
            name,
            f"records no longer in {name} were not retracted: {untied} problem(s) above cannot be tied to a "
            "patient, so the file may be incomplete; correct them and send the extract again",
        )
        return
    held = sorted(tracked.unsettled & roster.keys())
    if held:
        listed = ", ".join(held[:HELD_LISTED]) + (" ..." if len(held) > HELD_LISTED else "")
        section.warn(
            name,
            f"records no longer in {name} were not retracted for {len(held)} patient(s) with a failed row: {listed}",
        )
    by_practice: dict[str, list[str]] = {}
    for nhs, practice in sorted(roster.items()):
        if nhs not in tracked.unsettled:
            by_practice.setdefault(practice, []).append(nhs)
    work: list[tuple[str, RowPlan]] = []
    for practice, members in by_practice.items():
        for start in range(0, len(members), RETRACT_CHUNK):
            chunk = members[start : start + RETRACT_CHUNK]
            keep = frozenset(i for nhs in chunk for i in tracked.kept.get(nhs, ()))
            # By patient alone: selective and indexed. (A system-only identifier criterion would read every
            # identifier row in the store per search.) `retracted` leaves what this extract did not make.
            search = (("patient", ",".join(f"Patient/{n}" for n in chunk)),)
            for kind in kinds:
                noted: list[str] = []
                plan = RowPlan(
                    key=f"{kind} of {practice} patients {chunk[0]} to {chunk[-1]}",
                    supersessions=[Supersede(kind, search, keep, _noting(practice, noted))],
                    warnings=noted,
                )
                work.append((name, plan))
    # Stored as rows are, but counted apart: a retraction is not a row of the file. Its warnings (one per
    # resource marked) are written while the plan runs, so only a plan that was stored reports them.
    retractions = IngestReport(section.source)
    store_plans(repo, work, retractions)
    section.failed += retractions.failed
    section.issues.extend(retractions.issues)


def _noting(practice: str, noted: list[str]) -> Callable[[JSON], JSON]:
    """The retraction, noting (once) each resource it actually changes."""

    def change(resource: JSON) -> JSON:
        wanted = retracted(resource, practice)
        kind = resource["resourceType"]
        note = (
            f"{kind}/{resource['id']} ({source_key(resource, practice)}) is no longer in the extract: "
            f"marked {MARKED_AS[kind]}"
        )
        if wanted != resource and note not in noted:
            noted.append(note)
        return wanted

    return change
