"""The one exception root of the HL7 v2 adapter. Each error knows the ACK code it becomes and where
in the message the problem is, so the ERR segment can point the sender at it.

Error codes are HL7 table 0357 (message error condition codes).
"""

from __future__ import annotations

ERROR_CODES = {
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "202": "Unsupported processing id",
    "203": "Unsupported version id",
    "204": "Unknown key identifier",
    "205": "Duplicate key identifier",
    "206": "Application record locked",
    "207": "Application internal error",
}


class Hl7Error(Exception):
    """Base of every HL7 v2 adapter error. `ack_code` is AE (we could not process it) or AR (unusable)."""

    ack_code = "AE"

    def __init__(
        self,
        message: str,
        *,
        code: str = "207",
        segment: str = "",
        sequence: int = 1,
        field: int = 0,
        component: int = 0,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.segment = segment
        self.sequence = sequence
        self.field = field
        self.component = component

    @property
    def location(self) -> str:
        """Where the problem is, as PID-3.1 style text for people and logs."""
        if not self.segment:
            return ""
        text = self.segment
        if self.field:
            text += f"-{self.field}"
            if self.component:
                text += f".{self.component}"
        return text

    def __str__(self) -> str:
        where = f" at {self.location}" if self.location else ""
        return f"{self.message}{where} (HL7 error {self.code}: {ERROR_CODES.get(self.code, 'error')})"


class MessageRejected(Hl7Error):
    """The message cannot be used at all (no MSH, bad delimiters, unsupported version): ACK AR."""

    ack_code = "AR"


class MessageInvalid(Hl7Error):
    """The message is readable but its content is wrong (bad date, bad NHS number): ACK AE."""
