"""`closer ingest apc FILE` and `closer ingest ecds FILE` (registered in the closer.adapters entry points)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from adapters.csvload import count_rows, load_csv
from adapters.feedcli import database_option, finish, open_store, report_option
from adapters.hospital import apc, ecds
from adapters.report import IngestReport
from adapters.rows import Feed
from closer.store.repository import Repository

_FILE = click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))


@click.command("apc")
@_FILE
@report_option
@database_option
def ingest_apc(file: Path, report_path: Path | None, database_url: str | None) -> None:
    """Load an admitted patient care (SUS APC-style) CSV extract: one row per hospital spell."""
    _ingest(apc.FEED, file, report_path, database_url)


@click.command("ecds")
@_FILE
@report_option
@database_option
def ingest_ecds(file: Path, report_path: Path | None, database_url: str | None) -> None:
    """Load an A&E attendance (ECDS-style) CSV extract: one row per attendance."""
    _ingest(ecds.FEED, file, report_path, database_url)


def _ingest(feed: Feed, file: Path, report_path: Path | None, database_url: str | None) -> None:
    repo = open_store(database_url)
    try:
        report = _load(repo, file, feed)
    finally:
        repo.engine.dispose()
    finish(report, report_path)


def _load(repo: Repository, file: Path, feed: Feed) -> IngestReport:
    """Load with a progress bar on a terminal (on stderr, so the summary on stdout stays clean)."""
    if not sys.stderr.isatty():
        return load_csv(repo, file, feed)
    with click.progressbar(length=count_rows(file), label=f"{feed.name} {file.name}", file=sys.stderr) as bar:
        return load_csv(repo, file, feed, progress=bar.update)
