"""The `closer` command."""

from __future__ import annotations

import click

from closer.settings import Settings


@click.group()
def main() -> None:
    """Closer: FHIR R4 integration server for proactive case management."""


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


if __name__ == "__main__":
    main()
