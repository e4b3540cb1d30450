#!/usr/bin/env python
"""Time and peak memory of `closer stratify run` on synthetic counties of several sizes, SQLite and
PostgreSQL side by side, to show the cost is linear and within target (73,287 people, writes included,
under 60 s on SQLite, under 2 GiB).

Each county is generated (`synth`) and loaded through the real feed adapters into SQLite once, and
copied from there into a PostgreSQL database `closer_bench_<n>` (`closer store copy`), then kept under
--cache-dir, because loading takes far longer than stratifying (bench_ingest.py --county measures it).
Every measurement starts from an untouched copy of the loaded store (a file copy; a PostgreSQL
`CREATE DATABASE ... TEMPLATE`; with --in-place the store itself) and runs the real CLI in a fresh
process, whose wall time and peak resident memory (wait4) are reported. A second run of the same
quarter (every resource unchanged) is timed too.

    .venv/bin/python scripts/bench_stratify.py --sizes 10000,73287,250000 --backend both
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("CLOSER_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
AS_OF = "2026-10-01"


def closer(*args: str) -> list[str]:
    return [sys.executable, "-m", "closer.cli", *args]


def measured(command: list[str]) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, output) of one fresh process."""
    began = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)
    assert process.stdout is not None
    output = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - began
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{output}")
    return seconds, usage.ru_maxrss / 1024, output


def _pg_url(database: str) -> str:
    return make_url(POSTGRES_URL).set(database=database).render_as_string(hide_password=False)


def _admin():  # type: ignore[no-untyped-def]
    return create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")


def prepare(size: int, backend: str, cache: Path) -> str:
    """The URL of a loaded county of `size` people (loading it the first time)."""
    county = cache / f"county-{size}"
    if not (county / ".written").exists():
        print(f"  generating {size:,} people...", flush=True)
        shutil.rmtree(county, ignore_errors=True)
        subprocess.run(
            closer("synth", "--people", str(size), "--out", str(county), "--as-of", AS_OF),
            check=True,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        (county / ".written").touch()
    if backend == "sqlite":
        store = cache / f"store-{size}.db"
        url = f"sqlite:///{store}"
        if not (cache / f"store-{size}.loaded").exists():
            for stale in cache.glob(f"store-{size}.db*"):
                stale.unlink()
            print(f"  loading {size:,} people into SQLite (once)...", flush=True)
            seconds, _, _ = measured(closer("ingest", "county", str(county), "--database-url", url))
            engine = create_engine(url)
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            engine.dispose()
            (cache / f"store-{size}.loaded").write_text(f"{seconds:.0f} s\n")
        return url
    name = f"closer_bench_{size}"
    admin = _admin()
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar()
    if not exists or not (cache / f"{name}.loaded").exists():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        # The same county, copied from the SQLite store the adapters loaded (`closer store copy`): loading
        # is measured by bench_ingest.py --county; this script measures stratification.
        sqlite_url = prepare(size, "sqlite", cache)
        print(f"  copying {size:,} people's store into PostgreSQL (once)...", flush=True)
        seconds, _, _ = measured(closer("store", "copy", "--from", sqlite_url, "--to", _pg_url(name)))
        (cache / f"{name}.loaded").write_text(f"{seconds:.0f} s (copied from SQLite)\n")
    admin.dispose()
    return _pg_url(name)


def scratch_copy(loaded: str, backend: str, cache: Path) -> str:
    """An untouched copy of a loaded store to stratify."""
    if backend == "sqlite":
        source = Path(make_url(loaded).database or "")
        target = cache / "scratch.db"
        for stale in cache.glob("scratch.db*"):
            stale.unlink()
        shutil.copyfile(source, target)
        return f"sqlite:///{target}"
    template = make_url(loaded).database
    admin = _admin()
    with admin.connect() as conn:
        conn.execute(text('DROP DATABASE IF EXISTS "closer_bench_scratch" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "closer_bench_scratch" TEMPLATE "{template}"'))
    admin.dispose()
    return _pg_url("closer_bench_scratch")


def drop_scratch(url: str, backend: str) -> None:
    """Give the copy's disk back (a 250,000-person store is about 14 GB)."""
    if backend == "sqlite":
        for stale in Path(make_url(url).database or "").parent.glob("scratch.db*"):
            stale.unlink()
        return
    admin = _admin()
    with admin.connect() as conn:
        conn.execute(text('DROP DATABASE IF EXISTS "closer_bench_scratch" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,73287,250000", help="People per county, comma separated.")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "closer-data" / "bench-stratify")
    parser.add_argument("--prepare-only", action="store_true", help="Generate and load the counties, then stop.")
    parser.add_argument(
        "--in-place",
        action="store_true",
        help="Stratify the loaded store itself rather than a copy (saves disk for the largest county; its first "
        "run is then only a first run once).",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in sizes:
        for backend in backends:
            print(f"{size:,} people, {backend}:", flush=True)
            loaded = prepare(size, backend, args.cache_dir)
            if args.prepare_only:
                continue
            url = loaded if args.in_place else scratch_copy(loaded, backend, args.cache_dir)
            run = closer("stratify", "run", "--as-of", AS_OF, "--database-url", url)
            first, first_mb, output = measured(run)
            again, again_mb, _ = measured(run)
            if not args.in_place:
                drop_scratch(url, backend)
            cohort = next((line for line in output.splitlines() if "cohort" in line), "").strip()
            print(f"  first run {first:.1f} s, peak {first_mb:.0f} MB; same quarter again {again:.1f} s; {cohort}")
            rows.append((size, backend, first, first_mb, again, again_mb))
    if not rows:
        return
    print("\npeople   backend    first run   peak MB   µs/person   re-run   peak MB")
    for size, backend, first, first_mb, again, again_mb in rows:
        print(
            f"{size:>7,}  {backend:9} {first:>8.1f} s {first_mb:>8.0f} {first / size * 1e6:>10.0f} "
            f"{again:>7.1f} s {again_mb:>8.0f}"
        )


if __name__ == "__main__":
    main()
