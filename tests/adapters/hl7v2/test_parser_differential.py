"""Our fast ER7 parser against hl7apy: for every sample message (and every malformed one both can read),
each segment, field repetition, component and subcomponent hl7apy extracts has the same ER7 text as our
raw split, every non-empty value we find hl7apy finds too, and our unescaping accessors (`Segment.get`,
`Segment.components`) read the same positions.

hl7apy cannot represent trailing empty components or subcomponents (`A^B^` comes back as `A^B`), so our
side is compared with those trimmed. It numbers MSH-1 (the field separator) and MSH-2 (the encoding
characters) as we do, but escapes their children, so those two are compared at the field level only.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from hl7util import SAMPLES, hl7apy_parse, malformed_paths, messages_in, sample_paths

from adapters.hl7v2.errors import Hl7Error
from adapters.hl7v2.parser import NULL, Delimiters, Message, Segment, parse, unescape


def _cases() -> list[Any]:
    cases = []
    for path in [*sample_paths(), *malformed_paths()]:
        texts = messages_in(path)
        for number, text in enumerate(texts, 1):
            name = f"{path.parent.name}/{path.stem}" + (f"#{number}" if len(texts) > 1 else "")
            cases.append(pytest.param(text, id=name))
    return cases


def indexed(name: str | None) -> int | None:
    """The position in an hl7apy child's name (PID_3 -> 3, CX_4 -> 4, HD_2 -> 2), None when the name
    carries none: a primitive value named by its data type (ST, ID...) or a component beyond what the
    version's structure knows (hl7apy leaves those unnamed)."""
    head, _, suffix = (name or "").rpartition("_")
    return int(suffix) if head and suffix.isdigit() else None


def align(children: Any, raw_parts: list[str]) -> dict[int, Any]:
    """hl7apy's children by 1-based position among `raw_parts` (our split of the same text). hl7apy
    leaves out blank named children, so a child without a position in its name takes the next position
    after the previous child, skipping blank parts unless the child itself is blank."""
    placed: dict[int, Any] = {}
    previous = 0
    for child in children:
        number = indexed(child.name)
        if number is None:
            number = previous + 1
            blank = not child.to_er7().strip()
            while not blank and number <= len(raw_parts) and not raw_parts[number - 1].strip():
                number += 1
        assert number not in placed and number <= len(raw_parts), f"{child.name} at {number} of {raw_parts}"
        placed[number] = child
        previous = number
    return placed


def trimmed(text: str, d: Delimiters) -> str:
    """ER7 text without trailing empty components and subcomponents, as hl7apy may write it back."""
    components = [c.rstrip(d.subcomponent) for c in text.split(d.component)]
    return d.component.join(components).rstrip(d.component)


def plain(raw: str, d: Delimiters) -> str:
    """What our accessors return for one raw leaf value: unescaped, with the HL7 null read as empty."""
    return "" if raw == NULL else unescape(raw, d)


def compare_segment(ours: Segment, theirs: Any) -> None:
    d = ours.delimiters
    assert theirs.name == ours.name
    fields: dict[int, list[Any]] = defaultdict(list)
    previous = 0
    for field in theirs.children:  # one child per repetition; blank fields are left out
        number = indexed(field.name)
        if number is None:  # a field the version does not define (e.g. EVN-1 in 2.8): the next non-blank one
            number = next(n for n in range(previous + 1, len(ours.fields)) if ours.raw(n).strip())
        fields[number].append(field)
        previous = number
    first = 1
    if ours.name == "MSH":
        assert fields.pop(1)[0].to_er7() == ours.raw(1) == d.field
        assert fields.pop(2)[0].to_er7() == ours.raw(2)
        first = 3
    present = {n for n in range(first, len(ours.fields)) if ours.raw(n).strip()}
    assert set(fields) == present, f"{ours.name}: hl7apy has fields {sorted(fields)}, we have {sorted(present)}"
    for number, repetitions in fields.items():
        raw_reps = ours.repetitions(number)
        assert len(repetitions) == len(raw_reps), f"{ours.name}-{number}"
        for index, (field, raw_rep) in enumerate(zip(repetitions, raw_reps, strict=True)):
            compare_repetition(ours, number, index, field, raw_rep)


def compare_repetition(ours: Segment, number: int, index: int, field: Any, raw_rep: str) -> None:
    d = ours.delimiters
    where = f"{ours.name}-{number}[{index}]"
    assert field.to_er7() in (raw_rep, trimmed(raw_rep, d)), where
    raw_components = raw_rep.split(d.component)
    components = align(field.children, raw_components)
    assert set(components) >= {n for n, c in enumerate(raw_components, 1) if c.strip()}, where
    ours_components = ours.components(number, index)
    assert len(ours_components) == len(raw_components), where
    for number_c, component in components.items():
        at = f"{where}.{number_c}"
        raw_component = raw_components[number_c - 1]
        assert component.to_er7() in (raw_component, raw_component.rstrip(d.subcomponent)), at
        raw_subs = raw_component.split(d.subcomponent)
        subs = align(component.children, raw_subs)
        assert set(subs) >= {n for n, s in enumerate(raw_subs, 1) if s.strip()}, at
        for number_s, sub in subs.items():
            assert sub.to_er7() == raw_subs[number_s - 1], f"{at}.{number_s}"
        for number_s, raw_sub in enumerate(raw_subs, 1):
            assert ours.get(number, number_c, number_s, index) == plain(raw_sub, d), f"{at}.{number_s}"
        assert ours_components[number_c - 1] == plain(raw_subs[0], d), at


@pytest.mark.parametrize("text", _cases())
def test_our_parser_reads_what_hl7apy_reads(text: str) -> None:
    try:
        ours: Message = parse(text)
    except Hl7Error:
        pytest.skip("our parser refuses this message (test_malformed checks how)")
    try:
        theirs = hl7apy_parse(text)
    except Exception as exc:
        pytest.skip(f"hl7apy cannot parse this message: {type(exc).__name__}")
    segments = list(theirs.children)
    assert [s.name for s in segments] == [s.name for s in ours.segments]
    for mine, its in zip(ours.segments, segments, strict=True):
        compare_segment(mine, its)


def test_every_sample_is_compared() -> None:
    """The samples themselves must all be readable by both parsers (only malformed ones may be skipped)."""
    for path in sample_paths():
        for text in messages_in(path):
            parse(text)
            hl7apy_parse(text)


def test_escapes_decode_to_the_delimiters() -> None:
    pid = parse(messages_in(SAMPLES / "a28_add_person_escapes.hl7")[0]).first("PID")
    assert pid is not None
    assert pid.get(5, 1) == "BROWN&GREEN"
    assert pid.get(5, 2) == "ANNE~MARIE"
    assert pid.components(11)[:2] == ["FLAT 3|4 THE CLOSE", "C^O MRS JONES"]
