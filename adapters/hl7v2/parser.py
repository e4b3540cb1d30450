"""A fast ER7 (pipe-and-hat) parser for the ingest hot path.

hl7apy's `parse_message` builds a full object tree checked against the version's message structure,
which costs several milliseconds a message. Mapping to FHIR needs only field values by position, so
this parser splits the text once into segments and fields and splits repetitions, components and
subcomponents on demand. `tests/adapters/hl7v2/test_parser_differential.py` checks that it gives the
same values as hl7apy for every sample message.

Positions follow the HL7 convention: fields, components and subcomponents count from 1, and MSH-1
is the field separator itself, so MSH-2 is the encoding characters and MSH-9 the message type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from adapters.hl7v2.errors import MessageRejected


@dataclass(frozen=True)
class Delimiters:
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"

    @property
    def encoding_characters(self) -> str:
        return self.component + self.repetition + self.escape + self.subcomponent


NULL = '""'
SEGMENT_ID = re.compile(r"^[A-Z][A-Z0-9]{2}$")
_SEGMENT_SPLIT = re.compile(r"\r\n|\r|\n")


class Segment:
    """One segment: `fields[0]` is the segment id, `fields[n]` the raw (still escaped) field n."""

    __slots__ = ("delimiters", "fields", "name")

    def __init__(self, name: str, fields: list[str], delimiters: Delimiters) -> None:
        self.name = name
        self.fields = fields
        self.delimiters = delimiters

    def raw(self, field: int) -> str:
        """Field `field` as sent, repetitions and escapes included; "" when absent."""
        return self.fields[field] if 0 < field < len(self.fields) else ""

    def repetitions(self, field: int) -> list[str]:
        raw = self.raw(field)
        return raw.split(self.delimiters.repetition) if raw else []

    def get(self, field: int, component: int = 1, subcomponent: int = 1, repetition: int = 0) -> str:
        """One value, unescaped; "" when any level is absent."""
        reps = self.repetitions(field)
        if repetition >= len(reps):
            return ""
        return value_at(reps[repetition], self.delimiters, component, subcomponent)

    def components(self, field: int, repetition: int = 0) -> list[str]:
        """The components of one repetition, each its first subcomponent, unescaped. (Taking the first
        subcomponent after unescaping would cut a value such as `BROWN\\T\\GREEN` at its escaped `&`.)"""
        reps = self.repetitions(field)
        if repetition >= len(reps):
            return []
        d = self.delimiters
        firsts = (c.split(d.subcomponent, 1)[0] for c in reps[repetition].split(d.component))
        return ["" if c == NULL else unescape(c, d) for c in firsts]

    def __repr__(self) -> str:
        return f"Segment({self.delimiters.field.join(self.fields)!r})"


def value_at(repetition: str, delimiters: Delimiters, component: int = 1, subcomponent: int = 1) -> str:
    """One (sub)component, unescaped. HL7's explicit null `""` ("delete this value") reads as empty:
    we never store the two quote characters as data."""
    components = repetition.split(delimiters.component)
    if component > len(components):
        return ""
    subs = components[component - 1].split(delimiters.subcomponent)
    if subcomponent > len(subs):
        return ""
    value = subs[subcomponent - 1]
    return "" if value == NULL else unescape(value, delimiters)


class Message:
    """A parsed message: its segments in order, with lookups by segment id."""

    __slots__ = ("delimiters", "segments", "text")

    def __init__(self, text: str, segments: list[Segment], delimiters: Delimiters) -> None:
        self.text = text
        self.segments = segments
        self.delimiters = delimiters

    @property
    def msh(self) -> Segment:
        return self.segments[0]

    def first(self, name: str) -> Segment | None:
        for segment in self.segments:
            if segment.name == name:
                return segment
        return None

    def all(self, name: str) -> list[Segment]:
        return [s for s in self.segments if s.name == name]

    @property
    def message_code(self) -> str:
        return self.msh.get(9, 1)

    @property
    def trigger_event(self) -> str:
        return self.msh.get(9, 2)

    @property
    def control_id(self) -> str:
        return self.msh.get(10)

    @property
    def version(self) -> str:
        return self.msh.get(12)

    @property
    def sending_application(self) -> str:
        return self.msh.get(3)

    @property
    def sending_facility(self) -> str:
        return self.msh.get(4)


def parse(text: str) -> Message:
    """Split a message into segments and fields. Raises MessageRejected when there is no usable MSH."""
    if not text or not text.strip():
        raise MessageRejected("The message is empty", code="100", segment="MSH")
    lines = [line for line in _SEGMENT_SPLIT.split(text.strip("\r\n")) if line]
    header = lines[0].lstrip("\ufeff")
    if not header.startswith("MSH"):
        raise MessageRejected(
            f"The message must start with an MSH segment, found '{header[:3]}'", code="100", segment="MSH"
        )
    delimiters = _delimiters(header)
    if "\x00" in text:  # not HL7 text, and PostgreSQL cannot store it: refused on every backend alike
        line = next(line for line in lines if "\x00" in line)
        name = line[:3] if SEGMENT_ID.match(line[:3]) else ""
        field = line[: line.index("\x00")].count(delimiters.field) + (line is lines[0]) if name else 0
        raise MessageRejected("The message contains a NUL character", code="102", segment=name, field=field)
    segments = [_segment(header, delimiters, is_msh=True)]
    for index, line in enumerate(lines[1:], start=2):
        name = line[:3]
        if not SEGMENT_ID.match(name) or (len(line) > 3 and line[3] != delimiters.field):
            raise MessageRejected(
                f"Segment {index} ('{line[:12]}') is not a segment: it must start with a 3-character id "
                f"followed by '{delimiters.field}'",
                code="100",
                segment=name if SEGMENT_ID.match(name) else "",
                sequence=index,
            )
        segments.append(_segment(line, delimiters, is_msh=False))
    return Message(text, segments, delimiters)


def _delimiters(header: str) -> Delimiters:
    if len(header) < 8:
        raise MessageRejected("MSH is truncated before its encoding characters", code="102", segment="MSH", field=2)
    field = header[3]
    encoding = header[4:].split(field, 1)[0]
    chars = [field, *encoding[:4]]
    if (
        len(encoding) < 4
        or field.isalnum()
        or any(c.isalnum() or c in "\r\n " for c in encoding[:4])
        or len(set(chars)) != len(chars)
    ):
        raise MessageRejected(
            f"MSH-1/MSH-2 delimiters '{header[3:8]}' are not usable: the field separator and the four "
            "encoding characters must be five different non-alphanumeric characters",
            code="102",
            segment="MSH",
            field=2,
        )
    return Delimiters(field, encoding[0], encoding[1], encoding[2], encoding[3])


def _segment(line: str, delimiters: Delimiters, *, is_msh: bool) -> Segment:
    parts = line.split(delimiters.field)
    if is_msh:
        # MSH-1 is the separator itself, so MSH-n is parts[n - 1]; shift to keep fields[n] == MSH-n.
        parts = ["MSH", delimiters.field, *parts[1:]]
    return Segment(parts[0], parts, delimiters)


_FORMATTING = {".br": "\n", ".sp": "\n", ".in": "", ".ti": "", ".sk": " ", ".fi": "", ".nf": "", ".ce": ""}


def unescape(value: str, delimiters: Delimiters) -> str:
    r"""Decode HL7 escape sequences: \F\ \S\ \T\ \R\ \E\, \Xhh..\ (hex bytes) and formatting commands.
    Unknown sequences are kept as sent, so no text is ever lost."""
    esc = delimiters.escape
    if esc not in value:
        return value
    out: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        end = value.find(esc, i + 1) if ch == esc else -1
        if end == -1:
            out.append(ch)
            i += 1
            continue
        out.append(_decode(value[i + 1 : end], delimiters, value[i : end + 1]))
        i = end + 1
    return "".join(out)


def _decode(code: str, d: Delimiters, original: str) -> str:
    simple = {"F": d.field, "S": d.component, "T": d.subcomponent, "R": d.repetition, "E": d.escape}
    if code in simple:
        return simple[code]
    if code.startswith("X") and len(code) > 1 and len(code) % 2 == 1:
        try:
            return bytes.fromhex(code[1:]).decode("utf-8", errors="replace")
        except ValueError:
            return original
    if code in _FORMATTING:
        return _FORMATTING[code]
    return original
