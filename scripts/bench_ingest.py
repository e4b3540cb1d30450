"""Feed ingest benchmarks: HL7 v2 (hl7apy's parse, our parse, end-to-end ingest, MLLP ACK latency) and,
with --county, every feed of a synthetic county in records/s.

    .venv/bin/python scripts/bench_ingest.py --messages 20000 --backend both
    .venv/bin/python scripts/bench_ingest.py --county 73287 --backend sqlite      # the whole county

All four measures use the same generated ITK-style ADT^A01 messages (a distinct patient and visit
each, with PD1, NK1, PV1, PV2, AL1, DG1 and ZU1). End-to-end means `closer ingest hl7`'s path: split,
parse, map, validate, write Patient, Encounter, Condition, AllergyIntolerance, RelatedPerson and
Provenance plus the message-store row, committed in batches. MLLP latency is measured against a real
`closer mllp` process, sending at a fixed rate over one connection and timing each ACK.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.hl7v2.cli import BATCH_SIZE, DEFAULT_WORKERS  # noqa: E402
from adapters.hl7v2.framing import frame  # noqa: E402
from adapters.hl7v2.parser import parse  # noqa: E402
from adapters.hl7v2.processor import Hl7Processor  # noqa: E402
from adapters.writing import open_repository  # noqa: E402
from closer.settings import Settings  # noqa: E402
from fhir_profiles.nhs_number import generate_nhs_number  # noqa: E402

POSTGRES_URL = os.environ.get("CLOSER_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def message(n: int, nhs_number: str) -> str:
    month = 1 + n % 12
    day = 1 + n % 28
    when = f"2024{month:02d}{day:02d}{8 + n % 12:02d}{n % 60:02d}"
    segments = [
        f"MSH|^~\\&|PAS|RXX|CLOSER|ICB|{when}||ADT^A01^ADT_A01|BENCH{n:08d}|P|2.4|||AL|NE|GBR|UNICODE|EN||iTKv1.0",
        f"EVN|A01|{when}|||C1234567^Jones^Ann^^^Dr^^^GMC|{when}",
        f"PID|1||{nhs_number}^^^NHS^NH~H{n:07d}^^^RXX^PI||FAMILY{n % 5000}^GIVEN{n % 300}^M^^MRS^^L||"
        f"19{30 + n % 40}{month:02d}{day:02d}|{1 + n % 2}|||{n % 200} HIGH STREET^^SHREWSBURY^SHROPSHIRE^SY{n % 9} 1AB"
        f"^GBR^H||01743 {n % 1000000:06d}^PRN^PH||EN|M|C22|||||A|||||||||01",
        f"PD1|||PRACTICE {n % 40}^^M{82000 + n % 40:05d}|G{8000000 + n % 500:07d}^Smith^John^^^Dr^^^GMC",
        f"NK1|1|FAMILY{n % 5000}^PARTNER{n % 50}^^^MR^^L|SPO^Spouse^HL70063|||||||||||||||||||EN",
        f"PV1|1|I|RXX^WARD{n % 20}^BED{n % 30}^RXX|{random.Random(n).choice(['21', '22', '11', '13'])}|||"
        f"C1234567^Jones^Ann^^^Dr^^^GMC|||300||||19|||||V{n:09d}^^^RXX^VN|||||||||||||||||||||||||{when}",
        "PV2|||Chest pain",
        f"AL1|1|DA|{random.Random(n).choice(['Z88.0', 'Z88.1', 'Z88.5'])}^Allergy status^I10|SV|Rash|{when[:8]}",
        f"DG1|1||{random.Random(n).choice(['I10', 'J44.1', 'E11.9', 'N18.3'])}^Diagnosis^I10||{when}|A",
        f"ZU1|{when}|1|C|{when}||500",
    ]
    return "\r".join(segments)


def generate(count: int) -> list[str]:
    rng = random.Random(7)
    numbers: set[str] = set()
    while len(numbers) < count:
        numbers.add(generate_nhs_number(rng))
    return [message(n, number) for n, number in enumerate(sorted(numbers))]


def bench_hl7apy(messages: list[str]) -> float:
    from hl7apy.parser import parse_message

    began = time.perf_counter()
    for text in messages:
        parse_message(text, find_groups=False)
    return len(messages) / (time.perf_counter() - began)


def bench_ours(messages: list[str]) -> float:
    began = time.perf_counter()
    for text in messages:
        parsed = parse(text)
        for segment in parsed.segments:  # touch every field, as a mapping would at most
            for n in range(1, len(segment.fields)):
                segment.get(n)
    return len(messages) / (time.perf_counter() - began)


def bench_end_to_end(messages: list[str], url: str, batch: int, workers: int) -> tuple[float, int]:
    """`closer ingest hl7`'s path: batches of `batch` messages, `workers` processes mapping ahead."""
    processor = Hl7Processor(open_repository(Settings(database_url=url)))
    failed = 0
    began = time.perf_counter()
    batches = (messages[start : start + batch] for start in range(0, len(messages), batch))
    for outcomes in processor.process_stream(batches, workers):
        failed += sum(o.code != "AA" for o in outcomes)
    return len(messages) / (time.perf_counter() - began), failed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def bench_mllp(messages: list[str], url: str, rate: float) -> tuple[float, float, float]:
    """ACK latency p50/p99/max (ms) sending `rate` messages a second over one connection."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "closer.cli", "mllp", "--port", str(port), "--database-url", url],
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=10)
                break
            except OSError:
                time.sleep(0.1)
        latencies = []
        interval = 1 / rate
        next_send = time.perf_counter()
        for text in messages:
            time.sleep(max(0.0, next_send - time.perf_counter()))
            next_send += interval
            began = time.perf_counter()
            conn.sendall(frame(text))
            reply = b""
            while not reply.endswith(b"\x1c\r"):
                reply += conn.recv(65536)
            latencies.append((time.perf_counter() - began) * 1000)
            if b"MSA|AA" not in reply:
                raise SystemExit(f"MLLP message not accepted: {reply[:300]!r}")
        conn.close()
    finally:
        server.terminate()
        server.wait(10)
    latencies.sort()
    return latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99) - 1], latencies[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--hl7apy-messages", type=int, default=1_000, help="hl7apy is slow; time a subset")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--batch", type=int, default=BATCH_SIZE, help="messages per commit in end-to-end ingest")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="mapping processes in end-to-end ingest")
    parser.add_argument("--mllp-messages", type=int, default=3_000)
    parser.add_argument("--mllp-rate", type=float, default=100.0)
    parser.add_argument("--county", type=int, default=0, help="instead: load a synthetic county of N people")
    args = parser.parse_args()
    if args.county:
        bench_county(args.county, ["sqlite", "postgres"] if args.backend == "both" else [args.backend])
        return

    messages = generate(args.messages + args.mllp_messages)
    ingest, live = messages[: args.messages], messages[args.messages :]
    print(f"{len(ingest):,} generated ADT^A01 messages, machine: {os.cpu_count()} cores")
    apy = bench_hl7apy(ingest[: args.hl7apy_messages])
    print(f"  hl7apy parse_message:            {apy:>9,.0f} messages/s ({1000 / apy:.2f} ms each)")
    ours = bench_ours(ingest)
    print(f"  our parse (every field read):    {ours:>9,.0f} messages/s ({ours / apy:.0f}x hl7apy)")

    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    workdir = Path(tempfile.mkdtemp(prefix="closer-bench-ingest-"))
    try:
        for backend in backends:
            url = f"sqlite:///{workdir}/ingest.db" if backend == "sqlite" else _fresh_postgres()
            rate, failed = bench_end_to_end(ingest, url, args.batch, args.workers)
            note = f", {failed} failed" if failed else ""
            print(f"  end-to-end ingest, {backend:8}:     {rate:>9,.0f} messages/s ({rate / apy:.1f}x hl7apy){note}")
            if not live:  # --mllp-messages 0
                continue
            p50, p99, worst = bench_mllp(live, url, args.mllp_rate)
            print(
                f"  MLLP ACK at {args.mllp_rate:.0f}/s, {backend:8}:    p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
                f"max {worst:.1f} ms ({len(live):,} messages)"
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def bench_county(people: int, backends: list[str]) -> None:
    """Generate a county, write every feed, and load it with `closer ingest county`'s code, timing each feed."""
    from synth.load import FeedRun, load_county

    workdir = Path(tempfile.mkdtemp(prefix="closer-bench-county-"))
    try:
        began = time.perf_counter()
        # generated in a child process, so the peak memory below is the loader's alone
        synth = [sys.executable, "-m", "closer.cli", "synth", "--people", str(people), "--out", str(workdir / "county")]
        subprocess.run(synth, check=True, stdout=subprocess.DEVNULL)
        print(f"synthetic county of {people:,} people written in {time.perf_counter() - began:.0f} s")
        for backend in backends:
            url = f"sqlite:///{workdir}/county.db" if backend == "sqlite" else _fresh_postgres()
            repo = open_repository(Settings(database_url=url))

            def tell(run: FeedRun, backend: str = backend) -> None:
                print(
                    f"  {backend:8} {run.feed:12} {run.records:>9,} records {run.seconds:8.1f} s "
                    f"{run.per_second:>8,.0f}/s  failed {run.report.failed:,}  peak RSS {run.peak_rss_mb:,.0f} MB",
                    flush=True,
                )

            began = time.perf_counter()
            runs = load_county(repo, workdir / "county", on_feed=tell)
            total = sum(run.records for run in runs)
            print(f"  {backend:8} all feeds    {total:>9,} records {time.perf_counter() - began:8.1f} s")
            repo.engine.dispose()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _fresh_postgres() -> str:
    """An empty schema for this run, so earlier runs do not make every message a duplicate."""
    from sqlalchemy import create_engine, text

    schema = f"bench_ingest_{os.getpid()}"
    engine = create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"


if __name__ == "__main__":
    main()
