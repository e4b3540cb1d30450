"""Where planning stands in the outbox, and how it moves past gaps (pure: no clock, no IO).

The outbox's seq comes from a sequence. On SQLite one writer commits at a time, so seqs commit in order.
On PostgreSQL two writers can take seqs 10 and 11 and commit 11 first: a reader that moved its cursor to
11 would never see 10. So planning keeps a low-water mark (every seq at or below it is planned) and the
set of seqs above it that are planned already ("seen"), each with when it was first seen. The mark
advances over consecutive seen seqs. A missing seq holds it back until the seq commits, or until the first
seq above the gap has been seen for `gap_timeout`: a rolled-back transaction leaves a gap that never fills
(its seqs are used up), and it must not hold planning back for ever. Events above a gap are planned as
they arrive, so a gap delays nothing but the mark.

A transaction that commits more than `gap_timeout` after a later seq did is missed; keep the timeout
above the longest write transaction (bulk loads run in batches for that reason).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Advance:
    mark: int  # the new low-water mark
    drop: frozenset[int]  # seen seqs now at or below the mark, no longer needed
    skipped: tuple[int, ...]  # seqs given up as never committed


def advance(mark: int, seen: Mapping[int, int], now: int, gap_timeout: int) -> Advance:
    """Move the mark over consecutive seen seqs, and over gaps older than `gap_timeout` (same unit as `now`
    and the seen times)."""
    skipped: list[int] = []
    pending = sorted(seen)
    i = 0
    while i < len(pending):
        nxt = pending[i]
        if nxt == mark + 1:
            mark = nxt
            i += 1
        elif now - seen[nxt] >= gap_timeout:
            skipped.extend(range(mark + 1, nxt))
            mark = nxt
            i += 1
        else:
            break
    return Advance(mark, frozenset(s for s in seen if s <= mark), tuple(skipped))


def gaps(mark: int, seen: Mapping[int, int]) -> list[tuple[int, int]]:
    """The runs of seqs above the mark not planned yet, below the highest seen: (first, last) inclusive.
    Only these, and what lies above the highest seen seq, can hold unplanned events."""
    found: list[tuple[int, int]] = []
    previous = mark
    for seq in sorted(seen):
        if seq > previous + 1:
            found.append((previous + 1, seq - 1))
        previous = max(previous, seq)
    return found
