"""`closer ingest gp-csv DIR` and `closer ingest gp-connect FILE.json` (registered in the closer.adapters
entry points). IO and progress only: the mappings live in the modules named for what they map."""

from __future__ import annotations

from pathlib import Path

import click

from adapters.feedcli import database_option, finish, open_store, report_option, terminal_progress
from adapters.gp.extract import load_extract
from adapters.gp.record import load_record


@click.command("gp-csv")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@report_option
@database_option
def ingest_gp_csv(directory: Path, report_path: Path | None, database_url: str | None) -> None:
    """Load a GP practice extract: patients.csv, events.csv, medications.csv and allergies.csv in DIRECTORY.

    Records an earlier extract of the practice made and this one no longer carries are retracted
    (see adapters/gp/FEEDS.md)."""
    repo = open_store(database_url)
    try:
        report = load_extract(repo, directory, progress=terminal_progress())
    finally:
        repo.engine.dispose()
    finish(report, report_path)


@click.command("gp-connect")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@report_option
@database_option
def ingest_gp_connect(file: Path, report_path: Path | None, database_url: str | None) -> None:
    """Load a GP Connect Access Record Structured response (a FHIR STU3 Bundle, JSON), translated to R4.

    What cannot be translated is listed in the report, by type and id."""
    repo = open_store(database_url)
    try:
        report = load_record(repo, file)
    finally:
        repo.engine.dispose()
    finish(report, report_path)
