"""Read a social care extract safely, one person at a time.

XML from outside is hostile until proven otherwise, so:

* the file is refused when larger than a limit (MAX_FILE_BYTES unless the caller says otherwise), before
  parsing and again while reading, in case it grows;
* it must be UTF-8 (a declared or byte-order-marked UTF-16/32 or other encoding is refused) and a byte
  that is not UTF-8 makes it not well-formed;
* a DOCTYPE or entity declaration is refused outright: the bytes before the root element are searched for
  `<!DOCTYPE` and `<!ENTITY` before libxml2 sees them, and lxml's view of the document is checked again
  at the root element. So neither entity expansion ("billion laughs") nor external entities (XXE, local
  file or network) can happen; the parser is also built with resolve_entities=False, no_network=True,
  load_dtd=False and huge_tree=False (libxml2's limits on text size and depth stay on).

Two passes keep both promises the feed makes. `open_extract` reads the whole file once to prove it is
safe, well-formed XML with a valid header, and counts the people; anything wrong there refuses the file
before anything is stored. `ExtractFile.entries()` then reads it again and yields one person at a time,
each validated against the schema on its own (with the line and lxml's message for every violation), so
one bad person costs only that person and memory stays flat however large the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from lxml import etree

from adapters.social_care.model import Assessment, Carer, ExtractHeader, Person, Service
from adapters.social_care.xmlwriter import NAMESPACE, PERSON, ROOT

MAX_FILE_BYTES = 512 * 1024 * 1024
CHUNK_BYTES = 64 * 1024
SCHEMA_RESOURCE = ("schema", "social-care-extract.xsd")
_PARSER_OPTIONS = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}
_DTD_MARKERS = (b"<!DOCTYPE", b"<!ENTITY")
_UTF16_32 = (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00", b"\xfe\xff", b"\xff\xfe", b"\x00<", b"<\x00")
_DECLARED_ENCODING = re.compile(rb"^<\?xml[^>]*?\sencoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_UTF8_NAMES = {"utf-8", "utf8", "us-ascii", "ascii"}


class ExtractRefused(Exception):
    """The file as a whole cannot be read (too large, unsafe, not well-formed XML, wrong encoding or root):
    nothing in it is stored."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class SchemaError:
    line: int
    message: str  # lxml's message, e.g. "Element '{...}birthDate': '1940-02-30' is not a valid value ..."


@dataclass(frozen=True)
class PersonEntry:
    """One <person>: read when valid, else the schema violations that keep it out."""

    line: int
    la_person_id: str  # as far as it can be read, for the report; "" when missing
    person: Person | None
    errors: tuple[SchemaError, ...] = ()


@dataclass(frozen=True)
class StrayContent:
    """Something in the root that is not a <person> (an unknown element or loose text)."""

    line: int
    message: str


Entry = PersonEntry | StrayContent


@dataclass(frozen=True)
class ExtractFile:
    """A file that passed the first pass: safe, well-formed, with a valid header."""

    path: Path
    header: ExtractHeader
    header_line: int
    people: int  # <person> elements counted in the first pass, for a progress bar
    max_bytes: int

    def entries(self) -> Iterator[Entry]:
        """The second pass: each person validated and read, in file order."""
        for item in _top_level(self.path, self.max_bytes):
            if isinstance(item, StrayContent):
                yield item
            elif item.tag != PERSON:
                yield StrayContent(
                    item.sourceline or 0,
                    f"unexpected element <{_local(item.tag)}>{_ns_note(item.tag)}: "
                    "an extract holds only <person> elements",
                )
            else:
                yield read_person_element(item)


@lru_cache(maxsize=1)
def extract_schema() -> etree.XMLSchema:
    """The packaged XSD, parsed with the same safe options as the extracts."""
    source = files("adapters.social_care").joinpath(*SCHEMA_RESOURCE).read_bytes()
    return etree.XMLSchema(etree.fromstring(source, etree.XMLParser(**_PARSER_OPTIONS)))


def open_extract(path: Path, max_bytes: int = MAX_FILE_BYTES) -> ExtractFile:
    """The first pass; raises ExtractRefused when the file as a whole cannot be used."""
    found: list[tuple[ExtractHeader, int]] = []
    people = 0
    for item in _top_level(path, max_bytes, on_root=lambda root: found.append((_header(root), root.sourceline or 1))):
        if not isinstance(item, StrayContent) and item.tag == PERSON:
            people += 1
    if not found:  # cannot happen for a well-formed document, but never return without a header
        raise ExtractRefused("no root element")
    header, line = found[0]
    return ExtractFile(path, header, line, people, max_bytes)


def read_person_element(element: etree._Element) -> PersonEntry:
    """Validate one <person> (in place: lxml keeps the source line numbers) and read it."""
    schema = extract_schema()
    la_person_id = _collapse(element.findtext(_tag("laPersonId")) or "")
    line = element.sourceline or 0
    if not schema.validate(element):
        errors = tuple(SchemaError(error.line, error.message) for error in schema.error_log)
        return PersonEntry(line, la_person_id, None, errors)
    return PersonEntry(line, la_person_id, _person(element))


def parse_person(data: bytes) -> Person:
    """A standalone <person> document (as the matching review list keeps it), read as safely as a file."""
    if any(marker in data for marker in _DTD_MARKERS):
        raise ExtractRefused("a DOCTYPE or entity declaration is not allowed")
    etree.clear_error_log()
    try:
        element = etree.fromstring(data, etree.XMLParser(**_PARSER_OPTIONS))
    except etree.XMLSyntaxError as exc:
        raise _not_well_formed(exc) from None
    if element.tag != PERSON:
        raise ExtractRefused(f"expected a <person> element, not <{_local(element.tag)}>")
    entry = read_person_element(element)
    if entry.person is None:
        raise ExtractRefused("; ".join(f"line {error.line}: {error.message}" for error in entry.errors))
    return entry.person


# -- the safe, streaming parse ---------------------------------------------------------------------------
def _top_level(
    path: Path, max_bytes: int, on_root: Callable[[etree._Element], None] | None = None
) -> Iterator[etree._Element | StrayContent]:
    """Each child of the root once it is complete (and loose text in the root), in order. `on_root` sees
    the root as soon as its start tag is read. A child is freed when the next one is asked for."""
    try:
        size = path.stat().st_size
        handle = path.open("rb")
    except OSError as exc:
        raise ExtractRefused(f"cannot read the file: {exc.strerror or exc}") from None
    if size > max_bytes:
        handle.close()
        raise ExtractRefused(_too_large(size, max_bytes))
    etree.clear_error_log()  # this thread's log, which the parse errors of this file are read from
    parser = etree.XMLPullParser(events=("start", "end"), **_PARSER_OPTIONS)
    guard = _PrologGuard()
    state = _Walk(on_root)
    with handle:
        read = 0
        while chunk := handle.read(CHUNK_BYTES):
            if read == 0:
                _check_encoding(chunk)
            read += len(chunk)
            if read > max_bytes:
                raise ExtractRefused(_too_large(read, max_bytes))
            if state.root is None:
                guard.check(chunk)
            yield from state.walk(parser, chunk)
        if read == 0:
            raise ExtractRefused("the file is empty")
        yield from state.walk(parser, None)
        yield from state.finish()


class _Walk:
    """Follows the parser's events to find the root and its complete children."""

    def __init__(self, on_root: Callable[[etree._Element], None] | None) -> None:
        self.on_root = on_root
        self.root: etree._Element | None = None
        self.depth = 0
        self.previous: etree._Element | None = None

    def walk(self, parser: etree.XMLPullParser, chunk: bytes | None) -> Iterator[etree._Element | StrayContent]:
        try:
            if chunk is None:
                parser.close()
            else:
                parser.feed(chunk)
            events = list(parser.read_events())
        except etree.XMLSyntaxError as exc:
            raise _not_well_formed(exc) from None
        for event, element in events:
            if event == "start":
                self.depth += 1
                if self.depth == 1:
                    self._root(element)
            else:
                self.depth -= 1
                if self.depth == 1:
                    yield from self._release_previous()
                    yield element
                    self.previous = element

    def finish(self) -> Iterator[StrayContent]:
        yield from self._release_previous()
        if self.root is not None and len(self.root) == 0 and _loose(self.root.text):
            yield StrayContent(
                self.root.sourceline or 0, "loose text in <socialCareExtract>; only <person> elements belong there"
            )

    def _root(self, element: etree._Element) -> None:
        docinfo = element.getroottree().docinfo
        if docinfo.internalDTD is not None or docinfo.externalDTD is not None or docinfo.doctype:
            raise ExtractRefused(_DTD_REFUSED, 1)
        self.root = element
        if self.on_root is not None:
            self.on_root(element)

    def _release_previous(self) -> Iterator[StrayContent]:
        """Report loose text around the child before last, then free it (the parser is past it)."""
        previous, root = self.previous, self.root
        if previous is None or root is None:
            return
        if root.index(previous) == 0 and _loose(root.text):
            yield StrayContent(root.sourceline or 0, "loose text in <socialCareExtract> before the first element")
        if _loose(previous.tail):
            yield StrayContent(
                previous.sourceline or 0,
                f"loose text after the <{_local(previous.tag)}> element that starts on line {previous.sourceline}",
            )
        root.text = None
        previous.clear()
        root.remove(previous)
        self.previous = None


class _PrologGuard:
    """Refuses a DOCTYPE or entity declaration in the bytes before the root element, before libxml2 reads them."""

    _KEEP = max(len(marker) for marker in _DTD_MARKERS) - 1

    def __init__(self) -> None:
        self.tail = b""
        self.line = 1  # the line the kept tail starts on

    def check(self, chunk: bytes) -> None:
        data = self.tail + chunk
        for marker in _DTD_MARKERS:
            at = data.find(marker)
            if at >= 0:
                raise ExtractRefused(_DTD_REFUSED, self.line + data.count(b"\n", 0, at))
        cut = max(len(data) - self._KEEP, 0)
        self.line += data.count(b"\n", 0, cut)
        self.tail = data[cut:]


_DTD_REFUSED = (
    "the file has a DOCTYPE or entity declaration, which an extract never needs: refused, since DTDs and "
    "entities are how entity-expansion (billion laughs) and external-entity (XXE) attacks work"
)


def _check_encoding(first: bytes) -> None:
    if first.startswith(_UTF16_32):
        raise ExtractRefused("the file is UTF-16 or UTF-32; an extract must be UTF-8", 1)
    declared = _DECLARED_ENCODING.match(first.removeprefix(b"\xef\xbb\xbf"))
    if declared and declared.group(1).decode("ascii").lower() not in _UTF8_NAMES:
        name = declared.group(1).decode("ascii")
        raise ExtractRefused(f'the XML declaration says encoding="{name}"; an extract must be UTF-8', 1)


def _not_well_formed(exc: etree.XMLSyntaxError) -> ExtractRefused:
    """The first parse error libxml2 logged: it is the cause (a pull parser may log follow-on errors after it,
    and the exception's own message is the last one). The exception carries the thread's error log, cleared
    when the parse began; schema errors logged since (validating persons) are skipped."""
    schema = (etree.ErrorDomains.SCHEMASV, etree.ErrorDomains.SCHEMASP)
    parsing = [error for error in exc.error_log if error.domain not in schema]
    first = parsing[0] if parsing else None
    text, line, column = (first.message, first.line, first.column) if first else (exc.msg, exc.lineno, 0)
    message = f"not well-formed XML: {text}" + (f" (column {column})" if column else "")
    if "encoding" in text.lower() or "utf-8" in text.lower():
        message += "; an extract must be UTF-8: was it saved as Latin-1 or Windows-1252?"
    return ExtractRefused(message, line or None)


def _too_large(size: int, limit: int) -> str:
    return f"the file is larger than the limit ({size:,} bytes; at most {limit:,}): refused unread"


def _header(root: etree._Element) -> ExtractHeader:
    if root.tag != ROOT:
        raise ExtractRefused(
            f"the root element is <{_local(root.tag)}>{_ns_note(root.tag)}; a social care extract is "
            f'<socialCareExtract xmlns="{NAMESPACE}">',
            root.sourceline,
        )
    schema = extract_schema()
    if not schema.validate(etree.Element(root.tag, dict(root.attrib), nsmap={None: NAMESPACE})):
        problems = "; ".join(error.message for error in schema.error_log)
        raise ExtractRefused(f"<socialCareExtract> is not valid against the schema: {problems}", root.sourceline)
    return ExtractHeader(
        local_authority=_collapse(root.get("localAuthority", "")),
        extract_date=date.fromisoformat(_collapse(root.get("extractDate", ""))),
        local_authority_name=_collapse(root.get("localAuthorityName", "")),
    )


# -- reading a valid person ------------------------------------------------------------------------------
def _person(element: etree._Element) -> Person:
    return Person(
        la_person_id=_text(element, "laPersonId"),
        family_name=_text(element, "familyName"),
        birth_date=_date(element, "birthDate"),
        nhs_number=_text(element, "nhsNumber"),
        given_name=_text(element, "givenName"),
        postcode=_text(element, "postcode"),
        assessments=tuple(_assessment(item) for item in element.iterfind(_tag("assessment"))),
        services=tuple(_service(item) for item in element.iterfind(_tag("service"))),
        carers=tuple(_carer(item) for item in element.iterfind(_tag("carer"))),
    )


def _assessment(element: etree._Element) -> Assessment:
    return Assessment(
        id=_collapse(element.get("id", "")),
        type=_text(element, "type"),
        date=_date(element, "date"),
        outcome=_text(element, "outcome"),
        outcome_text=(element.findtext(_tag("outcomeText")) or "").strip(),
    )


def _service(element: etree._Element) -> Service:
    hours = _text(element, "hoursPerWeek")
    provider = element.find(_tag("provider"))
    return Service(
        id=_collapse(element.get("id", "")),
        type=_text(element, "type"),
        start=_date(element, "startDate"),
        end=_date(element, "endDate") if element.find(_tag("endDate")) is not None else None,
        hours_per_week=Decimal(hours) if hours else None,
        provider_name=_collapse(provider.text or "") if provider is not None else "",
        provider_ods=_collapse(provider.get("odsCode", "")) if provider is not None else "",
    )


def _carer(element: etree._Element) -> Carer:
    return Carer(
        id=_collapse(element.get("id", "")),
        family_name=_text(element, "familyName"),
        relationship=_text(element, "relationship"),
        main_carer=_text(element, "mainCarer") in ("true", "1"),
        given_name=_text(element, "givenName"),
        start=_date(element, "startDate") if element.find(_tag("startDate")) is not None else None,
    )


def _text(element: etree._Element, name: str) -> str:
    return _collapse(element.findtext(_tag(name)) or "")


def _date(element: etree._Element, name: str) -> date:
    return date.fromisoformat(_text(element, name))


def _collapse(text: str) -> str:
    """XSD token whitespace: leading, trailing and repeated whitespace do not count."""
    return " ".join(text.split())


def _loose(text: str | None) -> bool:
    return bool(text and text.strip())


def _tag(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _ns_note(tag: str) -> str:
    namespace = tag[1:].partition("}")[0] if tag.startswith("{") else ""
    if namespace == NAMESPACE:
        return ""
    return f" in namespace {namespace}" if namespace else " without a namespace"
