"""A queue for SQLite writers that wakes the next one as soon as the last one commits.

SQLite lets one writer in at a time; the others wait in its busy handler, which sleeps with a
backoff (up to 100 ms a try), so under concurrent ingest the database sits idle between writers.
Taking an OS file lock (which wakes a waiter at once) plus a thread lock before BEGIN IMMEDIATE
queues writers across gunicorn workers and their threads without those sleeps. PostgreSQL needs none.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext


class WriteQueue:
    def __init__(self, lock_path: str) -> None:
        self._path = lock_path
        self._thread_lock = threading.Lock()
        self._fd: int | None = None
        self._pid = -1

    def _file(self) -> int:
        if self._fd is None or self._pid != os.getpid():  # a forked worker opens its own descriptor
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._thread_lock:
            fd = self._file()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)


def write_queue_for(database: str | None) -> WriteQueue | None:
    """The queue for a SQLite file (none for an in-memory database)."""
    if not database or database == ":memory:":
        return None
    return WriteQueue(database + ".write-lock")


def queued(queue: WriteQueue | None) -> AbstractContextManager[None]:
    return queue.held() if queue is not None else nullcontext()
