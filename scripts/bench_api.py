#!/usr/bin/env python
"""Benchmark the FHIR API on a live server (gunicorn via `closer serve`), on SQLite and PostgreSQL.

Prints, per backend and side by side with the targets:
  - transaction ingest of Bundles of 100 Patients + 100 Conditions, in resources per second;
  - read p50/p99 (one client);
  - identifier search p50/p99 at 1, 8 and 32 concurrent clients;
  - server memory (RSS of all gunicorn processes) while paging through every Patient.

Usage: python scripts/bench_api.py [--patients 100000] [--backend sqlite|postgres|both]
The store is new for each run (a temp SQLite file; a `closer_bench` schema on PostgreSQL).

The API needs a bearer token, so each run registers an internal client (`closer clients add bench
--internal --scope 'system/*.*'`) before the server starts and sends its token on every request; the token
comes from the server's token endpoint (a signed private_key_jwt assertion, as `closer token --url` does)
and is renewed every TOKEN_REUSE_SECONDS, well inside its five-minute life, so the figures include
the cost of checking a token on every request.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

NHS = "https://fhir.nhs.uk/Id/nhs-number"
HEADERS = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
PG_URL = os.environ.get("CLOSER_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ROOT = Path(__file__).resolve().parent.parent
TARGET_INGEST = 1500.0
TARGET_SEARCH_P99_AT_8 = 25.0
CLIENT_NAME = "bench"
TOKEN_REUSE_SECONDS = 120.0


def nhs_number(n: int) -> str:
    """A valid test-range NHS number for a counter (Modulus 11; skips counters whose check digit is 10)."""
    while True:
        body = f"9{n:08d}"[-9:]
        body = "9" + body[1:]
        total = sum(int(d) * w for d, w in zip(body, range(10, 1, -1), strict=True))
        check = 11 - total % 11
        if check == 11:
            check = 0
        if check != 10:
            return body + str(check)
        n += 1_000_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def register_client(database_url: str, key_file: Path) -> None:
    """`closer clients add bench --internal --scope 'system/*.*'` against the bench store."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "closer.cli",
            "clients",
            "add",
            CLIENT_NAME,
            "--internal",
            "--ods",
            "BENCH",
            "--scope",
            "system/*.*",
            "--key-file",
            str(key_file),
            "--database-url",
            database_url,
        ],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    _auth.clear()
    _auth["key_file"] = key_file


# The client's key file, and the current token with when it was issued (per process: forked search
# workers inherit it and renew their own).
_auth: dict[str, object] = {}


def token_from(port: int, client_id: str, private_key: Any, alg: str, kid: str | None, scopes: list[str]) -> str:
    """An access token from the server on `port`, asked with a signed private_key_jwt client assertion."""
    from urllib.parse import urlencode

    from closer.auth.assertion import ASSERTION_TYPE, make_assertion

    token_url = f"http://127.0.0.1:{port}/auth/token"
    form = {
        "grant_type": "client_credentials",
        "scope": " ".join(scopes),
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": make_assertion(private_key, alg, client_id=client_id, token_url=token_url, kid=kid),
    }
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", "/auth/token", urlencode(form), {"Content-Type": "application/x-www-form-urlencoded"})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise SystemExit(f"token request failed: {response.status} {body[:300]!r}")
    return str(json.loads(body)["access_token"])


def bearer(port: int) -> str:
    """A bearer token for the bench client from the server on `port`, renewed every TOKEN_REUSE_SECONDS."""
    cached = _auth.get("token")
    if isinstance(cached, tuple) and cached[0] == port and time.monotonic() - cached[1] < TOKEN_REUSE_SECONDS:
        return str(cached[2])
    from closer.auth import keyfile
    from closer.auth.keys import load_private_key

    saved = keyfile.read(Path(str(_auth["key_file"])))
    private_key, alg = load_private_key(saved.private_key)
    token = token_from(port, saved.client_id, private_key, alg, saved.kid, saved.scopes)
    _auth["token"] = (port, time.monotonic(), token)
    return token


class Server:
    def __init__(self, database_url: str, workers: int, threads: int) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "CLOSER_DATABASE_URL": database_url,
            "CLOSER_LOG_LEVEL": "WARNING",
            "CLOSER_MAX_BODY_BYTES": str(50 * 1024 * 1024),
        }
        cmd = [
            sys.executable,
            "-m",
            "closer.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(workers),
        ]
        self.proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                status, _ = request(self.port, "GET", "/healthz", authenticate=False)
                if status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise SystemExit("server did not start")

    def rss_mb(self) -> float:
        """Resident memory of the gunicorn master and its workers."""
        pids = [self.proc.pid]
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        if children.exists():
            pids += [int(p) for p in children.read_text().split()]
        total = 0
        for pid in pids:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except FileNotFoundError:
                pass
        return total / 1024

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


_local = threading.local()


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    extra: dict[str, str] | None = None,
    *,
    authenticate: bool = True,
) -> tuple[int, bytes]:
    """One request on this thread's keep-alive connection, reconnecting once if the server closed it; with the
    bench client's bearer token unless `authenticate` is False (/healthz is anonymous)."""
    for attempt in (1, 2):
        conn = getattr(_local, "conn", None)
        if conn is None or getattr(_local, "port", None) != port:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            _local.conn, _local.port = conn, port
        try:
            auth = {"Authorization": f"Bearer {bearer(port)}"} if authenticate else {}
            conn.request(method, path, body=body, headers={**HEADERS, **auth, **(extra or {})})
            response = conn.getresponse()
            return response.status, response.read()
        except (http.client.HTTPException, OSError):
            conn.close()
            _local.conn = None
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def bundle(start: int, size: int) -> bytes:
    entries = []
    for n in range(start, start + size):
        full_url = f"urn:uuid:{uuid.uuid4()}"
        patient = {
            "resourceType": "Patient",
            "identifier": [{"system": NHS, "value": nhs_number(n)}],
            "name": [{"family": f"Family{n % 5000}", "given": [f"Given{n % 300}"]}],
            "gender": "female" if n % 2 else "male",
            "birthDate": f"19{30 + n % 40}-{1 + n % 12:02d}-{1 + n % 28:02d}",
            "address": [{"postalCode": f"SY{n % 20} {n % 9}AB"}],
        }
        condition = {
            "resourceType": "Condition",
            "subject": {"reference": full_url},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]},
            "onsetDateTime": "2019-06-01",
        }
        entries.append({"fullUrl": full_url, "resource": patient, "request": {"method": "POST", "url": "Patient"}})
        entries.append({"resource": condition, "request": {"method": "POST", "url": "Condition"}})
    return json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries}).encode()


def ingest(port: int, patients: int, clients: int) -> tuple[float, list[str]]:
    """Load `patients` Patients (+ as many Conditions); returns resources/s and the Patient ids.

    Bundles are built before the clock starts, so the figure is the server's, not the client's JSON
    encoding. The loader asks for `Prefer: return=minimal`, as bulk loaders do: the response carries
    each entry's status and location, not the stored resource again."""
    bodies = [bundle(start, min(100, patients - start)) for start in range(0, patients, 100)]
    ids: list[str] = []

    def post(body: bytes) -> list[str]:
        status, data = request(port, "POST", "/", body, {"Prefer": "return=minimal"})
        if status != 200:
            raise SystemExit(f"ingest failed: {status} {data[:300]!r}")
        entries = json.loads(data)["entry"]
        return [e["response"]["location"].split("/")[1] for e in entries[::2]]

    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for got in pool.map(post, bodies):
            ids.extend(got)
            if len(ids) % 20_000 == 0:
                rate = len(ids) * 2 / (time.perf_counter() - began)
                print(f"    loaded {len(ids):>7} patients ({rate:,.0f} resources/s)", flush=True)
    elapsed = time.perf_counter() - began
    return patients * 2 / elapsed, ids


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def _fresh_connection() -> None:
    """A forked client must not reuse the parent's keep-alive socket: two processes on one connection
    read each other's responses."""
    _local.conn = None


def _search_worker(args: tuple[int, list[str]]) -> list[float]:
    port, numbers = args
    latencies = []
    for number in numbers:
        path = f"/Patient?identifier={quote(NHS + '|' + number, safe='')}"
        began = time.perf_counter()
        status, data = request(port, "GET", path)
        latencies.append((time.perf_counter() - began) * 1000)
        if status != 200 or b'"total":1' not in data:
            raise SystemExit(f"search failed for {number}: {status} {data[:200]!r}")
    return latencies


def search_latency(port: int, patients: int, clients: int, per_client: int) -> list[float]:
    rng = random.Random(clients)
    jobs = [(port, [nhs_number(rng.randrange(patients)) for _ in range(per_client)]) for _ in range(clients)]
    with multiprocessing.get_context("fork").Pool(clients, initializer=_fresh_connection) as pool:
        results = pool.map(_search_worker, jobs)
    return [lat for part in results for lat in part]


def read_latency(port: int, ids: list[str], count: int) -> list[float]:
    rng = random.Random(7)
    latencies = []
    for _ in range(count):
        began = time.perf_counter()
        status, _ = request(port, "GET", f"/Patient/{rng.choice(ids)}")
        latencies.append((time.perf_counter() - began) * 1000)
        assert status == 200
    return latencies


def page_memory(server: Server, page_size: int) -> tuple[int, float, float, float]:
    """Page through every Patient twice; returns (Patients per pass, RSS before, RSS after the first
    pass, peak RSS during the second). The first pass warms the database page cache, which its size
    bounds; the second shows whether paging itself holds on to memory."""
    start = server.rss_mb()
    seen = _page_all(server, page_size, None)
    warm = server.rss_mb()
    peak = [warm]
    _page_all(server, page_size, peak)
    return seen, start, warm, peak[0]


def _page_all(server: Server, page_size: int, peak: list[float] | None) -> int:
    seen = 0
    path: str | None = f"/Patient?_count={page_size}&_total=none"
    while path:
        status, data = request(server.port, "GET", path)
        assert status == 200, data[:200]
        page = json.loads(data)
        seen += len(page.get("entry", []))
        nxt = [link["url"] for link in page["link"] if link["relation"] == "next"]
        path = nxt[0].split(str(server.port), 1)[1] if nxt else None
        if peak is not None:
            peak[0] = max(peak[0], server.rss_mb())
    return seen


def prepare_database(backend: str, tmp: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp}/bench.db"
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS closer_bench CASCADE"))
        conn.execute(text("CREATE SCHEMA closer_bench"))
    engine.dispose()
    return f"{PG_URL}?options=-csearch_path%3Dcloser_bench"


def run(backend: str, patients: int, workers: int, threads: int, per_client: int, loaders: int) -> dict[str, object]:
    print(f"\n== {backend}: {patients:,} patients, gunicorn workers={workers} threads={threads}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        database_url = prepare_database(backend, tmp)
        register_client(database_url, Path(tmp) / "clients" / f"{CLIENT_NAME}.json")
        server = Server(database_url, workers, threads)
        try:
            rate, ids = ingest(server.port, patients, clients=loaders)
            reads = read_latency(server.port, ids, 2000)
            searches = {c: search_latency(server.port, patients, c, per_client) for c in (1, 8, 32)}
            paging = page_memory(server, 1000)
        finally:
            server.stop()
    result: dict[str, object] = {
        "ingest": rate,
        "read": (percentile(reads, 50), percentile(reads, 99)),
        "search": {c: (percentile(v, 50), percentile(v, 99), len(v)) for c, v in searches.items()},
        "paging": paging,
    }
    return result


def report(results: dict[str, dict[str, object]], patients: int) -> None:
    names = list(results)
    print(f"\n== results ({patients:,} Patients; machine: {os.cpu_count()} cores)")
    print(f"{'measure':44}" + "".join(f"{n:>22}" for n in names) + f"{'target':>16}")

    def row(label: str, values: list[str], target: str = "") -> None:
        print(f"{label:44}" + "".join(f"{v:>22}" for v in values) + f"{target:>16}")

    row("transaction ingest (resources/s)", [f"{results[n]['ingest']:,.0f}" for n in names], f">= {TARGET_INGEST:,.0f}")
    row("read p50 / p99 (ms)", [f"{r[0]:.1f} / {r[1]:.1f}" for r in (results[n]["read"] for n in names)])  # type: ignore[index]
    for c in (1, 8, 32):
        target = f"p99 < {TARGET_SEARCH_P99_AT_8:.0f}" if c == 8 else ""
        cells = []
        for n in names:
            p50, p99, _count = results[n]["search"][c]  # type: ignore[index]
            cells.append(f"{p50:.1f} / {p99:.1f}")
        row(f"identifier search p50 / p99 at {c:>2} clients (ms)", cells, target)
    cells = []
    for n in names:
        _seen, start, warm, peak = results[n]["paging"]  # type: ignore[misc]
        cells.append(f"{start:.0f} / {warm:.0f} / {peak:.0f}")
    row("RSS MB paging: start / after pass 1 / peak 2", cells, "2 = 1")
    row("  Patients per pass (_count=1000)", [f"{results[n]['paging'][0]:,}" for n in names])  # type: ignore[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (closer serve's default)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (closer serve's default)")
    parser.add_argument("--loaders", type=int, default=3, help="concurrent clients posting transaction Bundles")
    parser.add_argument("--requests-per-client", type=int, default=300)
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results = {
        b: run(b, args.patients, args.workers, args.threads, args.requests_per_client, args.loaders) for b in backends
    }
    report(results, args.patients)


if __name__ == "__main__":
    main()
