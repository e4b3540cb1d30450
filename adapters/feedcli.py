"""What every `closer ingest ...` command shares: the store option, the report option, opening the
store with a clear error, and finishing with the summary, the JSON report and the exit status (1 when
anything failed, so a scheduler running the nightly extract notices)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from adapters.report import IngestReport, Progress
from adapters.writing import open_repository
from closer.settings import Settings
from closer.store.sql import SqlRepository

database_option = click.option(
    "--database-url", default=None, help="Store to load into; overrides CLOSER_DATABASE_URL."
)
report_option = click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the full report (every issue) to this file as JSON.",
)


def open_store(database_url: str | None) -> SqlRepository:
    settings = Settings.from_env(database_url=database_url)
    try:
        return open_repository(settings)
    except (SQLAlchemyError, ValueError, OSError) as exc:
        raise click.ClickException(f"cannot open the store at {safe_url(settings.database_url)}: {exc}") from None


def finish(report: IngestReport, report_path: Path | None) -> None:
    """Print the summary, write the JSON report if asked, and exit 1 when anything failed."""
    click.echo(report.summary())
    if report_path is not None:
        try:
            report_path.write_text(json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(f"cannot write the report to {report_path}: {exc.strerror or exc}") from None
    sys.exit(0 if report.ok else 1)


def terminal_progress() -> Progress | None:
    """A progress bar (label, length) per file on a terminal (on stderr, so the summary on stdout stays clean)."""
    if not sys.stderr.isatty():
        return None

    @contextmanager
    def bar(label: str, length: int) -> Iterator[Callable[[int], None]]:
        with click.progressbar(length=length, label=label, file=sys.stderr) as progress:
            yield progress.update

    return bar


def safe_url(url: str) -> str:
    """The database URL without its password, for error messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "the configured database"
