"""`closer ingest social-care` and `closer matching list|resolve` end to end through click."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from social_care_data import BILLION_LAUGHS, NHS, ExtractWriter, person, person_xml, stored, xml_document, xxe

from adapters.social_care import cli
from adapters.social_care.xmlreader import MAX_FILE_BYTES
from adapters.writing import open_repository
from closer.cli import main
from closer.settings import Settings
from closer.store.schema import resources


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_ingest_prints_the_summary_and_a_reload_changes_nothing(database_url: str, write_people: ExtractWriter) -> None:
    path = write_people([person(), person(la_person_id="P2", nhs_number=NHS[1])])
    assert run("ingest", "social-care", str(path), "--database-url", database_url) == (
        0,
        "Social care extract.xml: 2 accepted, 0 duplicates, 0 failed\n",
    )
    assert run("ingest", "social-care", str(path), "--database-url", database_url) == (
        0,
        "Social care extract.xml: 0 accepted, 2 duplicates, 0 failed\n",
    )


def test_a_bad_person_exits_1_and_the_report_lists_it(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "la.xml"
    path.write_text(xml_document(person_xml("P1") + person_xml("P2", nhs="9990000019")))
    report_path = tmp_path / "report.json"
    code, output = run("ingest", "social-care", str(path), "--database-url", database_url, "--report", str(report_path))
    assert code == 1
    assert output.splitlines() == [
        "Social care la.xml: 1 accepted, 0 duplicates, 1 failed",
        "  ERROR   la.xml line 9 (LA person P2): nhsNumber '9990000019' fails the NHS number Modulus 11 check digit; "
        "person not stored",
    ]
    assert json.loads(report_path.read_text())["issues"] == [
        {
            "location": "la.xml line 9 (LA person P2)",
            "severity": "error",
            "message": "nhsNumber '9990000019' fails the NHS number Modulus 11 check digit; person not stored",
        }
    ]


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("malformed", xml_document(person_xml().replace("</familyName>", "</family>")),
         "la.xml line 6: not well-formed XML: Opening and ending tag mismatch"),
        ("truncated", xml_document(person_xml()).partition("  </person>")[0],
         "la.xml line 8: not well-formed XML: Premature end of data"),
        ("latin-1", xml_document(person_xml().replace("Smith", "Jos\u00e9")).encode("latin-1"),
         "la.xml line 6: not well-formed XML: Invalid bytes in character encoding"),
        ("schema", xml_document(person_xml(birth="1938-13-01")), "la.xml line 7 (LA person P1): not valid against"),
        ("bad date", xml_document(person_xml(birth="2030-01-01")),
         "la.xml line 3 (LA person P1): birthDate 2030-01-01"),
    ],
)  # fmt: skip
def test_each_kind_of_bad_input_exits_1(
    database_url: str, tmp_path: Path, kind: str, text: str | bytes, expected: str
) -> None:
    path = tmp_path / "la.xml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    code, output = run("ingest", "social-care", str(path), "--database-url", database_url)
    assert code == 1, kind
    assert output.splitlines()[1].startswith(f"  ERROR   {expected}"), output


def test_an_oversize_file_is_refused_and_the_limit_is_an_option(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    path.write_text(xml_document(person_xml() * 50))
    size = path.stat().st_size
    code, output = run("ingest", "social-care", str(path), "--database-url", database_url, "--max-bytes", "1000")
    assert code == 1
    assert output.splitlines()[1] == (
        f"  ERROR   big.xml: the file is larger than the limit ({size:,} bytes; at most 1,000): refused unread; "
        "nothing in the file was stored"
    )
    assert run("ingest", "social-care", str(path), "--database-url", database_url, "--max-bytes", str(size))[0] == 0
    assert f"[default: {MAX_FILE_BYTES};" in " ".join(run("ingest", "social-care", "--help")[1].split())


def test_hostile_files_are_refused_and_a_local_file_never_leaks(database_url: str, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-0xC0FFEE")
    laughs = tmp_path / "laughs.xml"
    laughs.write_text(xml_document(person_xml().replace("Smith", "&lol9;"), prolog=BILLION_LAUGHS))
    stolen = tmp_path / "xxe.xml"
    stolen.write_text(xxe(secret.as_uri()))
    report_path = tmp_path / "report.json"
    for path in (laughs, stolen):
        code, output = run(
            "ingest", "social-care", str(path), "--database-url", database_url, "--report", str(report_path)
        )
        assert code == 1
        assert "the file has a DOCTYPE or entity declaration" in output
        assert "TOP-SECRET" not in output
        assert "TOP-SECRET" not in report_path.read_text()
    repo = open_repository(Settings.from_env({}, database_url=database_url))
    try:
        assert stored(repo) == []
        with repo.engine.connect() as conn:
            assert conn.execute(resources.select()).all() == []
    finally:
        repo.engine.dispose()
    if database_url.startswith("sqlite:///"):
        database = Path(database_url.removeprefix("sqlite:///"))
        assert all(b"TOP-SECRET" not in file.read_bytes() for file in database.parent.glob(database.name + "*"))


def test_matching_list_and_resolve(database_url: str, write_people: ExtractWriter) -> None:
    assert run("matching", "list", "--database-url", database_url) == (0, "No one is waiting for review.\n")
    path = write_people([person(nhs_number="", la_person_id="P7", given_name="Ann")])
    assert run("ingest", "social-care", str(path), "--database-url", database_url)[0] == 1
    code, output = run("matching", "list", "--database-url", database_url)
    assert code == 0
    lines = output.splitlines()
    assert lines[0].split("  seen ")[0] == (
        "     1  open  LA893 P7  SMITH, Ann  born 1938-05-02  postcode SY1 1AA  NHS -"
    )
    assert lines[0].endswith(" in extract.xml")
    assert lines[1] == "        no NHS number, and no Patient has this family name, date of birth and postcode"

    assert run("matching", "resolve", "1", "--patient", "9990000019", "--database-url", database_url) == (
        1,
        "Error: 9990000019 fails the NHS number Modulus 11 check digit\n",
    )
    assert run("matching", "resolve", "1", "--patient", NHS[2], "--database-url", database_url) == (
        0,
        f"LA person P7 of LA893 linked to Patient/{NHS[2]}; their records are loaded\n",
    )
    assert run("matching", "list", "--database-url", database_url) == (0, "No one is waiting for review.\n")
    code, output = run("matching", "list", "--all", "--database-url", database_url)
    assert output.startswith(f"     1  resolved -> Patient/{NHS[2]}  LA893 P7")
    assert run("ingest", "social-care", str(path), "--database-url", database_url) == (
        0,
        "Social care extract.xml: 0 accepted, 1 duplicates, 0 failed\n",
    )


def test_the_commands_are_registered() -> None:
    assert run("ingest", "--help")[1].count("social-care") == 1
    assert "resolve" in run("matching", "--help")[1]
    assert cli.matching.name == "matching"
