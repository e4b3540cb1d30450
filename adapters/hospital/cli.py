"""`closer ingest apc FILE` and `closer ingest ecds FILE` (registered in the closer.adapters entry points).

Both print the ingest report's summary and exit 1 when any row failed, so a scheduler running the
nightly extract notices; `--report` keeps every issue as JSON for whoever fixes the source.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from adapters.hospital import apc, ecds
from adapters.hospital.loader import count_rows, load_csv
from adapters.hospital.rows import Feed
from adapters.report import IngestReport
from adapters.writing import open_repository
from closer.settings import Settings
from closer.store.repository import Repository

_FILE = click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
_REPORT = click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the full report (every issue) to this file as JSON.",
)
_DATABASE = click.option(
    "--database-url",
    default=None,
    help="Store to load into; overrides CLOSER_DATABASE_URL.",
)


@click.command("apc")
@_FILE
@_REPORT
@_DATABASE
def ingest_apc(file: Path, report_path: Path | None, database_url: str | None) -> None:
    """Load an admitted patient care (SUS APC-style) CSV extract: one row per hospital spell."""
    _ingest(apc.FEED, file, report_path, database_url)


@click.command("ecds")
@_FILE
@_REPORT
@_DATABASE
def ingest_ecds(file: Path, report_path: Path | None, database_url: str | None) -> None:
    """Load an A&E attendance (ECDS-style) CSV extract: one row per attendance."""
    _ingest(ecds.FEED, file, report_path, database_url)


def _ingest(feed: Feed, file: Path, report_path: Path | None, database_url: str | None) -> None:
    settings = Settings.from_env(database_url=database_url)
    try:
        repo = open_repository(settings)
    except (SQLAlchemyError, ValueError, OSError) as exc:
        raise click.ClickException(f"cannot open the store at {_safe_url(settings.database_url)}: {exc}") from None
    try:
        report = _load(repo, file, feed)
    finally:
        repo.engine.dispose()
    click.echo(report.summary())
    if report_path is not None:
        _write_report(report, report_path)
    if not report.ok:
        sys.exit(1)


def _load(repo: Repository, file: Path, feed: Feed) -> IngestReport:
    """Load with a progress bar on a terminal (on stderr, so the summary on stdout stays clean)."""
    if not sys.stderr.isatty():
        return load_csv(repo, file, feed)
    with click.progressbar(length=count_rows(file), label=f"{feed.name} {file.name}", file=sys.stderr) as bar:
        return load_csv(repo, file, feed, progress=bar.update)


def _write_report(report: IngestReport, path: Path) -> None:
    try:
        path.write_text(json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot write the report to {path}: {exc.strerror or exc}") from None


def _safe_url(url: str) -> str:
    """The database URL without its password, for error messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "the configured database"
