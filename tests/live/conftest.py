"""A real Closer server for real FHIR clients: `python -m closer.cli serve` (gunicorn, two workers) on a free
loopback port, once on a fresh SQLite file and once on PostgreSQL (skipped with the reason when unreachable) in a
schema of its own.

The server runs exactly as `closer serve` runs it, configured only through CLOSER_* environment variables, and
is stopped with SIGTERM at the end; a server that does not stop on SIGTERM fails the run.

Its API is not open, so the clients use credentials the way an operator gets them: before the server starts,
`closer clients add closer-live --internal --scope 'system/*.*'` registers an internal client in the test
database (its key file goes under the run's own directory), and `closer token --client closer-live --url BASE`
gets a bearer token from the running server's token endpoint (`LiveServer.token()`, renewed well before
the token's five minutes are up).
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pytest
import requests
from sqlalchemy import create_engine, text

from fhir_profiles.nhs_number import generate_nhs_number

STARTUP_SECONDS = 30.0
SHUTDOWN_SECONDS = 20.0
ROOT_CONFTEST = Path(__file__).resolve().parent.parent / "conftest.py"
CLIENT_NAME = "closer-live"  # the internal client the live tests authenticate as
TOKEN_REUSE_SECONDS = 120.0  # a token lives 300 s; ask for a new one well before that


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    backend: str
    pid: int
    runtime_dir: Path  # the server's XDG_RUNTIME_DIR, so nothing it creates there escapes the test's tmp dir
    stderr_path: Path
    workdir: Path  # where `closer clients add` saved the client's key file (closer-data/clients/)
    env: dict[str, str] = field(repr=False)
    _token: dict[str, tuple[float, str]] = field(default_factory=dict, repr=False, compare=False)

    def stderr(self) -> str:
        return _tail(self.stderr_path)

    def token(self) -> str:
        """A `system/*.*` bearer token for CLIENT_NAME from `closer token --client closer-live --url BASE`."""
        cached = self._token.get("token")
        if cached is not None and time.monotonic() - cached[0] < TOKEN_REUSE_SECONDS:
            return cached[1]
        value = _closer("token", "--client", CLIENT_NAME, "--url", self.base_url, cwd=self.workdir, env=self.env)
        self._token["token"] = (time.monotonic(), value.strip())
        return value.strip()

    @property
    def authorization(self) -> str:
        """The Authorization header value, e.g. for fhirpy's `authorization=`."""
        return f"Bearer {self.token()}"

    def cli(self, *args: str) -> str:
        """Run `closer ARGS...` as the operator of this server would (its environment and database, from its
        working directory); its stdout, or the test fails with its output."""
        return _closer(*args, cwd=self.workdir, env=self.env)

    def cli_status(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Like `cli`, but the finished process whatever its exit status (for commands whose status is
        the answer, such as `closer audit verify`)."""
        return subprocess.run(
            [sys.executable, "-m", "closer.cli", *args],
            cwd=self.workdir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )


def _tail(path: Path, limit: int = 6000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text[-limit:]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _server_env(database_url: str, runtime_dir: Path) -> dict[str, str]:
    """The caller's environment without any CLOSER_* setting of its own (a developer's CLOSER_BASE_URL would
    change every link), plus the database and a private runtime directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOSER_")}
    env.update(
        CLOSER_DATABASE_URL=database_url,
        XDG_RUNTIME_DIR=str(runtime_dir),
        PYTHONUNBUFFERED="1",
    )
    return env


def _closer(*args: str, cwd: Path, env: dict[str, str]) -> str:
    """Run a `closer` command as an operator would; its stdout, or the test fails with its output."""
    done = subprocess.run(
        [sys.executable, "-m", "closer.cli", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        pytest.fail(f"closer {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}", pytrace=False)
    return done.stdout


def _register_client(database_url: str, workdir: Path) -> None:
    """`closer clients add closer-live --internal --scope 'system/*.*'` against the test database, before the
    server starts; the key file goes to workdir/closer-data/clients/closer-live.json (mode 0600)."""
    runtime_dir = workdir / "run"
    runtime_dir.mkdir(mode=0o700, exist_ok=True)
    _closer(
        "clients",
        "add",
        CLIENT_NAME,
        "--internal",
        "--ods",
        "CLOSER",
        "--scope",
        "system/*.*",
        cwd=workdir,
        env=_server_env(database_url, runtime_dir),
    )


def _stop(proc: subprocess.Popen[bytes]) -> str | None:
    """SIGTERM, wait, SIGKILL if needed. Returns a complaint if the server did not stop cleanly."""
    problem = None
    if proc.poll() is not None:
        problem = f"server had exited with status {proc.returncode} before it was stopped"
    else:
        proc.send_signal(signal.SIGTERM)
        try:
            if (status := proc.wait(timeout=SHUTDOWN_SECONDS)) != 0:
                problem = f"server exited with status {status} after SIGTERM"
        except subprocess.TimeoutExpired:
            problem = f"server did not stop within {SHUTDOWN_SECONDS:.0f} s of SIGTERM and was killed"
    # The server runs in a session of its own (start_new_session), so its process group holds only processes
    # this fixture started: sweep it, so that no worker outlives the run whatever happened to the master.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    else:
        problem = problem or "a server process was still running after the master exited"
    proc.wait(timeout=10)
    return problem


def _wait_healthy(proc: subprocess.Popen[bytes], base_url: str, stderr_path: Path) -> str | None:
    """None once GET /healthz answers 200; otherwise why it never did."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"server exited with status {proc.returncode} during start-up"
        try:
            if requests.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return None
        except requests.RequestException:
            pass
        time.sleep(0.1)
    return f"GET {base_url}/healthz did not answer within {STARTUP_SECONDS:.0f} s"


@dataclass
class _Started:
    proc: subprocess.Popen[bytes]
    server: LiveServer


def _start(database_url: str, backend: str, workdir: Path) -> _Started:
    runtime_dir = workdir / "run"
    runtime_dir.mkdir(mode=0o700, exist_ok=True)
    problem = ""
    for attempt in range(3):  # another process may take the free port between our probe and gunicorn's bind
        port = _free_port()
        base_url = f"http://127.0.0.1:{port}"
        stdout_path, stderr_path = workdir / f"server-{attempt}.out", workdir / f"server-{attempt}.err"
        command = [sys.executable, "-m", "closer.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:  # files, not pipes: a full pipe blocks
            proc = subprocess.Popen(
                [*command, "--workers", "2"],
                cwd=workdir,
                env=_server_env(database_url, runtime_dir),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        problem = _wait_healthy(proc, base_url, stderr_path) or ""
        if not problem:
            server = LiveServer(
                base_url,
                backend,
                proc.pid,
                runtime_dir,
                stderr_path,
                workdir,
                _server_env(database_url, runtime_dir),
            )
            return _Started(proc, server)
        _stop(proc)
        if "Address already in use" not in _tail(stderr_path):
            break
    pytest.fail(f"{problem}; server stderr:\n{_tail(stderr_path)}", pytrace=False)


def _root_conftest(config: pytest.Config) -> ModuleType:
    """tests/conftest.py as pytest loaded it (`import conftest` here would find this file instead)."""
    for plugin in config.pluginmanager.get_plugins():
        module_file = getattr(plugin, "__file__", None)
        if isinstance(plugin, ModuleType) and module_file and Path(module_file).resolve() == ROOT_CONFTEST:
            return plugin
    raise RuntimeError(f"{ROOT_CONFTEST} is not loaded")


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp(f"live-{request.param}")
    if request.param == "sqlite":
        with _serving(f"sqlite:///{workdir}/closer.db", "sqlite", workdir) as server:
            yield server
        return
    root = _root_conftest(request.config)
    reason = root.postgres_available()
    if reason:
        pytest.skip(reason)
    with _postgres_schema(root) as database_url, _serving(database_url, "postgres", workdir) as server:
        yield server


@contextmanager
def _serving(database_url: str, backend: str, workdir: Path) -> Iterator[LiveServer]:
    _register_client(database_url, workdir)
    started = _start(database_url, backend, workdir)
    try:
        yield started.server
    finally:
        problem = _stop(started.proc)
        if problem:
            pytest.fail(f"{problem}; server stderr:\n{_tail(started.server.stderr_path)}", pytrace=False)


@contextmanager
def _postgres_schema(root: ModuleType) -> Iterator[str]:
    """conftest's PostgreSQL server and helpers, but a schema of this run's own: the shared one is dropped and
    truncated by every other PostgreSQL test run, which would pull the tables from under a live server."""
    schema = f"closer_live_{os.getpid()}"
    joiner = "&" if "?" in root.PG_BASE_URL else "?"
    url = f"{root.PG_BASE_URL}{joiner}options=-csearch_path%3D{schema}"
    admin = create_engine(root.PG_BASE_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        root._truncate_postgres(url)
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(scope="session")
def new_nhs_number() -> Callable[[], str]:
    """A fresh valid test-range NHS number on every call, never repeated within the run."""
    rng = random.Random(20240611)
    issued: set[str] = set()

    def make() -> str:
        while (number := generate_nhs_number(rng)) in issued:
            pass
        issued.add(number)
        return number

    return make
