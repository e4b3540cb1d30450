"""`closer synth`: write a synthetic county in every feed format, and say how it compares with the
programme report's figures."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import click

from adapters.feedcli import database_option, finish, open_store, report_option, terminal_progress
from adapters.report import IngestReport
from synth import feeds
from synth.load import FeedRun, load_county
from synth.population import COUNTY_PEOPLE, DEFAULT_AS_OF, generate
from synth.report import render


@click.command("synth")
@click.option("--people", default=COUNTY_PEOPLE, show_default=True, help="People aged 65+ in the county.")
@click.option("--seed", default=1, show_default=True, help="The same seed gives the same files.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--as-of",
    default=DEFAULT_AS_OF.isoformat(),
    show_default=True,
    help="The day the extracts are taken (history runs back from it).",
)
@click.option("--years", default=3, show_default=True, help="Years of hospital history.")
def synth(people: int, seed: int, out: Path, as_of: str, years: int) -> None:
    """Generate a synthetic 65+ population and write it as GP, hospital, HL7 v2 and social care feeds."""
    if people < 1:
        raise click.BadParameter("must be at least 1", param_hint="--people")
    try:
        day = date.fromisoformat(as_of)
    except ValueError:
        raise click.BadParameter(f"'{as_of}' is not a date (YYYY-MM-DD)", param_hint="--as-of") from None
    click.echo(f"Generating {people:,} people (seed {seed}, as of {day}, {years} years of history)...", err=True)
    county = generate(people, seed=seed, as_of=day, years=years)
    written = feeds.write_all(county, out)
    for name, count in written.items():
        click.echo(f"  {name:32} {count:>10,}")
    click.echo(f"Written to {out}\n")
    click.echo(render(county))


@click.command("county")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@report_option
@database_option
def ingest_county(directory: Path, report_path: Path | None, database_url: str | None) -> None:
    """Load a county directory written by `closer synth` (or laid out the same way) with every feed."""
    repo = open_store(database_url)
    total = IngestReport(f"county {directory}")
    began = time.perf_counter()

    def tell(run: FeedRun) -> None:
        click.echo(
            f"  {run.feed:12} {run.records:>9,} records in {run.seconds:7.1f} s ({run.per_second:,.0f}/s), "
            f"{run.report.failed:,} failed; peak memory {run.peak_rss_mb:,.0f} MB",
            err=True,
        )

    try:
        for run in load_county(repo, directory, on_feed=tell, progress=terminal_progress()):
            total.merge(run.report)
    finally:
        repo.engine.dispose()
    click.echo(f"Loaded in {time.perf_counter() - began:.0f} s", err=True)
    finish(total, report_path)
