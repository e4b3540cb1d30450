"""Run the app under gunicorn from our own CLI (no separate config file to keep in step)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication


class GunicornServer(BaseApplication):
    """Gunicorn with the app built once in the master (--preload), so start-up work such as
    publishing profiles runs once; each worker then opens its own database connections."""

    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        self.cfg.set("preload_app", True)
        self.cfg.set("post_fork", _post_fork)
        if "control_socket_disable" in self.cfg.settings:
            # gunicorn >= 25.1 opens a control socket at one path per user ($XDG_RUNTIME_DIR/gunicorn.ctl,
            # else ~/.gunicorn/gunicorn.ctl), whatever the port: a second server on the host takes it over and
            # the first one's shutdown then deletes it. Closer does not use gunicornc, so open none.
            self.cfg.set("control_socket_disable", True)

    def load(self) -> Flask:
        return self.application


def _post_fork(_server: Any, worker: Any) -> None:
    """Connections opened in the master must not be shared with forked workers."""
    engine = worker.app.application.extensions["closer.engine"]
    engine.dispose(close=False)


def run(app: Flask, host: str, port: int, workers: int, threads: int) -> None:
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "accesslog": None,
        "timeout": 120,
        "graceful_timeout": 30,
    }
    GunicornServer(app, options).run()
