"""`closer ingest hl7` on every file layout, and `closer messages list|show|replay`, through click's CliRunner."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from adt_builder import adt, open_processor, rows
from click.testing import CliRunner, Result
from fhirdata import NHS_NUMBERS
from sqlalchemy import update

from adapters.hl7v2 import messagestore as store
from adapters.hl7v2.framing import frame
from closer.cli import main

BAD_NHS_NUMBER = "9990000019"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The CLI tests run on a SQLite file (the processor tests cover both backends)."""
    return f"sqlite:///{tmp_path}/cli.db"


def closer(database_url: str, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--database-url", database_url], catch_exceptions=False)


def message(number: int, **fields: str) -> str:
    """A distinct A01 (its own control id, patient and visit) with `fields` overriding the builder's."""
    values = {
        "control_id": f"CTL{number:04d}",
        "nhs_number": NHS_NUMBERS[number % len(NHS_NUMBERS)],
        "visit": f"V{number:04d}",
        "event_time": f"202401{number % 28 + 1:02d}103000",
        **fields,
    }
    return adt("A01", **values)


@pytest.fixture
def feed(tmp_path: Path) -> Path:
    """A folder with one file of each layout (11 good messages)."""
    folder = tmp_path / "feed"
    folder.mkdir()
    (folder / "single.hl7").write_text(message(1), newline="")
    (folder / "multi_lf.hl7").write_text("\n".join(message(n).replace("\r", "\n") for n in (2, 3, 4)), newline="")
    (folder / "multi_crlf.txt").write_text(
        "\r\n".join(message(n).replace("\r", "\r\n") for n in (5, 6)) + "\r\n", newline=""
    )
    batch = [
        "FHS|^~\\&|PAS|RXW|CLOSER|CLOSER|20240101120000",
        "BHS|^~\\&|PAS|RXW|CLOSER|CLOSER|20240101120000",
        *(message(n) for n in (7, 8, 9)),
        "BTS|3",
        "FTS|1",
    ]
    (folder / "batch.hl7").write_text("\r".join(batch), newline="")
    (folder / "framed.mllp").write_bytes(frame(message(10)) + b"\r\n" + frame(message(11)))
    return folder


@pytest.fixture
def bad_file(tmp_path: Path) -> Path:
    """MLLP frames of three messages; the second has an NHS number that fails its check digit."""
    path = tmp_path / "bad" / "framed.mllp"
    path.parent.mkdir()
    messages = [message(20), message(21, control_id="BAD1", nhs_number=BAD_NHS_NUMBER), message(22)]
    path.write_bytes(b"".join(frame(m) for m in messages))
    return path


def test_ingest_every_file_layout(database_url: str, feed: Path, tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    result = closer(database_url, "ingest", "hl7", str(feed), "--report", str(report_path))

    assert result.exit_code == 0, result.output
    assert "11 accepted, 0 duplicates, 0 failed" in result.output
    assert json.loads(report_path.read_text()) == {
        "source": str(feed),
        "accepted": 11,
        "duplicates": 0,
        "failed": 0,
        "issues": [],
    }
    with open_processor(database_url) as processor:
        stored = rows(processor.repository)
    assert sorted(row.control_id for row in stored) == [f"CTL{n:04d}" for n in range(1, 12)]
    assert {row.status for row in stored} == {"processed"}
    assert all("\n" not in row.raw for row in stored)  # segments are kept with \r between them


def test_ingesting_twice_gives_only_duplicates(database_url: str, feed: Path) -> None:
    assert closer(database_url, "ingest", "hl7", str(feed)).exit_code == 0
    result = closer(database_url, "ingest", "hl7", str(feed))
    assert result.exit_code == 0, result.output
    assert "0 accepted, 11 duplicates, 0 failed" in result.output


def test_a_failed_message_is_reported_by_file_message_number_and_control_id(
    database_url: str, bad_file: Path, tmp_path: Path
) -> None:
    report_path = tmp_path / "report.json"
    result = closer(database_url, "ingest", "hl7", str(bad_file), "--report", str(report_path))

    assert result.exit_code == 1
    assert "2 accepted, 0 duplicates, 1 failed" in result.output
    assert f"{bad_file} message 2 (MSH-10 BAD1)" in result.output
    report = json.loads(report_path.read_text())
    assert (report["accepted"], report["duplicates"], report["failed"]) == (2, 0, 1)
    (issue,) = report["issues"]
    assert issue["location"] == f"{bad_file} message 2 (MSH-10 BAD1)"
    assert BAD_NHS_NUMBER in issue["message"] and "PID-3" in issue["message"]

    again = closer(database_url, "ingest", "hl7", str(bad_file))
    assert again.exit_code == 1
    assert "0 accepted, 2 duplicates, 1 failed" in again.output


@pytest.fixture
def failed_ids(database_url: str, bad_file: Path) -> Iterator[list[int]]:
    """The store after ingesting `bad_file` plus one more bad message: the ids of the two failed rows."""
    other = bad_file.parent / "other.hl7"
    other.write_text(message(23, control_id="BAD2", nhs_number=BAD_NHS_NUMBER), newline="")
    assert closer(database_url, "ingest", "hl7", str(bad_file.parent)).exit_code == 1
    with open_processor(database_url) as processor:
        yield sorted(row.id for row in rows(processor.repository, store.FAILED))


def fix(database_url: str, message_id: int, number: int) -> None:
    """What an operator does before a replay: correct the stored message (here, a valid NHS number)."""
    with open_processor(database_url) as processor, processor.repository.engine.begin() as conn:
        row = store.get(conn, message_id)
        assert row is not None
        raw = row.raw.replace(BAD_NHS_NUMBER, NHS_NUMBERS[number % len(NHS_NUMBERS)])
        conn.execute(update(store.hl7_messages).where(store.hl7_messages.c.id == message_id).values(raw=raw))


def test_messages_list_and_show(database_url: str, failed_ids: list[int]) -> None:
    listing = closer(database_url, "messages", "list", "--status", "failed")
    assert listing.exit_code == 0, listing.output
    lines = listing.output.splitlines()
    assert len(lines) == 2
    assert all("failed" in line and BAD_NHS_NUMBER in line for line in lines)
    assert {line.split()[0] for line in lines} == {str(i) for i in failed_ids}
    assert "BAD1" in listing.output and "BAD2" in listing.output
    everything = closer(database_url, "messages", "list")
    assert len(everything.output.splitlines()) == 4

    shown = closer(database_url, "messages", "show", str(failed_ids[0]))
    assert shown.exit_code == 0, shown.output
    assert "status:      failed" in shown.output
    assert "control id:  BAD1" in shown.output
    assert "attempts:    1" in shown.output
    assert "PID|1||9990000019^^^NHS^NH" in shown.output  # the raw message, a segment a line

    missing = closer(database_url, "messages", "show", "999999")
    assert missing.exit_code == 1
    assert "No message with id 999999" in missing.output


def test_replay_one_message(database_url: str, failed_ids: list[int]) -> None:
    first, second = failed_ids
    unfixed = closer(database_url, "messages", "replay", str(first))
    assert unfixed.exit_code == 1
    assert f"{first}: AE failed" in unfixed.output

    fix(database_url, first, 21)
    fixed = closer(database_url, "messages", "replay", str(first))

    assert fixed.exit_code == 0, fixed.output
    assert f"{first}: AA processed" in fixed.output
    with open_processor(database_url) as processor:
        by_id = {row.id: row for row in rows(processor.repository)}
    assert (by_id[first].status, by_id[first].attempts) == ("processed", 3)
    assert by_id[second].status == "failed"


def test_replay_all_failed(database_url: str, failed_ids: list[int]) -> None:
    fix(database_url, failed_ids[0], 21)
    result = closer(database_url, "messages", "replay", "--all-failed")
    assert result.exit_code == 1  # the second is still wrong
    assert f"{failed_ids[0]}: AA processed" in result.output
    assert f"{failed_ids[1]}: AE failed" in result.output

    fix(database_url, failed_ids[1], 23)
    result = closer(database_url, "messages", "replay", "--all-failed")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [f"{failed_ids[1]}: AA processed Accepted"]
    assert closer(database_url, "messages", "list", "--status", "failed").output == ""


def test_replay_needs_ids_or_all_failed(database_url: str) -> None:
    result = CliRunner().invoke(main, ["messages", "replay", "--database-url", database_url])
    assert result.exit_code == 2
    assert "Give message ids or --all-failed" in result.output
    result = CliRunner().invoke(main, ["messages", "replay", "424242", "--database-url", database_url])
    assert result.exit_code == 1
    assert "No message with id 424242" in result.output
