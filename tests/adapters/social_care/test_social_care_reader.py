"""Reading extracts: the writer's output reads back as written, every person is checked against the XSD on
its own, and files that are unsafe, not well-formed, wrongly encoded or too large are refused whole."""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree
from pytest_httpserver import HTTPServer
from social_care_data import BILLION_LAUGHS, DTD_REFUSED, HEADER, billion_laughs, person, person_xml, xml_document, xxe

from adapters.social_care.model import Assessment, Carer, Person, Service
from adapters.social_care.xmlreader import (
    CHUNK_BYTES,
    ExtractRefused,
    PersonEntry,
    StrayContent,
    extract_schema,
    open_extract,
    parse_person,
)
from adapters.social_care.xmlwriter import extract_bytes, person_bytes

FULL = Person(
    la_person_id="P1",
    family_name="Smith",
    birth_date=date(1938, 5, 2),
    nhs_number="999 000 0018",
    given_name="Ann Margaret",
    postcode="SY1 1AA",
    assessments=(
        Assessment("A1", "needs-assessment", date(2023, 12, 18), "eligible-needs", "Help with washing & meals <daily>"),
        Assessment("A2", "review", date(2024, 5, 20), "support-unchanged"),
    ),
    services=(
        Service("S1", "home-care", date(2024, 1, 15), None, Decimal("14.50"), "Severn Home Care", "AB1C2"),
        Service("S2", "reablement", date(2023, 12, 1), date(2024, 1, 12), None, "Reablement Team"),
        Service("S3", "equipment", date(2024, 4, 1)),
    ),
    carers=(
        Carer("C1", "Smith", "daughter", True, "Jane", date(2019, 3, 1)),
        Carer("C2", "O'Neill", "neighbour"),
    ),
)


def write(tmp_path: Path, text: str | bytes, name: str = "extract.xml") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """The line the `occurrence`-th `needle` is on, so tests need not count lines by hand."""
    at = -1
    for _ in range(occurrence):
        at = text.index(needle, at + 1)
    return text.count("\n", 0, at) + 1


def entries(path: Path) -> list[PersonEntry | StrayContent]:
    return list(open_extract(path).entries())


def refused(path: Path, **options: int) -> ExtractRefused:
    with pytest.raises(ExtractRefused) as caught:
        open_extract(path, **options)
    return caught.value


# -- reading what the writer writes ----------------------------------------------------------------------
def test_what_the_writer_writes_is_valid_and_reads_back_as_written(tmp_path: Path) -> None:
    other = person(la_person_id="P2", nhs_number="", assessments=(), services=(), carers=())
    path = write(tmp_path, extract_bytes(HEADER, [FULL, other]))
    extract = open_extract(path)
    assert extract.header == HEADER
    assert extract.people == 2
    assert extract_schema().validate(etree.parse(str(path)))
    read = entries(path)
    assert [entry.person for entry in read if isinstance(entry, PersonEntry)] == [FULL, other]
    assert [entry.line for entry in read if isinstance(entry, PersonEntry)] == [3, 50]


def test_a_person_fragment_reads_back(tmp_path: Path) -> None:
    assert parse_person(person_bytes(FULL)) == FULL


def test_whitespace_in_token_values_does_not_count(tmp_path: Path) -> None:
    body = person_xml(extra="    <postcode>  sy1   1aa </postcode>\n").replace("Smith", "  Smith\n  ")
    [entry] = entries(write(tmp_path, xml_document(body)))
    assert isinstance(entry, PersonEntry) and entry.person is not None
    assert (entry.person.family_name, entry.person.postcode) == ("Smith", "sy1 1aa")


# -- schema violations: per person, with lines and lxml's message ------------------------------------------
def test_each_invalid_person_is_reported_with_lines_and_the_others_are_read(tmp_path: Path) -> None:
    body = (
        person_xml("P1")
        + person_xml("P2", birth="1938-02-30", extra="    <postcode>not a postcode</postcode>\n")
        + person_xml("P3")
        + person_xml("P4", nhs="12345")
    )
    text = xml_document(body)
    read = entries(write(tmp_path, text))
    assert [(entry.la_person_id, entry.person is not None) for entry in read if isinstance(entry, PersonEntry)] == [
        ("P1", True),
        ("P2", False),
        ("P3", True),
        ("P4", False),
    ]
    second, fourth = read[1], read[3]
    assert isinstance(second, PersonEntry) and isinstance(fourth, PersonEntry)
    assert [(error.line, error.message) for error in second.errors] == [
        (
            line_of(text, "<birthDate>", 2),
            "Element '{https://closer.example.nhs.uk/ns/social-care-extract/1}birthDate': '1938-02-30' is not a "
            "valid value of the atomic type '{https://closer.example.nhs.uk/ns/social-care-extract/1}Date'.",
        ),
        (
            line_of(text, "<postcode>"),
            "Element '{https://closer.example.nhs.uk/ns/social-care-extract/1}postcode': [facet 'pattern'] The "
            "value 'not a postcode' is not accepted by the pattern '[A-Za-z]{1,2}[0-9][A-Za-z0-9]? ?[0-9][A-Za-z]{2}'.",
        ),
    ]
    assert [error.line for error in fourth.errors] == [line_of(text, "<nhsNumber>", 4)]
    assert "nhsNumber" in fourth.errors[0].message and "'12345'" in fourth.errors[0].message


def test_repeated_record_ids_within_a_person_break_the_schema(tmp_path: Path) -> None:
    twice = FULL.services[2]
    path = write(tmp_path, extract_bytes(HEADER, [person(services=(twice, twice))]))
    [entry] = entries(path)
    assert isinstance(entry, PersonEntry) and entry.person is None
    assert "Duplicate key-sequence ['S3']" in entry.errors[0].message


def test_an_element_that_is_not_a_person_is_stray_content(tmp_path: Path) -> None:
    body = person_xml("P1") + "  <patient>x</patient>\n  loose text\n" + person_xml("P2")
    text = xml_document(body)
    read = entries(write(tmp_path, text))
    assert [type(entry).__name__ for entry in read] == ["PersonEntry", "StrayContent", "StrayContent", "PersonEntry"]
    stray = [entry for entry in read if isinstance(entry, StrayContent)]
    assert stray[0].line == line_of(text, "<patient>")
    assert stray[0].message == "unexpected element <patient>: an extract holds only <person> elements"
    assert stray[1].message == f"loose text after the <patient> element that starts on line {stray[0].line}"


# -- refusing the whole file -----------------------------------------------------------------------------
def test_not_well_formed_xml_is_refused_with_its_line(tmp_path: Path) -> None:
    text = xml_document(person_xml("P1") + person_xml("P2").replace("</familyName>", "</family>"))
    error = refused(write(tmp_path, text))
    line = line_of(text, "</family>")
    assert error.line == line
    assert error.message == (
        f"not well-formed XML: Opening and ending tag mismatch: familyName line {line} and family (column 31)"
    )


def test_a_truncated_file_is_refused(tmp_path: Path) -> None:
    text = xml_document(person_xml("P1") + person_xml("P2"))
    cut = text[: text.index("<birthDate>", text.index("P2"))]
    error = refused(write(tmp_path, cut))
    assert error.line == cut.count("\n") + 1
    assert error.message.startswith("not well-formed XML: Premature end of data in tag person line 9")


def test_latin1_bytes_in_a_file_declared_utf8_are_refused(tmp_path: Path) -> None:
    text = xml_document(person_xml("P1").replace("Smith", "Jos\u00e9"))
    error = refused(write(tmp_path, text.encode("latin-1")))
    assert error.line == line_of(text, "Jos")
    assert error.message == (
        "not well-formed XML: Invalid bytes in character encoding (column 20); an extract must be UTF-8: was it "
        "saved as Latin-1 or Windows-1252?"
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (xml_document("", declaration='<?xml version="1.0" encoding="ISO-8859-1"?>').encode("latin-1"),
         'the XML declaration says encoding="ISO-8859-1"; an extract must be UTF-8'),
        (xml_document("", declaration='<?xml version="1.0" encoding="UTF-16"?>').encode("utf-16"),
         "the file is UTF-16 or UTF-32; an extract must be UTF-8"),
    ],
)  # fmt: skip
def test_other_encodings_are_refused(tmp_path: Path, data: bytes, expected: str) -> None:
    assert refused(write(tmp_path, data)).message == expected


def test_a_byte_order_mark_is_fine(tmp_path: Path) -> None:
    assert open_extract(write(tmp_path, b"\xef\xbb\xbf" + xml_document(person_xml()).encode())).people == 1


@pytest.mark.parametrize(
    ("text", "line", "starts"),
    [
        ("", None, "the file is empty"),
        ("<other/>", 1, "the root element is <other> without a namespace; a social care extract is"),
        (xml_document("").replace(' localAuthority="LA893"', ""), 2,
         "<socialCareExtract> is not valid against the schema: Element '{https://closer.example.nhs.uk/ns/"
         "social-care-extract/1}socialCareExtract': The attribute 'localAuthority' is required but missing."),
        (xml_document("").replace("2024-06-30", "30/06/2024"), 2, "<socialCareExtract> is not valid"),
    ],
)  # fmt: skip
def test_a_file_without_a_valid_root_is_refused(tmp_path: Path, text: str, line: int | None, starts: str) -> None:
    error = refused(write(tmp_path, text))
    assert (error.line, error.message[: len(starts)]) == (line, starts)


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    path = write(tmp_path, xml_document(person_xml() * 20))
    size = path.stat().st_size
    error = refused(path, max_bytes=size - 1)
    assert error.message == f"the file is larger than the limit ({size:,} bytes; at most {size - 1:,}): refused unread"
    assert open_extract(path, max_bytes=size).people == 20


# -- hostile XML -----------------------------------------------------------------------------------------
def test_billion_laughs_is_refused_at_once(tmp_path: Path) -> None:
    started = time.monotonic()
    error = refused(write(tmp_path, billion_laughs()))
    assert time.monotonic() - started < 1
    assert (error.line, error.message[: len(DTD_REFUSED)]) == (2, DTD_REFUSED)


def test_an_external_entity_on_a_local_file_is_refused_and_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-0xC0FFEE")
    error = refused(write(tmp_path, xxe(secret.as_uri())))
    assert error.message.startswith(DTD_REFUSED)
    assert "TOP-SECRET" not in str(error)


def test_an_external_entity_on_the_network_is_refused_and_never_fetched(tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/evil").respond_with_data("TOP-SECRET-FROM-NETWORK")
    error = refused(write(tmp_path, xxe(httpserver.url_for("/evil"))))
    assert error.message.startswith(DTD_REFUSED)
    assert httpserver.log == []


def test_an_external_dtd_is_refused(tmp_path: Path, httpserver: HTTPServer) -> None:
    prolog = f'<!DOCTYPE socialCareExtract SYSTEM "{httpserver.url_for("/extract.dtd")}">\n'
    error = refused(write(tmp_path, xml_document("", prolog=prolog)))
    assert error.message.startswith(DTD_REFUSED)
    assert httpserver.log == []


def test_a_doctype_split_across_read_chunks_is_still_found(tmp_path: Path) -> None:
    """The guard reads the file in chunks; a declaration straddling two of them must not slip through."""
    padding = "<!--" + "x" * (CHUNK_BYTES - len('<?xml version="1.0" encoding="UTF-8"?>\n') - 4 - 7 - 3) + "-->"
    text = xml_document(person_xml(), prolog=padding + "\n" + BILLION_LAUGHS)
    doctype_at = text.encode().index(b"<!DOCTYPE")
    assert doctype_at < CHUNK_BYTES < doctype_at + len("<!DOCTYPE")
    error = refused(write(tmp_path, text))
    assert (error.line, error.message[: len(DTD_REFUSED)]) == (3, DTD_REFUSED)


def test_an_entity_reference_without_a_declaration_is_not_well_formed(tmp_path: Path) -> None:
    error = refused(write(tmp_path, xml_document(person_xml().replace("Smith", "&secret;"))))
    assert (error.line, error.message) == (6, "not well-formed XML: Entity 'secret' not defined (column 25)")


def test_a_person_fragment_with_a_doctype_is_refused() -> None:
    with pytest.raises(ExtractRefused, match="DOCTYPE"):
        parse_person(BILLION_LAUGHS.encode() + person_bytes(FULL))


@pytest.mark.parametrize("document", ["laughs", "xxe"])
def test_without_the_byte_guard_lxml_still_refuses_the_dtd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, document: str
) -> None:
    """Defence in depth: the parser's own view of the document is checked at the root element too."""
    from adapters.social_care import xmlreader

    monkeypatch.setattr(xmlreader._PrologGuard, "check", lambda self, chunk: None)
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-0xC0FFEE")
    error = refused(write(tmp_path, billion_laughs() if document == "laughs" else xxe(secret.as_uri())))
    # libxml2 may get there first for the laughs: its own entity amplification limit stops the parse
    assert error.message.startswith(DTD_REFUSED) or "entity amplification" in error.message
    assert "TOP-SECRET" not in str(error)
