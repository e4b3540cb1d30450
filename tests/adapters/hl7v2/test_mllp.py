"""The MLLP listener over real loopback sockets: persistent connections, bad messages, concurrency, noise
between frames, frames split across TCP sends, and arbitrary bytes inside a frame."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import count

import pytest
from adt_builder import MllpClient, adt, msa, open_processor, rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.hl7v2.framing import frame
from adapters.hl7v2.mllp import MAX_MESSAGE_BYTES, ClosingMllpServer
from adapters.hl7v2.parser import parse
from adapters.hl7v2.processor import Hl7Processor
from closer.store.query import parse_search
from fhir_profiles.nhs_number import generate_nhs_number

BAD_NHS_NUMBER = "9990000019"
FRAME_BYTES = b"\x0b\x1c"


@dataclass
class Listener:
    host: str
    port: int
    processor: Hl7Processor

    persistent: MllpClient | None = None

    def connect(self) -> MllpClient:
        return MllpClient(self.host, self.port)

    def shared(self) -> MllpClient:
        """One connection kept open for the life of the listener (across hypothesis examples)."""
        if self.persistent is None:
            self.persistent = self.connect()
        return self.persistent


@pytest.fixture
def listener(database_url: str) -> Iterator[Listener]:
    with open_processor(database_url) as processor:
        server = ClosingMllpServer(host="127.0.0.1", port=0, processor=processor, idle_timeout=60)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        made = Listener("127.0.0.1", server.server_address[1], processor)
        try:
            yield made
        finally:
            if made.persistent is not None:
                made.persistent.close()
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)


def message(control_id: str, trigger: str = "A01", **fields: str) -> str:
    return adt(trigger, control_id=control_id, visit=fields.pop("visit", control_id), **fields)


def test_many_messages_on_one_connection_are_answered_in_order(listener: Listener) -> None:
    with listener.connect() as client:
        for n in range(25):
            assert msa(client.send(message(f"SEQ{n:03d}"))) == ("AA", f"SEQ{n:03d}")
        # Pipelined: every frame sent before any ACK is read; the ACKs still come back in order.
        pipelined = [message(f"PIPE{n:03d}") for n in range(25)]
        client.send_raw(b"".join(frame(m) for m in pipelined))
        assert [msa(parse(client.receive())) for _ in pipelined] == [("AA", f"PIPE{n:03d}") for n in range(25)]
    assert len(rows(listener.processor.repository, "processed")) == 50


@pytest.mark.parametrize(
    ("bad", "code", "control_id"),
    [
        ("PID|1||9990000018^^^NHS^NH||SMITH^ANN", "AR", ""),
        ("this is not HL7 at all", "AR", ""),
        (message("BADNHS", nhs_number=BAD_NHS_NUMBER), "AE", "BADNHS"),
        (message("NOPV1", visit=None), "AE", "NOPV1"),  # an A01 must have a PV1
    ],
    ids=["no MSH", "junk", "bad NHS number", "missing PV1"],
)
def test_a_bad_message_gets_an_error_ack_and_the_connection_carries_on(
    listener: Listener, bad: str, code: str, control_id: str
) -> None:
    with listener.connect() as client:
        ack = client.send(bad)
        assert msa(ack) == (code, control_id)
        err = ack.first("ERR")
        assert err is not None and err.raw(1)
        assert msa(client.send(message("GOOD1"))) == ("AA", "GOOD1")
        assert msa(client.send(bad)) == (code, control_id)
        assert msa(client.send(message("GOOD2"))) == ("AA", "GOOD2")


def test_concurrent_connections_store_every_message_once(listener: Listener) -> None:
    """20 senders at once, 10 messages each (an admission, then updates of it): all accepted, each stored once.
    Pairs of senders share a patient (and all share a GP practice), so they race to create the same records."""
    rng = random.Random(2024)
    patients = list(dict.fromkeys(generate_nhs_number(rng) for _ in range(40)))[:10]

    def send_all(sender: int) -> list[tuple[str, str]]:
        nhs_number, visit = patients[sender % len(patients)], f"CONC{sender:02d}"
        acks = []
        with listener.connect() as client:
            for n in range(10):
                trigger = "A01" if n == 0 else "A08"
                event_time = f"20240301{10 + n:02d}0000"
                text = adt(
                    trigger, control_id=f"{visit}-{n}", nhs_number=nhs_number, visit=visit, event_time=event_time
                )
                acks.append(msa(client.send(text)))
        return acks

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(send_all, range(20)))

    stored = rows(listener.processor.repository)
    refused = {row.control_id: row.error for row in stored if row.status != "processed"}
    for sender, acks in enumerate(results):
        assert acks == [("AA", f"CONC{sender:02d}-{n}") for n in range(10)], refused
    assert len(stored) == 200
    assert {row.status for row in stored} == {"processed"}
    assert len({row.control_id for row in stored}) == 200
    encounters = listener.processor.repository.search(parse_search("Encounter", [("_count", "100")])).matches
    assert sorted(e["identifier"][0]["value"] for e in encounters) == [f"CONC{sender:02d}" for sender in range(20)]


def test_bytes_outside_frames_are_ignored(listener: Listener) -> None:
    with listener.connect() as client:
        client.send_raw(b"GET / HTTP/1.0\r\n\r\n" + frame(message("NOISE1")) + b"\r\n\x00junk\x1c\r")
        client.send_raw(b"more junk" + frame(message("NOISE2")) + b"trailing")
        assert msa(parse(client.receive())) == ("AA", "NOISE1")
        assert msa(parse(client.receive())) == ("AA", "NOISE2")
        # Nothing else was answered: the next reply is the next message's.
        assert msa(client.send(message("NOISE3"))) == ("AA", "NOISE3")
    assert sorted(row.control_id for row in rows(listener.processor.repository)) == ["NOISE1", "NOISE2", "NOISE3"]


@pytest.mark.parametrize("chunk", [1, 3, 64])
def test_a_frame_split_across_tcp_sends(listener: Listener, chunk: int) -> None:
    text = message(f"SPLIT{chunk}", family="DUBOIS", given="ÉLODIE")  # multi-byte UTF-8 split across sends
    data = frame(text)
    with listener.connect() as client:
        client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for start in range(0, len(data), chunk):
            client.send_raw(data[start : start + chunk])
            if start % (chunk * 16) == 0:
                time.sleep(0.002)
        assert msa(parse(client.receive())) == ("AA", f"SPLIT{chunk}")
    patient = listener.processor.repository.read("Patient", "9990000018")
    assert patient["name"][0]["given"] == ["Élodie"]


def test_an_oversized_frame_is_refused_and_the_connection_carries_on(listener: Listener) -> None:
    huge = message("HUGE", extra=["NTE|1||" + "x" * (MAX_MESSAGE_BYTES + 300_000)])
    with listener.connect() as client:
        ack = client.send(huge)
        assert msa(ack)[0] == "AR" and ack.first("ERR") is not None
        assert msa(client.send(message("AFTERHUGE"))) == ("AA", "AFTERHUGE")
    assert "AFTERHUGE" in {row.control_id for row in rows(listener.processor.repository)}


# -- anything inside a frame ---------------------------------------------------------------------------------
VALID = message("FUZZ")


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid message with a few random edits: cut, insert or replace text anywhere."""
    text = VALID
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(["cut", "insert", "replace"]))
        piece = draw(st.text(st.characters(codec="utf-8"), max_size=12))
        if edit == "cut":
            text = text[:at] + text[at + draw(st.integers(1, 40)) :]
        elif edit == "insert":
            text = text[:at] + piece + text[at:]
        else:
            text = text[:at] + piece + text[at + len(piece) :]
    return text.encode("utf-8")


payloads = st.one_of(
    st.binary(max_size=400),
    mutated(),
    st.builds(lambda prefix, rest: prefix + rest, st.just(b"MSH|^~\\&|"), st.binary(max_size=200)),
)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(payload=payloads)
def test_anything_inside_a_frame_gets_a_parseable_ack(listener: Listener, payload: bytes) -> None:
    client = listener.shared()
    client.send_raw(frame_bytes(payload))
    ack = parse(client.receive())
    assert msa(ack)[0] in ("AA", "AE", "AR")
    control_id = f"AFTER{next(AFTER)}"
    assert msa(client.send(message(control_id))) == ("AA", control_id)


AFTER = count()


def frame_bytes(payload: bytes) -> bytes:
    """`payload` in one MLLP frame; the two frame characters cannot occur inside one, so they are dropped."""
    return b"\x0b" + bytes(b for b in payload if b not in FRAME_BYTES) + b"\x1c\r"
