"""`closer users add|list|disable|enable|password`: the people who may sign in to the web pages."""

from __future__ import annotations

import json
import sys

import click

from casemgmt.settings import load_settings as load_casemgmt_settings
from closer.auth.cli import database_option, opened_store
from closer.store.sql import SqlRepository
from pages.users import (
    ROLES,
    UserError,
    add_user,
    list_users,
    set_disabled,
    set_password,
)


@click.group("users")
def users() -> None:
    """Add, list and disable the web pages' users (GPs, case managers, MDT administrators)."""


def _read_password(from_stdin: bool) -> str:
    """The password from the first line of stdin (scripts), or asked for twice without echo."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--practice", "practices", multiple=True, help="ODS code of a practice the user serves; repeatable.")
@click.option("--team", default="", help="Key of the case management team the user belongs to.")
@click.option("--display-name", default="", help="The name shown on the pages (default: the username).")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@database_option
def add(
    name: str,
    role: str,
    practices: tuple[str, ...],
    team: str,
    display_name: str,
    password_stdin: bool,
    database_url: str | None,
) -> None:
    """Add user NAME. A case manager is linked to the Practitioner cm-NAME (their caseload)."""
    known = load_casemgmt_settings().teams
    if team and team not in known:
        raise click.ClickException(f"there is no case management team '{team}' (teams: {', '.join(sorted(known))})")
    password = _read_password(password_stdin)
    with opened_store(database_url) as (engine, _):
        try:
            user = add_user(
                SqlRepository(engine),
                name,
                role=role,
                password=password,
                practices=practices,
                team=team,
                display_name=display_name,
            )
        except UserError as exc:
            raise click.ClickException(str(exc)) from None
    scope = f"practices {', '.join(user.practices)}" if user.practices else f"team {user.team}"
    linked = f"; caseload of {user.practitioner}" if user.practitioner else ""
    click.echo(f"added {user.username} ({user.role}, {scope}{linked})")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@database_option
def list_(as_json: bool, database_url: str | None) -> None:
    """List the users (never their password hashes)."""
    with opened_store(database_url) as (engine, _):
        found = list_users(engine)
    if as_json:
        click.echo(json.dumps([{**u.__dict__, "practices": list(u.practices)} for u in found], indent=2))
        return
    for u in found:
        scope = " ".join(u.practices) or f"team:{u.team}"
        click.echo(f"{u.username:20} {u.role:13} {scope:30} {'disabled' if u.disabled else 'active'}")


@users.command("disable")
@click.argument("name")
@database_option
def disable(name: str, database_url: str | None) -> None:
    """Stop NAME signing in (their open sessions end at their next request)."""
    _set_disabled(name, True, database_url)


@users.command("enable")
@click.argument("name")
@database_option
def enable(name: str, database_url: str | None) -> None:
    """Let a disabled user sign in again."""
    _set_disabled(name, False, database_url)


def _set_disabled(name: str, disabled: bool, database_url: str | None) -> None:
    with opened_store(database_url) as (engine, _):
        try:
            set_disabled(engine, name, disabled)
        except UserError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"{'disabled' if disabled else 'enabled'} {name}")


@users.command("password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@database_option
def password(name: str, password_stdin: bool, database_url: str | None) -> None:
    """Set NAME's password (and lift a lock after too many wrong ones)."""
    value = _read_password(password_stdin)
    with opened_store(database_url) as (engine, _):
        try:
            set_password(engine, name, value)
        except UserError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"password set for {name}")
