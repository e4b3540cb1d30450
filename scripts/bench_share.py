#!/usr/bin/env python
"""Benchmark consent-gated sharing on a live store, on SQLite and PostgreSQL.

Measures (`--measure`, or `all`):

- `publish`: commit-to-receipt latency of the push publisher. A store with N consented patients (each
  with a DNAR Flag, an allergy and an emergency care plan), a receiver (http.server) in this process
  registered as the ambulance service's endpoint, `closer publish run` worker process(es), and a writer
  making `--rate` changes a second for `--seconds` (Flag, CarePlan and AllergyIntolerance updates through
  the Repository). Latency is from the writer's commit (its `update` returned) to the receiver getting
  that version (`X-Closer-Version`), both timed by this process's clock. Target: p99 under 1 s.

- `alerts`: `Patient/$alerts` latency, p50 and p99, at 1, 8 and 32 concurrent consumers (client processes,
  each on its own keep-alive connection) against a live server (`closer serve`, gunicorn). The store is a
  synthetic county of `--county` people (73,287 by default: the programme's whole county, loaded once
  with every feed by scripts/bench_stratify.py's cache and copied for the run), where `--case-managed`
  people get a DNAR Flag, an allergy, an emergency care plan, an episode and a care team, and 8 in 10 of
  them a Consent for the ambulance service. The consumer is a registered `system` client (ODS RYA,
  purpose ETREAT) with its own key, asking for tokens with signed assertions; every call is filtered by
  consent and audited, as in production. NHS numbers are drawn from the case-managed people. Target:
  p99 under 50 ms at 8 consumers.

Usage: python scripts/bench_share.py [--measure publish|alerts|all] [--backend sqlite|postgres|both]
           [--patients 500] [--rate 200] [--seconds 30] [--workers 1] [--batch 50]
           [--county 73287] [--case-managed 8000] [--server-workers 4] [--alerts-requests 800]
The publish store is new for each run (a temp SQLite file; a `closer_bench_share` schema on PostgreSQL).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.writing import open_repository  # noqa: E402
from closer.settings import Settings  # noqa: E402
from closer.store.engine import make_engine  # noqa: E402
from closer.store.sql import SqlRepository  # noqa: E402
from consent.alertcodes import EMERGENCY_CARE_PLAN, SNOMED  # noqa: E402
from consent.records import sharing_consent  # noqa: E402
from fhir_profiles.canonical import NHS_NUMBER_SYSTEM, ODS_ORGANIZATION_SYSTEM  # noqa: E402

PG_URL = os.environ.get("CLOSER_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PG_SCHEMA = "closer_bench_share"
AMBULANCE_ODS = "RYA"
TARGET_P99_MS = 1000.0
DRAIN_SECONDS = 120.0


# -- stores --------------------------------------------------------------------------------------------


@contextmanager
def fresh_store(backend: str, workdir: Path) -> Iterator[str]:
    """A new, empty store's URL: a SQLite file in `workdir`, or a PostgreSQL schema of its own."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir}/closer.db"
        return
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
    joiner = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{joiner}options=-csearch_path%3D{PG_SCHEMA}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        admin.dispose()


def open_repo(url: str) -> SqlRepository:
    import consent.publisher.tables  # noqa: F401  (the publisher's tables, created with the store's)

    return open_repository(Settings.from_env(database_url=url))


def put_in_batches(repo: SqlRepository, resources: Iterable[dict], size: int = 500) -> None:
    """Store `resources`, `size` to a transaction."""
    batch: list[dict] = []
    for resource in resources:
        batch.append(resource)
        if len(batch) >= size:
            with repo.transaction() as tx:
                tx.put_many(batch)
            batch = []
    if batch:
        with repo.transaction() as tx:
            tx.put_many(batch)


# -- the shared record ---------------------------------------------------------------------------------


PUSHED_TYPES = ("Flag", "AllergyIntolerance", "CarePlan")
AMBULANCE_ORG = {
    "resourceType": "Organization",
    "id": "org-rya",
    "identifier": [{"system": ODS_ORGANIZATION_SYSTEM, "value": AMBULANCE_ODS}],
    "name": "Ambulance service",
}


def consent(pid: str, resource_types: tuple[str, ...] = PUSHED_TYPES) -> dict:
    """The patient's Consent to share `resource_types` with the ambulance service."""
    return sharing_consent(f"share-{pid}", pid, [AMBULANCE_ODS], resource_types, given="2024-01-01")


def flag(pid: str, n: int) -> dict:
    return {
        "resourceType": "Flag",
        "id": f"dnar-{pid}",
        "status": "active" if n % 2 == 0 else "inactive",
        "code": {"coding": [{"system": SNOMED, "code": "304253006"}], "text": f"DNACPR (change {n})"},
        "subject": {"reference": f"Patient/{pid}"},
    }


def allergy(pid: str, n: int) -> dict:
    return {
        "resourceType": "AllergyIntolerance",
        "id": f"allergy-{pid}",
        "code": {"coding": [{"system": SNOMED, "code": "91936005"}], "text": f"penicillin (change {n})"},
        "patient": {"reference": f"Patient/{pid}"},
    }


def care_plan(pid: str, n: int) -> dict:
    return {
        "resourceType": "CarePlan",
        "id": f"ecp-{pid}",
        "status": "active",
        "intent": "plan",
        "title": f"Emergency care plan (change {n})",
        "category": [{"coding": [{"system": SNOMED, "code": EMERGENCY_CARE_PLAN}]}],
        "subject": {"reference": f"Patient/{pid}"},
    }


CHANGES: tuple[Callable[[str, int], dict], ...] = (flag, allergy, care_plan)


def seed(repo: SqlRepository, patients: int) -> None:
    """The ambulance trust's Organization and N consented patients with their shared record, in batches."""

    def records() -> Iterator[dict]:
        yield AMBULANCE_ORG
        for n in range(patients):
            pid = f"bench-{n}"
            yield {"resourceType": "Patient", "id": pid, "name": [{"family": "Bench", "given": [str(n)]}]}
            yield from (consent(pid), *(make(pid, 0) for make in CHANGES))

    put_in_batches(repo, records())


# -- the receiver --------------------------------------------------------------------------------------


@dataclass
class Receipts:
    """(resource, version) -> when it first arrived; and how many arrived in all."""

    first: dict[tuple[str, int], float] = field(default_factory=dict)
    total: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, resource: str, version: int, at: float) -> None:
        with self.lock:
            self.total += 1
            self.first.setdefault((resource, version), at)


@contextmanager
def receiver(receipts: Receipts) -> Iterator[str]:
    """An HTTP receiver on a free loopback port, answering 200 to every PUT; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_PUT(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            resource = self.path.removeprefix("/fhir/")
            receipts.add(resource, int(self.headers.get("X-Closer-Version") or 0), time.time())
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/fhir"
    finally:
        server.shutdown()
        server.server_close()


# -- workers and the writer ----------------------------------------------------------------------------


@contextmanager
def publishers(url: str, endpoint: str, workers: int, batch: int, workdir: Path) -> Iterator[None]:
    """`closer publish run` worker processes for the run; stopped with SIGTERM at the end."""
    config = workdir / "publish.toml"
    config.write_text(
        f'[publisher]\nsigning_key = "{workdir}/publisher-key.pem"\n\n'
        f'[[endpoint]]\nname = "ambulance"\nurl = "{endpoint}"\nods = "{AMBULANCE_ODS}"\n',
        encoding="utf-8",
    )
    env = {**os.environ, "CLOSER_DATABASE_URL": url, "CLOSER_PUBLISH_ENDPOINTS": str(config)}
    command = [sys.executable, "-m", "closer.cli", "publish", "run", "--poll", "0.05", "--batch", str(batch)]
    processes = [
        subprocess.Popen(
            [*command, "--worker", f"bench-{n}"],
            env=env,
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=(workdir / f"worker-{n}.log").open("wb"),
        )
        for n in range(workers)
    ]
    try:
        yield
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def write_changes(repo: SqlRepository, patients: int, rate: float, seconds: float) -> dict[tuple[str, int], float]:
    """`rate` updates a second for `seconds`, paced; (resource, version) -> when its commit returned."""
    rng = random.Random(7)
    committed: dict[tuple[str, int], float] = {}
    counters: dict[str, int] = {}
    start = time.monotonic()
    for i in range(int(rate * seconds)):
        due = start + i / rate
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        pid, make = f"bench-{rng.randrange(patients)}", rng.choice(CHANGES)
        key = f"{make.__name__}-{pid}"
        counters[key] = counters.get(key, 0) + 1
        written = repo.update(make(pid, counters[key])).resource
        committed[(f"{written['resourceType']}/{written['id']}", int(written["meta"]["versionId"]))] = time.time()
    return committed


def wait_until(done: Callable[[], bool], limit: float) -> bool:
    deadline = time.monotonic() + limit
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


# -- the measures --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of the results table."""

    measure: str
    backend: str
    figures: dict[str, str]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure_publish(backend: str, args: argparse.Namespace) -> Row:
    with tempfile.TemporaryDirectory(prefix="closer-bench-share-") as tmp, fresh_store(backend, Path(tmp)) as url:
        workdir = Path(tmp)
        repo = open_repo(url)
        receipts = Receipts()
        print(f"[{backend}] seeding {args.patients} consented patients", file=sys.stderr)
        seed(repo, args.patients)
        with receiver(receipts) as endpoint, publishers(url, endpoint, args.workers, args.batch, workdir):
            backlog = 3 * args.patients
            if not wait_until(lambda: len(receipts.first) >= backlog, DRAIN_SECONDS):
                logs = "\n".join(p.read_text(errors="replace")[-2000:] for p in workdir.glob("worker-*.log"))
                raise SystemExit(f"[{backend}] the initial {backlog} deliveries did not arrive; worker logs:\n{logs}")
            print(f"[{backend}] writing {args.rate:g} changes/s for {args.seconds:g} s", file=sys.stderr)
            before = receipts.total
            committed = write_changes(repo, args.patients, args.rate, args.seconds)
            wait_until(lambda: all(key in receipts.first for key in committed), DRAIN_SECONDS)
        repo.engine.dispose()
    latencies = [(receipts.first[k] - t) * 1000 for k, t in committed.items() if k in receipts.first]
    missing = sum(1 for k in committed if k not in receipts.first)
    duplicates = receipts.total - before - len(latencies)
    figures = {
        "workers": str(args.workers),
        "batch": str(args.batch),
        "changes": str(len(committed)),
        "delivered": str(len(latencies)),
        "missing": str(missing),
        "repeats": str(duplicates),
        "p50 ms": f"{statistics.median(latencies):.0f}" if latencies else "-",
        "p99 ms": f"{percentile(latencies, 0.99):.0f}" if latencies else "-",
        "max ms": f"{max(latencies):.0f}" if latencies else "-",
        "target p99": f"< {TARGET_P99_MS:.0f} ms",
    }
    return Row("publish", backend, figures)


# -- $alerts latency ----------------------------------------------------------------------------------

ALERTS_SCOPES = tuple(
    f"system/{t}.read"
    for t in ("Flag", "AllergyIntolerance", "CarePlan", "EpisodeOfCare", "CareTeam", "Organization", "Practitioner")
)
ALERTS_LEVELS = (1, 8, 32)
TARGET_ALERTS_P99_AT_8_MS = 50.0
CONSENTED_SHARE = 0.8  # of the case-managed people, how many consent to sharing with the ambulance service


def county_patients(url: str, limit: int) -> list[tuple[str, str]]:
    """(id, NHS number) of the first `limit` Patients of a loaded county, in id order."""
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT res_id, content FROM resources WHERE res_type = 'Patient' AND deleted = false "
                "ORDER BY res_id LIMIT :n"
            ),
            {"n": limit},
        ).all()
    engine.dispose()
    found = []
    for res_id, content in rows:
        patient = json.loads(content)
        number = next((i["value"] for i in patient.get("identifier", []) if i.get("system") == NHS_NUMBER_SYSTEM), None)
        if number:
            found.append((res_id, number))
    return found


def episode(pid: str) -> list[dict]:
    """The case-management episode and care team that name who to contact."""
    return [
        {
            "resourceType": "EpisodeOfCare",
            "id": f"eoc-{pid}",
            "status": "active",
            "patient": {"reference": f"Patient/{pid}"},
            "managingOrganization": {"reference": "Organization/cm-team"},
            "careManager": {"reference": "Practitioner/cm-bench"},
        },
        {
            "resourceType": "CareTeam",
            "id": f"ct-{pid}",
            "status": "active",
            "subject": {"reference": f"Patient/{pid}"},
            "participant": [{"member": {"reference": "Organization/ooh-team"}}],
        },
    ]


def seed_alerts(repo: SqlRepository, people: list[tuple[str, str]]) -> None:
    """Alerts, plans and an episode for each case-managed person; consent for CONSENTED_SHARE of them."""

    def records() -> Iterator[dict]:
        yield from (
            AMBULANCE_ORG,
            {"resourceType": "Organization", "id": "cm-team", "name": "Case management team"},
            {"resourceType": "Organization", "id": "ooh-team", "name": "Out-of-hours team"},
            {"resourceType": "Practitioner", "id": "cm-bench", "name": [{"family": "Manager"}]},
        )
        for n, (pid, _) in enumerate(people):
            yield from (*(make(pid, 0) for make in CHANGES), *episode(pid))
            if n % 10 < CONSENTED_SHARE * 10:
                yield consent(pid, (*PUSHED_TYPES, "EpisodeOfCare", "CareTeam"))

    put_in_batches(repo, records())


def register_consumer(url: str, key_dir: Path) -> dict[str, str]:
    """The ambulance service's EPR as a consumer system (ETREAT), with a key pair of its own."""
    from closer.auth.clients import SYSTEM, add_client, check_registration
    from closer.auth.keys import ES384, generate_key_pair

    pair = generate_key_pair(ES384)
    new = check_registration(
        "bench-ambulance",
        kind=SYSTEM,
        organization=AMBULANCE_ODS,
        scopes=ALERTS_SCOPES,
        public_key=json.dumps(pair.jwks),
        purpose="ETREAT",
    )
    engine = make_engine(url)
    client = add_client(engine, new)
    engine.dispose()
    key = key_dir / "bench-ambulance.pem"
    key.write_text(pair.private_pem)
    key.chmod(0o600)
    return {"client_id": client.client_id, "kid": pair.kid or "", "key": str(key)}


def consumer_token(port: int, consumer: dict[str, str]) -> str:
    """A token from the live server for the consumer, asked with its signed private_key_jwt assertion."""
    from bench_api import token_from  # a sibling script

    from closer.auth.keys import load_private_key

    private_key, alg = load_private_key(Path(consumer["key"]).read_text())
    return token_from(port, consumer["client_id"], private_key, alg, consumer["kid"] or None, list(ALERTS_SCOPES))


def _alerts_client(job: tuple[int, str, list[str]]) -> list[float]:
    """One consumer: $alerts for each NHS number on its own keep-alive connection; milliseconds each."""
    port, token, numbers = job
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
    latencies = []
    for number in numbers:
        path = f"/Patient/$alerts?identifier={quote(NHS_NUMBER_SYSTEM + '|' + number, safe='')}"
        began = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        latencies.append((time.perf_counter() - began) * 1000)
        if response.status != 200 or b'"searchset"' not in body:
            raise SystemExit(f"$alerts failed for {number}: {response.status} {body[:200]!r}")
    conn.close()
    return latencies


def alerts_at_levels(
    port: int, consumer: dict[str, str], numbers: list[str], backend: str, args: argparse.Namespace
) -> list[Row]:
    """One row per concurrency level: each consumer process asks for `--alerts-requests / level` patients."""
    rows = []
    rng = random.Random(6)
    for clients in ALERTS_LEVELS:
        token = consumer_token(port, consumer)
        per_client = max(20, args.alerts_requests // clients)
        jobs = [(port, token, [rng.choice(numbers) for _ in range(per_client)]) for _ in range(clients)]
        with multiprocessing.get_context("fork").Pool(clients) as pool:
            latencies = [ms for part in pool.map(_alerts_client, jobs) for ms in part]
        figures = {
            "people": f"{args.county:,}",
            "consumers": str(clients),
            "requests": str(len(latencies)),
            "p50 ms": f"{statistics.median(latencies):.1f}",
            "p99 ms": f"{percentile(latencies, 0.99):.1f}",
            "target p99": f"< {TARGET_ALERTS_P99_AT_8_MS:.0f} ms" if clients == 8 else "",
        }
        rows.append(Row("alerts", backend, figures))
    return rows


def measure_alerts(backend: str, args: argparse.Namespace) -> list[Row]:
    """$alerts p50/p99 at 1, 8 and 32 concurrent consumers on a county of `--county` people."""
    import bench_stratify  # the county store cache (a sibling script)
    from bench_api import Server  # `closer serve` as a subprocess

    cache = ROOT / "closer-data" / "bench-stratify"
    cache.mkdir(parents=True, exist_ok=True)
    loaded = bench_stratify.prepare(args.county, backend, cache)
    url = bench_stratify.scratch_copy(loaded, backend, cache)
    try:
        people = county_patients(url, args.case_managed)
        print(f"[{backend}] seeding alerts for {len(people):,} of {args.county:,} people", file=sys.stderr)
        repo = open_repo(url)
        seed_alerts(repo, people)
        repo.engine.dispose()
        with tempfile.TemporaryDirectory(prefix="closer-bench-alerts-") as tmp:
            consumer = register_consumer(url, Path(tmp))
            server = Server(url, args.server_workers, 1)
            try:
                return alerts_at_levels(server.port, consumer, [number for _, number in people], backend, args)
            finally:
                server.stop()
    finally:
        bench_stratify.drop_scratch(url, backend)


MEASURES: dict[str, Callable[[str, argparse.Namespace], list[Row]]] = {
    "publish": lambda backend, args: [measure_publish(backend, args)],
    "alerts": measure_alerts,
}


def print_table(rows: list[Row]) -> None:
    for measure in dict.fromkeys(row.measure for row in rows):
        mine = [row for row in rows if row.measure == measure]
        columns = ["backend", *mine[0].figures]
        table = [[row.backend, *row.figures.values()] for row in mine]
        widths = [max(len(c), *(len(r[i]) for r in table)) for i, c in enumerate(columns)]
        print(f"\n{measure}")
        print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
        for line in table:
            print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--measure", choices=[*MEASURES, "all"], default="all")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--patients", type=int, default=500)
    parser.add_argument("--rate", type=float, default=200.0, help="changes a second (publish)")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the writer writes (publish)")
    parser.add_argument("--workers", type=int, default=1, help="`closer publish run` processes (publish)")
    parser.add_argument("--batch", type=int, default=50, help="deliveries a worker claims at once (publish)")
    parser.add_argument("--county", type=int, default=73287, help="people in the stored county (alerts)")
    parser.add_argument("--case-managed", type=int, default=8000, help="people with alerts, plans, episode (alerts)")
    parser.add_argument("--server-workers", type=int, default=4, help="gunicorn workers (alerts)")
    parser.add_argument("--alerts-requests", type=int, default=800, help="$alerts calls per level (alerts)")
    parser.add_argument("--json", action="store_true", help="also print the rows as JSON")
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    measures = list(MEASURES) if args.measure == "all" else [args.measure]
    rows = [row for m in measures for backend in backends for row in MEASURES[m](backend, args)]
    print_table(rows)
    if args.json:
        print(json.dumps([row.__dict__ for row in rows], indent=2))


if __name__ == "__main__":
    main()
