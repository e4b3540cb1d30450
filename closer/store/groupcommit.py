"""Group commit: appends from one process's concurrent threads share one transaction, so one disk flush.

A durable SQLite commit waits for the disk (synchronous=FULL), and writers take turns at the write lock.
When every request appends a few rows of its own (the audit of a consumer's read), requests queue for the
lock and the flush one by one, and the flush, not the work, sets the pace. Here the first thread to
arrive writes everything queued so far in one transaction while the others wait; threads that arrive
during that commit are written together in the next one. No thread returns before its rows have
committed, and each learns whether its own rows failed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")


class GroupCommitError(Exception):
    """The transaction that held these rows did not commit: nothing of it was written."""


@dataclass
class _Waiting(Generic[Item]):
    item: Item
    done: bool = False
    error: BaseException | None = None


class GroupCommit(Generic[Item]):
    """Calls `write(items)` with the items submitted meanwhile; `write` commits them in one transaction
    and returns, for each item, None or the error that kept that item out (the others committed). If
    `write` raises, the transaction failed and every item of it fails."""

    def __init__(self, write: Callable[[list[Item]], Sequence[BaseException | None]]) -> None:
        self._write = write
        self._changed = threading.Condition()
        self._queue: list[_Waiting[Item]] = []
        self._writing = False

    def submit(self, item: Item) -> None:
        """Return once `item` has committed; raise if it could not be."""
        waiting = _Waiting(item)
        with self._changed:
            self._queue.append(waiting)
            while self._writing and not waiting.done:
                self._changed.wait()
            if not waiting.done:  # nobody is writing: this thread writes the queue, its own item included
                self._writing = True
                batch, self._queue = self._queue, []
        if not waiting.done:
            self._commit(batch)
        if waiting.error is not None:
            raise GroupCommitError(str(waiting.error)) from waiting.error

    def _commit(self, batch: list[_Waiting[Item]]) -> None:
        try:
            errors: Sequence[BaseException | None] = self._write([w.item for w in batch])
            if len(errors) != len(batch):
                raise RuntimeError(f"write answered for {len(errors)} of {len(batch)} items")
        except BaseException as exc:  # the transaction failed: every item of it did
            errors = [exc] * len(batch)
        with self._changed:
            for waiting, error in zip(batch, errors, strict=True):
                waiting.done, waiting.error = True, error
            self._writing = False
            self._changed.notify_all()
