"""Helpers shared by the HL7 v2 sample, differential, malformed-message and property tests: where the
sample messages are, a processor on a fresh store, the store's resources in comparable form, and the
checks every ACK must pass."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from extract_rows import COLUMNS
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message as Hl7apyMessage
from hl7apy.parser import parse_message
from sqlalchemy import select

from adapters.hl7v2 import messagestore as store
from adapters.hl7v2.framing import decode, split_messages
from adapters.hl7v2.parser import Message, parse
from adapters.hl7v2.processor import Hl7Processor
from adapters.writing import open_repository
from closer.settings import Settings
from closer.store.extract import index_tuples
from closer.store.schema import INDEX_TABLES, resources
from closer.store.sql import SqlRepository

JSON = dict[str, Any]

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "hl7v2"
MALFORMED = SAMPLES / "malformed"
EXPECTED_SUFFIX = ".expected.json"
ACK_CODES = ("AA", "AE", "AR")


# -- samples ----------------------------------------------------------------------------------------------
def sample_paths() -> list[Path]:
    """Every well-formed sample message file (each may hold several messages, processed in order)."""
    return sorted(SAMPLES.glob("*.hl7"))


def malformed_paths() -> list[Path]:
    return sorted(p for p in MALFORMED.iterdir() if p.name != "cases.json")


def malformed_cases() -> dict[str, JSON]:
    """cases.json: file name -> {"ack": AR|AE, "error_code": HL7 table 0357 code, "location": "PID-3"}."""
    cases: dict[str, JSON] = json.loads((MALFORMED / "cases.json").read_text())
    return cases


def messages_in(path: Path) -> list[str]:
    """The messages in a sample file, as the ingest command splits them."""
    return split_messages(decode(path.read_bytes()))


def expected_path(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".hl7") + EXPECTED_SUFFIX)


def load_expected(path: Path) -> list[JSON]:
    expected: list[JSON] = json.loads(expected_path(path).read_text())
    return expected


# -- the store --------------------------------------------------------------------------------------------
@contextmanager
def fresh_processor(database_url: str) -> Iterator[Hl7Processor]:
    """A processor on the (empty) store at `database_url`; the engine is disposed afterwards."""
    repository = open_repository(Settings.from_env({}, database_url=database_url))
    try:
        yield Hl7Processor(repository)
    finally:
        repository.engine.dispose()


def comparable(resource: JSON) -> JSON:
    """A resource without what varies from run to run: meta, and Provenance.recorded."""
    drop = {"meta", "recorded"} if resource.get("resourceType") == "Provenance" else {"meta"}
    return {k: v for k, v in resource.items() if k not in drop}


def stored_resources(repository: SqlRepository) -> list[JSON]:
    """Every current (not deleted) resource in the store, comparable, ordered by type and id."""
    query = select(resources.c.content).where(resources.c.deleted.is_(False))
    with repository.engine.connect() as conn:
        found = [comparable(orjson.loads(row.content)) for row in conn.execute(query)]
    return sorted(found, key=lambda r: (r["resourceType"], r["id"]))  # in Python: collations differ


def index_matches_content(repository: SqlRepository) -> None:
    """Assert that every current resource's stored index rows are the rows its stored content gives, so
    rows prepared before the write (in a worker, or outside the transaction) were the right ones."""
    stored: dict[tuple[str, str], dict[str, list[tuple[Any, ...]]]] = {}
    with repository.engine.connect() as conn:
        for row in conn.execute(select(resources.c.content).where(resources.c.deleted.is_(False))):
            resource = orjson.loads(row.content)
            stored[(resource["resourceType"], resource["id"])] = {
                t: sorted(map(repr, r)) for t, r in index_tuples(resource).items()
            }
        found: dict[tuple[str, str], dict[str, list[str]]] = {
            key: {t: [] for t in rows} for key, rows in stored.items()
        }
        for name, table in INDEX_TABLES.items():
            if name in COLUMNS:
                for values in conn.execute(select(*(table.c[c] for c in ("res_type", "res_id", *COLUMNS[name])))):
                    found[(values[0], values[1])][name].append(repr(tuple(values[2:])))
    assert {k: {t: sorted(v) for t, v in rows.items()} for k, rows in found.items()} == stored


def stored_messages(repository: SqlRepository) -> list[store.StoredMessage]:
    """The message store's rows, oldest first."""
    with repository.engine.connect() as conn:
        return list(reversed(store.listing(conn, None, limit=1_000_000)))


def write_expected(path: Path, found: list[JSON]) -> None:
    expected_path(path).write_text(json.dumps(found, indent=2, ensure_ascii=False) + "\n")


# -- ACKs -------------------------------------------------------------------------------------------------
def hl7apy_parse(text: str) -> Hl7apyMessage:
    """hl7apy's reading of a message: flat (no groups), tolerant of what its structures do not expect."""
    return parse_message(text, find_groups=False, validation_level=VALIDATION_LEVEL.TOLERANT)


def check_ack(ack: str) -> Message:
    """An ACK must be one well-formed HL7 message (no NUL, MLLP frame characters or \\n in it), valid for
    our parser and for hl7apy, with MSA-1 AA, AE or AR. Returns our parse of it."""
    assert not set(ack) & {"\x00", "\x0b", "\x1c", "\n"}, f"the ACK would break its MLLP frame: {ack!r}"
    ours = parse(ack)
    assert ours.msh.name == "MSH"
    assert ours.message_code == "ACK"
    msa = ours.first("MSA")
    assert msa is not None, ack
    assert msa.get(1) in ACK_CODES, ack
    theirs = hl7apy_parse(ack)
    assert theirs.msa.msa_1.to_er7() == msa.get(1)
    assert theirs.msh.msh_9.to_er7().split("^")[0] == "ACK"
    return ours
