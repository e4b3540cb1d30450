"""ACKs built from the message they answer (hl7apy builds MSH and MSA).

The ERR segment is written by hand: its layout changed between versions (2.3-2.4 carry everything in
ERR-1; from 2.5 the location, code, severity and text are ERR-2, -3, -4 and -8) and hl7apy's ER7
output shifts those fields in some versions.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from hl7apy.core import Message as Hl7apyMessage

from adapters.hl7v2.errors import ERROR_CODES, Hl7Error
from adapters.hl7v2.parser import Delimiters, Message

ACK_VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2")
DEFAULT_VERSION = "2.4"
RECEIVING_APPLICATION = "CLOSER"


STANDARD = Delimiters()
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def escape(text: str, d: Delimiters = STANDARD) -> str:
    """Text made safe for one ER7 field (escape characters first, then the delimiters). Control
    characters (\\r, \\n, NUL, MLLP's \\x0b and \\x1c...) become spaces, so an ACK quoting bad input is
    still one well-formed, well-framed message. (Not hex escapes: hl7apy would escape their backslashes.)"""
    text = text.replace(d.escape, f"{d.escape}E{d.escape}")
    for char, code in ((d.field, "F"), (d.component, "S"), (d.repetition, "R"), (d.subcomponent, "T")):
        text = text.replace(char, f"{d.escape}{code}{d.escape}")
    return _CONTROL.sub(" ", text)


def build_ack(code: str, original: Message | None, text: str = "", error: Hl7Error | None = None) -> str:
    """An ACK (AA, AE or AR) for `original`, which is None when the message could not even be split."""
    msh = original.msh if original is not None else None
    version = original.version if original is not None and original.version in ACK_VERSIONS else DEFAULT_VERSION
    ack = Hl7apyMessage("ACK", version=version)
    if msh is not None:
        ack.msh.msh_3 = escape(msh.get(5) or RECEIVING_APPLICATION)
        ack.msh.msh_4 = escape(msh.get(6))
        ack.msh.msh_5 = escape(msh.get(3))
        ack.msh.msh_6 = escape(msh.get(4))
        ack.msh.msh_11 = escape(msh.get(11) or "P")
        trigger = msh.get(9, 2)
        ack.msh.msh_9 = f"ACK^{escape(trigger)}^ACK" if trigger else "ACK"
    else:
        ack.msh.msh_3 = RECEIVING_APPLICATION
        ack.msh.msh_9 = "ACK"
        ack.msh.msh_11 = "P"
    ack.msh.msh_7 = datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000")
    ack.msh.msh_10 = uuid.uuid4().hex[:20]
    ack.msa.msa_1 = code
    if original is not None and original.control_id:
        ack.msa.msa_2 = escape(original.control_id)
    if text:
        ack.msa.msa_3 = escape(text[:80])
    er7: str = ack.to_er7()
    if error is not None:
        er7 += "\r" + err_segment(error, version)
    return er7


def err_segment(error: Hl7Error, version: str) -> str:
    """ERR for `error` in the layout of `version`."""
    label = ERROR_CODES.get(error.code, "Application error")
    field = str(error.field) if error.field else ""
    location = "^".join([error.segment, str(error.sequence) if error.segment else "", field])
    if version in ("2.3", "2.3.1", "2.4"):
        return f"ERR|{location}^{error.code}&{escape(label)}&HL70357"
    location_erl = location + (f"^1^{error.component}" if error.component else "")
    severity = "E"
    return f"ERR||{location_erl}|{error.code}^{escape(label)}^HL70357|{severity}||||{escape(error.message)}"
