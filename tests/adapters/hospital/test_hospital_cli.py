"""`closer ingest apc|ecds` end to end through click: exit status, summary, --report and the progress bar."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from hospital_data import APC_COLUMNS, ECDS_COLUMNS, apc_row, ecds_row

from adapters.hospital import apc, cli
from adapters.writing import open_repository
from closer.cli import main
from closer.settings import Settings

CsvWriter = Callable[..., Path]


def test_ingest_apc_loads_and_prints_the_summary(database_url: str, write_csv: CsvWriter) -> None:
    path = write_csv("apc.csv", APC_COLUMNS, [apc_row(), apc_row(spell_id="S2", admission_method="11")])
    result = CliRunner().invoke(main, ["ingest", "apc", str(path), "--database-url", database_url])
    assert result.exit_code == 0, result.output
    assert result.output == "APC apc.csv: 2 accepted, 0 duplicates, 0 failed\n"

    again = CliRunner().invoke(main, ["ingest", "apc", str(path), "--database-url", database_url])
    assert again.exit_code == 0
    assert again.output == "APC apc.csv: 0 accepted, 2 duplicates, 0 failed\n"


def test_a_failed_row_exits_1_and_the_report_lists_it(database_url: str, write_csv: CsvWriter, tmp_path: Path) -> None:
    path = write_csv("apc.csv", APC_COLUMNS, [apc_row(), apc_row(spell_id="S2", nhs_number="123")])
    report_path = tmp_path / "report.json"
    result = CliRunner().invoke(
        main, ["ingest", "apc", str(path), "--database-url", database_url, "--report", str(report_path)]
    )
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "APC apc.csv: 1 accepted, 0 duplicates, 1 failed",
        "  ERROR   apc.csv line 3: nhs_number '123' is not an NHS number (10 digits)",
    ]
    assert json.loads(report_path.read_text()) == {
        "source": "APC apc.csv",
        "accepted": 1,
        "duplicates": 0,
        "failed": 1,
        "issues": [
            {
                "location": "apc.csv line 3",
                "severity": "error",
                "message": "nhs_number '123' is not an NHS number (10 digits)",
            }
        ],
    }


def test_missing_columns_exit_1(database_url: str, write_csv: CsvWriter) -> None:
    path = write_csv("apc.csv", ["nhs_number", "spell_id"], [{"nhs_number": "9990000018", "spell_id": "S1"}])
    result = CliRunner().invoke(main, ["ingest", "apc", str(path), "--database-url", database_url])
    assert result.exit_code == 1
    assert (
        "apc.csv line 1: the header does not match the APC layout: missing columns: provider_ods, admission_date"
        in result.output
    )


def test_ingest_ecds(database_url: str, write_csv: CsvWriter) -> None:
    path = write_csv("ae.csv", ECDS_COLUMNS, [ecds_row()])
    result = CliRunner().invoke(main, ["ingest", "ecds", str(path), "--database-url", database_url])
    assert result.exit_code == 0, result.output
    assert result.output == "ECDS ae.csv: 1 accepted, 0 duplicates, 0 failed\n"


def test_the_database_comes_from_the_environment_without_the_option(tmp_path: Path, write_csv: CsvWriter) -> None:
    url = f"sqlite:///{tmp_path}/env.db"
    path = write_csv("apc.csv", APC_COLUMNS, [apc_row()])
    result = CliRunner().invoke(main, ["ingest", "apc", str(path)], env={"CLOSER_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    repo = open_repository(Settings.from_env({}, database_url=url))
    try:
        assert repo.read("Organization", "RXW")["id"] == "RXW"
    finally:
        repo.engine.dispose()


def test_an_unusable_database_is_a_clear_error(tmp_path: Path, write_csv: CsvWriter) -> None:
    path = write_csv("apc.csv", APC_COLUMNS, [apc_row()])
    result = CliRunner().invoke(main, ["ingest", "apc", str(path), "--database-url", "mysql://u:secret@db/x"])
    assert result.exit_code == 1
    assert "cannot open the store at mysql://u:***@db/x" in result.output
    assert "secret" not in result.output


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["ingest", "ecds", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_ingest_lists_the_hospital_commands() -> None:
    result = CliRunner().invoke(main, ["ingest", "--help"])
    assert result.exit_code == 0
    assert "apc" in result.output and "ecds" in result.output


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_progress_bar_is_shown_on_a_terminal(
    database_url: str, write_csv: CsvWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    path = write_csv("apc.csv", APC_COLUMNS, [apc_row(), apc_row(spell_id="S2")])
    repo = open_repository(Settings.from_env({}, database_url=database_url))
    try:
        report = cli._load(repo, path, apc.FEED)
    finally:
        repo.engine.dispose()
    assert report.accepted == 2
    assert "APC apc.csv" in terminal.getvalue() and "100%" in terminal.getvalue()
