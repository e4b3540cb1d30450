"""The live server itself: it is gunicorn as `closer serve` runs it, and it leaves nothing behind on the host."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.live


def test_served_by_gunicorn(live_server: Any) -> None:
    reply = requests.get(f"{live_server.base_url}/healthz", timeout=5)
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok"}
    assert reply.headers["Server"].startswith("gunicorn")


def test_no_shared_control_socket(live_server: Any) -> None:
    """gunicorn >= 25.1 would open $XDG_RUNTIME_DIR/gunicorn.ctl, one path for every instance on the host.

    The master opens it just after forking the workers, so it may come moments after /healthz first answers."""
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        assert sorted(p.name for p in live_server.runtime_dir.iterdir()) == []
        time.sleep(0.05)
    assert "Control socket" not in live_server.stderr()


def test_api_needs_a_token(live_server: Any) -> None:
    """Over real HTTP: /metadata is anonymous, the rest needs the bearer token `closer token` printed."""
    assert requests.get(f"{live_server.base_url}/metadata", timeout=5).status_code == 200
    anonymous = requests.get(f"{live_server.base_url}/Patient", timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == 'Bearer realm="closer"'
    assert anonymous.json()["resourceType"] == "OperationOutcome"
    headers = {"Authorization": live_server.authorization}
    assert requests.get(f"{live_server.base_url}/Patient", headers=headers, timeout=5).status_code == 200
