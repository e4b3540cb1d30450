"""The hash chain over the audit log (pure: no database).

Each row's hash is SHA-256 over the previous row's hash, its own seq, recorded time, patient and
recipient columns, and the canonical JSON of its AuditEvent. So editing any of those, or a hash, breaks
that row; deleting a row leaves a gap in seq (seqs are consecutive from 1); and the head (the last seq and
hash, kept apart and updated in the same transaction as each append) shows a truncated tail.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

GENESIS = "0" * 64  # the "previous hash" of seq 1


def canonical(event: dict[str, Any]) -> str:
    """The AuditEvent as stored and hashed: compact JSON, keys sorted."""
    return orjson.dumps(event, option=orjson.OPT_SORT_KEYS).decode("utf-8")


def link_hash(prev_hash: str, seq: int, recorded: int, patient: str | None, recipient: str, event: str) -> str:
    """The hash of one row; the columns go in as a JSON array, so no value can run into the next."""
    columns = orjson.dumps([prev_hash, seq, recorded, patient, recipient])
    return hashlib.sha256(columns + b"\n" + event.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Link:
    """One row of the log, as stored."""

    seq: int
    recorded: int
    patient: str | None
    recipient: str
    event: str
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class VerifyResult:
    """How many events were checked, and the first broken seq with the reason (None when intact)."""

    events: int
    broken_seq: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_seq is None

    def summary(self) -> str:
        if self.ok:
            return f"{self.events} events, chain intact"
        return f"chain broken at seq {self.broken_seq}: {self.reason} ({self.events} events before it are intact)"


def check_chain(links: Iterable[Link], head: tuple[int, str] | None) -> VerifyResult:
    """Walk the links in seq order and compare the end with the head (seq, hash); stop at the first break."""
    expected, prev, count = 1, GENESIS, 0
    for link in links:
        if link.seq != expected:
            why = f"seq {expected} is missing (deleted?): the chain goes from seq {expected - 1} to seq {link.seq}"
            return VerifyResult(count, expected, why)
        if link.prev_hash != prev:
            where = f"seq {expected - 1}" if expected > 1 else "the genesis value"
            return VerifyResult(count, link.seq, f"its prev_hash does not match the hash of {where} (link broken)")
        if link_hash(link.prev_hash, link.seq, link.recorded, link.patient, link.recipient, link.event) != link.hash:
            return VerifyResult(count, link.seq, "its content does not match its hash (edited)")
        prev, expected, count = link.hash, expected + 1, count + 1
    last = expected - 1
    if head is None:
        if count:
            return VerifyResult(count, last, f"the head row is missing: a tail deleted after seq {last} would not show")
        return VerifyResult(0)
    head_seq, head_hash = head
    if head_seq > last:
        why = f"seq {last + 1} to {head_seq} are missing (deleted tail): the head says the chain ends at seq {head_seq}"
        return VerifyResult(count, last + 1, why)
    if head_seq < last:
        why = f"the chain runs past the head (seq {head_seq}): rows were added outside record"
        return VerifyResult(count, head_seq + 1, why)
    if head_hash != prev:
        return VerifyResult(count, last, f"the head's hash does not match seq {last}'s (edited)")
    return VerifyResult(count)
