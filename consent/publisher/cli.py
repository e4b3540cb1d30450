"""`closer publish run|endpoints|dead-letters|retry|status`: the consent-gated push publisher."""

from __future__ import annotations

import json
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import click

from adapters.feedcli import database_option, open_store
from closer.store.dates import format_instant, from_us
from consent.publisher.endpoints import load_registrations
from consent.publisher.settings import PublishSettings, SettingsError, load_settings
from consent.publisher.signing import SigningKeyError

endpoints_option = click.option(
    "--endpoints",
    "endpoints_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Publisher settings and endpoint registrations (TOML); default $CLOSER_PUBLISH_ENDPOINTS.",
)


def _settings(path: Path | None) -> PublishSettings:
    try:
        return load_settings(path)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@click.group("publish")
def publish() -> None:
    """Push consented care plans, allergies and DNAR alerts to registered downstream systems."""


@publish.command("run")
@click.option("--once", is_flag=True, help="Plan and send everything due now, then stop.")
@click.option("--poll", default=0.25, show_default=True, type=click.FloatRange(min=0.01), help="Seconds between polls.")
@click.option("--worker", "worker_name", help="This worker's name (unique among running workers); default host-pid.")
@click.option("--batch", default=50, show_default=True, type=click.IntRange(min=1), help="Deliveries claimed at once.")
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(min=1), help="Requests sent at once.")
@endpoints_option
@database_option
def run_command(
    once: bool,
    poll: float,
    worker_name: str | None,
    batch: int,
    concurrency: int,
    endpoints_path: Path | None,
    database_url: str | None,
) -> None:
    """Follow the store's outbox and deliver each change a Consent permits (Ctrl-C or SIGTERM stops)."""
    from consent.publisher.worker import Worker

    settings = _settings(endpoints_path)
    repo = open_store(database_url)
    try:
        worker = Worker(repo, settings, worker_name, batch=batch, concurrency=concurrency)
    except SigningKeyError as exc:
        raise click.ClickException(str(exc)) from None
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {signum: signal.signal(signum, _stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    click.echo(f"publisher {worker.name}: {len(worker.registrations().active)} endpoint(s)", err=True)
    try:
        totals = worker.run(once=once, poll=poll, stop=stop)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        repo.engine.dispose()
    click.echo(
        f"planned {totals.planned_events} event(s), queued {totals.queued}, delivered {totals.delivered}, "
        f"retried {totals.retried}, dead-lettered {totals.dead}",
        err=True,
    )


@publish.command("endpoints")
@endpoints_option
@database_option
def endpoints_command(endpoints_path: Path | None, database_url: str | None) -> None:
    """List the registered downstream systems (settings file and Endpoint resources)."""
    settings = _settings(endpoints_path)
    repo = open_store(database_url)
    try:
        registrations = load_registrations(repo, settings)
    finally:
        repo.engine.dispose()
    if not registrations.active:
        click.echo("No endpoints registered.")
    for r in registrations.active:
        tls = "mTLS" if r.tls.mutual else "TLS" if r.url.startswith("https") else "plain"
        categories = ",".join(sorted(r.careplan_categories)) if "CarePlan" in r.resources else "-"
        click.echo(
            f"{r.name}  {r.url}  ODS {r.ods}  {r.purpose}  {r.mode}  {'+'.join(r.resources)}  "
            f"CarePlan categories {categories}  {tls}  ({r.source})"
        )
    for problem in registrations.problems:
        click.echo(f"not used: {problem}", err=True)


@publish.command("dead-letters")
@click.option("--endpoint", help="Only this endpoint's.")
@click.option("--json", "as_json", is_flag=True, help="Print them as JSON.")
@database_option
def dead_letters_command(endpoint: str | None, as_json: bool, database_url: str | None) -> None:
    """List deliveries that failed for good, with the reason."""
    from consent.publisher.queue import dead_letters

    repo = open_store(database_url)
    try:
        found = dead_letters(repo.engine, endpoint)
    finally:
        repo.engine.dispose()
    if as_json:
        click.echo(json.dumps([letter.__dict__ for letter in found], indent=2))
        return
    if not found:
        click.echo("No dead letters.")
    for letter in found:
        click.echo(
            f"{letter.id}  {letter.endpoint}  {letter.action} {letter.resource}  {letter.patient}  "
            f"{letter.attempts} attempt(s)  {letter.reason}"
        )


@publish.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "everything", is_flag=True, help="Every dead letter.")
@database_option
def retry_command(ids: tuple[int, ...], everything: bool, database_url: str | None) -> None:
    """Queue dead letters again (by id, or --all), e.g. after the receiver is fixed."""
    from consent.publisher.queue import retry

    if bool(ids) == everything:
        raise click.UsageError("give dead letter ids or --all (not both)")
    repo = open_store(database_url)
    try:
        done = retry(repo.engine, None if everything else ids, datetime.now(UTC))
    finally:
        repo.engine.dispose()
    click.echo(
        f"queued again: {len(done.requeued)}" + (f" ({', '.join(map(str, done.requeued))})" if done.requeued else "")
    )
    if done.superseded:
        click.echo(f"superseded by newer changes: {', '.join(map(str, done.superseded))}")
    if done.unknown:
        raise click.ClickException(f"not dead letters: {', '.join(map(str, done.unknown))}")


@publish.command("status")
@database_option
def status_command(database_url: str | None) -> None:
    """How far planning has read the outbox, and the queue by endpoint and status."""
    from consent.publisher.queue import status

    repo = open_store(database_url)
    try:
        found = status(repo.engine)
    finally:
        repo.engine.dispose()
    click.echo(f"outbox planned up to seq {found.cursor}")
    endpoints = sorted({endpoint for endpoint, _ in found.counts})
    if not endpoints:
        click.echo("No deliveries yet.")
    for endpoint in endpoints:
        counts = ", ".join(f"{s} {n}" for (e, s), n in sorted(found.counts.items()) if e == endpoint)
        oldest = found.oldest_open.get(endpoint)
        since = f"; oldest undelivered queued {format_instant(from_us(oldest))}" if oldest else ""
        click.echo(f"{endpoint}: {counts}{since}")
