"""Shared helpers for the HL7 v2 processor, CLI and MLLP tests: an ITK-style ADT message built from keyword
arguments (synthetic data only), a processor on a test database, and a small MLLP client."""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from typing import Any

from fhirdata import NHS_NUMBERS
from hl7util import fresh_processor
from sqlalchemy import func, select

from adapters.hl7v2 import messagestore as store
from adapters.hl7v2.framing import END_BLOCK, START_BLOCK, frame
from adapters.hl7v2.parser import Message, parse
from closer.errors import FhirError
from closer.store.sql import SqlRepository

JSON = dict[str, Any]
NHS_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
FACILITY = "RXW"  # sending facility (MSH-4), a synthetic trust code
APPLICATION = "PAS"


def segment(name: str, fields: Mapping[int, str]) -> str:
    """One segment with `fields` (position -> raw value) set and every other field empty."""
    width = max(fields, default=0)
    return "|".join([name, *(fields.get(n, "") for n in range(1, width + 1))])


def adt(
    trigger: str = "A01",
    *,
    control_id: str = "MSG0001",
    event_time: str = "20240115103000",
    message_time: str | None = None,
    message_type: str = "ADT",
    facility: str = FACILITY,
    application: str = APPLICATION,
    version: str = "2.4",
    nhs_number: str = NHS_NUMBERS[0],
    local_id: str = "",
    family: str = "SMITH",
    given: str = "ANN",
    birth: str = "19400302",
    sex: str = "F",
    street: str = "1 Test Street",
    postcode: str = "SY1 1AA",
    phone: str = "01743000000",
    died: str = "",
    practice: str = "M99001",
    visit: str | None = "V0001",
    patient_class: str = "I",
    location: str = "WARD1^BAY1^BED1",
    admission_method: str = "21",
    attending: str = "C1234567^BROWN^ALICE^^^DR",
    hospital_service: str = "300",
    admitted: str = "20240115103000",
    discharged: str = "",
    destination: str = "",
    merged_nhs_number: str = "",
    diagnoses: Sequence[str] = (),
    allergies: Sequence[str] = (),
    extra: Sequence[str] = (),
) -> str:
    """An ITK-style ADT message (segments joined by \\r). `visit=None` leaves out PV1; `merged_nhs_number`
    adds MRG-1; `diagnoses` are ICD-10 codes (DG1) and `allergies` allergen texts (AL1)."""
    structure = {"A01": "ADT_A01", "A08": "ADT_A01", "A03": "ADT_A03", "A40": "ADT_A39", "A34": "ADT_A30"}
    msh = (
        f"MSH|^~\\&|{application}|{facility}|CLOSER|CLOSER|{message_time or event_time}||"
        f"{message_type}^{trigger}^{structure.get(trigger, message_type + '_' + trigger)}|{control_id}|P|{version}"
        "|||AL|NE|GBR|UNICODE UTF-8"
    )
    identifiers = [f"{nhs_number}^^^NHS^NH"] if nhs_number else []
    if local_id:
        identifiers.append(f"{local_id}^^^{facility}^PI")
    pid = segment(
        "PID",
        {
            1: "1",
            3: "~".join(identifiers),
            5: f"{family}^{given}^^^MRS^^L",
            7: birth,
            8: sex,
            11: f"{street}^^SHREWSBURY^^{postcode}^^H",
            13: f"{phone}^PRN^PH",
            29: died,
            30: "Y" if died else "",
            32: "01" if nhs_number else "",
        },
    )
    segments = [msh, f"EVN|{trigger}|{event_time}", pid]
    if practice:
        segments.append(f"PD1|||TEST PRACTICE^^{practice}|G9999998^JONES^PETER")
    if merged_nhs_number:
        segments.append(f"MRG|{merged_nhs_number}^^^NHS^NH")
    if visit is not None:
        pv1 = {
            1: "1",
            2: patient_class,
            3: f"{location}^{facility}" if location else "",
            4: admission_method,
            7: attending,
            10: hospital_service,
            19: f"{visit}^^^{facility}^VN",
            36: destination,
            44: admitted,
            45: discharged,
        }
        segments.append(segment("PV1", pv1))
    for n, code in enumerate(diagnoses, 1):
        segments.append(f"DG1|{n}||{code}^Diagnosis {code}^I10|||F")
    for n, allergen in enumerate(allergies, 1):
        segments.append(f"AL1|{n}|DA|^{allergen}|MO|Rash")
    segments.extend(extra)
    return "\r".join(segments)


# -- the store ----------------------------------------------------------------------------------------------
open_processor = fresh_processor  # one way to get a processor on a test store, shared with hl7util


def read(repository: SqlRepository, resource_type: str, resource_id: str) -> JSON | None:
    """The current resource, or None when it does not exist."""
    try:
        return repository.read(resource_type, resource_id)
    except FhirError as exc:
        if exc.status in (404, 410):
            return None
        raise


def current(repository: SqlRepository, resource_type: str, resource_id: str) -> JSON:
    """The current resource, which must exist."""
    found = read(repository, resource_type, resource_id)
    assert found is not None, f"{resource_type}/{resource_id} does not exist"
    return found


def rows(repository: SqlRepository, status: str | None = None) -> list[store.StoredMessage]:
    with repository.engine.connect() as conn:
        return store.listing(conn, status, limit=1_000_000)


def row_count(repository: SqlRepository) -> int:
    with repository.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(store.hl7_messages)).scalar_one())


def version_count(repository: SqlRepository) -> int:
    """How many resource versions the store holds (every write adds one)."""
    entries, _ = repository.history(count=100_000)
    return len(entries)


# -- MLLP ---------------------------------------------------------------------------------------------------
class MllpClient:
    """A blocking MLLP sender: one frame out, one framed ACK back."""

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> MllpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def receive(self) -> str:
        """The next framed reply (without its frame characters). Raises ConnectionError when closed."""
        while True:
            start = self.buffer.find(START_BLOCK)
            end = self.buffer.find(END_BLOCK, start + 1) if start != -1 else -1
            if end != -1:
                payload = self.buffer[start + 1 : end]
                self.buffer = self.buffer[end + 1 :].lstrip(b"\r")
                return payload.decode("utf-8")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the listener closed the connection")
            self.buffer += chunk

    def send(self, message: str) -> Message:
        """Send one message and return its ACK, parsed."""
        self.send_raw(frame(message))
        return parse(self.receive())


def msa(ack: Message) -> tuple[str, str]:
    """(MSA-1 acknowledgement code, MSA-2 control id) of an ACK."""
    segment_ = ack.first("MSA")
    assert segment_ is not None, ack.text
    return segment_.get(1), segment_.get(2)
