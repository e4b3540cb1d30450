"""Loading a county directory (the layout `closer synth` writes) with every feed adapter, in the order
a real ICB would run them: GP extracts first (they make the Patients), then social care (matched to
those Patients), then hospital extracts and the HL7 ADT stream."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from adapters.csvload import count_rows, load_csv
from adapters.gp.extract import load_extract as load_gp_extract
from adapters.hl7v2.cli import ingest_messages, read_messages
from adapters.hl7v2.processor import Hl7Processor
from adapters.hospital import apc, ecds
from adapters.report import IngestReport, Progress
from adapters.social_care.loader import load_extract as load_social_care
from closer.store.sql import SqlRepository


@dataclass(frozen=True)
class FeedRun:
    feed: str
    report: IngestReport
    seconds: float
    peak_rss_mb: float

    @property
    def records(self) -> int:
        return self.report.accepted + self.report.duplicates + self.report.failed

    @property
    def per_second(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


def load_county(
    repo: SqlRepository,
    directory: Path,
    on_feed: Callable[[FeedRun], None] | None = None,
    progress: Progress | None = None,
) -> list[FeedRun]:
    """Load every feed found under `directory`; `on_feed` hears about each as it finishes, and
    `progress` (label, length) gives a progress bar per file."""
    bar = progress or _no_progress
    steps: list[tuple[str, Callable[[], IngestReport]]] = []
    gp = sorted(p for p in (directory / "gp").glob("*") if p.is_dir())
    if gp:
        steps.append(
            ("gp-csv", lambda: _combined("GP extracts", [load_gp_extract(repo, p, progress=progress) for p in gp]))
        )
    social_care = directory / "social_care" / "extract.xml"
    if social_care.is_file():
        load_people = partial(load_social_care, repo, social_care)
        steps.append(("social-care", partial(_with_bar, bar, "social care extract.xml", 0, load_people)))
    for name, feed in (("apc", apc.FEED), ("ecds", ecds.FEED)):
        path = directory / "hospital" / f"{name}.csv"
        if path.is_file():
            load = partial(load_csv, repo, path, feed)
            steps.append((name, partial(_with_bar, bar, f"{feed.name} {path.name}", count_rows(path), load)))
    if (directory / "hl7").is_dir():
        work = read_messages([directory / "hl7"])
        load = partial(ingest_messages, Hl7Processor(repo), work, str(directory / "hl7"))
        steps.append(("hl7", partial(_with_bar, bar, "HL7 v2 ADT", len(work), load)))
    runs = []
    for name, step in steps:
        began = time.perf_counter()
        report = step()
        run = FeedRun(name, report, time.perf_counter() - began, _peak_rss_mb())
        runs.append(run)
        if on_feed is not None:
            on_feed(run)
    return runs


def _with_bar(bar: Progress, label: str, length: int, load: Callable[..., IngestReport]) -> IngestReport:
    with bar(label, length) as update:
        return load(progress=update)


@contextmanager
def _no_progress(label: str, length: int) -> Iterator[Callable[[int], None]]:
    yield lambda n: None


def _combined(source: str, reports: list[IngestReport]) -> IngestReport:
    combined = IngestReport(source)
    for report in reports:
        combined.merge(report)
    return combined


def _peak_rss_mb() -> float:
    """The process's peak resident memory so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
