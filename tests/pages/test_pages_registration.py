"""How the host takes in the pages: blueprints come from the closer.blueprints entry points, and one that
has no sign-in hook of its own is refused at start-up (the bearer-token check does not cover it)."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import Any

import pytest
from flask import Blueprint

from closer import app as host

open_pages = Blueprint("open_pages", __name__)


def _entry_points(value: str) -> Any:
    return lambda group: [EntryPoint("x", value, group)] if group == host.BLUEPRINT_GROUP else []


def test_the_pages_are_registered() -> None:
    assert [b.name for b in host.load_blueprints()] == ["pages"]


def test_a_blueprint_without_a_sign_in_hook_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host, "entry_points", _entry_points(f"{__name__}:open_pages"))
    with pytest.raises(RuntimeError, match="no before-request hook"):
        host.load_blueprints()


def test_something_else_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host, "entry_points", _entry_points("pages.users:MAX_FAILURES"))
    with pytest.raises(RuntimeError, match="is not a Flask Blueprint"):
        host.load_blueprints()
