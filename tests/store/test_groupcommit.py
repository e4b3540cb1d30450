"""GroupCommit: concurrent submitters share transactions, every item is written exactly once before its
submitter returns, and each submitter learns of its own item's failure (or of the whole transaction's)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from closer.store.groupcommit import GroupCommit, GroupCommitError


class Log:
    """A stand-in transaction log: what each write committed, as batches, and slow enough that threads meet."""

    def __init__(self, fail_items: frozenset[int] = frozenset(), fail_batches: int = 0) -> None:
        self.batches: list[list[int]] = []
        self.fail_items = fail_items
        self.fail_batches = fail_batches
        self.lock = threading.Lock()

    def write(self, items: list[int]) -> Sequence[BaseException | None]:
        time.sleep(0.005)  # the flush: submitters arriving meanwhile queue for the next batch
        with self.lock:
            if self.fail_batches:
                self.fail_batches -= 1
                raise OSError("disk I/O error")
            self.batches.append([i for i in items if i not in self.fail_items])
        return [ValueError(f"item {i} is malformed") if i in self.fail_items else None for i in items]


def submitted(log: Log, items: range, threads: int = 16) -> dict[int, BaseException | None]:
    group = GroupCommit(log.write)
    outcomes: dict[int, BaseException | None] = {}

    def one(item: int) -> None:
        try:
            group.submit(item)
        except GroupCommitError as exc:
            outcomes[item] = exc
        else:
            written = any(item in batch for batch in log.batches)  # committed before submit returned
            outcomes[item] = None if written else AssertionError(f"{item} returned before it was written")

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, items))
    return outcomes


def test_every_item_is_written_once_before_its_submitter_returns() -> None:
    log = Log()
    outcomes = submitted(log, range(400))
    assert outcomes == {i: None for i in range(400)}
    written = [i for batch in log.batches for i in batch]
    assert sorted(written) == list(range(400))
    assert len(log.batches) < 400  # threads shared transactions


def test_an_item_that_fails_fails_alone() -> None:
    log = Log(fail_items=frozenset({7, 99}))
    outcomes = submitted(log, range(200))
    assert {i for i, error in outcomes.items() if error is not None} == {7, 99}
    assert "item 7 is malformed" in str(outcomes[7])
    assert sorted(i for batch in log.batches for i in batch) == [i for i in range(200) if i not in (7, 99)]


def test_a_failed_transaction_fails_every_item_in_it_and_the_next_goes_on() -> None:
    log = Log(fail_batches=1)
    group = GroupCommit(log.write)
    with pytest.raises(GroupCommitError, match="disk I/O error"):
        group.submit(1)
    group.submit(2)
    assert log.batches == [[2]]


def test_a_write_that_answers_for_the_wrong_number_of_items_fails_them() -> None:
    group: GroupCommit[int] = GroupCommit(lambda items: [])
    with pytest.raises(GroupCommitError, match="answered for 0 of 1"):
        group.submit(1)
