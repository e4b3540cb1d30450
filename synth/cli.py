"""`closer synth`: write a synthetic county in every feed format, and say how it compares with the
programme report's figures."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from synth import feeds
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
