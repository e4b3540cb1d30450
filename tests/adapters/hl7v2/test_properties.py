"""Property tests: whatever arrives (random bytes, random text after an MSH, or a sample message with
characters deleted, duplicated or replaced, cut short, its delimiters swapped, NULs or invalid UTF-8
inserted), `Hl7Processor.process` never raises and returns an Outcome whose ACK is a valid HL7 message
(for our parser and for hl7apy), whose MSA-1 is AA, AE or AR, and which agrees with the outcome's status."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hl7util import check_ack, fresh_processor, messages_in, sample_paths
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from adapters.hl7v2.framing import decode
from adapters.hl7v2.processor import Hl7Processor, Outcome

SAMPLE_MESSAGES = [text.encode() for path in sample_paths() for text in messages_in(path)]
STATUSES = {"AA": {"processed", "stored", "duplicate"}, "AE": {"failed"}, "AR": {"rejected"}}
SPECIAL = b"|^~\\&\r\n\x00\x0b\x1c\"' .+-0123456789AZaz"
NOT_UTF8 = [b"\xff", b"\xfe\xff", b"\xc3(", b"\x80\x81", b"\xed\xa0\x80", b"\xf0\x28\x8c\x28"]
DELIMITERS = b"|^~\\&"
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
TEXT_CHARACTERS = "|^~\\&\r\n\x00 AZ019.-\u00e9\u2028\ufeff"
PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.fixture(scope="module")
def processor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hl7Processor]:
    """One SQLite store for all the examples of a test (messages pile up, as on a real feed)."""
    folder: Path = tmp_path_factory.mktemp("hl7-properties")
    with fresh_processor(f"sqlite:///{folder}/closer.db") as shared:
        yield shared


def check_outcome(outcome: Outcome) -> None:
    assert isinstance(outcome, Outcome)
    event(f"{outcome.code} {outcome.status}")  # shown by --hypothesis-show-statistics
    assert outcome.code in STATUSES
    assert outcome.status in STATUSES[outcome.code], (outcome.code, outcome.status)
    assert (outcome.error is None) == (outcome.code == "AA")
    ack = check_ack(outcome.ack())
    msa = ack.first("MSA")
    assert msa is not None
    assert msa.get(1) == outcome.code
    assert msa.get(2) == CONTROL.sub(" ", outcome.control_id)  # an ACK carries no control characters


# -- mutations of a sample message (on bytes, so invalid UTF-8 can be put in) ----------------------------
def _at(draw: st.DrawFn, data: bytes) -> int:
    return draw(st.integers(0, len(data)))


def delete(draw: st.DrawFn, data: bytes) -> bytes:
    i = _at(draw, data)
    return data[:i] + data[i + draw(st.integers(1, 8)) :]


def duplicate(draw: st.DrawFn, data: bytes) -> bytes:
    i = _at(draw, data)
    j = min(len(data), i + draw(st.integers(1, 40)))
    return data[:j] + data[i:j] + data[j:]


def replace(draw: st.DrawFn, data: bytes) -> bytes:
    i = _at(draw, data)
    byte = draw(st.sampled_from(list(SPECIAL)) | st.integers(0, 255))
    return data[:i] + bytes([byte]) + data[i + 1 :]


def truncate(draw: st.DrawFn, data: bytes) -> bytes:
    return data[: _at(draw, data)]


def swap_delimiters(draw: st.DrawFn, data: bytes) -> bytes:
    """Two delimiters swapped, either everywhere or only in the MSH-1/MSH-2 declaration."""
    a, b = draw(st.lists(st.sampled_from(list(DELIMITERS)), min_size=2, max_size=2, unique=True))
    table = bytes.maketrans(bytes([a, b]), bytes([b, a]))
    if draw(st.booleans()):
        return data.translate(table)
    return data[:3] + data[3:8].translate(table) + data[8:]


def insert_nul(draw: st.DrawFn, data: bytes) -> bytes:
    i = _at(draw, data)
    return data[:i] + b"\x00" + data[i:]


def insert_not_utf8(draw: st.DrawFn, data: bytes) -> bytes:
    i = _at(draw, data)
    return data[:i] + draw(st.sampled_from(NOT_UTF8)) + data[i:]


def drop_or_repeat_segment(draw: st.DrawFn, data: bytes) -> bytes:
    lines = data.split(b"\r")
    i = draw(st.integers(0, len(lines) - 1))
    lines[i : i + 1] = [] if draw(st.booleans()) else [lines[i], lines[i]]
    return b"\r".join(lines)


def replace_field(draw: st.DrawFn, data: bytes) -> bytes:
    """One field of one segment (not MSH-1/MSH-2) set to random text: garbage dates, codes, identifiers."""
    lines = data.split(b"\r")
    i = draw(st.integers(0, len(lines) - 1))
    fields = lines[i].split(b"|")
    j = draw(st.integers(2 if lines[i].startswith(b"MSH") else 1, max(2, len(fields))))
    fields.extend([b""] * (j + 1 - len(fields)))
    fields[j] = draw(st.text(alphabet='^~&\\0123456789+-." ANZ\u00e9', max_size=24)).encode()
    lines[i] = b"|".join(fields)
    return b"\r".join(lines)


MUTATIONS = [
    replace_field,
    replace_field,
    delete,
    duplicate,
    replace,
    truncate,
    swap_delimiters,
    insert_nul,
    insert_not_utf8,
    drop_or_repeat_segment,
]


@st.composite
def mutated_samples(draw: st.DrawFn) -> bytes:
    data = draw(st.sampled_from(SAMPLE_MESSAGES))
    if draw(st.integers(0, 4)):  # mostly a new MSH-10, so the mutant is processed rather than a duplicate
        msh, rest = data.split(b"\r", 1)
        fields = msh.split(b"|")
        fields[9] += b"-%d" % draw(st.integers(0, 10**9))
        data = b"|".join(fields) + b"\r" + rest
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=4)):
        data = mutation(draw, data)
    return data


# -- the properties ---------------------------------------------------------------------------------------
@PROPERTY_SETTINGS
@given(data=mutated_samples())
def test_mutated_samples_always_get_a_consistent_ack(processor: Hl7Processor, data: bytes) -> None:
    check_outcome(processor.process(decode(data)))


@settings(PROPERTY_SETTINGS, max_examples=75)
@given(data=st.binary(max_size=400))
def test_random_bytes_always_get_a_consistent_ack(processor: Hl7Processor, data: bytes) -> None:
    check_outcome(processor.process(decode(data)))


@settings(PROPERTY_SETTINGS, max_examples=75)
@given(rest=st.text(alphabet=st.sampled_from(TEXT_CHARACTERS) | st.characters(), max_size=300))
def test_random_text_after_an_msh_always_gets_a_consistent_ack(processor: Hl7Processor, rest: str) -> None:
    check_outcome(processor.process("MSH|^~\\&|" + rest))


@settings(max_examples=20, deadline=None, database=None)
@given(data=st.data())
def test_mutations_do_change_the_samples(data: st.DataObject) -> None:
    """Mutations really mutate (guards against a strategy that silently does nothing)."""
    for mutation in (insert_nul, insert_not_utf8):
        sample = data.draw(st.sampled_from(SAMPLE_MESSAGES))
        changed = data.draw(st.composite(lambda draw, m=mutation, s=sample: m(draw, s))())
        assert changed != sample, mutation.__name__
