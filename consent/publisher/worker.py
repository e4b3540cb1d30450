"""`closer publish run`: plan new outbox events, send what is due, and poll again when there is nothing to do.

Any number of workers can run against one store: planning is single-writer (the losers of a race drop
their pass), and claims never hand one delivery to two live workers (consent/publisher/sender.py).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass

from closer.store.sql import SqlRepository
from consent.publisher.endpoints import Registrations, load_registrations
from consent.publisher.planner import Planner
from consent.publisher.sender import Sender
from consent.publisher.settings import PublishSettings
from consent.publisher.signing import load_signer

log = logging.getLogger("closer.publisher")
REGISTRY_TTL = 30.0  # seconds a worker trusts its registrations before reading the Endpoints again


class RegistrationCache:
    """The registrations in force, read again every REGISTRY_TTL seconds or when told they changed."""

    def __init__(self, repo: SqlRepository, settings: PublishSettings, ttl: float = REGISTRY_TTL) -> None:
        self.repo = repo
        self.settings = settings
        self.ttl = ttl
        self._value: Registrations | None = None
        self._read_at = 0.0

    def __call__(self) -> Registrations:
        if self._value is None or time.monotonic() - self._read_at > self.ttl:
            self._value = load_registrations(self.repo, self.settings)
            self._read_at = time.monotonic()
            for problem in self._value.problems:
                log.warning("endpoint registration not used", extra={"problem": problem})
        return self._value

    def invalidate(self) -> None:
        self._value = None


def default_worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass
class Totals:
    planned_events: int = 0
    queued: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0


class Worker:
    """One publisher worker: a planner and a sender sharing the registrations."""

    def __init__(
        self,
        repo: SqlRepository,
        settings: PublishSettings,
        worker: str | None = None,
        *,
        batch: int = 50,
        concurrency: int = 8,
        plan_batch: int = 200,
    ) -> None:
        self.name = worker or default_worker_name()
        self.registrations = RegistrationCache(repo, settings)
        self.planner = Planner(repo, settings, self.registrations, worker=self.name, batch=plan_batch)
        signer = load_signer(settings.signing_key)
        self.sender = Sender(
            repo.engine, settings, signer, self.registrations, self.name, batch=batch, concurrency=concurrency
        )
        self.totals = Totals()
        self.sweep_interval = settings.sweep_interval
        self._swept_at: float | None = None  # monotonic time of this worker's last sweep

    def step(self) -> bool:
        """Sweep when due, plan one pass and send one batch; True when there was work (so go on without
        sleeping)."""
        if self._swept_at is None or time.monotonic() - self._swept_at >= self.sweep_interval:
            swept = self.planner.sweep()
            self._swept_at = time.monotonic()
            if not swept.raced:
                self.totals.queued += len(swept.changes)
        planned = self.planner.plan_once()
        if planned.registry_changed:
            self.registrations.invalidate()
        if not planned.raced:
            self.totals.planned_events += planned.events
            self.totals.queued += len(planned.changes)
        sent = self.sender.send_once()
        self.totals.delivered += sent.delivered
        self.totals.retried += sent.retried
        self.totals.dead += sent.dead
        return planned.busy or sent.busy

    def run(self, *, once: bool = False, poll: float = 0.25, stop: threading.Event | None = None) -> Totals:
        """Work until `stop` is set (or, with `once`, until nothing is left that is due now)."""
        stop = stop or threading.Event()
        released = self.sender.release_own_leases()
        if released:
            log.info("released leases of a previous run", extra={"worker": self.name, "deliveries": released})
        try:
            while not stop.is_set():
                try:
                    busy = self.step()
                except Exception:  # a database or audit hiccup: log it, wait, try again (nothing is lost)
                    if once:
                        raise
                    log.exception("publisher step failed", extra={"worker": self.name})
                    busy = False
                if not busy:
                    if once:
                        break
                    stop.wait(poll)
        finally:
            self.sender.close()
        return self.totals
