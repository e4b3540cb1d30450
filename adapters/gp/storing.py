"""Storing plans that do not come from CSV rows (a GP Connect record's resources, an extract's
retractions) through the shared planstore, as rows are stored: BATCH_ROWS to a transaction, a record that
fails costing only itself, each plan's failure or warnings reported at its location."""

from __future__ import annotations

from collections.abc import Sequence

from adapters.planstore import BATCH_ROWS, Mapped, store_batch
from adapters.report import IngestReport
from adapters.rows import RowPlan
from closer.store.repository import Repository


def store_plans(repo: Repository, plans: Sequence[tuple[str, RowPlan]], report: IngestReport) -> None:
    """Store (location, plan) pairs; `report` counts each plan as accepted, duplicate or failed."""
    mapped = [Mapped(location, number, plan) for number, (location, plan) in enumerate(plans, start=1)]
    stored_at: dict[str, int] = {}
    for start in range(0, len(mapped), BATCH_ROWS):
        store_batch(repo, mapped[start : start + BATCH_ROWS], stored_at, report)
