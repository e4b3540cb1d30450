"""Fixtures for the web pages' tests: an app with a seeded store (Flask test client tests), and a real
server with headless Chromium (browser tests, marked `browser`).

Stratification's hand-made test people (tests/stratify/strat_data.py) are reused, so tests/stratify goes
on sys.path. The pages run with CLOSER_INSECURE_COOKIES=1 because the tests speak plain HTTP; one test
checks the cookie is Secure without it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from argon2 import PasswordHasher
from flask import Flask

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "stratify"))

from pages_data import seed

from closer.app import create_app
from closer.settings import Settings
from closer.store.engine import make_engine
from closer.store.sql import SqlRepository
from pages import users

# Argon2 at its production cost takes about 0.4 s a hash on a CI machine: the tests hash with a cheap one
# (verification reads the cost from each hash, so the server still checks them; it rehashes on sign-in).
users._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
STARTUP_SECONDS = 30.0


@pytest.fixture
def pages_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Plain-HTTP cookies for the test client, and the generated secret key kept in the test's directory."""
    monkeypatch.setenv("CLOSER_INSECURE_COOKIES", "1")
    monkeypatch.setenv("CLOSER_DATA_DIR", str(tmp_path / "closer-data"))
    monkeypatch.delenv("CLOSER_SECRET_KEY", raising=False)
    return tmp_path


@pytest.fixture
def pages_app(pages_env: Path, settings: Settings) -> Iterator[Flask]:
    """The whole app (FHIR API and pages) on SQLite and PostgreSQL, with the seeded store."""
    app = create_app(settings)
    seed(app.extensions["closer.repository"])
    yield app
    app.extensions["closer.engine"].dispose()


# -- a real server and a real browser --------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def live_pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`closer serve` (gunicorn) on loopback over a seeded SQLite store; yields its base URL."""
    workdir = tmp_path_factory.mktemp("pages-live")
    url = f"sqlite:///{workdir}/closer.db"
    engine = make_engine(url)
    seed(SqlRepository(engine))
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOSER_")}
    env.update(
        CLOSER_DATABASE_URL=url,
        CLOSER_INSECURE_COOKIES="1",
        CLOSER_SECRET_KEY=secrets.token_hex(32),
        CLOSER_DATA_DIR=str(workdir / "closer-data"),
        PYTHONUNBUFFERED="1",
    )
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "closer.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with (workdir / "server.err").open("wb") as err:
        proc = subprocess.Popen(
            [*command, "--workers", "1", "--threads", "4"],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    try:
        _wait_healthy(proc, base, workdir / "server.err")
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):  # its own session: sweep any worker left behind
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _wait_healthy(proc: subprocess.Popen[bytes], base: str, stderr: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited ({proc.returncode}):\n{stderr.read_text()[-4000:]}", pytrace=False)
        try:
            if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    pytest.fail(f"server did not start:\n{stderr.read_text()[-4000:]}", pytrace=False)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Chromium through chromedriver (scripts/_env.sh installs both); missing ones fail, not skip."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        assert Path(path).exists(), f"{path} is missing: scripts/_env.sh installs chromium and chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(2)
    try:
        yield driver
    finally:
        driver.quit()
