"""WSGI entry point for gunicorn: `gunicorn closer.wsgi:app` (settings from CLOSER_* variables)."""

from closer.app import create_app

app = create_app()
