"""Commands: `closer ingest hl7`, `closer mllp` and `closer messages list|show|replay`."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import click

from adapters.feedcli import database_option, finish, open_store, report_option
from adapters.hl7v2 import messagestore as store
from adapters.hl7v2.framing import decode, split_messages
from adapters.hl7v2.processor import Hl7Processor
from adapters.report import IngestReport
from closer.logs import configure as configure_logging
from closer.settings import Settings

BATCH_SIZE = 1000  # messages a commit: fewer, larger commits write each touched index page fewer times
DEFAULT_WORKERS = min(4, os.cpu_count() or 1)  # mapping processes beside the writing one, which waits on commits
HL7_SUFFIXES = {".hl7", ".txt", ".msg", ".er7", ".mllp", ".dat", ""}
strict_option = click.option(
    "--strict", is_flag=True, help="Also check each message against its HL7 version's definition (hl7apy); slower."
)


def _configure_logs() -> None:
    settings = Settings.from_env()
    configure_logging(settings.log_format, settings.log_level)


def _processor(database_url: str | None, strict: bool = False) -> Hl7Processor:
    return Hl7Processor(open_store(database_url), strict=strict)


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in HL7_SUFFIXES)
        else:
            yield path


@click.command("hl7")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@database_option
@click.option("--batch-size", default=BATCH_SIZE, show_default=True, help="Messages committed together.")
@click.option(
    "--workers",
    default=DEFAULT_WORKERS,
    show_default=True,
    help="Processes that parse, map and validate the batches ahead while this one writes (0: none).",
)
@report_option
@strict_option
def ingest_hl7(
    paths: tuple[Path, ...],
    database_url: str | None,
    batch_size: int,
    workers: int,
    report_path: Path | None,
    strict: bool,
) -> None:
    """Ingest HL7 v2 files or folders: single messages, many per file, FHS/BHS batches or MLLP frames."""
    _configure_logs()
    logging.getLogger("closer.hl7v2").setLevel(logging.ERROR)  # failures are in the report
    processor = _processor(database_url, strict)
    work = read_messages(paths)
    with click.progressbar(length=len(work), label="Ingesting HL7 v2", file=sys.stderr) as bar:
        source = ", ".join(str(p) for p in paths)
        report = ingest_messages(processor, work, source, batch_size, bar.update, workers)
    finish(report, report_path)


Located = tuple[Path, int, str]  # file, message number in it, message text


def read_messages(paths: Iterable[Path]) -> list[Located]:
    """Every message in the files and folders, with where it came from."""
    return [(f, n, text) for f in _files(paths) for n, text in enumerate(split_messages(decode(f.read_bytes())), 1)]


def ingest_messages(
    processor: Hl7Processor,
    work: list[Located],
    source: str,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
    workers: int = 0,
) -> IngestReport:
    """Process the messages, committed `batch_size` at a time (with `workers` processes mapping the
    batches ahead); failures are located by file, message number and MSH-10 in the report."""
    report = IngestReport(source)
    size = max(1, batch_size)
    batches = [work[start : start + size] for start in range(0, len(work), size)]
    outcomes = processor.process_stream(([t for *_, t in batch] for batch in batches), workers)
    for batch, batch_outcomes in zip(batches, outcomes, strict=True):
        for (file, number, _), outcome in zip(batch, batch_outcomes, strict=True):
            if outcome.status == "duplicate":
                report.duplicates += 1
            elif outcome.code == "AA":
                report.accepted += 1
            else:
                control = f" (MSH-10 {outcome.control_id})" if outcome.control_id else ""
                assert outcome.error is not None
                report.fail(f"{file} message {number}{control}", str(outcome.error))
        if progress is not None:
            progress(len(batch))
    return report


@click.command("mllp")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=2575, show_default=True, type=int)
@database_option
@click.option("--idle-timeout", default=300.0, show_default=True, help="Seconds before an idle connection closes.")
@strict_option
def mllp(host: str, port: int, database_url: str | None, idle_timeout: float, strict: bool) -> None:
    """Listen for HL7 v2 over MLLP; ACK each message after it is committed."""
    from adapters.hl7v2.mllp import ClosingMllpServer

    _configure_logs()
    server = ClosingMllpServer(host, port, _processor(database_url, strict), idle_timeout)
    click.echo(f"MLLP listening on {host}:{server.server_address[1]}", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@click.group("messages")
def messages() -> None:
    """See received HL7 v2 messages and their outcomes, and replay failed ones."""


@messages.command("list")
@click.option("--status", type=click.Choice([store.PROCESSED, store.STORED, store.FAILED, store.REJECTED]))
@click.option("--limit", default=50, show_default=True)
@database_option
def list_messages(status: str | None, limit: int, database_url: str | None) -> None:
    """The latest messages, newest first."""
    processor = _processor(database_url)
    with processor.repository.engine.connect() as conn:
        rows = store.listing(conn, status, limit)
    for row in rows:
        error = f"  {row.error}" if row.error else ""
        click.echo(f"{row.id:>8}  {row.received}  {row.status:9}  {row.message_type:9}  {row.control_id}{error}")


@messages.command("show")
@click.argument("message_id", type=int)
@database_option
def show_message(message_id: int, database_url: str | None) -> None:
    """One message: its outcome, error, the resources it wrote and the raw text."""
    processor = _processor(database_url)
    with processor.repository.engine.connect() as conn:
        row = store.get(conn, message_id)
    if row is None:
        raise click.ClickException(f"No message with id {message_id}")
    click.echo(f"id:          {row.id}\nsender:      {row.sender}\ncontrol id:  {row.control_id}")
    click.echo(f"type:        {row.message_type}\nstatus:      {row.status}\nreceived:    {row.received}")
    click.echo(f"attempts:    {row.attempts}\nerror:       {row.error or '-'}\nresources:   {row.resources or '-'}")
    click.echo("\n" + row.raw.replace("\r", "\n"))


@messages.command("replay")
@click.argument("message_ids", type=int, nargs=-1)
@click.option("--all-failed", is_flag=True, help="Replay every failed message.")
@database_option
def replay_messages(message_ids: tuple[int, ...], all_failed: bool, database_url: str | None) -> None:
    """Process dead-lettered messages again (after fixing the cause)."""
    processor = _processor(database_url)
    ids = list(message_ids)
    if all_failed:
        with processor.repository.engine.connect() as conn:
            ids += [row.id for row in store.listing(conn, store.FAILED, limit=1_000_000)]
    if not ids:
        raise click.UsageError("Give message ids or --all-failed")
    failures = 0
    for message_id in ids:
        try:
            outcome = processor.replay(message_id)
        except LookupError as exc:
            raise click.ClickException(str(exc)) from None
        failures += outcome.code != "AA"
        click.echo(f"{message_id}: {outcome.code} {outcome.status} {outcome.text}")
    sys.exit(1 if failures else 0)
