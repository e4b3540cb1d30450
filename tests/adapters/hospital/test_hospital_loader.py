"""The shared CSV loader: whole-file problems, malformed rows, store rejections and unexpected errors
all become issues located by file and line; a row's writes commit together or not at all."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fhirdata import NHS_NUMBERS
from hospital_data import APC_COLUMNS, apc_row

from adapters.csvload import count_rows, load_csv
from adapters.hospital import apc
from adapters.identity import derived_id
from adapters.rows import Feed, Row, RowPlan
from closer.store.query import parse_search
from closer.store.sql import SqlRepository

CsvWriter = Callable[..., Path]


def pairs(report: object) -> list[tuple[str, str, str]]:
    return [(i.location, i.severity, i.message) for i in report.issues]  # type: ignore[attr-defined]


def count(store: SqlRepository, resource_type: str) -> int:
    return len(store.search(parse_search(resource_type, [])).matches)


def test_missing_columns_fail_the_whole_file_naming_them(store: SqlRepository, write_csv: CsvWriter) -> None:
    columns = [c for c in APC_COLUMNS if c not in ("discharge_method", "secondary_diagnoses")]
    rows = [{k: v for k, v in apc_row().items() if k in columns}]
    report = load_csv(store, write_csv("apc.csv", columns, rows), apc.FEED)
    assert (report.accepted, report.failed) == (0, 1)
    [(location, severity, message)] = pairs(report)
    assert (location, severity) == ("apc.csv line 1", "error")
    assert message.startswith(
        "the header does not match the APC layout: missing columns: discharge_method, secondary_diagnoses (expected"
    )
    assert count(store, "Encounter") == 0


def test_an_ecds_file_given_to_apc_is_refused(store: SqlRepository, tmp_path: Path) -> None:
    path = tmp_path / "ae.csv"
    path.write_text("attendance_id,arrival_time,nhs_number\nA1,2024-01-01T10:00,9990000018\n")
    report = load_csv(store, path, apc.FEED)
    assert report.failed == 1
    assert "missing columns: spell_id, provider_ods, admission_date" in report.issues[0].message


def test_repeated_columns_fail_and_extra_columns_are_ignored_with_a_warning(
    store: SqlRepository, write_csv: CsvWriter, tmp_path: Path
) -> None:
    repeated = tmp_path / "repeated.csv"
    repeated.write_text(",".join([*APC_COLUMNS, "spell_id"]) + "\n")
    report = load_csv(store, repeated, apc.FEED)
    assert report.failed == 1 and "repeated columns: spell_id" in report.issues[0].message

    extra = write_csv("extra.csv", [*APC_COLUMNS, "ward"], [{**apc_row(), "ward": "W1"}])
    report = load_csv(store, extra, apc.FEED)
    assert (report.accepted, report.failed) == (1, 0)
    assert pairs(report) == [
        ("extra.csv line 1", "warning", "ignored columns that are not part of the APC layout: ward")
    ]


def test_header_names_may_have_surrounding_spaces_and_a_bom(store: SqlRepository, tmp_path: Path) -> None:
    path = tmp_path / "apc.csv"
    row = apc_row()
    path.write_text(
        "\ufeff" + ", ".join(APC_COLUMNS) + "\n" + ",".join(row[c] for c in APC_COLUMNS) + "\n", encoding="utf-8"
    )
    report = load_csv(store, path, apc.FEED)
    assert (report.accepted, report.failed, report.issues) == (1, 0, [])


def test_an_empty_file_is_reported(store: SqlRepository, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    report = load_csv(store, path, apc.FEED)
    assert report.failed == 1
    assert pairs(report)[0][:2] == ("empty.csv line 1", "error")
    assert "the file is empty" in report.issues[0].message


def test_a_header_only_file_loads_nothing_and_is_fine(store: SqlRepository, write_csv: CsvWriter) -> None:
    report = load_csv(store, write_csv("apc.csv", APC_COLUMNS, []), apc.FEED)
    assert (report.accepted, report.failed, report.issues) == (0, 0, [])


def test_rows_with_the_wrong_number_of_fields_and_blank_rows(store: SqlRepository, tmp_path: Path) -> None:
    good = ",".join(apc_row()[c] for c in APC_COLUMNS)
    path = tmp_path / "apc.csv"
    path.write_text(
        ",".join(APC_COLUMNS) + "\n" + good + ",extra\n" + ",".join(["x"] * 3) + "\n" + "," * 9 + "\n\n" + good + "\n"
    )
    report = load_csv(store, path, apc.FEED)
    assert (report.accepted, report.failed) == (1, 2)
    assert pairs(report) == [
        ("apc.csv line 2", "error", "has 11 fields but the header has 10"),
        ("apc.csv line 3", "error", "has 3 fields but the header has 10"),
        ("apc.csv line 4", "warning", "empty row skipped"),
    ]


def test_a_quoted_value_across_lines_is_reported_at_the_line_the_row_starts(
    store: SqlRepository, write_csv: CsvWriter
) -> None:
    rows = [apc_row(spell_id="S1", secondary_diagnoses="I10;\nE11.9"), apc_row(spell_id="S2", admission_method="0")]
    report = load_csv(store, write_csv("apc.csv", APC_COLUMNS, rows), apc.FEED)
    assert report.accepted == 1
    assert [i.location for i in report.issues] == ["apc.csv line 4"]


def test_a_line_that_is_not_utf8_costs_only_its_row(store: SqlRepository, tmp_path: Path) -> None:
    def line(row: dict[str, str]) -> bytes:
        return (",".join(row[c] for c in APC_COLUMNS) + "\r\n").encode()

    path = tmp_path / "apc.csv"
    latin1 = line(apc_row(spell_id="S2")).replace(b"S2", b"S\xe92")  # "Se2" written in Latin-1
    path.write_bytes(
        (",".join(APC_COLUMNS) + "\r\n").encode() + line(apc_row()) + latin1 + line(apc_row(spell_id="S3"))
    )
    report = load_csv(store, path, apc.FEED)
    assert (report.accepted, report.failed) == (2, 1)
    assert pairs(report) == [
        (
            "apc.csv line 3",
            "error",
            "line 3 is not UTF-8 text (invalid continuation byte at byte 13 of the line); row not stored",
        )
    ]


def test_a_header_that_is_not_utf8_fails_the_file(store: SqlRepository, tmp_path: Path) -> None:
    path = tmp_path / "apc.csv"
    path.write_bytes(b"nhs_n\xfamber," + ",".join(APC_COLUMNS[1:]).encode() + b"\n")
    report = load_csv(store, path, apc.FEED)
    assert report.failed == 1
    assert report.issues[0].message.startswith("cannot read the header row: line 1 is not UTF-8 text")


def test_a_store_rejection_names_the_resource_and_rolls_back_the_whole_row(
    store: SqlRepository, write_csv: CsvWriter
) -> None:
    def bad_status(row: Row) -> RowPlan:
        plan = apc.map_row(row)
        plan.resources[-1]["status"] = "done"
        return plan

    feed = Feed("APC", APC_COLUMNS, bad_status)
    rows = [apc_row(), apc_row(nhs_number=NHS_NUMBERS[1], spell_id="S2", provider_ods="RJE")]
    report = load_csv(store, write_csv("apc.csv", APC_COLUMNS, rows), feed)
    assert (report.accepted, report.failed) == (0, 2)
    message = report.issues[0].message
    assert message.startswith(f"rejected by the store: Encounter/{derived_id('spell', 'RXW', 'S1001')}: ")
    assert "Encounter.status" in message
    # The stubs and Conditions written before the Encounter was refused are rolled back with it.
    assert count(store, "Condition") == count(store, "Patient") == count(store, "Organization") == 0


def test_an_unexpected_error_is_a_row_issue_not_a_crash(store: SqlRepository, write_csv: CsvWriter) -> None:
    def explode(row: Row) -> RowPlan:
        if row["spell_id"] == "boom":
            raise KeyError("surprise")
        return apc.map_row(row)

    feed = Feed("APC", APC_COLUMNS, explode)
    rows = [apc_row(spell_id="boom"), apc_row()]
    report = load_csv(store, write_csv("apc.csv", APC_COLUMNS, rows), feed)
    assert (report.accepted, report.failed) == (1, 1)
    assert pairs(report) == [("apc.csv line 2", "error", "unexpected error, row not stored: KeyError: 'surprise'")]


def test_the_same_spell_twice_in_a_file_warns_and_the_later_row_wins(
    store: SqlRepository, write_csv: CsvWriter
) -> None:
    rows = [apc_row(discharge_date=""), apc_row(discharge_date="2024-01-20")]
    report = load_csv(store, write_csv("apc.csv", APC_COLUMNS, rows), apc.FEED)
    assert (report.accepted, report.failed) == (2, 0)
    assert pairs(report) == [
        ("apc.csv line 3", "warning", "spell S1001 of RXW is also on line 2; this later row replaces it")
    ]
    assert store.read("Encounter", derived_id("spell", "RXW", "S1001"))["period"]["end"] == "2024-01-20"


def test_warnings_from_the_mapping_are_reported_on_stored_rows(store: SqlRepository, write_csv: CsvWriter) -> None:
    report = load_csv(store, write_csv("apc.csv", APC_COLUMNS, [apc_row(discharge_destination="79")]), apc.FEED)
    assert (report.accepted, report.failed) == (1, 0)
    assert pairs(report)[0][:2] == ("apc.csv line 2", "warning")


def test_a_missing_file_is_an_issue(store: SqlRepository, tmp_path: Path) -> None:
    report = load_csv(store, tmp_path / "nope.csv", apc.FEED)
    assert report.failed == 1 and report.issues[0].message.startswith("cannot read the file")


def test_count_rows_for_the_progress_bar(write_csv: CsvWriter, tmp_path: Path) -> None:
    assert count_rows(write_csv("apc.csv", APC_COLUMNS, [apc_row(), apc_row()])) == 2
    assert count_rows(tmp_path / "nope.csv") == 0
