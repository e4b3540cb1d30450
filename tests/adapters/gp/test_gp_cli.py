"""`closer ingest gp-csv` and `closer ingest gp-connect` end to end through click: exit status, the
sectioned summary, --report, and the progress bar."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from gp_data import EXTRACT, RECORD, copy_sample, event_row, patient_row, write_extract

from adapters.feedcli import terminal_progress
from adapters.gp.extract import load_extract
from adapters.writing import open_repository
from closer.cli import main
from closer.settings import Settings


def ingest(*args: str) -> Result:
    return CliRunner().invoke(main, ["ingest", *args])


def test_gp_csv_loads_the_extract_and_prints_a_section_per_file(database_url: str) -> None:
    result = ingest("gp-csv", str(EXTRACT), "--database-url", database_url)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "GP patients patients.csv: 3 accepted, 0 duplicates, 0 failed",
        "GP events events.csv: 10 accepted, 0 duplicates, 0 failed",
        "GP medications medications.csv: 4 accepted, 0 duplicates, 0 failed",
        "GP allergies allergies.csv: 2 accepted, 0 duplicates, 0 failed",
        "GP extract extract total: 19 accepted, 0 duplicates, 0 failed",
    ]
    again = ingest("gp-csv", str(EXTRACT), "--database-url", database_url)
    assert again.exit_code == 0
    assert again.output.splitlines()[-1] == "GP extract extract total: 0 accepted, 19 duplicates, 0 failed"


def test_a_bad_row_exits_1_and_the_report_has_a_section_per_file(database_url: str, tmp_path: Path) -> None:
    folder = write_extract(tmp_path / "x", [patient_row()], [event_row(), event_row(nhs_number="9991905325")])
    report_path = tmp_path / "report.json"
    result = ingest("gp-csv", str(folder), "--database-url", database_url, "--report", str(report_path))
    assert result.exit_code == 1
    assert (
        "  ERROR   events.csv line 3: nhs_number '9991905325' fails the NHS number Modulus 11 check digit"
        in result.output
    )
    report = json.loads(report_path.read_text())
    assert (report["accepted"], report["failed"]) == (2, 1)
    assert [section["source"] for section in report["sections"]] == [
        "GP patients patients.csv",
        "GP events events.csv",
        "GP medications medications.csv",
        "GP allergies allergies.csv",
    ]
    assert report["sections"][1]["issues"][0]["location"] == "events.csv line 3"


def test_warnings_alone_exit_0(database_url: str, tmp_path: Path) -> None:
    folder = write_extract(tmp_path / "x", [patient_row()], [event_row(snomed_code="12345")])
    result = ingest("gp-csv", str(folder), "--database-url", database_url)
    assert result.exit_code == 0, result.output
    assert "WARNING events.csv line 2: snomed_code '12345' is not a valid SNOMED CT identifier" in result.output


def _cut_last_row(folder: Path) -> None:
    with (folder / "events.csv").open("a", encoding="utf-8") as handle:
        handle.write('9991905324,2024-02-01,72313002,"Systolic arte')


def _latin1_row(folder: Path) -> None:
    with (folder / "allergies.csv").open("ab") as handle:
        handle.write("9997636406,294505008,Allergy to amoxicillin,Rash \xe9,mild,2010-01-01\n".encode("latin-1"))


def _bad_value(folder: Path, name: str, old: str, new: str) -> None:
    path = folder / name
    path.write_text(path.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    ("spoil", "expected", "accepted"),
    [
        (lambda f: _bad_value(f, "events.csv", "value,unit", "value,units"), "events.csv line 1: the header", 9),
        (lambda f: _bad_value(f, "events.csv", "2016-09-01", "2016-09-31"), "events.csv line 3: date '2016-09-31'", 18),
        (lambda f: _bad_value(f, "medications.csv", "9996064468", "9996064469"), "medications.csv line 5: nhs_", 18),
        (_cut_last_row, "events.csv line 12: has 4 fields but the header has 6", 19),
        (_latin1_row, "allergies.csv line 4: line 4 is not UTF-8 text", 19),
        (lambda f: (f / "allergies.csv").write_bytes(b""), "allergies.csv line 1: the file is empty", 17),
    ],
)
def test_bad_input_exits_1_naming_the_row_and_the_good_rows_load(
    database_url: str, tmp_path: Path, spoil: Callable[[Path], None], expected: str, accepted: int
) -> None:
    folder = copy_sample(tmp_path / "x")
    spoil(folder)
    result = ingest("gp-csv", str(folder), "--database-url", database_url)
    assert result.exit_code == 1
    assert f"  ERROR   {expected}" in result.output
    assert result.output.splitlines()[-1].startswith(f"GP extract x total: {accepted} accepted")  # the rest loads


def test_a_missing_file_exits_1(database_url: str, tmp_path: Path) -> None:
    folder = copy_sample(tmp_path / "x")
    (folder / "events.csv").unlink()
    result = ingest("gp-csv", str(folder), "--database-url", database_url)
    assert result.exit_code == 1
    assert "ERROR   events.csv: the file is missing from the extract" in result.output


def test_gp_csv_needs_a_directory(tmp_path: Path) -> None:
    assert ingest("gp-csv", str(tmp_path / "nope")).exit_code == 2
    assert ingest("gp-csv", str(EXTRACT / "patients.csv")).exit_code == 2


def test_gp_connect_loads_the_record_and_lists_what_it_did_not_translate(database_url: str) -> None:
    result = ingest("gp-connect", str(RECORD), "--database-url", database_url)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "GP Connect structured-record.json: 11 accepted, 0 duplicates, 0 failed"
    assert (
        "  WARNING structured-record.json List/8d116ece-1738-47d9-bd9c-172411e20b8f: not translated: Closer does "
        "not translate List resources"
    ) in lines


def test_gp_connect_exits_1_on_a_broken_record(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    path.write_bytes(b"\xff\xfe not json")
    result = ingest("gp-connect", str(path), "--database-url", database_url)
    assert result.exit_code == 1
    assert "ERROR   record.json: not JSON" in result.output


def test_ingest_lists_the_gp_commands() -> None:
    result = CliRunner().invoke(main, ["ingest", "--help"])
    assert result.exit_code == 0
    assert "gp-csv" in result.output and "gp-connect" in result.output


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_progress_bar_per_file_on_a_terminal(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    progress = terminal_progress()
    assert progress is not None
    repo = open_repository(Settings.from_env({}, database_url=database_url))
    try:
        report = load_extract(repo, EXTRACT, progress=progress)
    finally:
        repo.engine.dispose()
    assert report.ok
    shown = terminal.getvalue()
    assert "GP patients patients.csv" in shown and "GP allergies allergies.csv" in shown and "100%" in shown


def test_no_progress_bar_when_not_a_terminal() -> None:
    assert terminal_progress() is None
