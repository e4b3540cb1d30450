"""The `closer` command."""

from __future__ import annotations

from importlib.metadata import entry_points

import click

from closer.settings import Settings


class PluginGroup(click.Group):
    """A command group whose commands come from an entry point group, loaded only when used.
    Built-in adapters register the same way as third-party ones; a name registered twice is an error."""

    def __init__(self, *args: object, entry_point_group: str, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.entry_point_group = entry_point_group

    def _registered(self) -> dict[str, object]:
        found: dict[str, object] = {}
        for entry in entry_points(group=self.entry_point_group):
            if entry.name in found:
                raise click.ClickException(
                    f"Two plugins register '{entry.name}' in {self.entry_point_group}: {found[entry.name]} "
                    f"and {entry.value}"
                )
            found[entry.name] = entry
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._registered()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = self._registered().get(cmd_name)
        if entry is None:
            return super().get_command(ctx, cmd_name)
        try:
            command = entry.load()  # type: ignore[attr-defined]
        except Exception as exc:  # a broken plugin must not take the other commands down with it
            return _broken(cmd_name, f"{entry.value} could not be loaded: {exc}")  # type: ignore[attr-defined]
        if not isinstance(command, click.Command):
            return _broken(cmd_name, f"{entry.value} is not a click command")  # type: ignore[attr-defined]
        return command


def _broken(name: str, why: str) -> click.Command:
    """A stand-in for a plugin command that failed to load: listed with the reason, and an error if run."""

    def fail() -> None:
        raise click.ClickException(why)

    return click.Command(
        name,
        callback=fail,
        help=f"(unavailable: {why})",
        short_help="(unavailable)",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


@click.group(cls=PluginGroup, entry_point_group="closer.commands")
def main() -> None:
    """Closer: FHIR R4 integration server for proactive case management."""


@main.group(cls=PluginGroup, entry_point_group="closer.adapters")
def ingest() -> None:
    """Load a feed file into the store (adapters register in the closer.adapters entry point group)."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="Gunicorn worker processes.")
@click.option("--threads", default=4, show_default=True, type=int, help="Threads per worker.")
@click.option("--dev", is_flag=True, help="Flask's development server with the reloader, not gunicorn.")
def serve(host: str, port: int, workers: int, threads: int, dev: bool) -> None:
    """Serve the FHIR API (settings from CLOSER_* environment variables)."""
    from closer.app import create_app

    app = create_app(Settings.from_env())
    if dev:
        app.run(host=host, port=port, debug=True, use_reloader=True)
        return
    from closer.serve import run

    run(app, host, port, workers, threads)


@main.group()
def store() -> None:
    """Store administration."""


@store.command("copy")
@click.option("--from", "source_url", required=True, help="Database URL of the store to copy (e.g. its SQLite file).")
@click.option("--to", "target_url", required=True, help="Database URL of an empty store (e.g. PostgreSQL).")
def store_copy(source_url: str, target_url: str) -> None:
    """Copy a whole store, every table, into an empty database (e.g. from SQLite to PostgreSQL)."""
    import importlib

    from closer.store.copy import CopyError, copy_store
    from closer.store.engine import make_engine

    for module in PLUGIN_TABLE_MODULES:  # tables that feeds and stratification keep beside the FHIR store
        importlib.import_module(module)
    source, target = make_engine(source_url), make_engine(target_url)
    try:
        copied = copy_store(source, target, progress=_copy_progress)
    except CopyError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        source.dispose()
        target.dispose()
    click.echo("")
    for table, rows in copied.items():
        click.echo(f"  {table:24} {rows:>12,}")


PLUGIN_TABLE_MODULES = (
    "adapters.hl7v2.messagestore",
    "adapters.social_care.review",
    "stratify.runstore",
    "stratify.models.fitted",
    "stratify.watch",
    "casemgmt.watch",
    "closer.auth.tables",
    "closer.audit.log",
    "consent.publisher.tables",
    "pages.users",
)


def _copy_progress(table: str, rows: int) -> None:
    click.echo(f"\r  copying {table}: {rows:,} rows", nl=False, err=True)


if __name__ == "__main__":
    main()
