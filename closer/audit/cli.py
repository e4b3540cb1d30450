"""`closer audit verify` and `closer audit list`: check the audit chain, and see who was sent what."""

from __future__ import annotations

import json
from typing import Any

import click

from closer.audit.event import OUTCOMES, action_of
from closer.audit.log import latest, verify
from closer.auth.cli import database_option, opened_store


@click.group("audit")
def audit() -> None:
    """The audit log of disclosures (hash-chained AuditEvents)."""


@audit.command("verify")
@database_option
def verify_command(database_url: str | None) -> None:
    """Check the hash chain: exit 0 when intact, 1 naming the first broken seq and why."""
    with opened_store(database_url) as (engine, _settings):
        result = verify(engine)
    if not result.ok:
        click.echo(result.summary(), err=True)
        raise click.exceptions.Exit(1)
    click.echo(result.summary())


@audit.command("list")
@click.option("--patient", help="Only this patient's events, e.g. Patient/123.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="How many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print the AuditEvents as JSON.")
@database_option
def list_command(patient: str | None, limit: int, as_json: bool, database_url: str | None) -> None:
    """List the newest AuditEvents, for one patient or all."""
    if patient is not None and not patient.startswith("Patient/"):
        patient = f"Patient/{patient}"
    with opened_store(database_url) as (engine, _settings):
        events = latest(engine, patient=patient, limit=limit)
    if as_json:
        click.echo(json.dumps(events, indent=2))
        return
    if not events:
        click.echo("No audit events" + (f" for {patient}." if patient else "."))
        return
    for event in events:
        click.echo(describe(event))


def describe(event: dict[str, Any]) -> str:
    """One line: when, what, to whom, about whom, outcome, and the consent decision."""
    recipient = event["agent"][0]
    organization = recipient.get("who", {}).get("identifier", {}).get("value")
    to = recipient.get("name", "?") + (f" ({organization})" if organization else "")
    patient = next(
        (e["what"]["reference"] for e in event.get("entity", []) if e.get("role", {}).get("code") == "1"), "-"
    )
    disclosed = sum(1 for e in event.get("entity", []) if e.get("role", {}).get("code") == "4")
    outcome = OUTCOMES.get(event.get("outcome", ""), "?")
    return (
        f"{event.get('id', '?')}  {event['recorded']}  {action_of(event)}  to {to}  {patient}  "
        f"{disclosed} disclosed  {outcome}: {event.get('outcomeDesc', '')}"
    )
