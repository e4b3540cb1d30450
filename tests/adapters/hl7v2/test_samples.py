"""The golden test: every sample message in tests/samples/hl7v2, processed into an empty store on each
backend, is acknowledged AA and leaves exactly the resources in its reviewed NAME.expected.json
(without meta and Provenance.recorded). Regenerate with regenerate_expected.py after a deliberate change."""

from __future__ import annotations

from pathlib import Path

import pytest
from hl7util import (
    EXPECTED_SUFFIX,
    JSON,
    SAMPLES,
    check_ack,
    expected_path,
    fresh_processor,
    index_matches_content,
    load_expected,
    messages_in,
    sample_paths,
    stored_messages,
    stored_resources,
)

from adapters.hl7v2.mapping import MAPPED_EVENTS
from adapters.hl7v2.parser import parse

SAMPLE_PATHS = sample_paths()
REQUIRED_EVENTS = {f"A{n:02d}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 28, 31, 34, 40)}


def is_mapped(message_code: str, trigger: str) -> bool:
    return message_code == "ADT" and trigger in MAPPED_EVENTS


def by_key(found: list[JSON]) -> dict[str, JSON]:
    return {f"{r['resourceType']}/{r['id']}": r for r in found}


def test_the_samples_cover_every_mapped_event_and_some_unmapped_ones() -> None:
    messages = [parse(text) for path in SAMPLE_PATHS for text in messages_in(path)]
    adt_events = {m.trigger_event for m in messages if m.message_code == "ADT"}
    assert adt_events >= REQUIRED_EVENTS | MAPPED_EVENTS
    assert any(not is_mapped(m.message_code, m.trigger_event) for m in messages)
    assert {m.version for m in messages} >= {"2.3", "2.4", "2.5", "2.5.1", "2.8"}


def test_every_sample_has_its_expected_output_and_nothing_else() -> None:
    expected = sorted(p.name for p in SAMPLES.glob(f"*{EXPECTED_SUFFIX}"))
    assert expected == sorted(expected_path(p).name for p in SAMPLE_PATHS)


@pytest.mark.parametrize("path", SAMPLE_PATHS, ids=lambda p: p.stem)
def test_sample_gives_the_expected_resources(path: Path, database_url: str) -> None:
    texts = messages_in(path)
    with fresh_processor(database_url) as processor:
        for number, text in enumerate(texts, 1):
            outcome = processor.process(text)
            assert outcome.code == "AA", f"message {number}: {outcome.text} ({outcome.error})"
            msa = check_ack(outcome.ack()).first("MSA")
            assert msa is not None and msa.get(2) == parse(text).control_id
        found = stored_resources(processor.repository)
        assert by_key(found) == by_key(load_expected(path))
        assert found == load_expected(path)

        rows = stored_messages(processor.repository)
        assert [row.control_id for row in rows] == [parse(t).control_id for t in texts]
        headers = [parse(t) for t in texts]
        statuses = ["processed" if is_mapped(h.message_code, h.trigger_event) else "stored" for h in headers]
        assert [row.status for row in rows] == statuses
        assert all(row.error is None and row.raw == text for row, text in zip(rows, texts, strict=True))

        # Sent again, every message is a duplicate that changes nothing.
        for text in texts:
            again = processor.process(text)
            assert (again.code, again.status) == ("AA", "duplicate")
        assert stored_resources(processor.repository) == found


@pytest.mark.parametrize("path", [p for p in SAMPLE_PATHS if len(messages_in(p)) > 1], ids=lambda p: p.stem)
def test_sample_as_one_batch_gives_the_same_resources(path: Path, database_url: str) -> None:
    """process_batch (one transaction, as `closer ingest hl7` uses it) agrees with one message at a time."""
    with fresh_processor(database_url) as processor:
        outcomes = processor.process_batch(messages_in(path))
        assert [o.code for o in outcomes] == ["AA"] * len(outcomes)
        assert stored_resources(processor.repository) == load_expected(path)
        index_matches_content(processor.repository)


@pytest.mark.parametrize("path", [p for p in SAMPLE_PATHS if len(messages_in(p)) > 1], ids=lambda p: p.stem)
def test_sample_streamed_through_a_worker_process_gives_the_same_resources(path: Path, database_url: str) -> None:
    """process_stream with a worker process mapping the batches ahead (as `closer ingest hl7` runs) agrees
    too, in batches of two so later messages of a visit or patient meet what earlier batches stored."""
    texts = messages_in(path)
    with fresh_processor(database_url) as processor:
        batches = [texts[i : i + 2] for i in range(0, len(texts), 2)]
        outcomes = [o for batch in processor.process_stream(batches, workers=1) for o in batch]
        assert [o.code for o in outcomes] == ["AA"] * len(texts)
        assert stored_resources(processor.repository) == load_expected(path)
        index_matches_content(processor.repository)
