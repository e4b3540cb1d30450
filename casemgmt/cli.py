"""`closer casemgmt teams load | reviews | watch | report`: case management from the command line."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import click

from adapters.feedcli import database_option, open_store
from casemgmt.settings import CaseManagementSettings, SettingsError, load_settings
from stratify.operations import today_in_england

settings_option = click.option(
    "--settings",
    "settings_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Case management settings (TOML); default $CLOSER_CASEMGMT_SETTINGS, else the packaged file.",
)
today_option = click.option("--today", help="The day to act as of (YYYY-MM-DD); default today in England.")


def _settings(path: Path | None) -> CaseManagementSettings:
    try:
        return load_settings(path)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _day(value: str | None) -> date:
    if value is None:
        return today_in_england(datetime.now(UTC))
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a date (YYYY-MM-DD)", param_hint="--today") from None


@click.group("casemgmt")
def casemgmt() -> None:
    """Case management: teams, reviews falling due, the death watcher and the programme report."""


@casemgmt.group("teams")
def teams() -> None:
    """The case management and out-of-hours teams."""


@teams.command("load")
@settings_option
@database_option
def teams_load(settings_path: Path | None, database_url: str | None) -> None:
    """Write the teams in the settings to the store as Organizations (idempotent)."""
    from casemgmt.service import load_teams

    stored = load_teams(open_store(database_url), _settings(settings_path))
    for team in stored:
        click.echo(f"  Organization/{team['id']:20} {team['name']}")
    click.echo(f"{len(stored)} teams loaded.")


@casemgmt.command("reviews")
@today_option
@settings_option
@database_option
def reviews(today: str | None, settings_path: Path | None, database_url: str | None) -> None:
    """Make a Task for every care plan review that falls due (within review_notice_days) or is overdue."""
    from casemgmt.reviews import review_state
    from casemgmt.service import due_reviews

    day = _day(today)
    tasks = due_reviews(open_store(database_url), _settings(settings_path), day)
    for task in tasks:
        click.echo(f"  Task/{task['id']}  {review_state(task, day)}  for {task['for']['reference']}")
    click.echo(f"{len(tasks)} reviews due.")


@casemgmt.command("watch")
@click.option("--interval", default=10.0, show_default=True, help="Seconds between looks at the outbox.")
@click.option("--once", is_flag=True, help="Process what is waiting (and raise due reviews), then stop.")
@settings_option
@database_option
def watch_command(interval: float, once: bool, settings_path: Path | None, database_url: str | None) -> None:
    """End the episodes of people who died, settle triaged referrals and raise due reviews."""
    from casemgmt.watch import watch

    settings = _settings(settings_path)
    repo = open_store(database_url)
    click.echo(f"Watching the outbox every {interval:g} s...", err=True)
    try:
        watch(repo, settings, interval, once=once)
    except KeyboardInterrupt:
        click.echo("Stopped.", err=True)


@casemgmt.command("report")
@click.option("--csv", "as_csv", is_flag=True, help="CSV instead of a MeasureReport (JSON).")
@today_option
@settings_option
@database_option
def report(as_csv: bool, today: str | None, settings_path: Path | None, database_url: str | None) -> None:
    """The programme's figures per locality: numbers against the plan, sources, admissions avoided."""
    import json

    from casemgmt.figures import figures_csv, measure_report
    from casemgmt.service import programme_figures

    figures = programme_figures(open_store(database_url), _settings(settings_path), _day(today))
    click.echo(figures_csv(figures) if as_csv else json.dumps(measure_report(figures), indent=2), nl=not as_csv)
