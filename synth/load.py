"""Loading a county directory (the layout `closer synth` writes) with every feed adapter, in the order
a real ICB would run them: GP extracts first (they make the Patients), then social care (matched to
those Patients), then hospital extracts and the HL7 ADT stream."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from adapters.csvload import load_csv
from adapters.gp.extract import load_extract as load_gp_extract
from adapters.hl7v2.cli import ingest_files
from adapters.hl7v2.processor import Hl7Processor
from adapters.hospital import apc, ecds
from adapters.report import IngestReport
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
    repo: SqlRepository, directory: Path, on_feed: Callable[[FeedRun], None] | None = None
) -> list[FeedRun]:
    """Load every feed found under `directory`; `on_feed` hears about each as it finishes."""
    steps: list[tuple[str, Callable[[], IngestReport]]] = []
    gp = sorted(p for p in (directory / "gp").glob("*") if p.is_dir())
    if gp:
        steps.append(("gp-csv", lambda: _combined("GP extracts", [load_gp_extract(repo, p) for p in gp])))
    if (directory / "social_care" / "extract.xml").is_file():
        steps.append(("social-care", lambda: load_social_care(repo, directory / "social_care" / "extract.xml")))
    for name, feed in (("apc", apc.FEED), ("ecds", ecds.FEED)):
        path = directory / "hospital" / f"{name}.csv"
        if path.is_file():
            steps.append((name, lambda path=path, feed=feed: load_csv(repo, path, feed)))  # type: ignore[misc]
    if (directory / "hl7").is_dir():
        steps.append(("hl7", lambda: ingest_files(Hl7Processor(repo), [directory / "hl7"])))
    runs = []
    for name, step in steps:
        began = time.perf_counter()
        report = step()
        run = FeedRun(name, report, time.perf_counter() - began, _peak_rss_mb())
        runs.append(run)
        if on_feed is not None:
            on_feed(run)
    return runs


def _combined(source: str, reports: list[IngestReport]) -> IngestReport:
    combined = IngestReport(source)
    for report in reports:
        combined.merge(report)
    return combined


def _peak_rss_mb() -> float:
    """The process's peak resident memory so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
