"""Messages that must be refused (tests/samples/hl7v2/malformed, indexed by cases.json): each gets exactly
its ACK code (AR unusable, AE content error) with an ERR segment naming the HL7 error code and where the
problem is; the ACK is a valid HL7 message for our parser and for hl7apy; MSA-2 echoes the control id when
the MSH gave one; and the message is kept in the message store (failed or rejected) with the error, while
no FHIR resource is written."""

from __future__ import annotations

import pytest
from hl7util import (
    JSON,
    MALFORMED,
    check_ack,
    fresh_processor,
    malformed_cases,
    malformed_paths,
    stored_messages,
    stored_resources,
)

from adapters.hl7v2.errors import ERROR_CODES
from adapters.hl7v2.framing import decode
from adapters.hl7v2.parser import Message

CASES = malformed_cases()
STATUS = {"AE": "failed", "AR": "rejected"}


def kept(text: str) -> str:
    """Text as the message store keeps it: NUL characters (which PostgreSQL refuses) written as \\x00."""
    return text.replace("\x00", "\\x00")


def err_location_and_code(ack: Message) -> tuple[str, str]:
    """(location such as PID-3, HL7 table 0357 code) from the ACK's ERR, in either layout: ERR-1 up to
    v2.4 (segment^sequence^field^code&text&table), ERR-2 (ERL) and ERR-3 (CWE) from v2.5."""
    err = ack.first("ERR")
    assert err is not None, "the ACK has no ERR segment"
    if err.raw(2):
        segment, field, code = err.get(2, 1), err.get(2, 3), err.get(3, 1)
        assert err.get(4) == "E"  # severity: error
    else:
        segment, field, code = err.get(1, 1), err.get(1, 3), err.get(1, 4, 1)
    return segment + (f"-{field}" if field else ""), code


def test_every_malformed_file_has_a_case_and_every_case_a_file() -> None:
    assert sorted(CASES) == sorted(p.name for p in malformed_paths())
    for name, case in CASES.items():
        assert case["ack"] in STATUS, name
        assert case["error_code"] in ERROR_CODES, name


@pytest.mark.parametrize(("name", "case"), CASES.items(), ids=list(CASES))
def test_malformed_message_is_refused_exactly(name: str, case: JSON, database_url: str) -> None:
    text = decode((MALFORMED / name).read_bytes())
    with fresh_processor(database_url) as processor:
        outcome = processor.process(text)
        assert outcome.error is not None
        assert (outcome.code, outcome.status) == (case["ack"], STATUS[case["ack"]]), outcome.error
        assert (outcome.error.code, outcome.error.location) == (case["error_code"], case["location"]), outcome.error

        ack = check_ack(outcome.ack())
        msa = ack.first("MSA")
        assert msa is not None
        assert msa.get(1) == case["ack"]
        assert msa.get(2) == case["control_id"]
        assert msa.get(3)  # the reason, for people reading the sender's logs
        assert err_location_and_code(ack) == (case["location"], case["error_code"])

        rows = stored_messages(processor.repository)
        assert len(rows) == 1
        row = rows[0]
        assert row.status == STATUS[case["ack"]]
        assert row.error == kept(str(outcome.error))
        assert case["error_code"] in row.error and kept(outcome.error.message) in row.error
        assert row.raw == kept(text)
        if case["control_id"]:
            assert row.control_id == case["control_id"][:200]  # the store keeps 200 characters
        else:
            assert row.control_id.startswith("unidentified-")
        assert stored_resources(processor.repository) == []


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c["ack"] == "AE"][:3])
def test_a_failed_message_sent_again_is_kept_once(name: str, database_url: str) -> None:
    """A resend of a dead-lettered message fails again and updates its row rather than adding one."""
    text = decode((MALFORMED / name).read_bytes())
    with fresh_processor(database_url) as processor:
        first, second = processor.process(text), processor.process(text)
        assert (first.code, second.code) == ("AE", "AE")
        rows = stored_messages(processor.repository)
        assert [(r.status, r.attempts) for r in rows] == [("failed", 2)]
