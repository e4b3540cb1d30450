"""`closer stratify run|fit|diff|report|watch`: the quarterly predictive report from the command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click
from sqlalchemy.engine import Engine

from adapters.feedcli import database_option, open_store
from stratify.models.base import ModelNotFound, RiskModel, load_model
from stratify.runstore import RunRecord
from stratify.settings import SettingsError, StratifySettings, load_settings

if TYPE_CHECKING:  # fitting imports scikit-learn, which only `fit` needs
    from stratify.fitting import FitResult

settings_option = click.option(
    "--settings",
    "settings_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Stratification settings (TOML); default $CLOSER_STRATIFY_SETTINGS, else the packaged file.",
)


def _settings(path: Path | None) -> StratifySettings:
    try:
        return load_settings(path)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _day(value: str | None, option: str) -> date:
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a date (YYYY-MM-DD)", param_hint=option) from None


def _progress() -> Callable[[str, int, int], None]:
    shown: dict[str, int] = {}

    def tell(stage: str, done: int, total: int) -> None:
        if (sys.stderr.isatty() or done == total) and shown.get(stage) != done:
            click.echo(f"\r  {stage}: {done:,}/{total:,}", err=True, nl=done == total)
            shown[stage] = done

    return tell


@click.group("stratify")
def stratify() -> None:
    """Risk stratification: score the 65+ cohort, tier them, and report."""


@stratify.command("run")
@click.option("--as-of", "as_of", help="The run date (YYYY-MM-DD); default today. The quarter is its period.")
@click.option("--model", "model_name", help="A closer.risk_models name (default: from settings).")
@click.option("--model-version", help="That model's version (default: from settings, else its newest).")
@settings_option
@database_option
def run_command(
    as_of: str | None,
    model_name: str | None,
    model_version: str | None,
    settings_path: Path | None,
    database_url: str | None,
) -> None:
    """Score everyone in the cohort and write the quarter's RiskAssessments and candidate Flags."""
    from stratify.runs import run

    settings = _settings(settings_path)
    day = _day(as_of, "--as-of")
    repo = open_store(database_url)
    model = _model(model_name or settings.model_name, model_version or settings.model_version, repo.engine)
    click.echo(f"Stratifying as of {day} with the {model.name} model, version {model.version}...", err=True)
    record = run(repo, settings, day, model, progress=_progress())
    click.echo(summary(record))


def _model(name: str, version: str, engine: Engine) -> RiskModel:
    try:
        return load_model(name, version, engine)
    except ModelNotFound as exc:
        raise click.ClickException(str(exc)) from None


def summary(record: RunRecord) -> str:
    counts = record.counts
    lines = [
        f"Run {record.run_id}: period {record.period}, as of {record.as_of}, model {record.model} "
        f"v{record.model_version}, {counts.get('seconds', 0)} s",
        f"  cohort {counts['cohort']:,} of {counts['people_read']:,} registered; "
        f"candidates for case management {counts['candidates']:,}",
        "  tiers: " + ", ".join(f"{tier} {n:,}" for tier, n in counts["tiers"].items()),
        "  written: " + (", ".join(f"{k} {n:,}" for k, n in counts["written"].items()) or "nothing changed"),
    ]
    if counts.get("signed_off_practices_kept"):
        lines.append("  signed off, left as signed: " + ", ".join(counts["signed_off_practices_kept"]))
    return "\n".join(lines)


@stratify.command("runs")
@click.option("--json", "as_json", is_flag=True, help="Print the run records as JSON.")
@database_option
def runs_command(as_json: bool, database_url: str | None) -> None:
    """List the recorded runs with their settings, model and counts."""
    from stratify.runstore import ensure_tables, runs

    repo = open_store(database_url)
    ensure_tables(repo.engine)
    found = runs(repo.engine)
    if as_json:
        click.echo(json.dumps([r.__dict__ for r in found], indent=2))
        return
    for record in found:
        click.echo(summary(record))


def _recorded(engine: Engine) -> list[RunRecord]:
    """The recorded runs, oldest first, or a clear error when there are none yet."""
    from stratify.runstore import ensure_tables, runs

    ensure_tables(engine)
    found = runs(engine)
    if not found:
        raise click.ClickException("no stratification run is recorded yet: run `closer stratify run` first")
    return found


def _pick(found: list[RunRecord], run_id: int | None, option: str) -> RunRecord:
    """Run `run_id` (default: the newest), with the recorded ids in the error when there is no such run."""
    if run_id is None:
        return found[-1]
    for record in found:
        if record.run_id == run_id:
            return record
    raise click.ClickException(
        f"{option} {run_id}: no such run (recorded: {', '.join(str(r.run_id) for r in found)}; "
        "see `closer stratify runs`)"
    )


@stratify.command("diff")
@click.option("--run", "run_id", type=int, help="The later run (default: the newest).")
@click.option("--against", "against_id", type=int, help="The earlier run (default: the one before --run).")
@click.option("--json", "as_json", is_flag=True, help="Print the differences as JSON.")
@database_option
def diff_command(run_id: int | None, against_id: int | None, as_json: bool, database_url: str | None) -> None:
    """Who entered or left the candidate list, and whose tier changed, between two runs."""
    from stratify.diff import diff, render_diff
    from stratify.runstore import results_of

    repo = open_store(database_url)
    found = _recorded(repo.engine)
    after = _pick(found, run_id, "--run")
    if against_id is None:
        earlier = [r for r in found if r.run_id < after.run_id]
        if not earlier:
            raise click.ClickException(
                f"run {after.run_id} is the first recorded run: there is nothing before it to compare with"
                if len(found) > 1
                else "only one stratification run is recorded: a diff needs two"
            )
        before = earlier[-1]
    else:
        before = _pick(found, against_id, "--against")
    if before.run_id == after.run_id:
        raise click.ClickException(f"--run and --against are both run {after.run_id}: compare two different runs")
    d = diff(results_of(repo.engine, before.run_id), results_of(repo.engine, after.run_id))
    if as_json:
        about = {
            r: {"run_id": x.run_id, "period": x.period, "as_of": x.as_of}
            for r, x in (("before", before), ("after", after))
        }
        click.echo(json.dumps({**about, **d.as_dict()}, indent=2))
        return
    click.echo(
        f"Run {before.run_id} ({before.period}, as of {before.as_of}) -> "
        f"run {after.run_id} ({after.period}, as of {after.as_of})"
    )
    click.echo(render_diff(d))


@stratify.command("report")
@click.option("--run", "run_id", type=int, help="The run to report on (default: the newest).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("stratify-report"),
    show_default=True,
    help="Directory for report.csv and report.html.",
)
@settings_option
@database_option
def report_command(run_id: int | None, out_dir: Path, settings_path: Path | None, database_url: str | None) -> None:
    """Counts per locality, tier and LTC band, the risk histogram, and candidates against plan (text, CSV, HTML)."""
    from stratify.report import read_report, render_text, write_report

    settings = _settings(settings_path)
    repo = open_store(database_url)
    run = _pick(_recorded(repo.engine), run_id, "--run")
    data = read_report(repo.engine, run, settings)
    click.echo(render_text(data))
    try:
        written = write_report(data, out_dir)
    except OSError as exc:
        raise click.ClickException(f"cannot write the report to {out_dir}: {exc.strerror or exc}") from None
    click.echo("Wrote " + ", ".join(str(p) for p in written), err=True)


@stratify.command("fit")
@click.option(
    "--as-of",
    "as_of",
    help="The last day of known outcomes (default today). The model is tested on "
    "features a year earlier and trained on features two years earlier.",
)
@settings_option
@database_option
def fit_command(as_of: str | None, settings_path: Path | None, database_url: str | None) -> None:
    """Fit a logistic model on the store's own history; report AUROC, Brier score and calibration on a
    held-out later year, and save it as the next version of the `fitted` model."""
    from stratify.codelists import load_codelists
    from stratify.facts import load_facts
    from stratify.fitting import FitError, fit
    from stratify.history import sample
    from stratify.models.fitted import save_fitted
    from stratify.resources import add_months

    settings = _settings(settings_path)
    end = _day(as_of, "--as-of")
    tested_on, trained_on = add_months(end, -12), add_months(end, -24)
    repo = open_store(database_url)
    click.echo(f"Reading the store; training on {trained_on}, testing on {tested_on}...", err=True)
    people = list(load_facts(repo.engine, settings.practices).values())
    lists = load_codelists()
    train = sample(people, trained_on, settings.min_age, settings.practices, lists)
    test = sample(people, tested_on, settings.min_age, settings.practices, lists)
    try:
        result = fit(train.features, train.outcomes, test.features, test.outcomes)
    except FitError as exc:
        raise click.ClickException(f"cannot fit: {exc}") from None
    version = save_fitted(repo.engine, result, trained_on.isoformat(), tested_on.isoformat())
    click.echo(fit_report(result, version, trained_on, tested_on))


def fit_report(result: FitResult, version: str, trained_on: date, tested_on: date) -> str:
    m = result.metrics
    lines = [
        f"Fitted model version {version} (select it with --model fitted --model-version {version})",
        f"  trained on {result.train_size:,} people as of {trained_on} ({result.train_prevalence:.1%} admitted in "
        f"the next 12 months); tested on {result.test_size:,} as of {tested_on} ({result.test_prevalence:.1%})",
        f"  held-out AUROC {m['auroc']:.3f} (default model {m['default_auroc']:.3f}); "
        f"Brier score {m['brier']:.4f} (default model {m['default_brier']:.4f})",
        "  calibration on the held-out year (deciles of predicted risk):",
        "    decile      n  mean predicted  observed",
        *(
            f"    {row.bin:>6} {row.n:>6}  {row.mean_predicted:>14.3f}  {row.observed_rate:>8.3f}"
            for row in result.calibration
        ),
        "  coefficients (log-odds per unit): "
        + ", ".join(f"{k} {v:+.3f}" for k, v in sorted(result.coefficients.items(), key=lambda kv: -abs(kv[1]))),
    ]
    return "\n".join(lines)


@stratify.command("watch")
@click.option("--interval", default=10.0, show_default=True, help="Seconds between looks at the outbox.")
@click.option("--once", is_flag=True, help="Process what is waiting, then stop.")
@settings_option
@database_option
def watch_command(interval: float, once: bool, settings_path: Path | None, database_url: str | None) -> None:
    """Rescore cohort members after a new emergency admission or A&E attendance; flag tier rises."""
    from stratify.watch import watch

    settings = _settings(settings_path)
    repo = open_store(database_url)
    click.echo(f"Watching for emergency admissions and A&E attendances every {interval:g} s...", err=True)
    try:
        watch(repo, settings, interval, once=once)
    except KeyboardInterrupt:
        click.echo("Stopped.", err=True)
