"""`closer store copy`: a whole store moves to another database (SQLite to SQLite, SQLite to PostgreSQL)
and works there: the same resources, history and index rows, searches that find them, and an outbox that
continues after the copied events."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from adapters.writing import open_repository
from closer.cli import main
from closer.settings import Settings
from closer.store.query import parse_search
from closer.store.schema import idx_token, outbox, resource_history, resources
from closer.store.sql import SqlRepository
from tests.stratify.strat_data import AS_OF, populate, settings


def _counts(repo: SqlRepository) -> dict[str, int]:
    with repo.engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar() or 0
                for t in (resources, resource_history, outbox, idx_token)}  # fmt: skip


def test_a_store_copies_to_an_empty_database_and_works_there(tmp_path: Path, database_url: str) -> None:
    from stratify.models.base import load_model
    from stratify.runs import run

    source_url = f"sqlite:///{tmp_path}/source.db"
    source = open_repository(Settings.from_env({}, database_url=source_url))
    populate(source)
    run(source, settings(), AS_OF, load_model("default"))
    expected = _counts(source)
    source.engine.dispose()

    result = CliRunner().invoke(main, ["store", "copy", "--from", source_url, "--to", database_url])
    assert result.exit_code == 0, result.output
    assert "stratify_results" in result.output

    target = open_repository(Settings.from_env({}, database_url=database_url))
    try:
        assert _counts(target) == expected
        found = target.search(parse_search("RiskAssessment", [("risk", "severe")]))
        assert [r["subject"]["reference"] for r in found.matches] == ["Patient/9990000018"]
        last = max(e.seq for e in target.events(0, limit=10_000))
        target.create({"resourceType": "Organization", "name": "after the copy"})
        assert [e.seq for e in target.events(last)] == [last + 1]
        again = CliRunner().invoke(main, ["store", "copy", "--from", source_url, "--to", database_url])
        assert again.exit_code != 0 and "is not empty" in again.output
    finally:
        target.engine.dispose()
