"""`closer ingest social-care FILE` and `closer matching list|resolve` (registered as entry points)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from adapters.feedcli import database_option, finish, open_store, report_option
from adapters.report import IngestReport
from adapters.social_care import review
from adapters.social_care.loader import FEED_NAME, ResolveRefused, load_people, resolve
from adapters.social_care.xmlreader import MAX_FILE_BYTES, ExtractRefused, open_extract


@click.command("social-care")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--max-bytes",
    type=click.IntRange(min=1),
    default=MAX_FILE_BYTES,
    show_default=True,
    help="Refuse a larger file unread.",
)
@report_option
@database_option
def ingest_social_care(file: Path, max_bytes: int, report_path: Path | None, database_url: str | None) -> None:
    """Load a local-authority adult social care XML extract: people, assessments, care packages, unpaid carers.

    The file must be valid against adapters/social_care/schema/social-care-extract.xsd; the FHIR mapping
    and the matching rule are in adapters/social_care/MAPPING.md."""
    report = IngestReport(f"{FEED_NAME} {file.name}")
    try:
        extract = open_extract(file, max_bytes)
    except ExtractRefused as exc:
        location = f"{file.name} line {exc.line}" if exc.line else file.name
        report.fail(location, f"{exc.message}; nothing in the file was stored")
        finish(report, report_path)
        return
    repo = open_store(database_url)
    try:
        if sys.stderr.isatty():
            with click.progressbar(length=extract.people, label=report.source, file=sys.stderr) as bar:
                load_people(repo, extract, report, bar.update)
        else:
            load_people(repo, extract, report)
    finally:
        repo.engine.dispose()
    finish(report, report_path)


@click.group("matching")
def matching() -> None:
    """People from the social care feed who could not be matched to a Patient safely."""


@matching.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also show resolved and matched people.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1))
@database_option
def list_review(show_all: bool, limit: int, database_url: str | None) -> None:
    """The people waiting for review, longest waiting first, with the reason each was held."""
    repo = open_store(database_url)
    try:
        review.create_table(repo.engine)
        with repo.engine.connect() as conn:
            items = review.listing(conn, include_closed=show_all, limit=limit)
    finally:
        repo.engine.dispose()
    if not items:
        click.echo("No one is waiting for review.")
        return
    for item in items:
        name = f"{item.family_name.upper()}, {item.given_name}" if item.given_name else item.family_name.upper()
        linked = f" -> Patient/{item.patient_id}" if item.patient_id else ""
        close = f" (close: {', '.join(item.candidates.split(','))})" if item.candidates else ""
        click.echo(
            f"{item.id:>6}  {item.status}{linked}  {item.la_code} {item.la_person_id}  {name}  born {item.birth_date}"
            f"  postcode {item.postcode or '-'}  NHS {item.nhs_number or '-'}  seen {item.last_seen_at} in "
            f"{item.source}\n        {item.reason}{close}"
        )


@matching.command("resolve")
@click.argument("item_id", type=int)
@click.option("--patient", required=True, help="The person's NHS number (or the id of an existing Patient).")
@database_option
def resolve_review(item_id: int, patient: str, database_url: str | None) -> None:
    """Link a held person to the Patient you have identified and load their records."""
    repo = open_store(database_url)
    try:
        message = resolve(repo, item_id, patient)
    except ResolveRefused as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        repo.engine.dispose()
    click.echo(message)
